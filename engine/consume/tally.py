"""Counting alerts without decoding them, for a live view that shows only the newest of a fast stream.

Decoding an ELAsTiCC alert costs ~0.4 ms of CPU, so a view following 10,000 alerts/s in Python cannot decode
each one. It can count them: a schemaless or Confluent-framed message is one alert, an Avro container holds the
sum of its blocks' record counts (read from the block headers, no record decoded). Which messages are decoded
is rationed by `DecodeBudget`: the newest of each batch, at most `rate` a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..avro_container import SYNC_SIZE, read_header
from ..avro_schemas import CONTAINER_MAGIC, GZIP_MAGIC
from ..decode_error import DecodeError
from .events import AlertsCounted

# Decodes saved up while the stream is quiet, in seconds of the rate: enough for a burst's newest rows.
BURST_S = 0.5
# Latencies handed over per AlertsCounted at most (evenly spread over its messages): a view folding a backlog
# of a million alerts must not sort a million floats to draw one sparkline point.
LATENCY_SAMPLE = 64


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        b = data[pos]  # IndexError past the end: a truncated container
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def count_alerts(data: bytes | None) -> int | None:
    """How many alerts `data` holds without decoding any; None when only decoding can tell (gzip, a damaged
    container, an empty message), so the caller decodes it and reports what is wrong."""
    if not data or data[:2] == GZIP_MAGIC:
        return None
    if data[:4] != CONTAINER_MAGIC:
        return 1
    try:
        _, _, pos = read_header(data, "")
        total, end = 0, len(data)
        while pos < end:
            count, pos = _read_long(data, pos)
            size, pos = _read_long(data, pos)
            if count < 0 or size < 0 or pos + size + SYNC_SIZE > end:
                return None
            total += count
            pos += size + SYNC_SIZE
        return total
    except (DecodeError, IndexError, ValueError):
        return None


class DecodeBudget:
    """How many of a batch's newest messages to decode: a token bucket of `rate` a second."""

    def __init__(self, rate: float, clock=time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"decode rate must be positive, not {rate:g}")
        self._rate = rate
        self._cap = max(1.0, rate * BURST_S)
        self._tokens = self._cap
        self._clock = clock
        self._at = clock()

    def take(self, wanted: int) -> int:
        now = self._clock()
        self._tokens = min(self._cap, self._tokens + (now - self._at) * self._rate)
        self._at = now
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted


@dataclass
class Tally:
    """Counted messages of one batch, until they are handed over as one AlertsCounted."""

    alerts: int = 0
    partitions: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # -> [alerts, last offset]
    latencies: list[float] = field(default_factory=list)  # a sample: every `stride`-th live message's
    backlog: int = 0
    backlog_age_max: float | None = None
    live: int = 0  # alerts produced after the consumer held its partitions
    latency_max: float | None = None
    stride: int = 1
    _seen: int = 0

    def expect(self, messages: int) -> None:
        """About `messages` will be counted before the next hand-over: sample at most LATENCY_SAMPLE of them."""
        self.stride = max(1, -(-messages // LATENCY_SAMPLE))

    def add(self, topic: str, partition: int, offset: int, alerts: int, latency: float | None,
            backlog: bool) -> None:
        self.alerts += alerts
        seen = self.partitions.get((topic, partition))
        if seen is None:
            self.partitions[(topic, partition)] = [alerts, offset]
        else:
            seen[0] += alerts
            seen[1] = offset
        if latency is None:
            return
        if backlog:
            self.backlog += alerts
            if self.backlog_age_max is None or latency > self.backlog_age_max:
                self.backlog_age_max = latency
        else:
            self.live += alerts
            if self.latency_max is None or latency > self.latency_max:
                self.latency_max = latency
            if self._seen % self.stride == 0:
                self.latencies.append(latency)
            self._seen += 1

    def event(self) -> AlertsCounted:
        parts = tuple((t, p, n, last) for (t, p), (n, last) in self.partitions.items())
        return AlertsCounted(self.alerts, parts, tuple(self.latencies), self.backlog, self.backlog_age_max,
                             self.live, self.latency_max)

    def clear(self) -> None:
        self.alerts = self.backlog = self.live = self._seen = 0
        self.partitions.clear()
        self.latencies.clear()
        self.backlog_age_max = self.latency_max = None
