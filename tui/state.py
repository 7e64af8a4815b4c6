"""What the screens show, folded from engine events.

Plain Python (no Textual) so that it can be fed directly by tests. Everything that grows with the stream is
bounded: observation rows, alert rows, kept alerts, log lines and latency samples. Each part carries a
`version` that changes when its content changes, so widgets redraw only what moved since their last tick.
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from elasticc_stream.engine.alert_fields import summary
from elasticc_stream.engine.consume.events import AlertReceived, ConsumeFinished, DecodeFailed
from elasticc_stream.engine.decoder import DecodedAlert
from elasticc_stream.engine.replay.events import (
    AlertFailed,
    Note,
    ObservationDelivered,
    ObservationStarted,
    ReplayFinished,
    ReplayPlanned,
    ReplayStarted,
)

MAX_OBSERVATION_ROWS = 1000
MAX_ALERT_ROWS = 500
MAX_LOG_LINES = 500
LATENCY_WINDOW = 5000
SPARKLINE_POINTS = 120
# Rates are measured over this many seconds of history, long enough to smooth the per-observation bursts.
RATE_WINDOW_S = 5.0
TROUBLE_REPEAT_S = 60.0


@dataclass(frozen=True)
class WorkerFailed:
    """A replay or consumer worker stopped on an error (unreachable broker, bad configuration...)."""

    source: str
    text: str


@dataclass(frozen=True)
class KafkaTrouble:
    """A transient client error (broker down, authentication refused...): the worker keeps trying."""

    source: str
    text: str


@dataclass(frozen=True)
class WorkerStatus:
    """A worker changed state: "running", "paused", "stopping", "stopped", "finished"."""

    source: str
    status: str


@dataclass(frozen=True)
class Notice:
    severity: str  # "information" | "warning" | "error", as App.notify takes them
    text: str


@dataclass
class ObservationRow:
    number: int
    offset_s: float | None = None
    size: int = 0
    count: int | None = None
    first: object = None
    last: object = None
    delivered: bool = False
    version: int = 0


class ReplayState:
    """Progress of the replay run by this app."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.planned: ReplayPlanned | None = None
        self.t0: float | None = None
        self.started_at: float | None = None
        self.delivered_total = 0
        self.failed = 0
        self.finished: ReplayFinished | None = None
        self.status = "idle"
        self.rows: OrderedDict[int, ObservationRow] = OrderedDict()
        self.version = 0

    def reset(self) -> None:
        """Forget a previous run before a new one starts (the table shows one run at a time)."""
        version = self.version
        self.__init__(self._clock)  # type: ignore[misc]
        # Widgets compare versions: keep counting up so they notice the reset.
        self.version = version + 1

    @property
    def to_send(self) -> int | None:
        return self.planned.to_send if self.planned else None

    def _row(self, number: int) -> ObservationRow:
        row = self.rows.get(number)
        if row is None:
            row = self.rows[number] = ObservationRow(number)
            while len(self.rows) > MAX_OBSERVATION_ROWS:
                self.rows.popitem(last=False)
        self.version += 1
        row.version = self.version
        return row

    def apply(self, event: object) -> None:
        match event:
            case ReplayPlanned():
                self.planned = event
                self.version += 1
            case ReplayStarted(t0=t0):
                self.t0 = t0
                self.started_at = self._clock()
                self.status = "running"
                self.version += 1
            case ObservationStarted(number=number, offset_s=offset_s, size=size):
                row = self._row(number)
                row.offset_s, row.size = offset_s, size
            case ObservationDelivered():
                row = self._row(event.number)
                row.count, row.first, row.last, row.delivered = event.count, event.first, event.last, True
                if row.offset_s is None:
                    row.offset_s = event.offset_s
                self.delivered_total = event.delivered_total
            case AlertFailed():
                self.failed += 1
                self.version += 1
            case ReplayFinished():
                self.finished = event
                self.delivered_total = event.delivered
                self.failed = event.failed
                self.status = "stopped" if event.interrupted else "finished"
                self.version += 1

    def elapsed(self) -> float | None:
        if self.finished is not None:
            return self.finished.seconds
        if self.started_at is None:
            return None
        return max(0.0, self._clock() - self.started_at)

    def rate(self) -> float | None:
        elapsed = self.elapsed()
        if not elapsed or not self.delivered_total:
            return None
        return self.delivered_total / elapsed

    def eta(self) -> float | None:
        """Seconds left: the remaining observations are paced by the interval, alerts by the measured rate."""
        if self.planned is None or self.finished is not None or self.status != "running":
            return None
        remaining = max(0, self.planned.to_send - self.delivered_total)
        if remaining == 0:
            return 0.0
        by_rate = remaining / r if (r := self.rate()) else None
        per_obs = max(1, self.planned.per_obs)
        by_interval = (remaining / per_obs) * self.planned.interval if self.planned.interval > 0 else None
        candidates = [x for x in (by_rate, by_interval) if x is not None]
        return max(candidates) if candidates else None


@dataclass(frozen=True)
class AlertRow:
    key: int  # arrival number, also the key of the kept DecodedAlert
    source_id: object
    object_id: object
    time: object
    band: object
    flux: object
    partition: int
    offset: int
    latency_s: float | None


@dataclass
class PartitionStats:
    count: int = 0
    last_offset: int | None = None
    rate: float | None = None


class StreamState:
    """What the consumer received: the newest alerts, per-partition counts and rates, latency."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.total = 0
        self.errors = 0
        self.rows: deque[AlertRow] = deque(maxlen=MAX_ALERT_ROWS)
        self.alerts: OrderedDict[int, tuple[DecodedAlert, AlertRow]] = OrderedDict()
        self.partitions: dict[int, PartitionStats] = {}
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.latency_max: float | None = None
        self.sparkline: deque[float] = deque(maxlen=SPARKLINE_POINTS)
        self.rate: float | None = None
        self.finished: ConsumeFinished | None = None
        self.status = "idle"
        self.version = 0
        self._history: deque[tuple[float, int, dict[int, int]]] = deque(maxlen=256)
        self._percentiles: tuple[float | None, float | None] = (None, None)
        self._percentiles_version = -1

    def apply_batch(self, events: list[object]) -> None:
        received = [e for e in events if isinstance(e, AlertReceived)]
        # Only the newest alerts can still be on screen; older ones of a large batch are just counted.
        shown_from = max(0, len(received) - MAX_ALERT_ROWS)
        batch_latencies: list[float] = []
        for i, event in enumerate(received):
            self.total += 1
            stats = self.partitions.setdefault(event.partition, PartitionStats())
            stats.count += 1
            stats.last_offset = event.offset
            if event.latency_s is not None:
                self.latencies.append(event.latency_s)
                batch_latencies.append(event.latency_s)
                if self.latency_max is None or event.latency_s > self.latency_max:
                    self.latency_max = event.latency_s
            if i >= shown_from:
                self._keep(event)
        if batch_latencies:
            self.sparkline.append(statistics.median(batch_latencies))
        for event in events:
            if isinstance(event, DecodeFailed):
                self.errors += 1
            elif isinstance(event, ConsumeFinished):
                self.finished = event
        if received or len(received) != len(events):
            self.version += 1

    def _keep(self, event: AlertReceived) -> None:
        info = summary(event.alert.record)
        row = AlertRow(
            key=self.total,
            source_id=info.source_id,
            object_id=info.object_id,
            time=info.time,
            band=info.band,
            flux=info.flux,
            partition=event.partition,
            offset=event.offset,
            latency_s=event.latency_s,
        )
        self.rows.append(row)
        self.alerts[row.key] = (event.alert, row)
        while len(self.alerts) > MAX_ALERT_ROWS:
            self.alerts.popitem(last=False)

    def tick(self) -> None:
        """Update the rates from the counts seen `RATE_WINDOW_S` ago."""
        now = self._clock()
        counts = {p: s.count for p, s in self.partitions.items()}
        self._history.append((now, self.total, counts))
        while len(self._history) > 2 and now - self._history[1][0] >= RATE_WINDOW_S:
            self._history.popleft()
        then, total_then, counts_then = self._history[0]
        span = now - then
        if span <= 0:
            return
        rate = (self.total - total_then) / span
        changed = rate != self.rate
        self.rate = rate
        for partition, stats in self.partitions.items():
            p_rate = (stats.count - counts_then.get(partition, 0)) / span
            changed = changed or p_rate != stats.rate
            stats.rate = p_rate
        if changed:
            self.version += 1

    def percentiles(self) -> tuple[float | None, float | None]:
        """(p50, p99) over the last `LATENCY_WINDOW` alerts, recomputed only when new alerts came."""
        if self._percentiles_version != self.total:
            self._percentiles_version = self.total
            if self.latencies:
                ordered = sorted(self.latencies)
                self._percentiles = (_quantile(ordered, 0.50), _quantile(ordered, 0.99))
        return self._percentiles

    def alert(self, key: int) -> tuple[DecodedAlert, AlertRow] | None:
        return self.alerts.get(key)


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile, the definition latency reports usually use."""
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


@dataclass
class LogState:
    lines: deque[tuple[int, str, str]] = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    last: int = 0

    def add(self, severity: str, text: str) -> None:
        self.last += 1
        self.lines.append((self.last, severity, text))


class TuiState:
    """The app's whole view state: replay progress, stream contents, and the log."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.replay = ReplayState(clock)
        self.stream = StreamState(clock)
        self.log = LogState()
        self._trouble_seen: dict[tuple[str, str], float] = {}

    def apply(self, events: Iterable[object]) -> list[Notice]:
        """Fold a batch of events; return the notifications to show, at most one per kind per batch."""
        events = list(events)
        notices: dict[str, Notice] = {}
        stream_events: list[object] = []
        decode_failures: list[DecodeFailed] = []
        alert_failures: list[AlertFailed] = []
        for event in events:
            match event:
                case AlertReceived() | ConsumeFinished():
                    stream_events.append(event)
                    if isinstance(event, ConsumeFinished):
                        self.log.add("info", f"consumer stopped: {event.alerts} alerts, {event.errors} errors")
                case DecodeFailed():
                    stream_events.append(event)
                    decode_failures.append(event)
                    self.log.add("error", f"{event.topic}[{event.partition}]@{event.offset}: {event.reason}")
                case WorkerFailed(source=source, text=text):
                    self.log.add("error", f"{source}: {text}")
                    notices[f"failed-{source}"] = Notice("error", f"{source}: {text}")
                    self._set_status(source, "failed")
                case KafkaTrouble(source=source, text=text):
                    # librdkafka repeats the same complaint while the broker stays down: say it once a minute.
                    now = self.clock()
                    seen = self._trouble_seen.get((source, text))
                    if seen is None or now - seen >= TROUBLE_REPEAT_S:
                        self._trouble_seen[(source, text)] = now
                        while len(self._trouble_seen) > 64:
                            self._trouble_seen.pop(next(iter(self._trouble_seen)))
                        self.log.add("note", f"{source}: {text}")
                        notices[f"trouble-{source}"] = Notice("warning", f"{source}: {text}")
                case WorkerStatus(source=source, status=status):
                    self._set_status(source, status)
                case Note(text=text):
                    self.replay.apply(event)
                    self.log.add("note", text)
                case AlertFailed(file=file, reason=reason):
                    self.replay.apply(event)
                    alert_failures.append(event)
                    self.log.add("error", f"{file}: {reason}")
                case ReplayPlanned():
                    self.replay.apply(event)
                    self.log.add(
                        "info",
                        f"Total alert available ({event.path}): {event.available}; to be sent: {event.to_send}",
                    )
                    for note in event.notes:
                        self.log.add("note", note)
                case ReplayStarted(t0=t0):
                    self.replay.apply(event)
                    self.log.add("info", f"replay started, t0: {t0}")
                case ReplayFinished():
                    self.replay.apply(event)
                    verb = "stopped" if event.interrupted else "finished"
                    text = (
                        f"replay {verb}: {event.delivered}/{event.sent} delivered, {event.failed} failed, "
                        f"{event.observations} observations in {event.seconds:.1f} s"
                    )
                    self.log.add("error" if event.failed else "info", text)
                    notices["replay-finished"] = Notice("warning" if event.failed else "information", text)
                case _:
                    self.replay.apply(event)
        if stream_events:
            self.stream.apply_batch(stream_events)
        if decode_failures:
            last = decode_failures[-1]
            more = f" (+{len(decode_failures) - 1} more)" if len(decode_failures) > 1 else ""
            notices["decode"] = Notice("error", f"undecodable message {last.topic}[{last.partition}]"
                                                f"@{last.offset}: {last.reason}{more}")
        if alert_failures:
            last = alert_failures[-1]
            more = f" (+{len(alert_failures) - 1} more)" if len(alert_failures) > 1 else ""
            notices["alert-failed"] = Notice("error", f"not delivered: {last.file}: {last.reason}{more}")
        return list(notices.values())

    def _set_status(self, source: str, status: str) -> None:
        part = self.replay if source == "replay" else self.stream
        if status == "ended":
            # A worker that ended on its own already said how (finished, stopped or failed) unless it vanished.
            if part.status not in ("running", "paused", "stopping", "idle", "waiting"):
                return
            status = "stopped"
        if part.status != status:
            part.status = status
            part.version += 1

    def tick(self) -> None:
        self.stream.tick()
