"""A replay checked at the other end: a consumer of the same topic counts every alert that arrives."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..replay.config import ReplayConfig
    from ..replay.events import ReplayFinished

DEMO_TOPIC = "elasticc-demo"


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
        from ..consume.stream import AlertStream, ConsumeOptions

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
        from ..consume.events import AlertReceived, ConsumeFinished, DecodeFailed
        from ..replay.events import Note

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
    from ..prepare.index import AlertIndex
    from ..replay.events import Note
    from ..replay.runner import Replayer
    from ..topics import ensure_topic

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
