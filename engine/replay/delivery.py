"""Delivery reports, alert by alert: what is confirmed, what is waiting, what failed, and a stalled broker.

Memory does not grow with the batch: confirmed alerts are a prefix count plus the few confirmed past a gap,
waiting ones are at most what librdkafka's queue holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..kafka_config import scrub
from .checkpoint import CheckpointState, PartitionMark

# Delivery errors that mean the broker is gone for good (after librdkafka's own retries): stop, don't grind on.
FATAL_DELIVERY = {"_MSG_TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_FATAL"}
PURGED = {"_PURGE_QUEUE": "abandoned before the broker took it",
          "_PURGE_INFLIGHT": "abandoned while in flight: the broker never confirmed it"}
ABANDONED = "abandoned: no delivery report from the broker"


class DeliveryTracker:
    """Counts the reports in the thread that polls the producer (the run thread) and yields checkpoints."""

    def __init__(self, state: CheckpointState, files: Callable[[int], str], kafka: dict[str, str]) -> None:
        self.done = state.done
        self.beyond = set(state.beyond)
        self.partitions = dict(state.partitions)
        self._last: dict[int, tuple[int, int]] = {}  # partition -> (offset, alert) of the last confirmed message
        self.intent = state.intent
        self.last_source_id = state.last_source_id
        self._files = files
        self.kafka = kafka
        self.pending: set[int] = set()   # handed over, no report yet
        self.delivered = 0               # in this run
        self.reports = 0                 # reports of any kind: progress, for the stall watch
        self.failures: list[tuple[int, str, str]] = []   # (index, file, reason)
        self.fatal: str | None = None

    def confirmed(self, i: int) -> bool:
        return i < self.done or i in self.beyond

    def unconfirmed(self, start: int, stop: int) -> tuple[int, set[int]]:
        """Alerts of [start, stop) still to send: those from the returned position on, but the returned few."""
        begin = max(start, self.done)
        return begin, {i for i in self.beyond if begin <= i < stop}

    def handed(self, i: int) -> None:
        self.pending.add(i)

    @property
    def outstanding(self) -> int:
        return len(self.pending)

    def report(self, i: int, err: Any, msg: Any) -> None:
        # Once per alert, in the sending thread: kept lean (it is most of the replay's own cost).
        pending = self.pending
        if i not in pending:
            return  # given up already: counted as not delivered
        pending.remove(i)
        self.reports += 1
        if err is None:
            self.delivered += 1
            self._confirm(i)
            offset = msg.offset()
            # No offset: a report after retries that librdkafka could not tie to one (the alert is written).
            if offset is not None and offset >= 0:
                partition = msg.partition()
                last = self._last.get(partition)
                if last is None or offset > last[0]:
                    self._last[partition] = (offset, i)
            return
        name = err.name()
        reason = PURGED.get(name) or scrub(str(err.str()), self.kafka)
        self.failures.append((i, self._files(i), reason))
        if name in FATAL_DELIVERY or err.fatal():
            self.fatal = reason

    def marks(self) -> dict[int, PartitionMark]:
        """Per partition: the next offset after the last confirmed message, and which alert that one is."""
        marks = dict(self.partitions)
        for partition, (offset, i) in self._last.items():
            mark = marks.get(partition)
            if mark is None or offset >= mark.next:
                marks[partition] = PartitionMark(offset + 1, offset, i)
        return marks

    def set_mark(self, partition: int, mark: PartitionMark) -> None:
        self.partitions = self.marks()
        self._last.clear()
        self.partitions[partition] = mark

    def _confirm(self, i: int) -> None:
        if i == self.done:
            done = i + 1
            beyond = self.beyond
            while done in beyond:
                beyond.discard(done)
                done += 1
            self.done = done
        elif i > self.done:
            self.beyond.add(i)

    def give_up(self) -> None:
        """Handed-over alerts without any delivery report (an abandoned stop): not delivered."""
        for i in sorted(self.pending):
            self.failures.append((i, self._files(i), ABANDONED))
        self.pending.clear()

    def state(self, source_id: Callable[[int], int | None], complete: bool = False) -> CheckpointState:
        self.last_source_id = source_id(self.done - 1) if self.done else None
        return CheckpointState(self.done, set(self.beyond), self.last_source_id, complete, self.intent,
                               self.marks())


class StallWatch:
    """Notices a broker that stopped answering while alerts wait for it: a note every `note_every` seconds,
    and True from `check` once it has been silent for `give_up_after` seconds."""

    def __init__(self, emit: Callable[[str], None], bootstrap: str, give_up_after: float,
                 note_every: float = 10.0, last_error: Callable[[], str | None] = lambda: None) -> None:
        self._emit = emit
        self.bootstrap = bootstrap
        self.give_up_after = give_up_after
        self.note_every = note_every
        self._last_error = last_error
        self._reports = -1
        self._since = time.monotonic()
        self._notes = 0
        self.gave_up = False  # set by the runner when it stopped because of this watch

    def quiet_for(self) -> float:
        return time.monotonic() - self._since

    def check(self, reports: int, outstanding: int) -> bool:
        now = time.monotonic()
        if outstanding == 0 or reports != self._reports:
            if self._notes and not self.gave_up:
                self._emit(f"broker at {self.bootstrap} answering again after {now - self._since:.1f} s; "
                           "the schedule moves by the delay")
            self._reports = reports if outstanding else -1
            self._since = now
            self._notes = 0
            return False
        quiet = now - self._since
        if quiet >= self.give_up_after:
            return True
        if quiet >= self.note_every * (self._notes + 1):
            self._notes = int(quiet // self.note_every)
            error = self._last_error()
            why = f"; last error: {error}" if error else ""
            self._emit(f"broker at {self.bootstrap} not answering for {quiet:.0f} s ({outstanding} alerts waiting "
                       f"for confirmation; giving up after {self.give_up_after:g} s{why})")
        return False
