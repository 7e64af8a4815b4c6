"""What an AlertStream reports. The CLI printer and the TUI are two consumers of these same events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..decoder import DecodedAlert


@dataclass(frozen=True)
class AlertReceived:
    """One decoded alert. A container message holding several records gives one event per record."""

    alert: DecodedAlert
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None  # the message's Kafka timestamp, None when the broker gave none
    latency_s: float | None   # receipt time minus timestamp_ms
    key: bytes | None = None  # the message's key and headers, as the broker gave them
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass(frozen=True)
class DecodeFailed:
    """A message that is not an alert we can decode exactly; the stream goes on after it."""

    topic: str
    partition: int
    offset: int
    reason: str


@dataclass(frozen=True)
class ConsumeFinished:
    """Always the last event of AlertStream.events().

    `offsets` maps "topic[partition]" to the next offset to read (what was committed for the group);
    `rate` is alerts per second from the first message received to the last one handled (the group join and
    the final idle wait excluded); latencies are in seconds, None when no message carried a timestamp.
    """

    alerts: int
    errors: int
    offsets: dict[str, int]
    seconds: float
    rate: float
    latency_p50: float | None
    latency_p99: float | None
    latency_max: float | None
    redelivered: int = 0    # messages the broker delivered again (after a stall or rebalance), skipped


@dataclass(frozen=True)
class AlertsCounted:
    """Messages handed over without being decoded (ConsumeOptions.decode_rate, a live view of a fast stream):
    counted exactly, per partition, but neither decoded nor checked. Comes before the decoded newest ones."""

    alerts: int
    partitions: tuple[tuple[str, int, int, int], ...]  # (topic, partition, alerts, last offset), one per partition
    # Seconds, a sample (at most tally.LATENCY_SAMPLE, evenly spread) of the messages produced after the
    # consumer held its partitions; `live` counts those and `latency_max` is the largest of them all.
    latencies: tuple[float, ...]
    backlog: int = 0  # alerts produced before that: their latency is the age they had in the topic
    backlog_age_max: float | None = None
    live: int = 0
    latency_max: float | None = None




@dataclass(frozen=True)
class AlertsRendered:
    """The alerts of one message as the caller's `render` made them (ConsumeOptions.workers), one line each, by a
    worker process; with ConsumeOptions.save_dir, `saved` says what became of each alert's file: ("written" or
    "already there", path) or ("failed", why), as AlertSaver.save would."""

    topic: str
    partition: int
    offset: int
    lines: tuple[str, ...]
    saved: tuple[tuple[str, str] | None, ...] = ()


ConsumeEvent = AlertReceived | AlertsRendered | DecodeFailed | AlertsCounted | ConsumeFinished
