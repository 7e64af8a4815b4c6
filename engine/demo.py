"""The demo's plumbing: a cached batch from the bundled simulation, a broker that never outlives the demo, and
a replay whose every alert is checked on the way back out.

Nothing here prints; `elasticc_stream.cli.demo` is the view.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elasticc_stream.engine.errors import UserError

from elasticc_stream import __version__

if TYPE_CHECKING:
    from elasticc_stream.engine.broker.state import BrokerInfo
    from elasticc_stream.engine.replay.config import ReplayConfig
    from elasticc_stream.engine.replay.events import ReplayFinished

# Three nights of the survey's steady phase: ~3,400 alerts whose objects already have light curves worth
# drawing, built in ~15 s on two cores. The first nights only hold the first detections of each object.
DEFAULT_NIGHTS = (53100, 53104)
DEMO_TOPIC = "elasticc-demo"
MARKER = "demo-batch.json"
# Bump when the way the demo batch is made changes, so that old caches are not reused.
RECIPE = 1
_BUILD_PREFIX = ".build-"
_AVOID_PORTS = frozenset({9092})  # a user's own Kafka is likely there


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "elasticc-stream" / "demo"


# --- the cached batch -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchBuilding:
    """Emitted before a batch is made (first run, or new parameters): this takes a while."""

    key: str
    nights: tuple[int | None, int | None]
    folder: str


@dataclass(frozen=True)
class DemoBatch:
    path: Path            # the prepared ALERTS folder (what replay's `data` points at)
    key: str              # the cache entry's name: version and parameters
    alerts: int
    nights: list[int]     # NITE numbers written
    reused: bool          # True when an earlier run had built it
    seconds: float        # time spent here (building or checking the cache)
    build_seconds: float  # what the build took when it was made


def batch_key(nights: tuple[int | None, int | None], snana_prefix: Path | None = None) -> str:
    """Cache entry name: readable, and different whenever anything that shapes the batch differs."""
    from elasticc_stream.engine.simulate.snana import HEAD_SUFFIX, PHOT_SUFFIX, bundled_snana_prefix

    prefix = snana_prefix or bundled_snana_prefix()
    sizes = []
    for suffix in (HEAD_SUFFIX, PHOT_SUFFIX):
        try:
            sizes.append(os.stat(str(prefix) + suffix).st_size)
        except OSError:
            sizes.append(-1)
    params = {"version": __version__, "recipe": RECIPE, "nights": list(nights), "snana": prefix.name,
              "sizes": sizes, "format": "container"}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    first, last = ("" if n is None else str(n) for n in nights)
    return f"batch-{__version__}-{first}-{last}-{digest}"


def demo_batch(cache_dir: str | os.PathLike | None = None,
               nights: tuple[int | None, int | None] = DEFAULT_NIGHTS,
               on_event: Callable[[BatchBuilding], None] | None = None) -> DemoBatch:
    """The prepared demo batch for `nights`, built once and then reused.

    The build happens in a hidden folder beside the cache entry and becomes the entry by one rename, after
    the marker is written: an interrupted build is never mistaken for a finished one.
    """
    started = time.monotonic()
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    key = batch_key(nights)
    final = root / key
    ready = _ready(final, key, started)
    if ready is not None:
        return ready
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_builds(root)
        build = Path(tempfile.mkdtemp(prefix=f"{_BUILD_PREFIX}{os.getpid()}-", dir=root))
    except OSError as exc:
        raise UserError(f"{root}: cannot write the demo cache there ({exc.strerror or exc}); "
                        "choose another with --cache DIR") from exc
    if on_event is not None:
        on_event(BatchBuilding(key=key, nights=nights, folder=str(final)))
    try:
        _build(build, key, nights)
        _publish(build, final, key)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    built = _ready(final, key, started)
    if built is None:
        raise UserError(f"{final}: the demo batch was built but cannot be read back; remove the folder and retry")
    return DemoBatch(built.path, key, built.alerts, built.nights, False, time.monotonic() - started,
                     built.build_seconds)


def _build(folder: Path, key: str, nights: tuple[int | None, int | None]) -> None:
    from elasticc_stream.engine.prepare import prepare
    from elasticc_stream.engine.simulate.batch import alerts_dir, simulate
    from elasticc_stream.engine.simulate.snana import bundled_snana_prefix

    t0 = time.monotonic()
    made = simulate(bundled_snana_prefix(), folder, nights=nights, jobs=min(2, os.cpu_count() or 1))
    prepared = prepare(alerts_dir(folder))
    if prepared.errors or prepared.alerts != made.alerts:
        first = prepared.errors[0].line() if prepared.errors else "alert counts differ"
        raise UserError(f"the demo batch did not prepare cleanly ({prepared.alerts} of {made.alerts} alerts "
                        f"indexed; {first})")
    marker = {
        "key": key, "version": __version__, "recipe": RECIPE, "nights": [n.nite for n in made.nights],
        "alerts": prepared.alerts, "path": str(alerts_dir(".")),
        "build_seconds": round(time.monotonic() - t0, 3), "simulate_seconds": round(made.seconds, 3),
        "prepare_seconds": round(prepared.seconds, 3), "built_at": time.time(),
    }
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2) + "\n")
    os.replace(tmp, folder / MARKER)


def _publish(build: Path, final: Path, key: str) -> None:
    for _ in range(3):
        try:
            os.rename(build, final)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise UserError(f"{final}: cannot store the demo batch: {exc.strerror or exc}") from exc
        if _ready(final, key, time.monotonic()) is not None:
            return  # another demo finished the same build first: its batch is as good as ours
        # Only finished builds are renamed into place, so this one was damaged later (files removed by hand):
        # move it out of the way, then take its place.
        trash = final.with_name(f"{_BUILD_PREFIX}{os.getpid()}-damaged-{final.name}")
        with contextlib.suppress(OSError):
            os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    raise UserError(f"{final}: cannot replace the damaged demo batch there; remove it and retry")


def _ready(entry: Path, key: str, started: float) -> DemoBatch | None:
    from elasticc_stream.engine.prepare.index import AlertIndex

    try:
        marker = json.loads((entry / MARKER).read_text())
        path = entry / marker["path"]
        if marker["key"] != key or AlertIndex.locate(path) is None:
            return None
        return DemoBatch(path=path, key=key, alerts=int(marker["alerts"]), nights=list(marker["nights"]),
                         reused=True, seconds=time.monotonic() - started,
                         build_seconds=float(marker["build_seconds"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remove_abandoned_builds(root: Path) -> None:
    """Builds left by a demo that was killed (its pid is in the folder name and is gone)."""
    from elasticc_stream.engine.broker.state import process_alive

    for entry in root.iterdir():
        if not entry.name.startswith(_BUILD_PREFIX):
            continue
        pid_text = entry.name[len(_BUILD_PREFIX):].split("-", 1)[0]
        if pid_text.isdigit() and not process_alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)


# --- the broker's lifetime --------------------------------------------------------------------------------------


class DemoSignal(SystemExit):
    """SIGTERM or SIGHUP turned into an exception, so that every `finally` (the broker's stop) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _raise_signal(signum: int, _frame: object) -> None:
    raise DemoSignal(signum)


@contextlib.contextmanager
def local_broker(state_dir: str | os.PathLike | None = None, *, keep: bool = False,
                 kafka: bool = False) -> Iterator[BrokerInfo]:
    """A local broker on a free port (never 9092) that is stopped when the block ends, however it ends.

    The embedded one (Tansu), or with `kafka` a single Apache Kafka node (`broker start --kafka`).

    Normal exit, exception, KeyboardInterrupt, SIGTERM and SIGHUP (raised as DemoSignal while the block runs,
    when entered from the main thread) all stop it; an atexit guard covers an interpreter that exits some
    other way. With `keep`, a block that ends normally leaves the broker running in `state_dir`.
    """
    from elasticc_stream.engine.broker.process import stop_broker

    own_dir = state_dir is None
    folder = Path(tempfile.mkdtemp(prefix="elasticc-stream-demo-")) if own_dir else Path(state_dir)
    guard = _AtExitGuard(folder)
    atexit.register(guard)
    previous = _install_handlers()
    kept = False
    try:
        info = _start_on_free_port(folder, die_with_parent=not keep, kafka=kafka)
        yield info
        kept = keep
    finally:
        # A second Ctrl-C or a SIGTERM must not cut the stop short and leave the broker behind.
        with _signals_held():
            try:
                if not kept:
                    stop_broker(folder)
                    if own_dir:
                        shutil.rmtree(folder, ignore_errors=True)
            finally:
                atexit.unregister(guard)
                _restore_handlers(previous)


def _start_on_free_port(folder: Path, *, die_with_parent: bool, kafka: bool = False,
                        attempts: int = 5) -> BrokerInfo:
    from elasticc_stream.engine.broker.probe import free_port, port_in_use
    from elasticc_stream.engine.broker.process import HOST, start_broker

    for attempt in range(attempts):
        port = free_port(HOST)
        if port in _AVOID_PORTS:
            continue
        try:
            return start_broker(port, folder, die_with_parent=die_with_parent, kafka=kafka)
        except UserError:
            # Someone took the port between our pick and the broker's bind: pick again.
            if attempt == attempts - 1 or not port_in_use(port, HOST):
                raise
    raise UserError("no free port found for the demo broker")


class _AtExitGuard:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self) -> None:
        from elasticc_stream.engine.broker.process import stop_broker

        with contextlib.suppress(Exception):
            stop_broker(self.folder)


_HANDLED = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


def _install_handlers() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in _HANDLED:
        previous[sig] = signal.signal(sig, _raise_signal)
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM/SIGHUP for the few moments the broker takes to stop (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, *_HANDLED)}
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


# --- a replay checked at the other end --------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoOutcome:
    """What was replayed against what a consumer of the topic received, alert by alert (diaSourceId)."""

    finished: ReplayFinished | None  # None when the replay failed before sending (the error is raised)
    replayed: int                    # alerts delivered to the broker
    observations: int
    consumed: int                    # alerts received by the consumer, duplicates included
    missing: int                     # delivered but never received
    duplicated: int                  # receptions beyond the first of an alert
    unexpected: int                  # received but not sent by this replay
    decode_errors: int
    latency_p50: float | None        # seconds, Kafka timestamp to receipt
    latency_p99: float | None
    latency_max: float | None
    interrupted: bool
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.finished is not None and not self.interrupted and self.finished.failed == 0
                and self.missing == 0 and self.duplicated == 0 and self.unexpected == 0 and self.decode_errors == 0
                and self.consumed == self.replayed)


def compare_ids(sent: Counter[int], received: Counter[int]) -> tuple[int, int, int]:
    """(missing, duplicated, unexpected) of `received` against `sent`, counting every copy."""
    missing = sum(max(0, n - received.get(i, 0)) for i, n in sent.items())
    duplicated = sum(max(0, n - sent.get(i, 0)) for i, n in received.items() if i in sent)
    unexpected = sum(n for i, n in received.items() if i not in sent)
    return missing, duplicated, unexpected


class _Counting:
    """Consumes the topic in a thread and counts each alert's diaSourceId."""

    def __init__(self, config: ReplayConfig, on_event: Callable[[object], None]) -> None:
        from elasticc_stream.engine.consume.stream import AlertStream, ConsumeOptions

        self.stream = AlertStream(ConsumeOptions(bootstrap=config.bootstrap, topic=config.topic,
                                                 start="earliest", kafka=dict(config.kafka)))
        self.on_event = on_event
        self.received: Counter[int] = Counter()
        self.decode_errors = 0
        self.finished: Any = None
        self.error: BaseException | None = None
        self.progress = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="demo-consumer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        from elasticc_stream.engine.consume.events import AlertReceived, ConsumeFinished, DecodeFailed
        from elasticc_stream.engine.replay.events import Note

        try:
            for event in self.stream.events():
                if isinstance(event, AlertReceived):
                    source_id = event.alert.family.summary(event.alert.record).source_id
                    with self.progress:
                        self.received[source_id] += 1
                        self.progress.notify_all()
                elif isinstance(event, DecodeFailed):
                    self.decode_errors += 1
                    self.on_event(Note(f"consumer: {event.topic}[{event.partition}] offset {event.offset}: "
                                       f"{event.reason}"))
                elif isinstance(event, ConsumeFinished):
                    self.finished = event
        except BaseException as exc:  # handed to the caller's thread, which reports it
            self.error = exc
        finally:
            with self.progress:
                self.progress.notify_all()

    def wait_for(self, wanted: Counter[int], idle_timeout: float) -> None:
        """Until every wanted alert has arrived, or nothing new arrived for `idle_timeout` seconds."""
        last_total, last_change = -1, time.monotonic()
        with self.progress:
            while self.thread.is_alive():
                total = sum(self.received.values())
                if total != last_total:
                    last_total, last_change = total, time.monotonic()
                if all(self.received.get(i, 0) >= n for i, n in wanted.items()):
                    return
                left = idle_timeout - (time.monotonic() - last_change)
                if left <= 0:
                    return
                self.progress.wait(min(left, 0.5))

    def stop(self, timeout: float = 30.0) -> None:
        self.stream.stop()
        self.thread.join(timeout)


def _wait_until_joined(counting: _Counting, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and counting.thread.is_alive():
        if counting.stream.assigned.wait(0.2):
            return True
    return False


def replay_and_count(config: ReplayConfig, on_event: Callable[[object], None], *,
                     drain_timeout: float = 20.0) -> DemoOutcome:
    """Replay `config` while a consumer of the same topic counts what arrives; compare the two.

    `on_event` receives the replay's events (and a few `Note`s) from the replay and consumer threads.
    Ctrl-C (KeyboardInterrupt on the calling thread) stops the replay cleanly and still returns the
    comparison, marked interrupted. A replay that cannot start raises its UserError.
    """
    from elasticc_stream.engine.prepare.index import AlertIndex
    from elasticc_stream.engine.replay.events import Note
    from elasticc_stream.engine.replay.runner import Replayer
    from elasticc_stream.engine.topics import ensure_topic

    config = config.validated()
    note = ensure_topic(config.bootstrap, config.topic, config.partitions, config.kafka)
    if note:
        on_event(Note(note))
    counting = _Counting(config, on_event)
    counting.start()
    # Latency is measured from the replay's first alert only once the consumer is in place; otherwise the
    # group join (~3 s on the embedded broker) would be counted as the stream's delay.
    joined = _wait_until_joined(counting)
    if not joined and counting.error is None:
        on_event(Note("demo: the consumer has not joined its group yet; replaying anyway"))
    replayer = Replayer(config, on_event)
    outcome: dict[str, Any] = {}

    done = threading.Event()

    def work() -> None:
        try:
            outcome["finished"] = replayer.run()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            done.set()

    # An Event, not Thread.join: a join cut by KeyboardInterrupt can report a live thread as finished.
    worker = threading.Thread(target=work, name="demo-replay", daemon=True)
    interrupted = False
    try:
        worker.start()
        try:
            while not done.wait(0.2):
                pass
        except BaseException as exc:
            replayer.stop()
            if not isinstance(exc, KeyboardInterrupt):  # SIGTERM/SIGHUP (DemoSignal): go, flushing briefly
                done.wait(5.0)
                raise
            interrupted = True
            on_event(Note("demo: stopping after the alerts already handed over are delivered"))
            while not done.wait(0.2):
                pass
        if "error" in outcome:
            raise outcome["error"]
        finished = outcome["finished"]
        with AlertIndex.load(config.data) as index:
            # The replay sends the index's entries in order from the first: what it sent is that prefix.
            sent = Counter(e.dia_source_id for e in index.entries[: finished.sent])
        try:
            counting.wait_for(sent, drain_timeout if not interrupted else min(drain_timeout, 5.0))
        except KeyboardInterrupt:
            interrupted = True
    finally:
        counting.stop()
    if counting.error is not None:
        raise counting.error
    missing, duplicated, unexpected = compare_ids(sent, counting.received)
    summary = counting.finished
    return DemoOutcome(
        finished=finished, replayed=finished.delivered, observations=finished.observations,
        consumed=sum(counting.received.values()), missing=missing, duplicated=duplicated, unexpected=unexpected,
        decode_errors=counting.decode_errors,
        latency_p50=summary.latency_p50 if summary else None, latency_p99=summary.latency_p99 if summary else None,
        latency_max=summary.latency_max if summary else None,
        interrupted=interrupted or finished.interrupted,
    )
