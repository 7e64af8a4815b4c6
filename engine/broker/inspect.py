"""What a running broker holds: topics, partitions, message counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import UserError
from ..kafka_config import admin_config, consumer_config, scrub


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    messages: int
    exact: bool  # counted by reading every record, not from watermarks
    # per partition: (partition, leader node id (-1: none), replica node ids, in-sync replica node ids)
    replicas: tuple[tuple[int, int, tuple[int, ...], tuple[int, ...]], ...] = ()


def list_topics(bootstrap: str, extra: Mapping[str, str] | None = None, exact: bool = False,
                timeout: float = 10, tansu: bool = True) -> list[TopicInfo]:
    """Every topic with its message count; `tansu` corrects for that broker's undercounting watermark."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        meta = AdminClient(admin_config(bootstrap, extra)).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise UserError(f"no Kafka broker answered at {bootstrap}: {scrub(str(exc), extra or {})}") from exc
    topics = []
    for name in sorted(meta.topics):
        if name.startswith("__"):
            continue
        partitions = sorted(meta.topics[name].partitions)
        if exact:
            count = _count_records(bootstrap, name, partitions, extra)
        else:
            count = _watermark_total(bootstrap, name, partitions, extra, read_last_batch=tansu)
        parts = meta.topics[name].partitions
        replicas = tuple((p, parts[p].leader, tuple(parts[p].replicas), tuple(parts[p].isrs)) for p in partitions)
        topics.append(TopicInfo(name=name, partitions=len(partitions), messages=count, exact=exact,
                                replicas=replicas))
    return topics


def _watermark_total(bootstrap, topic, partitions, extra, idle: float = 0.5, read_last_batch: bool = True) -> int:
    """Messages from watermarks; on Tansu corrected by reading only each partition's last record batch.

    Tansu only: its high watermark is its last batch's base offset + 1, so a batch of several records is
    undercounted; fetching from that offset returns the whole last batch and so the true end offset.
    Apache Kafka's watermarks are exact and are used as they are.
    """
    from confluent_kafka import Consumer, TopicPartition

    config = consumer_config(bootstrap, "elasticc-stream-status", extra)
    config.update({"enable.auto.commit": False})
    consumer = Consumer(config)
    try:
        low: dict[int, int] = {}
        end: dict[int, int] = {}
        for p in partitions:
            low[p], end[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
        tail = [TopicPartition(topic, p, end[p] - 1) for p in partitions if end[p] > low[p] and read_last_batch]
        if tail:
            consumer.assign(tail)
            while batch := consumer.consume(1000, timeout=idle):
                for msg in batch:
                    if msg.error() is None:
                        end[msg.partition()] = max(end[msg.partition()], msg.offset() + 1)
        return sum(max(0, end[p] - low[p]) for p in partitions)
    finally:
        consumer.close()


def _count_records(bootstrap, topic, partitions, extra, idle: float = 1.0) -> int:
    # The embedded broker's high watermark undercounts batches of several records; reading is exact.
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    config = consumer_config(bootstrap, "elasticc-stream-status", extra)
    config.update({"enable.auto.commit": False})
    consumer = Consumer(config)
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        total = 0
        while True:
            batch = consumer.consume(1000, timeout=idle)
            if not batch:
                return total
            total += sum(1 for m in batch if m.error() is None)
    finally:
        consumer.close()
