"""The demo's plumbing: a cached batch from the bundled simulation (batch_cache), a broker that never
outlives the demo (broker_lifetime), and a replay whose every alert is checked on the way back out
(checked_replay).

Nothing here prints; `elasticc_stream.cli.demo` is the view.
"""
