"""Replay progress folded from the Replayer's events: one row per observation, rates and ETA.

Rates exclude paused time: a paused replay sends nothing, so counting the pause would make the rate fall
while nothing happens.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from ..engine.replay.events import (
    AlertFailed,
    ObservationDelivered,
    ObservationStarted,
    ReplayFinished,
    ReplayPlanned,
    ReplayStarted,
)

MAX_OBSERVATION_ROWS = 1000
SERIES_POINTS = 240


@dataclass
class ObservationRow:
    number: int
    offset_s: float | None = None     # start, relative to t0
    size: int = 0
    count: int | None = None
    first: object = None
    last: object = None
    delivered: bool = False
    done_offset_s: float | None = None  # last delivery report, relative to t0
    left_s: float | None = None         # the replay's time left when this observation was done
    version: int = 0

    @property
    def rate(self) -> float | None:
        """Alerts/s of this observation: its alerts over the time from its start to its last delivery."""
        if not self.delivered or self.offset_s is None or self.done_offset_s is None or not self.count:
            return None
        span = self.done_offset_s - self.offset_s
        return self.count / span if span > 0 else None


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
        self.runs = 0  # replays started by this app: a second one duplicates the topic's alerts
        self._paused_since: float | None = None
        self._paused_total = 0.0
        # Alerts/s delivered, one point a second, on the clock shared with the stream's graphs.
        self.rate_series: deque[tuple[float, float]] = deque(maxlen=SERIES_POINTS)
        self._sampled: tuple[float, int] | None = None

    def reset(self) -> None:
        """Forget a previous run before a new one starts (the table shows one run at a time)."""
        version, runs, series = self.version, self.runs, self.rate_series
        self.__init__(self._clock)  # type: ignore[misc]
        # Widgets compare versions: keep counting up so they notice the reset.
        self.version = version + 1
        self.runs = runs
        self.rate_series = series  # the graph shows runs one after the other

    def sample(self, t: float | None) -> None:
        """A point of the delivered-alerts/s graph at graph time `t`, once a second while a replay runs."""
        if t is None or self.started_at is None:
            return
        now = self._clock()
        if self._sampled is None:
            if self.finished is None:
                self._sampled = (now, self.delivered_total)
            return
        then, delivered = self._sampled
        if now - then < 1.0:
            return
        self.rate_series.append((t, (self.delivered_total - delivered) / (now - then)))
        self._sampled = None if self.finished is not None else (now, self.delivered_total)

    @property
    def to_send(self) -> int | None:
        return self.planned.to_send if self.planned else None

    def set_status(self, status: str) -> None:
        now = self._clock()
        if status == "paused" and self._paused_since is None:
            self._paused_since = now
        elif status != "paused" and self._paused_since is not None:
            self._paused_total += now - self._paused_since
            self._paused_since = None
        if status != self.status:
            self.status = status
            self.version += 1

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
                self.runs += 1
                self.version += 1
            case ObservationStarted(number=number, offset_s=offset_s, size=size):
                row = self._row(number)
                row.offset_s, row.size = offset_s, size
            case ObservationDelivered():
                row = self._row(event.number)
                row.count, row.first, row.last, row.delivered = event.count, event.first, event.last, True
                row.done_offset_s = event.offset_s
                if row.offset_s is None:
                    row.offset_s = event.offset_s
                self.delivered_total = event.delivered_total
                row.left_s = self.eta()
            case AlertFailed():
                self.failed += 1
                self.version += 1
            case ReplayFinished():
                self.finished = event
                self.delivered_total = event.delivered
                self.failed = event.failed
                self.status = "stopped" if event.interrupted else "finished"
                self._paused_since = None
                self.version += 1

    def elapsed(self) -> float | None:
        """Seconds the replay has been sending (paused time left out)."""
        if self.finished is not None:
            return self.finished.seconds
        if self.started_at is None:
            return None
        now = self._clock()
        paused = self._paused_total + (now - self._paused_since if self._paused_since is not None else 0.0)
        return max(0.0, now - self.started_at - paused)

    def rate(self) -> float | None:
        elapsed = self.elapsed()
        if not elapsed or not self.delivered_total:
            return None
        return self.delivered_total / elapsed

    def eta(self) -> float | None:
        """Seconds left: the remaining observations are paced by the interval, alerts by the measured rate."""
        if self.planned is None or self.finished is not None or self.status not in ("running", "paused"):
            return None
        remaining = max(0, self.planned.to_send - self.delivered_total)
        if remaining == 0:
            return 0.0
        by_rate = remaining / r if (r := self.rate()) else None
        per_obs = max(1, self.planned.per_obs)
        by_interval = (remaining / per_obs) * self.planned.interval if self.planned.interval > 0 else None
        candidates = [x for x in (by_rate, by_interval) if x is not None]
        return max(candidates) if candidates else None
