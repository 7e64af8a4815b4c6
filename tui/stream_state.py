"""What the consumer received, folded from AlertStream events: newest alerts, partitions, rates, latency.

Latency versus age: a message produced before this app's consumer held its partitions was waiting in the
topic, so the time from its Kafka timestamp to receipt is its *age*, not the stream's latency. Once the
consumer's start is known (`ConsumerAssigned`), such messages are counted apart.
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from ..engine.alert_filter import AlertFilter
from ..engine.consume.events import AlertReceived, AlertsCounted, ConsumeFinished, DecodeFailed
from ..engine.decoder import DecodedAlert
from ..engine.families import Family

MAX_ALERT_ROWS = 500
LATENCY_WINDOW = 5000
SPARKLINE_POINTS = 120
# Points kept per graph series: one per UI tick (0.25 s) would be 30 s; one per second is 2 min.
SERIES_POINTS = 240
SERIES_EVERY_S = 1.0
# Rates are measured over this many seconds of history, long enough to smooth the per-observation bursts.
RATE_WINDOW_S = 5.0
MEDIAN_OF = 2000


@dataclass(frozen=True)
class ConsumerAssigned:
    """The consumer holds its partitions from `wall` (time.time()): older messages are backlog."""

    wall: float


@dataclass(frozen=True)
class LagSample:
    """Messages on the topic after the consumer's position (end offsets minus next offsets), summed."""

    lag: int


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
    backlog: bool = False          # produced before the consumer started: latency_s is its age
    timestamp_ms: int | None = None
    topic: str = ""
    message_key: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    family: Family | None = None  # which names the fields have (diaSourceId or candid, midPointTai or jd...)


@dataclass
class PartitionStats:
    count: int = 0
    last_offset: int | None = None
    rate: float | None = None


class Series:
    """A bounded time series for a graph: (seconds since the first point, value)."""

    def __init__(self, points: int = SERIES_POINTS) -> None:
        self.points: deque[tuple[float, float]] = deque(maxlen=points)

    def add(self, t: float, value: float | None) -> None:
        if value is not None:
            self.points.append((t, value))


class StreamState:
    """What the consumer received: the newest alerts, per-partition counts and rates, latency."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.total = 0
        self.errors = 0
        self.rows: deque[AlertRow] = deque(maxlen=MAX_ALERT_ROWS)
        self.alerts: OrderedDict[int, tuple[DecodedAlert, AlertRow]] = OrderedDict()
        self.families: dict[str, Family] = {}  # the alert families seen, first seen first (a handful at most)
        self.partitions: dict[int, PartitionStats] = {}
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.latency_max: float | None = None
        self.backlog = 0
        self.backlog_age_max: float | None = None
        self.assigned_wall: float | None = None
        self.sparkline: deque[float] = deque(maxlen=SPARKLINE_POINTS)
        self.rate: float | None = None
        self.finished: ConsumeFinished | None = None
        self.status = "idle"
        self.version = 0
        # Graphs: alerts/s consumed and the median latency per second of clock.
        self.rate_series = Series()
        self.latency_series = Series()
        self.lag_series = Series()
        self.lag: int | None = None
        self._series_at: float | None = None
        self._series_origin: float | None = None
        self._second_latencies: list[float] = []
        # The `/` filter: matching alerts are kept apart, so that rare matches outlive the newest rows.
        self.filter: AlertFilter | None = None
        self.matched: deque[AlertRow] = deque(maxlen=MAX_ALERT_ROWS)
        self._matched_alerts: OrderedDict[int, tuple[DecodedAlert, AlertRow]] = OrderedDict()
        self._history: deque[tuple[float, int, dict[int, int]]] = deque(maxlen=256)
        self._percentiles: tuple[float | None, float | None] = (None, None)
        self._percentiles_version = -1

    def _is_backlog(self, event: AlertReceived) -> bool:
        return (self.assigned_wall is not None and event.timestamp_ms is not None
                and event.timestamp_ms / 1000 < self.assigned_wall)

    def apply_batch(self, events: list[object]) -> None:
        received = [e for e in events if isinstance(e, AlertReceived)]
        # Only the newest alerts can still be on screen; older ones of a large batch are just counted.
        shown_from = max(0, len(received) - MAX_ALERT_ROWS)
        batch_latencies: list[float] = []
        i = 0
        for event in events:
            if isinstance(event, AlertsCounted):
                self._count(event, batch_latencies)
                continue
            if not isinstance(event, AlertReceived):
                continue
            self.total += 1
            stats = self.partitions.setdefault(event.partition, PartitionStats())
            stats.count += 1
            stats.last_offset = event.offset
            backlog = self._is_backlog(event)
            if event.latency_s is not None and backlog:
                self.backlog += 1
                if self.backlog_age_max is None or event.latency_s > self.backlog_age_max:
                    self.backlog_age_max = event.latency_s
            elif event.latency_s is not None:
                self.latencies.append(event.latency_s)
                batch_latencies.append(event.latency_s)
                if self.latency_max is None or event.latency_s > self.latency_max:
                    self.latency_max = event.latency_s
            if i >= shown_from:
                self._keep(event, backlog)
            i += 1
        if batch_latencies:
            # The newest of a batch: a UI that fell behind folds a large one, and its median is one point.
            self.sparkline.append(statistics.median(batch_latencies[-MEDIAN_OF:]))
            self._second_latencies.extend(batch_latencies[-200:])
        for event in events:
            if isinstance(event, DecodeFailed):
                self.errors += 1
            elif isinstance(event, ConsumeFinished):
                self.finished = event
        if events:
            self.version += 1

    def _count(self, event: AlertsCounted, batch_latencies: list[float]) -> None:
        """Alerts the consumer counted without decoding them (a fast stream): figures only, no rows."""
        self.total += event.alerts
        for _topic, partition, alerts, last_offset in event.partitions:
            stats = self.partitions.setdefault(partition, PartitionStats())
            stats.count += alerts
            stats.last_offset = last_offset
        self.backlog += event.backlog
        if event.backlog_age_max is not None and (self.backlog_age_max is None
                                                  or event.backlog_age_max > self.backlog_age_max):
            self.backlog_age_max = event.backlog_age_max
        if event.latencies:
            self.latencies.extend(event.latencies)
            batch_latencies.extend(event.latencies)
        top = event.latency_max
        if top is not None and (self.latency_max is None or top > self.latency_max):
            self.latency_max = top

    def _keep(self, event: AlertReceived, backlog: bool) -> None:
        family = event.alert.family
        info = family.summary(event.alert.record)
        self.families.setdefault(family.name, family)
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
            backlog=backlog,
            timestamp_ms=event.timestamp_ms,
            topic=event.topic,
            message_key=event.key,
            headers=event.headers,
            family=family,
        )
        self.rows.append(row)
        self.alerts[row.key] = (event.alert, row)
        while len(self.alerts) > MAX_ALERT_ROWS:
            self.alerts.popitem(last=False)
        if self.filter is not None and self.filter.matches(event.alert.record):
            self._match(event.alert, row)

    def _match(self, alert: DecodedAlert, row: AlertRow) -> None:
        self.matched.append(row)
        self._matched_alerts[row.key] = (alert, row)
        while len(self._matched_alerts) > MAX_ALERT_ROWS:
            self._matched_alerts.popitem(last=False)

    def set_filter(self, alert_filter: AlertFilter | None) -> None:
        """Show only the alerts matching `alert_filter` (None: all), starting with those already kept."""
        self.filter = alert_filter
        self.matched.clear()
        self._matched_alerts.clear()
        if alert_filter is not None:
            for alert, row in self.alerts.values():
                if alert_filter.matches(alert.record):
                    self._match(alert, row)
        self.version += 1

    @property
    def view_rows(self) -> deque[AlertRow]:
        return self.matched if self.filter is not None else self.rows

    def tick(self) -> None:
        """Update the rates from the counts seen `RATE_WINDOW_S` ago, and the graphs once a second."""
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
        if self._series_at is None or now - self._series_at >= SERIES_EVERY_S:
            if self._series_origin is None:
                self._series_origin = now
            self._series_at = now
            t = now - self._series_origin
            self.rate_series.add(t, rate)
            if self._second_latencies:
                self.latency_series.add(t, statistics.median(self._second_latencies))
                self._second_latencies.clear()
            changed = True
        if changed:
            self.version += 1

    def add_lag(self, lag: int) -> None:
        now = self._clock()
        if self._series_origin is None:
            self._series_origin = now
        self.lag = lag
        self.lag_series.add(now - self._series_origin, lag)
        self.version += 1

    def series_time(self) -> float | None:
        """Seconds on the graphs' time axis now (None before the first point)."""
        return None if self._series_origin is None else self._clock() - self._series_origin

    def percentiles(self) -> tuple[float | None, float | None]:
        """(p50, p99) over the last `LATENCY_WINDOW` live alerts, recomputed only when new alerts came."""
        if self._percentiles_version != self.total:
            self._percentiles_version = self.total
            if self.latencies:
                ordered = sorted(self.latencies)
                self._percentiles = (quantile(ordered, 0.50), quantile(ordered, 0.99))
        return self._percentiles

    def alert(self, key: int) -> tuple[DecodedAlert, AlertRow] | None:
        return self.alerts.get(key) or self._matched_alerts.get(key)


def quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile, the definition latency reports usually use."""
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]
