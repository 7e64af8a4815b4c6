"""Topics, partitions, consumer groups and lag, as one admin session sees them.

Watermarks come from the broker (`get_watermark_offsets`): records = end - earliest. The embedded Tansu
broker's high watermark can undercount batched produces (see consume/offsets.py), so there its record and
lag figures are lower bounds; real Kafka gives exact ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import UserError
from ..kafka_config import admin_config, admin_log, consumer_config, scrub
from .reach import ErrorTrap

# Groups whose offsets are read per refresh: a cluster with thousands of groups is listed, not all read.
MAX_GROUPS_READ = 50


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    earliest: int | None  # None: the broker did not say within the deadline
    end: int | None

    @property
    def records(self) -> int | None:
        return None if self.earliest is None or self.end is None else max(0, self.end - self.earliest)


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: tuple[PartitionInfo, ...]
    groups: tuple[str, ...] = ()  # groups with committed offsets on this topic
    lag: int | None = None        # their lag, summed (None: no group has committed here)

    @property
    def records(self) -> int | None:
        counts = [p.records for p in self.partitions]
        return None if any(c is None for c in counts) else sum(counts)  # type: ignore[misc]

    @property
    def replicas(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def in_sync(self) -> int:
        """The fewest in-sync replicas of any partition: what a partition could lose before data loss."""
        return min((len(p.isr) for p in self.partitions), default=0)


@dataclass(frozen=True)
class GroupPartition:
    topic: str
    partition: int
    committed: int | None  # next offset the group reads; None: nothing committed
    end: int | None

    @property
    def lag(self) -> int | None:
        if self.end is None or self.committed is None:
            return None
        return max(0, self.end - self.committed)


@dataclass(frozen=True)
class GroupMember:
    member_id: str
    client_id: str
    host: str
    assignment: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    state: str
    members: tuple[GroupMember, ...] = ()
    partitions: tuple[GroupPartition, ...] = ()

    @property
    def lag(self) -> int | None:
        lags = [p.lag for p in self.partitions if p.lag is not None]
        return sum(lags) if lags else None

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(sorted({p.topic for p in self.partitions}))


class KafkaAdmin:
    """One admin client and one group-less consumer (for watermarks); `close()` when done."""

    def __init__(self, bootstrap: str, extra: Mapping[str, str] | None = None, timeout: float = 5.0) -> None:
        from confluent_kafka import Consumer, KafkaException
        from confluent_kafka.admin import AdminClient

        self.bootstrap = bootstrap
        self.timeout = timeout
        self._extra = dict(extra or {})
        self.errors = ErrorTrap(self._extra)
        config = admin_config(bootstrap, self._extra)
        config["error_cb"] = self.errors
        reader = consumer_config(bootstrap, "elasticc-stream-admin", self._extra)
        # Reads watermarks only: never joins the group, never commits.
        reader.update({"enable.auto.commit": False, "logger": admin_log, "error_cb": self.errors})
        try:
            self._admin = AdminClient(config)
            self._reader = Consumer(reader)
        except (KafkaException, ValueError, TypeError) as exc:
            raise UserError(f"bad Kafka configuration: {self._scrub(exc)}") from None

    def _scrub(self, exc: object) -> str:
        return scrub(" ".join(str(exc).split()), self._extra)

    def _fail(self, what: str, exc: BaseException) -> UserError:
        self._admin.poll(0)
        why = self.errors.reason() or self._scrub(exc)
        return UserError(f"{what} at {self.bootstrap}: {why}")

    def close(self) -> None:
        self._reader.close()

    # -- topics -----------------------------------------------------------------------------------------

    def topics(self, include_internal: bool = False, with_groups: bool = True) -> list[TopicInfo]:
        from confluent_kafka import KafkaException

        try:
            # Every topic: a metadata request naming one makes the embedded broker auto-create it.
            meta = self._admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise self._fail("cannot list topics", exc) from None
        groups = self.groups(with_members=False) if with_groups else []
        out = []
        for name in sorted(meta.topics):
            info = meta.topics[name]
            if info.error is not None or (name.startswith("__") and not include_internal):
                continue
            partitions = tuple(self._partition(name, pid, info.partitions[pid]) for pid in sorted(info.partitions))
            mine = [g for g in groups if name in g.topics]
            lags = [p.lag for g in mine for p in g.partitions if p.topic == name and p.lag is not None]
            out.append(TopicInfo(name, partitions, tuple(g.group_id for g in mine), sum(lags) if lags else None))
        return out

    def _partition(self, topic: str, pid: int, meta) -> PartitionInfo:
        low, high = self.watermarks(topic, pid)
        return PartitionInfo(pid, meta.leader, tuple(meta.replicas), tuple(meta.isrs), low, high)

    def watermarks(self, topic: str, partition: int) -> tuple[int | None, int | None]:
        from confluent_kafka import KafkaException, TopicPartition

        try:
            low, high = self._reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=self.timeout)
        except KafkaException:
            return None, None
        return low, high

    def partition_count(self, topic: str) -> int | None:
        """Partitions of `topic` (None when it does not exist), from a metadata request for every topic."""
        from confluent_kafka import KafkaException

        try:
            meta = self._admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise self._fail("cannot read the metadata", exc) from None
        info = meta.topics.get(topic)
        return len(info.partitions) if info is not None and info.error is None and info.partitions else None

    def create_topic(self, name: str, partitions: int, replication: int = 1) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import NewTopic

        if partitions < 1 or replication < 1:
            raise UserError(f"a topic needs at least 1 partition and 1 replica, not {partitions} and {replication}")
        futures = self._admin.create_topics([NewTopic(name, num_partitions=partitions,
                                                      replication_factor=replication)],
                                            operation_timeout=self.timeout, request_timeout=self.timeout)
        try:
            futures[name].result(timeout=self.timeout * 2)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else exc
            text = err.str() if hasattr(err, "str") else self._scrub(err)
            raise UserError(f"cannot create topic {name!r} at {self.bootstrap}: {text}") from None

    # -- groups -----------------------------------------------------------------------------------------

    def groups(self, with_members: bool = True) -> list[GroupInfo]:
        from confluent_kafka import KafkaException

        try:
            listed = self._admin.list_consumer_groups(request_timeout=self.timeout).result(timeout=self.timeout * 2)
        except KafkaException as exc:
            raise self._fail("cannot list consumer groups", exc) from None
        ids = sorted(g.group_id for g in listed.valid)[:MAX_GROUPS_READ]
        return [self.group(gid, with_members=with_members) for gid in ids]

    def group(self, group_id: str, with_members: bool = True) -> GroupInfo:
        from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException

        state, members = "unknown", ()
        if with_members:
            try:
                described = self._admin.describe_consumer_groups([group_id], request_timeout=self.timeout)
                desc = described[group_id].result(timeout=self.timeout * 2)
                state = desc.state.name.lower()
                members = tuple(GroupMember(m.member_id, m.client_id, m.host,
                                            tuple((tp.topic, tp.partition)
                                                  for tp in (m.assignment.topic_partitions if m.assignment else [])))
                                for m in desc.members)
            except KafkaException as exc:
                raise self._fail(f"cannot describe group {group_id!r}", exc) from None
        try:
            future = self._admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group_id)],
                                                             request_timeout=self.timeout)[group_id]
            committed = future.result(timeout=self.timeout * 2).topic_partitions or []
        except KafkaException as exc:
            raise self._fail(f"cannot read the offsets of group {group_id!r}", exc) from None
        partitions = []
        for tp in sorted(committed, key=lambda tp: (tp.topic, tp.partition)):
            _, end = self.watermarks(tp.topic, tp.partition)
            partitions.append(GroupPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else None, end))
        return GroupInfo(group_id, state, members, tuple(partitions))

    # -- positions ----------------------------------------------------------------------------------------

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int | None:
        """The first offset whose timestamp is at or after `timestamp_ms`; None: none that late."""
        from confluent_kafka import KafkaException, TopicPartition

        try:
            found = self._reader.offsets_for_times([TopicPartition(topic, partition, timestamp_ms)],
                                                   timeout=self.timeout)
        except KafkaException as exc:
            raise self._fail(f"cannot look up a time in {topic}[{partition}]", exc) from None
        offset = found[0].offset if found else -1
        return offset if offset >= 0 else None
