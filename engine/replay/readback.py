"""What the topic holds, compared with a checkpoint: before a resume, and where a fresh replay starts.

A resume trusts the checkpoint only after checking the topic: it must still exist and, in each partition,
still hold at the recorded offset the very message the checkpoint says was confirmed there (a topic lost
with an embedded broker, or deleted and recreated, fails this). Then every message after the recorded
offsets is read back: those equal to an alert that was handed over but whose report the checkpoint had not
recorded yet (a SIGKILL between the two) count as delivered, so the resume does not send them again.

Offsets come from reading, not from ListOffsets: the embedded broker's high watermark undercounts batches.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import UserError
from ..kafka_config import admin_config, consumer_config, scrub
from .checkpoint import CheckpointState, PartitionMark

log = logging.getLogger("elasticc_stream.replay.kafka")
log.addHandler(logging.NullHandler())

READ_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Reconciled:
    state: CheckpointState
    found: int       # delivered alerts the checkpoint had not recorded, found in the topic
    foreign: int     # messages after the recorded offsets that are not this job's unconfirmed alerts


class TopicLost(UserError):
    pass


def _consumer(bootstrap: str, kafka: Mapping[str, str]):
    from confluent_kafka import Consumer

    config = consumer_config(bootstrap, f"elasticc-stream-readback-{uuid.uuid4().hex[:8]}", kafka)
    config.update({"enable.auto.commit": False, "enable.partition.eof": True, "auto.offset.reset": "error",
                   "fetch.wait.max.ms": 50, "logger": log})
    return Consumer(config)


def partition_count(bootstrap: str, topic: str, kafka: Mapping[str, str],
                    timeout: float = READ_TIMEOUT_S) -> int | None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        # Every topic, not this one: a metadata request naming a topic makes the embedded broker create it.
        meta = AdminClient({**admin_config(bootstrap, kafka), "logger": log}).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise UserError(f"no Kafka broker answered at {bootstrap}: {scrub(str(exc), kafka)}") from None
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        return None
    return len(info.partitions)


def start_marks(bootstrap: str, topic: str, partitions: int, kafka: Mapping[str, str],
                timeout: float = READ_TIMEOUT_S) -> dict[int, PartitionMark]:
    """Each partition's end offset before this job sends anything: where a later read-back starts."""
    consumer = _consumer(bootstrap, kafka)
    try:
        # From the last record the watermark admits: the fetch then returns the true end.
        start = _begin(consumer, topic, {p: 1 << 62 for p in range(partitions)}, timeout)
        ends = _read(consumer, topic, start, timeout, lambda p, msg: None)
        return {p: PartitionMark(ends[p]) for p in range(partitions)}
    finally:
        consumer.close()


def reconcile(state: CheckpointState, *, bootstrap: str, topic: str, kafka: Mapping[str, str], where: str,
              expected: Callable[[int], bytes], alerts: int, timeout: float = READ_TIMEOUT_S) -> Reconciled:
    """Check the topic against `state` and add the deliveries it holds beyond it; raise TopicLost if it lost any.

    `expected(i)`: the message value the replay sends for alert i (the very bytes, framing included), for
    i < `alerts`.
    """
    count = partition_count(bootstrap, topic, kafka, timeout)
    recorded = state.delivered
    if count is None:
        if recorded:
            raise TopicLost(_lost(topic, bootstrap, where, recorded, "no longer exists"))
        return Reconciled(CheckpointState(), 0, 0)  # nothing was confirmed and nothing is there: a fresh start
    if state.partitions and max(state.partitions) >= count:
        raise TopicLost(_lost(topic, bootstrap, where, recorded, f"now has {count} partitions, fewer than before"))

    from .delivery import DeliveryTracker

    tracker = DeliveryTracker(state, str, dict(kafka))
    marks = {p: state.partitions.get(p, PartitionMark(0)) for p in range(count)}
    candidates: dict[bytes, list[int]] | None = None
    counts = {"found": 0, "foreign": 0}
    problems: list[str] = []

    def digests() -> dict[bytes, list[int]]:
        table: dict[bytes, list[int]] = {}
        for i in range(state.done, min(state.intent, alerts)):
            if i not in state.beyond:
                table.setdefault(_digest(expected(i)), []).append(i)
        return table

    verified: set[int] = set()

    def on_message(p: int, msg) -> None:
        nonlocal candidates
        mark = marks[p]
        offset = msg.offset()
        if mark.last_offset is not None and p not in verified:
            if offset < mark.last_offset:
                return
            if offset > mark.last_offset or msg.value() != expected(mark.last_pos):  # type: ignore[arg-type]
                problems.append(f"holds another message at offset {mark.last_offset} of partition {p} than the "
                                "alert recorded there" if offset == mark.last_offset else
                                f"holds no message at offset {mark.last_offset} of partition {p}")
            verified.add(p)
            return
        if offset < mark.next:
            return
        if candidates is None:
            candidates = digests()
        positions = candidates.get(_digest(msg.value() or b""))
        if positions:
            i = positions.pop(0)
            tracker.handed(i)
            tracker.report(i, None, msg)  # as if its report had arrived: it is in the topic
            counts["found"] += 1
        else:
            counts["foreign"] += 1
            old = tracker.marks().get(p, mark)
            tracker.set_mark(p, PartitionMark(offset + 1, old.last_offset, old.last_pos))

    consumer = _consumer(bootstrap, kafka)
    try:
        wanted = {p: (m.last_offset if m.last_offset is not None else m.next) for p, m in marks.items()}
        try:
            ends = _read(consumer, topic, _begin(consumer, topic, wanted, timeout), timeout, on_message)
        except _ReadFailed as exc:
            raise TopicLost(_lost(topic, bootstrap, where, recorded, exc.args[0])) from None
    finally:
        consumer.close()
    for p, m in marks.items():
        if m.last_offset is not None and p not in verified:
            problems.append(f"ends at offset {ends[p]} of partition {p}, before the recorded offset {m.last_offset}")
    if problems:
        raise TopicLost(_lost(topic, bootstrap, where, recorded, problems[0]))
    final = tracker.marks()
    for p, m in marks.items():
        now = final.get(p, m)
        final[p] = PartitionMark(max(ends[p], now.next), now.last_offset, now.last_pos)
    new = CheckpointState(tracker.done, tracker.beyond, state.last_source_id, False, state.intent, final)
    return Reconciled(new, counts["found"], counts["foreign"])


class _ReadFailed(Exception):
    pass


def _begin(consumer, topic: str, wanted: dict[int, int], timeout: float) -> dict[int, int]:
    """Where to start reading to see offset `wanted[p]`: there, or earlier if the partition seems shorter.

    Fetching beyond a partition's end may answer nothing at all (the embedded broker), so a start offset
    past the end is brought back to the last record the watermark admits; reading from there reaches
    the true end (a partition shorter than recorded is then seen as such, at once).
    """
    from confluent_kafka import TopicPartition

    begin = {}
    for p, offset in wanted.items():
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
        begin[p] = max(low, min(offset, high - 1))
    return begin


def _read(consumer, topic: str, begin: dict[int, int], timeout: float, on_message) -> dict[int, int]:
    """Read each partition from `begin[p]` to its end; return the end offsets."""
    from confluent_kafka import KafkaError, TopicPartition

    if not begin:
        return {}
    consumer.assign([TopicPartition(topic, p, o) for p, o in begin.items()])
    ends: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while len(ends) < len(begin):
        if time.monotonic() > deadline:
            missing = sorted(set(begin) - set(ends))
            raise _ReadFailed(f"partition {missing[0]} gives nothing from offset {begin[missing[0]]} within "
                              f"{timeout:g} s (it holds fewer messages than recorded)")
        # A short wait: consume() waits its whole timeout unless the batch fills, and the end of each partition
        # (an EOF event) arrives within milliseconds.
        for msg in consumer.consume(500, 0.02):
            err = msg.error()
            p = msg.partition()
            if err is None:
                on_message(p, msg)
            elif err.code() == KafkaError._PARTITION_EOF:
                ends[p] = msg.offset()
            elif err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                raise _ReadFailed(f"partition {p} has no offset {begin[p]} any more")
    return ends


def _digest(value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=16).digest()


def _lost(topic: str, bootstrap: str, where: str, recorded: int, why: str) -> str:
    return (f"--resume: topic {topic} at {bootstrap} {why}, but the checkpoint {where} says {recorded} alerts were "
            "delivered to it: the topic was lost or recreated (an embedded broker keeps nothing across a restart). "
            "Nothing was sent; --resume --from-scratch replays every alert again")
