"""Handing one observation's alerts to librdkafka: the replay's per-alert loop, kept lean.

Per alert it only slices the payload out of its run's read and checks its crc32 (engine.replay.payloads),
hands it over with its delivery callback and notes it as waiting: keys, partitions and framing are computed
a run at a time (engine.replay.encoding), the confirmed alerts to skip once per observation, and the
checkpoint's `intent` (see engine.replay.checkpoint) is looked at only when the sender nears it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from .checkpoint import CheckpointWriter
from .delivery import StallWatch
from .job import Job
from .payloads import PayloadReader
from .schedule import Schedule

# How far ahead of the sender the checkpoint's `intent` is kept: a resume compares at most this many alerts
# (plus the unconfirmed ones) with what the topic holds; the sender waits for a save only if it catches up.
INTENT_WINDOW = 4096


class ObservationSender:
    def __init__(self, job: Job, writer: CheckpointWriter, reader: PayloadReader, topic: str, schedule: Schedule,
                 watch: StallWatch, abandon_due: Callable[[], bool]) -> None:
        self.job, self.writer, self.reader, self.topic = job, writer, reader, topic
        self.schedule, self.watch, self.abandon_due = schedule, watch, abandon_due

    def send(self, begin: int, stop: int, skip: set[int]) -> tuple[int, int | None, int | None, bool]:
        """Hand over alerts [begin, stop) but those in `skip` (confirmed already).

        Returns (alerts handed over, the first and last of them, interrupted): interrupted when asked to
        stop, when the broker failed for good, or when it stayed silent with librdkafka's queue full."""
        job = self.job
        tracker = job.tracker
        produce = job.producer.produce
        topic = self.topic
        report, waiting = tracker.report, tracker.pending.add
        keys_of, partitions_of, frame = job.encoding.keys, job.encoding.partitions, job.encoding.frame
        encoded = job.encoded
        schedule = self.schedule
        sent = 0
        first = last = None
        limit = self._intent_limit()
        for run_start, records, values in self.reader.runs(begin, stop):
            keys = keys_of(records)
            parts = partitions_of(records)
            if encoded is not None:
                values = [encoded.pop(i, v) for i, v in enumerate(values, run_start)]
            if frame is not None:
                # What is produced must stay what the resume read-back expects (Replayer's `expected`).
                values = [frame(r, v) for r, v in zip(records, values, strict=True)]
            i = run_start - 1
            for value, key, part in zip(values, keys, parts, strict=True):
                i += 1
                if schedule.stopping:
                    return sent, first, last, True
                if skip and i in skip:
                    continue
                if i >= limit:
                    self._cover(i)
                    limit = self._intent_limit()
                gone = False
                try:
                    produce(topic, value, key, part, partial(report, i))
                except BufferError:
                    if not self._produce_when_full(topic, value, key, part, partial(report, i)):
                        return sent, first, last, True
                    gone = tracker.fatal is not None  # told by a report served while waiting for room
                waiting(i)
                sent += 1
                if first is None:
                    first = i
                last = i
                if gone:
                    return sent, first, last, True
        return sent, first, last, False

    def _intent_limit(self) -> int:
        """The first alert position at which `_cover` must run (the writer's saved intent only grows)."""
        return min(self.job.tracker.intent - INTENT_WINDOW // 2, self.writer.saved_intent)

    def _cover(self, i: int) -> None:
        """Make sure a checkpoint on disk says alert i may have been handed over, before it is."""
        tracker, writer = self.job.tracker, self.writer
        if i >= tracker.intent - INTENT_WINDOW // 2:
            tracker.intent = i + INTENT_WINDOW  # saved ahead, while the sender goes on
            writer.submit(self.job.state())
        if i >= writer.saved_intent:
            writer.wait_for_intent(i)

    def _produce_when_full(self, topic: str, value: bytes, key: bytes | None, part: int, on_delivery: Any) -> bool:
        """librdkafka's queue is full (the broker stalls): serve reports, then retry, unless asked to stop or
        the broker has been silent too long: then this alert is not handed over at all (False)."""
        producer, tracker = self.job.producer, self.job.tracker
        while True:
            if self.schedule.stopping or self.abandon_due():
                return False
            producer.poll(0.1)
            if self.watch.check(tracker.reports, tracker.outstanding):
                return False
            try:
                producer.produce(topic, value, key, part, on_delivery)
                return True
            except BufferError:
                continue
