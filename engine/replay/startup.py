"""A replay's start on the broker side: the producer, the topic, and where this job starts in each partition.

Few round trips before the first send, and those while the process still has other work: the producer and the
admin client are opened (`KafkaLink`) before the replay's own modules are imported and its index read, so they
connect meanwhile; for a prepared folder the topic's creation is asked for at the same moment. One metadata
request of the producer then tells both whether the broker answers and whether the topic exists with how many
partitions; a topic created here is empty, so this job starts at offset 0 of each partition and nothing is read
back; only an existing topic has its partition ends read (engine.replay.readback).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..kafka_admin.reach import ErrorTrap
from ..kafka_config import producer_config, scrub
from .config import ReplayConfig

if TYPE_CHECKING:
    from .checkpoint import PartitionMark

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


class KafkaLink:
    """The replay's producer and admin client, and what librdkafka has said since they were opened.

    Opened as early as the settings allow (`open_replay`): on Apache Kafka a client's connect and first
    metadata took 10-40 ms, and a CreateTopics answer 25-45 ms, of a 0.2-0.4 s start-up; asked for before the
    runner's modules are imported and the index is read (~25-45 ms of work in this process), what is left of
    them to wait for is 0-12 ms."""

    def __init__(self, config: ReplayConfig) -> None:
        self.kafka = config.kafka
        self.trap = ErrorTrap(config.kafka)
        self.last_error: str | None = None
        self.creating: Any = None  # the future of a CreateTopics sent before the metadata was read
        self.producer = open_producer(config, self._on_error)
        self.admin: Any = open_admin(config)

    def _on_error(self, err: Any) -> None:
        # librdkafka retries connection trouble itself; the stall watch says it once it matters.
        self.trap(err)
        self.last_error = scrub(str(err.str()), self.kafka)

    def ask_creation(self, config: ReplayConfig) -> None:
        """Send the topic's CreateTopics now; `ensure_topic` reads the answer. Harmless for a topic that exists:
        the answer is then TOPIC_ALREADY_EXISTS, or a refusal (no right to create) that is overlooked because the
        metadata holds the topic."""
        from ..topics import request_creation

        self.creating = request_creation(self.admin, config.topic, config.partitions, METADATA_TIMEOUT_S)

    def close_unused(self) -> None:
        """Nothing was produced: don't leave the client's threads retrying a broker nobody will use."""
        self.producer.purge(in_queue=True, in_flight=True, blocking=False)
        self.producer.flush(0)
        self.admin = self.creating = None


def creates_early(config: ReplayConfig) -> bool:
    """Whether the topic's creation may be asked for before the index, the plan and the checkpoint are read.

    Only when the run expects a missing topic (not a resume, which expects the topic it wrote to) and what is
    still to be checked rarely fails: a folder already prepared (not one prepare may find empty), no
    EXTERNAL_SCHEMA that an alert may not fit, no schema registry that may not answer. Otherwise a failed start
    could leave behind an empty topic the replay never used."""
    from ..prepare.index import AlertIndex

    return (not config.resume and config.schema is None and not config.schema_registry
            and AlertIndex.locate(config.data) is not None)


def open_producer(config: ReplayConfig, on_error: Callable[[Any], None]) -> Any:
    from confluent_kafka import Producer

    props = producer_config(config.bootstrap, config.kafka)
    props.update({"error_cb": on_error, "logger": kafka_log})
    try:
        return Producer(props)
    except Exception as exc:  # KafkaException, or ValueError/TypeError for a bad -X property
        raise UserError(f"cannot configure the Kafka producer: {scrub(str(exc), config.kafka)}") from None


def open_admin(config: ReplayConfig) -> Any:
    """An admin client for the topic's creation, opened beside the producer: its connection is up by the time
    the producer's metadata says the topic is missing. Making one costs ~3 ms; its connection is idle."""
    from ..topics import admin_client

    return admin_client(config.bootstrap, config.kafka)


def topic_partitions(metadata: Any, topic: str) -> int | None:
    """Partitions of `topic` in a metadata answer, None when it does not exist."""
    info = metadata.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        return None
    return len(info.partitions)


def ensure_topic(producer: Any, metadata: Any, config: ReplayConfig, admin: Any = None,
                 creating: Any = None) -> TopicReady:
    """The topic as the producer sees it, created with `config.partitions` if `metadata` does not hold it.

    `creating`: the future of a creation already asked for (KafkaLink.ask_creation); read first, as the topic
    it made may already show in `metadata`. Topics are always created explicitly: the embedded broker would
    give an auto-created topic 4 partitions, so the producer never names a topic that may not exist yet (it asks
    for every topic)."""
    from ..topics import create_topic, creation_result

    topic = config.topic
    count = topic_partitions(metadata, topic)
    created = False
    if creating is not None:
        try:
            created = creation_result(creating, config.bootstrap, topic, config.kafka, timeout=METADATA_TIMEOUT_S)
        except UserError:
            if count is None:  # refused, and not there: the same failure as a creation asked for now
                raise
    elif count is None:
        created = create_topic(admin, config.bootstrap, topic, config.partitions, config.kafka,
                               timeout=METADATA_TIMEOUT_S)
    if created:
        # Ours, with the partitions asked for. No need to wait until the producer's broker shows it: the
        # client holds the first messages until its metadata does (topic.metadata.propagation.max.ms).
        return TopicReady(config.partitions, True, None)
    deadline = time.monotonic() + METADATA_TIMEOUT_S
    while count is None:
        # Made meanwhile by someone else; metadata can lag creation by a moment (on a cluster, the broker
        # answering learns of it later).
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
        from .checkpoint import PartitionMark

        return {p: PartitionMark(0) for p in range(ready.partitions)}
    from . import readback

    return readback.start_marks(config.bootstrap, config.topic, ready.partitions, config.kafka)
