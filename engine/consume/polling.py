"""How the consuming loops (stream.py, parallel_json.py) call the client."""

BATCH = 500  # messages per client call: amortises the call, yet stop() and --max are honoured promptly
LIVE_WAIT_S = 0.05
POLL_S = 0.2  # one blocking wait for a message, before stop() and --timeout are checked again
# The idle --timeout only counts once partitions are assigned; until then the group join may take this long.
JOIN_ALLOWANCE_S = 30.0
