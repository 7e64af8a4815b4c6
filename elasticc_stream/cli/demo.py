"""`elasticc-stream demo`: the whole story in one command, on a broker that lives exactly as long as the demo."""

from __future__ import annotations

import argparse
import sys

from elasticc_stream.cli.common import run_app

DESCRIPTION = """\
Start an embedded broker (Apache Kafka with --kafka) on a free port, make (once, then cached) a batch
of ELAsTiCC alerts from the bundled SNANA simulation and prepare it, then replay it into a topic while
watching it arrive: in the terminal UI, or with --headless as the replay's usual lines plus a check that
every alert came back exactly once. Quitting (q, Ctrl-C) or any failure stops the broker the demo started.
"""

HEADLESS_OBSERVATIONS = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="replay a bundled simulated batch into a local broker and watch it arrive",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--headless", action="store_true",
                   help="no terminal UI: print the replay's lines and a final check of what was consumed")
    p.add_argument("--per-obs", type=int, default=50, metavar="N", help="alerts per observation (default 50)")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between observation starts (default 1.0; 0 for no wait)")
    p.add_argument("--observations", type=int, metavar="N",
                   help=f"observations to replay, -1 for all (default: all in the UI, {HEADLESS_OBSERVATIONS} "
                        "with --headless)")
    p.add_argument("--nights", metavar="FIRST:LAST",
                   help="NITE numbers (integer MJDs) of the simulation to use (default: 53100:53104, "
                        "about 3,400 alerts)")
    p.add_argument("--partitions", type=int, default=3, metavar="N", help="partitions of the demo topic (default 3)")
    p.add_argument("--topic", default=None, metavar="T", help="topic name (default: elasticc-demo)")
    p.add_argument("--cache", metavar="DIR",
                   help="where the demo batch is kept (default: $XDG_CACHE_HOME/elasticc-stream/demo or "
                        "~/.cache/elasticc-stream/demo)")
    p.add_argument("--kafka", action="store_true",
                   help="run the demo on Apache Kafka (one KRaft node, Java 17+, `make kafka` or KAFKA_HOME) "
                        "instead of the embedded broker")
    p.add_argument("--keep-broker", action="store_true",
                   help="leave the broker running when the demo ends normally (it prints how to stop it)")
    p.set_defaults(run=_run)


def _say(text: str) -> None:
    print(text, flush=True)


def _run(args: argparse.Namespace) -> int:
    import signal

    from elasticc_stream.engine.demo.batch_cache import DEFAULT_NIGHTS
    from elasticc_stream.engine.demo.broker_lifetime import DemoSignal
    from elasticc_stream.engine.errors import UserError
    from elasticc_stream.engine.simulate.batch import parse_nights

    if args.per_obs < 1:
        raise UserError(f"--per-obs {args.per_obs}: must be at least 1")
    if args.interval < 0:
        raise UserError(f"--interval {args.interval:g}: must be 0 or more")
    if args.observations is not None and args.observations != -1 and args.observations < 1:
        raise UserError(f"--observations {args.observations}: must be at least 1, or -1 for all")
    if args.partitions < 1:
        raise UserError(f"--partitions {args.partitions}: must be at least 1")
    nights = parse_nights(args.nights) if args.nights else DEFAULT_NIGHTS
    observations = args.observations or (HEADLESS_OBSERVATIONS if args.headless else -1)

    try:
        return _demo(args, nights, observations)
    except DemoSignal as exc:
        # The broker is already stopped: the signal unwound through local_broker.
        print(f"elasticc-stream demo: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr, flush=True)
        return int(exc.code)


def _demo(args: argparse.Namespace, nights: tuple[int | None, int | None], observations: int) -> int:
    from pathlib import Path

    from elasticc_stream.engine.demo.batch_cache import demo_batch
    from elasticc_stream.engine.demo.broker_lifetime import local_broker
    from elasticc_stream.engine.demo.checked_replay import DEMO_TOPIC
    from elasticc_stream.engine.replay.config import ReplayConfig

    with local_broker(keep=args.keep_broker, kafka=args.kafka) as info:
        kind = "Apache Kafka" if info.kind == "kafka" else "embedded"
        _say(f"demo: {kind} broker on {info.address} (pid {info.pid}, state {info.state_dir})")
        batch = demo_batch(args.cache, nights, on_event=lambda e: _say(
            f"demo: making the demo batch from the bundled simulation (first run only, ~20 s) in {e.folder}"))
        how = "cached" if batch.reused else f"built in {batch.build_seconds:.1f} s"
        _say(f"demo: {batch.alerts} alerts from nights NITE{batch.nights[0]}..NITE{batch.nights[-1]} ({how}): "
             f"{batch.path}")
        config = ReplayConfig(
            bootstrap=info.address, topic=args.topic or DEMO_TOPIC, data=batch.path, per_obs=args.per_obs,
            observations=observations, interval=args.interval, partitions=args.partitions,
            # The demo's broker (and its state folder) is gone after the demo: a checkpoint beside the cached
            # batch would only mislead.
            checkpoint=Path(info.state_dir) / "replay-checkpoint.json",
        ).validated()
        code = _headless(config) if args.headless else _tui(config)
        if args.keep_broker and code == 0:
            _say(f"demo: broker left running on {info.address}; stop it with: "
                 f"elasticc-stream broker stop --dir {info.state_dir}")
        return code


def _headless(config) -> int:
    from elasticc_stream.cli.replay import ReplayPrinter
    from elasticc_stream.engine.demo.checked_replay import replay_and_count

    outcome = replay_and_count(config, ReplayPrinter(resume_hint=False))
    problems = []
    if outcome.unexpected:
        problems.append(f"{outcome.unexpected} unexpected")
    if outcome.decode_errors:
        problems.append(f"{outcome.decode_errors} undecodable")
    extra = f", {', '.join(problems)}" if problems else ""
    _say(f"demo: replayed {outcome.replayed} alerts in {outcome.observations} observations, consumed "
         f"{outcome.consumed} ({outcome.missing} missing, {outcome.duplicated} duplicated{extra}), "
         f"latency p50 {_ms(outcome.latency_p50)} p99 {_ms(outcome.latency_p99)}")
    if outcome.interrupted:
        return 130
    if not outcome.ok:
        print("elasticc-stream demo: error: the consumer did not receive every replayed alert exactly once",
              file=sys.stderr, flush=True)
        return 1
    return 0


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def _tui(config) -> int:
    import asyncio
    import signal

    from textual.binding import Binding

    from elasticc_stream.tui.app import ElasticcStreamApp

    class DemoApp(ElasticcStreamApp):
        # In the demo, Ctrl-C is how people leave: make it quit (stopping the workers) like q.
        BINDINGS = [*ElasticcStreamApp.BINDINGS, Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

        signalled: int | None = None

        def on_mount(self) -> None:
            # (Textual also runs the base class's on_mount: no super() call.)
            # SIGTERM/SIGHUP end the app through its event loop, so the terminal is restored before the
            # broker is stopped; a signal raised in the middle of a redraw would leave it in raw mode.
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, self._on_signal, sig)

        def _on_signal(self, sig: int) -> None:
            self.signalled = sig
            self.exit(128 + sig)

    app = DemoApp(config, start=True)
    code = run_app(app)
    if app.signalled is not None:
        print(f"elasticc-stream demo: stopped by {signal.Signals(app.signalled).name}", file=sys.stderr, flush=True)
        return 128 + app.signalled
    return code
