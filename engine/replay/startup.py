"""A replay's start on the broker side: the producer, the topic, and where this job starts in each partition.

Few round trips before the first send: the producer is made first (it connects while the index is checked),
one metadata request of the producer tells both whether the broker answers and whether the topic exists with
how many partitions; a topic created here is empty, so this job starts at offset 0 of each partition and
nothing is read back; only an existing topic has its partition ends read (engine.replay.readback).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..kafka_config import producer_config, scrub
from .checkpoint import PartitionMark
from .config import ReplayConfig

# Bounded so that a dead address fails well within a minute, with one clear line.
METADATA_TIMEOUT_S = 15.0
RECHECK_S = 0.02  # between metadata requests while a topic just created does not show yet

kafka_log = logging.getLogger("elasticc_stream.replay.kafka")
# librdkafka logs through this logger instead of writing to stderr; -v routes it to stderr.
kafka_log.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class TopicReady:
    partitions: int
    created: bool          # made here, empty: every partition of this job starts at offset 0
    note: str | None = None


def open_producer(config: ReplayConfig, on_error: Callable[[Any], None]) -> Any:
    from confluent_kafka import Producer

    props = producer_config(config.bootstrap, config.kafka)
    props.update({"error_cb": on_error, "logger": kafka_log})
    try:
        return Producer(props)
    except Exception as exc:  # KafkaException, or ValueError/TypeError for a bad -X property
        raise UserError(f"cannot configure the Kafka producer: {scrub(str(exc), config.kafka)}") from None


def open_admin(config: ReplayConfig) -> Any:
    """An admin client for the topic's creation, opened beside the producer: its connection is then up by the
    time the producer's metadata says the topic is missing (on Apache Kafka a new client's connect and first
    metadata took 10-40 ms of the 0.2-0.4 s start-up). Making one costs ~3 ms; its connection is idle."""
    from ..topics import admin_client

    return admin_client(config.bootstrap, config.kafka)


def topic_partitions(metadata: Any, topic: str) -> int | None:
    """Partitions of `topic` in a metadata answer, None when it does not exist."""
    info = metadata.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        return None
    return len(info.partitions)


def ensure_topic(producer: Any, metadata: Any, config: ReplayConfig, admin: Any = None) -> TopicReady:
    """The topic as the producer sees it, created with `config.partitions` if `metadata` does not hold it.

    Topics are always created explicitly: the embedded broker would give an auto-created topic 4 partitions,
    so the producer never names a topic that may not exist yet (it asks for every topic)."""
    topic = config.topic
    count = topic_partitions(metadata, topic)
    created = False
    if count is None:
        from ..topics import create_topic

        created = create_topic(admin, config.bootstrap, topic, config.partitions, config.kafka,
                               timeout=METADATA_TIMEOUT_S)
        if created:
            # Ours, with the partitions asked for. No need to wait until the producer's broker shows it: the
            # client holds the first messages until its metadata does (topic.metadata.propagation.max.ms).
            return TopicReady(config.partitions, True, None)
        deadline = time.monotonic() + METADATA_TIMEOUT_S
        while count is None:
            # Metadata can lag creation by a moment (on a cluster, the broker answering learns of it later).
            count = topic_partitions(producer.list_topics(timeout=METADATA_TIMEOUT_S), topic)
            if count is None:
                if time.monotonic() > deadline:
                    raise UserError(f"topic {topic} was created at {config.bootstrap} but does not show in its "
                                    "metadata")
                time.sleep(RECHECK_S)
    note = None
    if count != config.partitions:
        note = f"topic {topic} exists with {count} partitions (asked for {config.partitions}); using it as it is"
    return TopicReady(count, created, note)


def start_marks(ready: TopicReady, config: ReplayConfig) -> dict[int, PartitionMark]:
    """Each partition's end before this job sends anything: where a later read-back starts."""
    if ready.created:
        return {p: PartitionMark(0) for p in range(ready.partitions)}
    from . import readback

    return readback.start_marks(config.bootstrap, config.topic, ready.partitions, config.kafka)
