"""Topic creation and inspection through the Kafka admin API."""

from __future__ import annotations

import time
from collections.abc import Mapping

from .errors import UserError
from .kafka_config import admin_config, scrub


def admin_client(bootstrap: str, extra: Mapping[str, str] | None):
    """An AdminClient with the project's connection settings (kafka_config.admin_config)."""
    from confluent_kafka.admin import AdminClient

    return AdminClient(admin_config(bootstrap, extra))


def topic_partitions(bootstrap: str, topic: str, extra: Mapping[str, str] | None = None,
                     timeout: float = 10) -> int | None:
    """Partition count of `topic`, or None when it does not exist."""
    from confluent_kafka import KafkaException

    try:
        # Ask for every topic: a metadata request naming the topic makes the embedded broker auto-create it.
        meta = admin_client(bootstrap, extra).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise UserError(f"no Kafka broker answered at {bootstrap}: {scrub(str(exc), extra or {})}") from exc
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        return None
    return len(info.partitions)


def create_topic(admin, bootstrap: str, topic: str, partitions: int, extra: Mapping[str, str] | None = None,
                 timeout: float = 30) -> bool:
    """Create `topic` with `partitions` through `admin` (an AdminClient, or None for a new one); False when it
    exists already (made meanwhile by someone else). It may take a moment to show in metadata."""
    admin = admin or admin_client(bootstrap, extra)
    return creation_result(request_creation(admin, topic, partitions, timeout), bootstrap, topic, extra, timeout)


def request_creation(admin, topic: str, partitions: int, timeout: float = 30):
    """Send the CreateTopics request and return its future at once (read it with `creation_result`)."""
    from confluent_kafka.admin import NewTopic

    # -1: the cluster's default replication factor (3 on the local 3-node cluster, 1 on a single node).
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=-1)],
                                  operation_timeout=timeout)
    return futures[topic]


def creation_result(future, bootstrap: str, topic: str, extra: Mapping[str, str] | None = None,
                    timeout: float = 30) -> bool:
    """True when the creation `future` made the topic, False when it existed already; UserError otherwise."""
    from confluent_kafka import KafkaException

    try:
        future.result(timeout=timeout)
    except KafkaException as exc:
        err = exc.args[0] if exc.args else None
        if getattr(err, "name", lambda: "")() != "TOPIC_ALREADY_EXISTS":
            raise UserError(f"cannot create topic {topic} at {bootstrap}: {scrub(str(exc), extra or {})}") from exc
        return False
    return True


def ensure_topic(bootstrap: str, topic: str, partitions: int, extra: Mapping[str, str] | None = None,
                 timeout: float = 30) -> str | None:
    """Create `topic` with `partitions` unless it exists; return a note when the existing one differs.

    Topics are always created explicitly: the embedded broker would give an auto-created topic 4 partitions.
    """
    from confluent_kafka import KafkaException

    admin = admin_client(bootstrap, extra)
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise UserError(f"no Kafka broker answered at {bootstrap}: {scrub(str(exc), extra or {})}") from exc
    existing = meta.topics.get(topic)
    if existing is not None and existing.error is None and existing.partitions:
        count = len(existing.partitions)
        if count != partitions:
            return f"topic {topic} exists with {count} partitions (asked for {partitions}); using it as it is"
        return None
    create_topic(admin, bootstrap, topic, partitions, extra, timeout)
    # Metadata can lag creation by a moment; producers that start too early would auto-create it.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if topic_partitions(bootstrap, topic, extra, timeout=5):
            return None
        time.sleep(0.1)
    raise UserError(f"topic {topic} was created at {bootstrap} but does not show in its metadata")
