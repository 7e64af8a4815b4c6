"""The pieces of exactly-once replay that need no broker: delivery tracking, the checkpoint, the lock, the schedule."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.replay.checkpoint import Checkpoint, CheckpointState, PartitionMark
from elasticc_stream.engine.replay.delivery import ABANDONED, DeliveryTracker
from elasticc_stream.engine.replay.lock import JobLock
from elasticc_stream.engine.replay.schedule import Schedule


class Msg:
    def __init__(self, partition: int, offset: int | None) -> None:
        self._p, self._o = partition, offset

    def partition(self) -> int:
        return self._p

    def offset(self) -> int | None:
        return self._o


def test_reports_out_of_order_across_partitions_give_a_prefix_and_a_few_beyond():
    tracker = DeliveryTracker(CheckpointState(done=2, beyond={5}), lambda i: f"f{i}", {})
    for i in (2, 3, 4, 6, 7):
        tracker.handed(i)
    assert tracker.confirmed(1) and tracker.confirmed(5) and not tracker.confirmed(3)
    tracker.report(3, None, Msg(1, 10))  # partition 1 answers first
    tracker.report(6, None, Msg(1, 11))
    assert (tracker.done, tracker.beyond) == (2, {3, 5, 6})
    tracker.report(2, None, Msg(0, 40))
    assert (tracker.done, tracker.beyond) == (4, {5, 6})
    tracker.report(4, None, Msg(0, None))  # a report without an offset still confirms the alert
    assert (tracker.done, tracker.beyond, tracker.outstanding) == (7, set(), 1)
    tracker.give_up()
    tracker.report(7, None, Msg(0, 41))  # too late: already counted as not delivered
    assert tracker.failures == [(7, "f7", ABANDONED)] and tracker.done == 7 and tracker.delivered == 4
    state = tracker.state(lambda i: 1000 + i)
    assert state.partitions == {0: PartitionMark(41, 40, 2), 1: PartitionMark(12, 11, 6)}
    assert state.last_source_id == 1006


def test_checkpoint_keeps_intent_and_partition_marks(tmp_path: Path):
    ck = Checkpoint(tmp_path / "c.json", "t", "h:1", tmp_path)
    ck.save(CheckpointState(done=3, beyond={7}, last_source_id=9, intent=4099,
                            partitions={0: PartitionMark(12, 11, 2), 1: PartitionMark(0)}))
    state = ck.load()
    assert state is not None and (state.done, state.beyond, state.intent) == (3, {7}, 4099)
    assert state.partitions == {0: PartitionMark(12, 11, 2), 1: PartitionMark(0, None, None)}
    (tmp_path / "c.json").write_text('{"version": 1, "key": "x", "done": 3}')
    with pytest.raises(UserError, match="not a replay checkpoint of this version.*--from-scratch"):
        ck.load()


def test_lock_refuses_a_second_holder_until_released(tmp_path: Path):
    first, second = JobLock(tmp_path / "c.json"), JobLock(tmp_path / "c.json")
    first.acquire()
    with pytest.raises(UserError, match=r"another replay of this job .* is running, pid \d+"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_a_late_start_moves_the_rest_of_the_schedule():
    schedule = Schedule()
    schedule.start()
    assert schedule.wait_for(0.0)
    time.sleep(0.3)  # the first observation waited for a stalled broker, past the second's start
    assert schedule.wait_for(0.1)
    late_start = time.monotonic()
    assert schedule.wait_for(0.2)  # one interval after the late start, not at once
    assert time.monotonic() - late_start >= 0.1 - 0.005
    schedule.stop()
    assert not schedule.wait_for(10.0)
