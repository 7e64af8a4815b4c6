"""The replay itself: prepared alerts into Kafka as timed observations, with confirmed delivery.

Exactly once, even across a SIGKILL: every delivery report is recorded per alert (engine.replay.delivery),
the checkpoint says which alerts may have been handed over before they are (engine.replay.checkpoint), and a
resume reads back from the topic what the checkpoint had not recorded yet (engine.replay.readback).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..kafka_admin.reach import wait_for_metadata
from . import job as jobs
from . import startup
from .checkpoint import (
    Checkpoint,
    CheckpointState,
    CheckpointWriter,
    default_checkpoint_path,
)
from .config import ReplayConfig
from .delivery import DeliveryTracker, StallWatch
from .display import display_reader
from .events import (
    AlertFailed,
    Note,
    ObservationDelivered,
    ObservationStarted,
    ReplayEvent,
    ReplayFinished,
    ReplayPlanned,
    ReplayStarted,
)
from .lock import JobLock
from .payloads import PayloadReader
from .plan import plan_replay
from .resume import in_plan, load_checkpoint, resume_from
from .schedule import Schedule
from .sender import INTENT_WINDOW, ObservationSender

# After abandoning, how long purged alerts may take to get their (failed) reports before being given up.
PURGE_GRACE_S = 2.0


class Replayer:
    """Runs one replay; `run()` blocks (call it from a worker thread), the other methods are thread-safe.

    Stopping: `stop()` stops handing alerts over and waits for the delivery report of every alert already
    handed to the producer, at most `broker_timeout` seconds of broker silence. A caller that cannot wait that
    long (the TUI quitting) uses `stop(abandon_after=S)` or `abandon()`: the alerts still waiting for the
    broker are purged and reported as not delivered (AlertFailed, counted in ReplayFinished.failed, never in
    delivered). The checkpoint covers only the delivered ones; an alert purged while in flight that the broker
    wrote anyway is found by the next --resume's read-back and not sent again.
    """

    def __init__(self, config: ReplayConfig, on_event: Callable[[ReplayEvent], None],
                 link: startup.KafkaLink | None = None) -> None:
        """`link`: the clients already opened for this config (engine.replay.open_replay); else opened by run()."""
        self.config = config
        self._emit = on_event
        self._schedule = Schedule()
        self._abandon_at: float | None = None  # monotonic time after which undelivered alerts are given up
        self._link = link

    # -- control (any thread) ---------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._schedule.paused

    def pause(self) -> None:
        """Hold the next observation; the schedule after it moves by the time spent paused."""
        self._schedule.pause()

    def resume(self) -> None:
        self._schedule.resume()

    def stop(self, abandon_after: float | None = None) -> None:
        """Stop handing alerts over; what was handed over is still flushed and counted.

        `abandon_after`: seconds from now after which alerts still without a delivery report are given up
        (see `abandon()`); None waits for every report. A later call can only bring the deadline closer.
        """
        if abandon_after is not None:
            deadline = time.monotonic() + max(0.0, abandon_after)
            if self._abandon_at is None or deadline < self._abandon_at:
                self._abandon_at = deadline
        self._schedule.stop()

    def abandon(self) -> None:
        """Stop now and give up the alerts the broker has not confirmed: `run()` returns within seconds even
        if the broker is frozen; those alerts are reported as not delivered and left out of the checkpoint."""
        self.stop(abandon_after=0.0)

    def _abandon_due(self) -> bool:
        at = self._abandon_at
        return at is not None and time.monotonic() >= at

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> ReplayFinished:
        """Plan, check, send. Raises UserError for anything wrong before the first alert is sent."""
        job, notes = self._prepare()
        config = self.config
        try:
            self._emit(ReplayPlanned(path=str(config.data), available=job.plan.available, to_send=job.to_send,
                                     per_obs=job.plan.per_obs if config.by_visit else config.per_obs,
                                     observations=len(job.plan.observations), interval=config.interval,
                                     topic=config.topic, bootstrap=config.bootstrap,
                                     partitions=config.partitions, display_field=config.display_field,
                                     notes=notes))
            problems: list[str] = []  # from the writer thread; reported from this one
            writer = CheckpointWriter(job.checkpoint, problems.append)
            reader = PayloadReader(job.index)
            try:
                first = job.plan.observations[0].start if job.plan.observations else 0
                job.tracker.intent = first + INTENT_WINDOW
                writer.submit(job.state())
                writer.wait_for_intent(first)  # on disk before anything is handed over
                finished = self._send(job, writer, reader)
            finally:
                writer.close()
                reader.close()
        finally:
            job.index.close()
            job.lock.release()
        for text in problems:
            self._emit(Note(text))
        self._emit(finished)
        return finished

    def _prepare(self) -> tuple[jobs.Job, list[str]]:
        """Everything that can fail before sending: settings, index, plan, lock, checkpoint, broker, topic."""
        config = self.config = self.config.validated()
        index: Any = None
        lock: JobLock | None = None
        try:
            index = jobs.load_index(config, self._emit)
            checkpoint = Checkpoint(config.checkpoint or default_checkpoint_path(index.root, config.topic,
                                                                                 config.bootstrap, config.data),
                                    config.topic, config.bootstrap, config.data)
            lock = JobLock(checkpoint.path)
            lock.acquire()
            return self._prepare_with(config, index, checkpoint, lock)
        except BaseException:
            if index is not None:
                index.close()
            if lock is not None:
                lock.release()
            if self._link is not None:
                self._link.close_unused()
            raise

    def _prepare_with(self, config: ReplayConfig, index: Any, checkpoint: Checkpoint,
                      lock: JobLock) -> tuple[jobs.Job, list[str]]:
        if self._link is None:  # first, so that it connects while the plan and the checkpoint are looked at
            self._link = startup.KafkaLink(config)
        return self._prepare_producing(config, index, checkpoint, lock, self._link)  # _prepare closes it on failure

    def _prepare_producing(self, config: ReplayConfig, index: Any, checkpoint: Checkpoint, lock: JobLock,
                           link: startup.KafkaLink) -> tuple[jobs.Job, list[str]]:
        producer = link.producer
        entries = index.entries
        plan = plan_replay(entries, per_obs=config.per_obs, observations=config.observations,
                           interval=config.interval, by_visit=config.by_visit, speed=config.speed,
                           path=str(config.data))
        notes = [*config.notes, *plan.notes]
        saved: CheckpointState | None = None
        if config.resume and config.from_scratch:
            notes.append(f"--from-scratch: the checkpoint {checkpoint.path} is set aside; every alert is sent again")
        elif config.resume:
            saved = load_checkpoint(checkpoint, entries)
            if saved is None:
                notes.append(f"--resume: no checkpoint for this topic, address and data ({checkpoint.path}); "
                             "starting from the first alert")
        def files(i: int) -> str:
            return index.entry(i).file

        tracker = DeliveryTracker(saved or CheckpointState(), files, config.kafka)
        first = index.entry(plan.observations[0].start) if plan.observations else None
        display, display_note = display_reader(index, config, first)
        if display_note:
            notes.append(display_note)

        # The broker first: a dead address must fail fast, not after checking every alert against a schema.
        metadata = wait_for_metadata(producer, link.trap, config.bootstrap, startup.METADATA_TIMEOUT_S,
                                     config.kafka)
        encoded = jobs.external_encoded(index, config, plan, tracker.confirmed)
        # The topic's partitions, or those it will be created with (a resume reads back from an existing one).
        partitions = startup.topic_partitions(metadata, config.topic) or config.partitions
        encoding = jobs.encoding(index, config, partitions)
        if saved is not None:
            reader = PayloadReader(index)

            def expected(i: int) -> bytes:
                # What the sender produces for alert i, byte for byte: the read-back recognises alerts by it.
                value = encoded[i] if encoded and i in encoded else next(reader.iter_range(i, i + 1))[1]
                return encoding.frame(index.records(i, i + 1)[0], value) if encoding.frame else value

            state, plan, note = resume_from(saved, config, checkpoint, plan, expected, len(entries))
            tracker = DeliveryTracker(state, files, config.kafka)
            notes.append(note)
        ready = startup.ensure_topic(producer, metadata, config, link.admin, link.creating)
        link.admin = link.creating = None  # its connection closes with it: only the creation needed it
        if not tracker.partitions:
            tracker.partitions = startup.start_marks(ready, config)
        if ready.note:
            notes.append(ready.note)
        if ready.partitions != partitions:
            encoding = jobs.encoding(index, config, ready.partitions)  # created meanwhile by someone else
        notes.extend(encoding.notes)
        job = jobs.Job(index=index, plan=plan, to_send=plan.to_send - in_plan(plan, tracker.beyond),
                   tracker=tracker, checkpoint=checkpoint, lock=lock, producer=producer, display=display,
                   encoded=encoded, encoding=encoding)
        return job, notes

    def _send(self, job: jobs.Job, writer: CheckpointWriter, reader: PayloadReader) -> ReplayFinished:
        config = self.config
        index = job.index
        producer = job.producer
        plan, display, tracker = job.plan, job.display, job.tracker
        link = self._link
        assert link is not None  # opened by _prepare
        watch = StallWatch(lambda text: self._emit(Note(text)), config.bootstrap, config.broker_timeout,
                           last_error=lambda: link.last_error)
        schedule = self._schedule
        sender = ObservationSender(job, writer, reader, config.topic, schedule, watch, self._abandon_due)
        sent = 0
        observations_done = 0
        interrupted = False
        t0 = time.time()
        schedule.start()
        self._emit(ReplayStarted(t0))
        try:
            for obs in plan.observations:
                if not schedule.wait_for(obs.offset_s):
                    interrupted = True
                    break
                begin, skip = tracker.unconfirmed(obs.start, obs.stop)
                self._emit(ObservationStarted(obs.number, time.monotonic() - schedule.m0,
                                              obs.stop - begin - len(skip)))
                before_delivered, before_failed = tracker.delivered, len(tracker.failures)
                handed, first, last, interrupted = sender.send(begin, obs.stop, skip)
                sent += handed
                if interrupted and tracker.outstanding and tracker.fatal is None:
                    self._emit(Note(f"stopping: waiting for the {tracker.outstanding} alerts already handed to "
                                    "the producer"))
                self._flush(producer, tracker, watch, job.to_send)
                for _i, file, reason in tracker.failures[before_failed:]:
                    self._emit(AlertFailed(file, reason))
                if first is not None and (tracker.fatal is None or tracker.delivered > before_delivered):
                    observations_done += 1
                    # "Observation N done" means its alerts are confirmed AND the checkpoint saying so is on disk.
                    writer.submit(job.state())
                    writer.wait_saved()
                    shown = (display(index.entry(first)), display(index.entry(last))) if display else (None, None)
                    self._emit(ObservationDelivered(obs.number, tracker.delivered - before_delivered, *shown,
                                                    time.monotonic() - schedule.m0, tracker.delivered, job.to_send))
                if tracker.fatal is not None:
                    if not watch.gave_up:
                        self._emit(Note(f"stopping: the broker at {config.bootstrap} did not take the alerts "
                                        f"({tracker.fatal})"))
                    break
                if interrupted:
                    break
        except KeyboardInterrupt:
            # run() on the main thread: same as stop(); what was handed over is still flushed.
            interrupted = True
            self._flush(producer, tracker, watch, job.to_send)
            writer.submit(job.state())
        if not interrupted and tracker.fatal is None and not tracker.failures:
            writer.submit(job.state(complete=True))
        return ReplayFinished(
            sent=sent, delivered=tracker.delivered, failed=len(tracker.failures),
            failed_files=[f for _, f, _ in tracker.failures], observations=observations_done,
            seconds=time.time() - t0, interrupted=interrupted or tracker.fatal is not None)

    def _flush(self, producer: Any, tracker: DeliveryTracker, watch: StallWatch, to_send: int) -> None:
        """Wait until every alert handed over has a delivery report (librdkafka retries meanwhile).

        Once abandoning is due, or the broker has been silent for broker_timeout, purge the producer (each
        purged alert gets a failed report) and wait at most PURGE_GRACE_S more; alerts still without a report
        then count as not delivered.
        """
        purged_at: float | None = None
        while tracker.outstanding > 0:
            if purged_at is None:
                silent = watch.check(tracker.reports, tracker.outstanding)
                if silent or self._abandon_due():
                    if silent:
                        watch.gave_up = True
                        last = self._link.last_error if self._link else None
                        why = f" (last error: {last})" if last else ""
                        tracker.fatal = f"no answer for {self.config.broker_timeout:g} s"
                        self._emit(Note(f"stopping: the broker at {self.config.bootstrap} has not answered for "
                                        f"{self.config.broker_timeout:g} s{why}; {tracker.delivered} of {to_send} "
                                        "alerts delivered in this run, --resume sends the rest once it is back"))
                    else:
                        self._emit(Note(f"stopping: giving up the {tracker.outstanding} alerts the broker has not "
                                        "confirmed; they count as not delivered"))
                    producer.purge(in_queue=True, in_flight=True, blocking=False)
                    purged_at = time.monotonic()
            elif time.monotonic() - purged_at > PURGE_GRACE_S:
                tracker.give_up()
                return
            producer.flush(0.5 if purged_at is None else 0.1)
        watch.check(tracker.reports, 0)
