"""Running figures of a stream: end-to-end latency percentiles and message rates."""

from __future__ import annotations

import math
import time
from array import array
from collections import deque


def percentile(sorted_values: list[float] | array, fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (no interpolation: the figure is one that was seen)."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, math.ceil(fraction * n))
    return sorted_values[min(rank, n) - 1]


class LatencyStats:
    """Latencies in seconds. With `window`, percentiles cover the last `window` values (for a live view);
    `max` and `count` always cover everything seen."""

    def __init__(self, window: int | None = None) -> None:
        # array('d') keeps a long run's latencies at 8 bytes each instead of a list of float objects.
        self._values: array | deque = array("d") if window is None else deque(maxlen=window)
        self.count = 0
        self.max: float | None = None

    def add(self, latency_s: float) -> None:
        self._values.append(latency_s)
        self.count += 1
        if self.max is None or latency_s > self.max:
            self.max = latency_s

    def extend(self, latencies: list[float]) -> None:
        if not latencies:
            return
        self._values.extend(latencies)
        self.count += len(latencies)
        top = max(latencies)
        if self.max is None or top > self.max:
            self.max = top

    def percentiles(self, *fractions: float) -> list[float | None]:
        ordered = sorted(self._values)
        return [percentile(ordered, f) for f in fractions]

    @property
    def p50(self) -> float | None:
        return self.percentiles(0.5)[0]

    @property
    def p99(self) -> float | None:
        return self.percentiles(0.99)[0]


class RateMeter:
    """Events per second over the last `span` seconds, for a live display."""

    def __init__(self, span: float = 5.0, clock=time.monotonic) -> None:
        self._span = span
        self._clock = clock
        self._marks: deque[tuple[float, int]] = deque()
        self.total = 0

    def add(self, count: int = 1) -> None:
        self.total += count
        now = self._clock()
        self._marks.append((now, self.total))
        while len(self._marks) > 2 and now - self._marks[0][0] > self._span:
            self._marks.popleft()

    def rate(self) -> float:
        if len(self._marks) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0


def overall_rate(count: int, first: float | None, last: float | None, fallback_seconds: float) -> float:
    """`count` per second between `first` and `last`; over the whole run when that span is empty."""
    if count == 0:
        return 0.0
    if first is not None and last is not None and last > first:
        return count / (last - first)
    return count / fallback_seconds if fallback_seconds > 0 else 0.0
