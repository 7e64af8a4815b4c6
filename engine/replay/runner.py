"""The replay itself: prepared alerts into Kafka as timed observations, with confirmed delivery.

Speed comes from not touching the alerts: prepare stored every alert's schemaless bytes in the index,
so the default path hands those bytes to librdkafka as they are. Only EXTERNAL_SCHEMA (re-encoding
with another schema) and a DISPLAY_FIELD that the index does not carry decode anything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.kafka_config import producer_config, scrub
from elasticc_stream.engine.replay.checkpoint import (
    Checkpoint,
    CheckpointState,
    CheckpointWriter,
    default_checkpoint_path,
)
from elasticc_stream.engine.replay.config import ReplayConfig
from elasticc_stream.engine.replay.display import display_reader
from elasticc_stream.engine.replay.encoding import MessageEncoding, message_encoding
from elasticc_stream.engine.replay.events import (
    AlertFailed,
    Note,
    ObservationDelivered,
    ObservationStarted,
    ReplayEvent,
    ReplayFinished,
    ReplayPlanned,
    ReplayStarted,
)
from elasticc_stream.engine.replay.payloads import PayloadReader
from elasticc_stream.engine.replay.plan import ReplayPlan, plan_replay, remaining

# Bounded so that a dead address fails well within a minute, with one clear line.
METADATA_TIMEOUT_S = 15.0
# Delivery errors that mean the broker is gone for good (after librdkafka's own retries): stop, don't grind on.
_FATAL_DELIVERY = {"_MSG_TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_FATAL"}
_ERROR_NOTE_EVERY_S = 10.0
# After abandoning, how long purged alerts may take to get their (failed) reports before being given up.
PURGE_GRACE_S = 2.0
_PURGED = {"_PURGE_QUEUE": "abandoned before the broker took it",
           "_PURGE_INFLIGHT": "abandoned while in flight: the broker never confirmed it"}

_kafka_log = logging.getLogger("elasticc_stream.replay.kafka")
# librdkafka logs through this logger instead of writing to stderr; -v can route it somewhere visible.
_kafka_log.addHandler(logging.NullHandler())


class Replayer:
    """Runs one replay; `run()` blocks (call it from a worker thread), the other methods are thread-safe.

    Stopping: `stop()` stops handing alerts over and waits for the delivery report of every alert already
    handed to the producer, which with a frozen broker can take librdkafka's message.timeout.ms (300 s by
    default). A caller that cannot wait that long (the TUI quitting) uses `stop(abandon_after=S)` or, after
    its own bounded wait, `abandon()`: the alerts still waiting for the broker are purged from the producer
    and reported as not delivered (AlertFailed, counted in ReplayFinished.failed, never in delivered), and
    the checkpoint covers only the delivered ones, so `--resume` sends the rest again. An alert purged while
    in flight may nevertheless have been written by the broker: a later --resume may then repeat it.
    """

    def __init__(self, config: ReplayConfig, on_event: Callable[[ReplayEvent], None]) -> None:
        self.config = config
        self._emit = on_event
        self._cond = threading.Condition()
        self._stopping = False
        self._abandon_at: float | None = None  # monotonic time after which undelivered alerts are given up
        self._paused_at: float | None = None
        self._shift = 0.0  # seconds the schedule moved because of pauses
        self._last_error_note = 0.0

    # -- control (any thread) ---------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def pause(self) -> None:
        """Hold the next observation; the schedule after it moves by the time spent paused."""
        with self._cond:
            if self._paused_at is None:
                self._paused_at = time.monotonic()
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            if self._paused_at is not None:
                self._shift += time.monotonic() - self._paused_at
                self._paused_at = None
            self._cond.notify_all()

    def stop(self, abandon_after: float | None = None) -> None:
        """Stop handing alerts over; what was handed over is still flushed and counted.

        `abandon_after`: seconds from now after which alerts still without a delivery report are given up
        (see `abandon()`); None waits for every report. A later call can only bring the deadline closer.
        """
        with self._cond:
            self._stopping = True
            if abandon_after is not None:
                deadline = time.monotonic() + max(0.0, abandon_after)
                if self._abandon_at is None or deadline < self._abandon_at:
                    self._abandon_at = deadline
            self._cond.notify_all()

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
                if not config.resume:
                    writer.submit(CheckpointState())
                finished = self._send(job, writer, reader)
            finally:
                writer.close()
                reader.close()
        finally:
            job.index.close()
        for text in problems:
            self._emit(Note(text))
        self._emit(finished)
        return finished

    def _prepare(self) -> tuple[_Job, list[str]]:
        """Everything that can fail before sending: settings, index, plan, checkpoint, broker, schema, topic."""
        config = self.config = self.config.validated()
        index = _load_index(config, self._emit)
        try:
            return self._prepare_with(config, index)
        except BaseException:
            index.close()
            raise

    def _prepare_with(self, config: ReplayConfig, index: Any) -> tuple[_Job, list[str]]:
        entries = index.entries
        plan = plan_replay(entries, per_obs=config.per_obs, observations=config.observations,
                           interval=config.interval, by_visit=config.by_visit, speed=config.speed,
                           path=str(config.data))
        notes = [*config.notes, *plan.notes]
        checkpoint = Checkpoint(config.checkpoint or default_checkpoint_path(index.root, config.topic,
                                                                             config.bootstrap, config.data),
                                config.topic, config.bootstrap, config.data)
        state = CheckpointState()
        if config.resume:
            state, plan, resume_note = _resume(checkpoint, entries, plan)
            notes.append(resume_note)
        skip = frozenset(state.beyond)
        first = entries[plan.observations[0].start] if plan.observations else None
        display, display_note = display_reader(index, config, first)
        if display_note:
            notes.append(display_note)

        from confluent_kafka import Producer
        from elasticc_stream.engine.topics import ensure_topic

        props = producer_config(config.bootstrap, config.kafka)
        props.update({"error_cb": self._on_kafka_error, "logger": _kafka_log})
        try:
            producer = Producer(props)
        except Exception as exc:  # KafkaException, or ValueError/TypeError for a bad -X property
            raise UserError(f"cannot configure the Kafka producer: {scrub(str(exc), config.kafka)}") from None
        try:
            # The broker first: a dead address must fail fast, not after checking every alert against a schema.
            _check_reachable(producer, config)
            encoded = _external_encoded(index, config, plan, skip)
            topic_note = ensure_topic(config.bootstrap, config.topic, config.partitions, config.kafka,
                                      timeout=METADATA_TIMEOUT_S)
            encoding = _encoding(index, config)
        except BaseException:
            # Nothing was produced; don't leave the client's threads retrying a broker nobody will use.
            producer.purge(in_queue=True, in_flight=True, blocking=False)
            producer.flush(0)
            raise
        if topic_note:
            notes.append(topic_note)
        notes.extend(encoding.notes)
        job = _Job(index=index, plan=plan, to_send=plan.to_send - _in_plan(plan, state.beyond), skip=skip,
                   state=state, checkpoint=checkpoint, producer=producer, display=display, encoded=encoded,
                   encoding=encoding)
        return job, notes

    def _send(self, job: _Job, writer: CheckpointWriter, reader: PayloadReader) -> ReplayFinished:
        config = self.config
        entries = job.index.entries
        topic = config.topic
        producer = job.producer
        produce = producer.produce
        plan, skip, display, encoded = job.plan, job.skip, job.display, job.encoded
        key_of, partition_of = job.encoding.key_of, job.encoding.partition_of
        frame = job.encoding.frame if config.framing != "none" else None
        state = job.state
        flags = bytearray(len(entries))  # 1 = delivered (in this run or, per the checkpoint, before)
        flags[: state.done] = b"\x01" * state.done
        for i in state.beyond:
            flags[i] = 1
        tally = _Tally(entries, flags, config.kafka)
        report = tally.report
        sent = 0
        observations_done = 0
        interrupted = False
        current = (0, 0)  # the observation being sent, for the checkpoint after a Ctrl-C
        handed = 0  # its alerts before this index were handed over (or skipped)

        def outstanding() -> int:
            return sent - tally.delivered - len(tally.failures)

        def flush(start: int, stop: int) -> None:
            if not self._flush(producer, outstanding):
                # Abandoned and some alerts still have no report: they count as not delivered.
                tally.give_up(i for i in range(start, stop) if i not in skip and not flags[i])

        t0 = time.time()
        m0 = time.monotonic()
        self._emit(ReplayStarted(t0))
        try:
            for obs in plan.observations:
                if not self._wait_until(m0 + obs.offset_s):
                    interrupted = True
                    break
                size = obs.size - sum(1 for i in skip if obs.start <= i < obs.stop)
                self._emit(ObservationStarted(obs.number, time.monotonic() - m0, size))
                before_delivered, before_failed = tally.delivered, len(tally.failures)
                current = (obs.start, obs.stop)
                first = last = None
                handed = obs.start
                values = reader.iter_range(entries, obs.start, obs.stop)
                if encoded is not None:
                    values = _with_encoded(values, encoded)
                for i, value in values:
                    if self._stopping:
                        interrupted = True
                        break
                    if skip and i in skip:
                        continue
                    entry = entries[i]
                    key = key_of(entry)
                    part = partition_of(entry)
                    if frame is not None:
                        value = frame(entry, value)
                    while True:
                        try:
                            produce(topic, value, key, partition=part, on_delivery=partial(report, i))
                            break
                        except BufferError:
                            # librdkafka's queue is full (the broker stalls): serve reports, then retry,
                            # unless asked to stop: then this alert is not handed over at all.
                            if self._stopping:
                                interrupted = True
                                break
                            producer.poll(0.1)
                    if interrupted:
                        break
                    handed = i + 1
                    sent += 1
                    if first is None:
                        first = entry
                    last = entry
                if interrupted and outstanding():
                    self._emit(Note(f"stopping: waiting for the {outstanding()} alerts already handed to "
                                    "the producer"))
                flush(obs.start, handed)
                for _i, file, reason in tally.failures[before_failed:]:
                    self._emit(AlertFailed(file, reason))
                state = _advance(state, flags, obs.start, obs.stop, entries)
                if first is not None:
                    observations_done += 1
                    # "Observation N done" means its alerts are confirmed AND the checkpoint saying so is on
                    # disk: a replay killed (SIGKILL) after that line resends none of them on --resume.
                    writer.submit(state)
                    writer.wait_saved()
                    self._emit(ObservationDelivered(
                        obs.number, tally.delivered - before_delivered,
                        display(first) if display else None, display(last) if display else None,
                        time.monotonic() - m0, tally.delivered, job.to_send))
                if tally.fatal is not None:
                    self._emit(Note(f"stopping: the broker at {config.bootstrap} did not take the alerts "
                                    f"({tally.fatal})"))
                    break
                if interrupted:
                    break
        except KeyboardInterrupt:
            # run() on the main thread: same as stop(); what was handed over is still flushed.
            interrupted = True
            flush(current[0], handed)
            state = _advance(state, flags, *current, entries)
            writer.submit(state)
        if not interrupted and tally.fatal is None and not tally.failures:
            state.complete = True
            writer.submit(state)
        return ReplayFinished(
            sent=sent, delivered=tally.delivered, failed=len(tally.failures),
            failed_files=[f for _, f, _ in tally.failures], observations=observations_done,
            seconds=time.time() - t0, interrupted=interrupted or tally.fatal is not None)

    def _flush(self, producer: Any, outstanding: Callable[[], int]) -> bool:
        """Wait until every alert handed over has a delivery report (librdkafka retries meanwhile).

        Once abandoning is due, purge the producer (each purged alert gets a failed report) and wait at most
        PURGE_GRACE_S more; False if some alerts still have no report then.
        """
        purged_at: float | None = None
        while outstanding() > 0:
            if purged_at is None and self._abandon_due():
                self._emit(Note(f"stopping: giving up the {outstanding()} alerts the broker has not confirmed; "
                                "they count as not delivered"))
                producer.purge(in_queue=True, in_flight=True, blocking=False)
                purged_at = time.monotonic()
            elif purged_at is not None and time.monotonic() - purged_at > PURGE_GRACE_S:
                return False
            producer.flush(0.5 if purged_at is None else 0.1)
        return True

    def _wait_until(self, deadline: float) -> bool:
        """Sleep until `deadline` (monotonic, before pause shifts); False if stopped first."""
        with self._cond:
            while True:
                if self._stopping:
                    return False
                if self._paused_at is not None:
                    self._cond.wait()
                    continue
                left = deadline + self._shift - time.monotonic()
                if left <= 0:
                    return True
                self._cond.wait(left)

    def _on_kafka_error(self, err: Any) -> None:
        # Connection trouble is reported here and retried by librdkafka; say so, but not on every retry.
        now = time.monotonic()
        if now - self._last_error_note >= _ERROR_NOTE_EVERY_S:
            self._last_error_note = now
            self._emit(Note(f"Kafka at {self.config.bootstrap}: {scrub(str(err.str()), self.config.kafka)} "
                            "(retrying)"))


@dataclass
class _Job:
    """A replay ready to send: everything checked."""

    index: Any
    plan: ReplayPlan
    to_send: int
    skip: frozenset[int]            # delivered before (per the checkpoint) beyond its prefix
    state: CheckpointState
    checkpoint: Checkpoint
    producer: Any
    display: Callable[[Any], object] | None
    encoded: dict[int, bytes] | None  # EXTERNAL_SCHEMA: index -> bytes re-encoded by the up-front check
    encoding: MessageEncoding


# -- helpers (pure or one job each) ---------------------------------------------------------------

def _load_index(config: ReplayConfig, emit: Callable[[ReplayEvent], None]) -> Any:
    from elasticc_stream.engine.prepare import AlertIndex, prepare

    if AlertIndex.locate(config.data) is None:
        emit(Note(f"{config.data} is not prepared yet: preparing it first "
                  f"(same as `elasticc-stream prepare {config.data}`)"))
        report = prepare(config.data, schema=config.schema)
        if report.errors:
            emit(Note(f"prepare set aside {len(report.errors)} bad inputs in {config.data}; "
                      f"`elasticc-stream prepare {config.data}` lists them"))
    index = AlertIndex.load(config.data)
    if not index.entries:
        raise UserError(f"{config.data}: no alerts in the prepared folder")
    return index


def _resume(checkpoint: Checkpoint, entries: list[Any], plan: ReplayPlan) -> tuple[CheckpointState, ReplayPlan, str]:
    state = checkpoint.load()
    if state is None:
        return CheckpointState(), plan, (f"--resume: no checkpoint for this topic, address and data "
                                         f"({checkpoint.path}); starting from the first alert")
    if state.done > len(entries) or any(i >= len(entries) for i in state.beyond) or (
            state.done and entries[state.done - 1].dia_source_id != state.last_source_id):
        raise UserError(f"{checkpoint.path}: the checkpoint does not match the prepared alerts (prepared again?); "
                        "remove it or run without --resume")
    left = remaining(plan, state.done)
    return state, left, (f"--resume: {state.done + len(state.beyond)} alerts were already delivered "
                         f"(checkpoint {checkpoint.path}); {left.to_send - _in_plan(left, state.beyond)} to go")


def _in_plan(plan: ReplayPlan, indexes: set[int]) -> int:
    return sum(1 for i in indexes for o in plan.observations if o.start <= i < o.stop)


class _Tally:
    """Delivery reports, counted in the thread that polls the producer (the run thread)."""

    def __init__(self, entries: list[Any], flags: bytearray, kafka: dict[str, str]) -> None:
        self.entries = entries
        self.flags = flags
        self.kafka = kafka
        self.delivered = 0
        self.failures: list[tuple[int, str, str]] = []   # (index, file, reason)
        self.fatal: str | None = None
        self.given_up: set[int] = set()

    def report(self, i: int, err: Any, _msg: Any) -> None:
        if self.given_up and i in self.given_up:
            return  # already counted as not delivered
        if err is None:
            self.flags[i] = 1
            self.delivered += 1
            return
        name = err.name()
        reason = _PURGED.get(name) or scrub(str(err.str()), self.kafka)
        self.failures.append((i, self.entries[i].file, reason))
        if name in _FATAL_DELIVERY or err.fatal():
            self.fatal = reason

    def give_up(self, indexes: Iterable[int]) -> None:
        """Handed-over alerts without any delivery report (an abandoned stop): not delivered."""
        failed = {i for i, _, _ in self.failures}
        for i in indexes:
            if i not in failed and i not in self.given_up:
                self.given_up.add(i)
                self.failures.append((i, self.entries[i].file, "abandoned: no delivery report from the broker"))


def _advance(state: CheckpointState, flags: bytearray, start: int, stop: int, entries: list[Any]) -> CheckpointState:
    """The new position: the longest delivered prefix, plus delivered alerts beyond a gap."""
    done = state.done
    n = len(flags)
    while done < n and flags[done]:
        done += 1
    beyond = {i for i in state.beyond if i >= done}
    beyond.update(i for i in range(max(start, done), stop) if flags[i])
    last = entries[done - 1].dia_source_id if done else None
    return CheckpointState(done=done, beyond=beyond, last_source_id=last)


def _check_reachable(producer: Any, config: ReplayConfig) -> None:
    from confluent_kafka import KafkaException

    try:
        producer.list_topics(timeout=METADATA_TIMEOUT_S)
    except KafkaException as exc:
        raise UserError(f"no Kafka broker answered at {config.bootstrap} within {METADATA_TIMEOUT_S:g} s "
                        f"({scrub(str(exc.args[0].str() if exc.args else exc), config.kafka)})") from None


def _external_encoded(index: Any, config: ReplayConfig, plan: ReplayPlan,
                      skip: frozenset[int]) -> dict[int, bytes] | None:
    """With EXTERNAL_SCHEMA, encode up front every alert to send that was not prepared with it.

    Encoding is the check (an alert that does not fit stops the run, naming its file) and its result is
    what is sent: each alert is decoded and encoded once. None when no alert needs re-encoding.
    """
    if config.schema is None:
        return None
    from elasticc_stream.engine.decoder import encode_schemaless, fingerprint, load_schema_file

    schema = load_schema_file(config.schema)
    fp = fingerprint(schema)
    entries = index.entries
    encoded: dict[int, bytes] = {}
    for obs in plan.observations:
        for i in range(obs.start, obs.stop):
            entry = entries[i]
            if i in skip or entry.schema_fp == fp:
                continue  # prepared with this very schema: the stored bytes are already its encoding
            try:
                encoded[i] = encode_schemaless(index.record(entry), schema)
            except ValueError as exc:
                problem = " ".join(str(exc).split())[:300]
                raise UserError(f"{index.path(entry)}: does not fit EXTERNAL_SCHEMA {config.schema}: "
                                f"{problem}") from None
    return encoded or None


def _with_encoded(values: Iterator[tuple[int, bytes]], encoded: dict[int, bytes]) -> Iterator[tuple[int, bytes]]:
    """The re-encoded bytes instead of the stored ones; each is dropped once handed over."""
    for i, stored in values:
        yield i, encoded.pop(i, stored)


def _encoding(index: Any, config: ReplayConfig) -> MessageEncoding:
    """Key, partition and framing of every message (see engine.replay.encoding), once the topic exists."""
    from elasticc_stream.engine.topics import topic_partitions

    partitions = topic_partitions(config.bootstrap, config.topic, config.kafka, timeout=METADATA_TIMEOUT_S)
    registry = None
    if config.schema_registry:
        from elasticc_stream.engine.wire.registry import Registry

        registry = Registry(config.schema_registry, config.registry)
    return message_encoding(index, config, partitions or config.partitions, registry)
