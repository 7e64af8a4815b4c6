"""The offsets side of AlertStream: what may be stored and committed for the group, and when.

An offset is committable only once every event of its message was handed over and the caller came back for
more; a caller that could not handle an alert holds it back (`hold`). Kept apart from the
consuming loop so that each reads on its own; AlertStream is the only user.
"""

from __future__ import annotations

import contextlib
import threading
import time

# How long stopping waits for the final commit, then for the close, before giving up on a broker.
CLOSE_COMMIT_WAIT_S = CLOSE_WAIT_S = 5.0


class GroupPositions:
    """Positions per (topic, partition) and the commits made from them; `_kafka_error` comes from the subclass."""

    def __init__(self) -> None:
        self._consumer = None
        # Next offset per (topic, partition) of messages fully handled: the committable positions.
        self._positions: dict[tuple[str, int], int] = {}
        self._last_seen: dict[tuple[str, int], int] = {}  # for the summary; survives rebalances
        self._held: dict[tuple[str, int], int] = {}  # first offset per partition the caller could not handle
        # Next offset per partition handled in this run, whatever the rebalances: what comes below is a repeat.
        self._handled: dict[tuple[str, int], int] = {}
        self._assigned_at: float | None = None
        self._assigned_wall: float | None = None  # first assignment, wall clock: older messages are backlog
        # Set once partitions are assigned: a producer started earlier would count the group join as latency.
        self.assigned = threading.Event()

    def _kafka_error(self, err) -> None:
        raise NotImplementedError

    def hold(self, topic: str, partition: int, offset: int) -> None:
        """The alert at `offset` was not handled (e.g. --save could not write it): nothing at or after it in
        this partition is committed by this run, so the group's next run reads it again."""
        key = (topic, partition)
        if key not in self._held or offset < self._held[key]:
            self._held[key] = offset

    def _position(self, key: tuple[str, int]) -> int:
        return min(self._positions[key], self._held.get(key, 1 << 62))

    def _store(self, consumer) -> None:
        if not self._positions:
            return
        from confluent_kafka import KafkaException, TopicPartition

        committable = {key: self._position(key) for key in self._positions}
        self._last_seen.update(committable)
        # KafkaException: a partition revoked meanwhile; its new owner reads from the last commit.
        with contextlib.suppress(KafkaException):
            consumer.store_offsets(offsets=[TopicPartition(t, p, o) for (t, p), o in committable.items()])

    def _offsets(self, consumer, keys: list[tuple[str, int]]) -> list:
        """The committable offsets of `keys` (none at or past an offset the caller holds)."""
        from confluent_kafka import KafkaException, TopicPartition

        offsets = [TopicPartition(t, p, self._position((t, p))) for t, p in keys if (t, p) in self._positions]
        if offsets:
            # Stored too: close() commits the stored offsets last, and an older stored one would undo this commit.
            with contextlib.suppress(KafkaException):
                consumer.store_offsets(offsets=offsets)
        return offsets

    def _commit(self, consumer, keys: list[tuple[str, int]]) -> None:
        from confluent_kafka import KafkaException

        offsets = self._offsets(consumer, keys)
        if not offsets:
            return
        self._last_seen.update({(tp.topic, tp.partition): tp.offset for tp in offsets})
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._kafka_error(f"commit failed (these alerts will be read again by this group): "
                              f"{self._scrub(exc)}")

    def _commit_bounded(self, consumer, keys: list[tuple[str, int]], wait: float) -> None:
        """Commit, but give up after `wait` seconds: a synchronous commit to a frozen broker blocks for minutes,
        and stopping (Ctrl-C, quitting the TUI) must not."""
        from confluent_kafka import KafkaException, TopicPartition

        offsets = self._offsets(consumer, keys)
        if not offsets:
            return
        self._last_seen.update({(tp.topic, tp.partition): tp.offset for tp in offsets})
        want = {(tp.topic, tp.partition): tp.offset for tp in offsets}
        deadline = time.monotonic() + wait
        try:
            consumer.commit(offsets=offsets, asynchronous=True)
            while time.monotonic() < deadline:
                left = max(0.1, deadline - time.monotonic())
                got = consumer.committed([TopicPartition(t, p) for t, p in want], timeout=min(1.0, left))
                if all(want[(tp.topic, tp.partition)] <= tp.offset for tp in got):
                    return
        except KafkaException:
            pass
        self._kafka_error(f"commit not confirmed within {wait:.0f} s (these alerts will be read again by this "
                          "group)")

    def _on_assign(self, consumer, partitions) -> None:
        self._assigned_at = time.monotonic()
        if self._assigned_wall is None:
            self._assigned_wall = time.time()
        self.assigned.set()

    def _on_revoke(self, consumer, partitions) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._commit(consumer, keys)
        for key in keys:
            self._positions.pop(key, None)

    def _on_lost(self, consumer, partitions) -> None:
        # Another member may already own them: committing our positions could move its offsets.
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)

    def _close(self, consumer) -> None:
        try:
            self._commit_bounded(consumer, list(self._positions), CLOSE_COMMIT_WAIT_S)
            self._positions.clear()  # committed: the revocation inside close() has nothing left to do
        finally:
            self._consumer = None
            # close() waits for the broker (final commit, leaving the group) without a bound; a frozen broker
            # would hold Ctrl-C or a quitting TUI for minutes. A daemon thread lets the process leave anyway.
            closer = threading.Thread(target=consumer.close, name="consumer-close", daemon=True)
            closer.start()
            closer.join(CLOSE_WAIT_S)
            if closer.is_alive():
                self._kafka_error(f"the broker did not answer the consumer's close within {CLOSE_WAIT_S:.0f} s; "
                                  "leaving without it")
