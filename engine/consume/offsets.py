"""`consume --offsets`: where a consumer group stands on a topic, partition by partition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import UserError
from ..kafka_config import consumer_config, scrub
from .stream import log

# The embedded broker (Tansu) reports a high watermark that undercounts when a produce batch held several
# records, so its lag figures are lower bounds there; real Kafka brokers give exact ones. The note is shown
# only when the broker is Tansu (engine/broker/identify.py).
WATERMARK_NOTE = ("the embedded Tansu broker's high watermark can undercount when a batch held several "
                  "records: there, lag is a lower bound (count what you consume instead)")


@dataclass(frozen=True)
class PartitionOffsets:
    partition: int
    committed: int | None  # next offset the group will read; None: the group has committed nothing here
    low: int
    high: int
    lag: int               # messages after `committed` (after `low` when nothing was committed)


@dataclass(frozen=True)
class OffsetsReport:
    topic: str
    group: str
    partitions: list[PartitionOffsets]

    @property
    def committed_partitions(self) -> int:
        return sum(1 for p in self.partitions if p.committed is not None)

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def total_messages(self) -> int:
        return sum(p.high - p.low for p in self.partitions)


def group_offsets(bootstrap: str, topic: str, group: str, kafka: Mapping[str, str] | None = None,
                  timeout: float = 10.0) -> OffsetsReport:
    """Committed offset, watermarks and lag per partition. Reads only: the group is not joined."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    extra = dict(kafka or {})
    config = consumer_config(bootstrap, group, extra)
    config.update({"enable.auto.commit": False, "logger": log})
    try:
        consumer = Consumer(config)
    except KafkaException as exc:
        raise UserError(f"bad Kafka configuration: {scrub(str(exc), extra)}") from None
    try:
        try:
            meta = consumer.list_topics(topic=topic, timeout=timeout)
        except KafkaException as exc:
            raise UserError(f"no Kafka broker answered at {bootstrap} within {timeout:g} s "
                            f"({scrub(str(exc), extra)})") from None
        info = meta.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise UserError(f"topic {topic!r} does not exist at {bootstrap}")
        numbers = sorted(info.partitions)
        try:
            committed = consumer.committed([TopicPartition(topic, p) for p in numbers], timeout=timeout)
            rows = []
            for tp in committed:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=timeout)
                done = tp.offset if tp.offset >= 0 else None  # negative: OFFSET_INVALID, nothing committed
                lag = max(0, high - (done if done is not None else low))
                rows.append(PartitionOffsets(tp.partition, done, low, high, lag))
        except KafkaException as exc:
            raise UserError(f"cannot read offsets of group {group!r} at {bootstrap}: "
                            f"{scrub(str(exc), extra)}") from None
        return OffsetsReport(topic, group, sorted(rows, key=lambda r: r.partition))
    finally:
        consumer.close()
