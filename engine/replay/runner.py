"""The replay itself: prepared alerts into Kafka as timed observations, with confirmed delivery.

Speed comes from not touching the alerts: prepare stored every alert's schemaless bytes in the index,
so the default path hands those bytes to librdkafka as they are. Only EXTERNAL_SCHEMA (re-encoding
with another schema) and a DISPLAY_FIELD that the index does not carry decode anything.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.kafka_config import producer_config, redact, scrub
from elasticc_stream.engine.replay.checkpoint import (
    Checkpoint,
    CheckpointState,
    CheckpointWriter,
    default_checkpoint_path,
)
from elasticc_stream.engine.replay.config import NO_DISPLAY, ReplayConfig
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
# Display fields the index already knows: no decoding needed to print an observation's range.
INDEX_FIELDS = {
    "diaSource,midPointTai": "mid_point_tai",
    "diaSource,diaSourceId": "dia_source_id",
    "diaSource,diaObjectId": "dia_object_id",
    "diaObject,diaObjectId": "dia_object_id",
    "diaSource,filterName": "filter_name",
}
# Delivery errors that mean the broker is gone for good (after librdkafka's own retries): stop, don't grind on.
_FATAL_DELIVERY = {"_MSG_TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_FATAL"}
_ERROR_NOTE_EVERY_S = 10.0

_kafka_log = logging.getLogger("elasticc_stream.replay.kafka")
# librdkafka logs through this logger instead of writing to stderr; -v can route it somewhere visible.
_kafka_log.addHandler(logging.NullHandler())


class Replayer:
    """Runs one replay; `run()` blocks (call it from a worker thread), the other methods are thread-safe."""

    def __init__(self, config: ReplayConfig, on_event: Callable[[ReplayEvent], None]) -> None:
        self.config = config
        self._emit = on_event
        self._cond = threading.Condition()
        self._stopping = False
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

    def stop(self) -> None:
        """Stop handing alerts over; what was handed over is still flushed and counted."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> ReplayFinished:
        """Plan, check, send. Raises UserError for anything wrong before the first alert is sent."""
        job, notes = self._prepare()
        self._emit(ReplayPlanned(path=str(self.config.data), available=job.plan.available, to_send=job.to_send,
                                 per_obs=job.plan.per_obs if self.config.by_visit else self.config.per_obs,
                                 observations=len(job.plan.observations), interval=self.config.interval,
                                 topic=self.config.topic, bootstrap=self.config.bootstrap,
                                 partitions=self.config.partitions, display_field=self.config.display_field,
                                 notes=notes))
        problems: list[str] = []  # from the writer thread; reported from this one
        writer = CheckpointWriter(job.checkpoint, problems.append)
        reader = PayloadReader(job.index)
        try:
            if not self.config.resume:
                writer.submit(CheckpointState())
            finished = self._send(job, writer, reader)
        finally:
            writer.close()
            reader.close()
        for text in problems:
            self._emit(Note(text))
        self._emit(finished)
        return finished

    def _prepare(self) -> tuple[_Job, list[str]]:
        """Everything that can fail before sending: settings, index, plan, checkpoint, schema, broker, topic."""
        config = self.config.validated()
        index = _load_index(config, self._emit)
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
        display = _display_reader(index, config, first)
        encode = _external_encoder(index, config, plan, skip)
        key_of = _key_function(index, config)

        from confluent_kafka import Producer
        from elasticc_stream.engine.topics import ensure_topic

        props = producer_config(config.bootstrap, config.kafka)
        props.update({"error_cb": self._on_kafka_error, "logger": _kafka_log})
        try:
            producer = Producer(props)
        except Exception as exc:  # KafkaException, or ValueError/TypeError for a bad -X property
            raise UserError(f"cannot configure the Kafka producer: {scrub(str(exc), config.kafka)}") from None
        _check_reachable(producer, config)
        topic_note = ensure_topic(config.bootstrap, config.topic, config.partitions, config.kafka,
                                  timeout=METADATA_TIMEOUT_S)
        if topic_note:
            notes.append(topic_note)
        job = _Job(index=index, plan=plan, to_send=plan.to_send - _in_plan(plan, state.beyond), skip=skip,
                   state=state, checkpoint=checkpoint, producer=producer, display=display, encode=encode,
                   key_of=key_of)
        return job, notes

    def _send(self, job: _Job, writer: CheckpointWriter, reader: PayloadReader) -> ReplayFinished:
        config = self.config
        entries = job.index.entries
        topic = config.topic
        producer = job.producer
        produce = producer.produce
        plan, skip, display, encode, key_of = job.plan, job.skip, job.display, job.encode, job.key_of
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

        def outstanding() -> int:
            return sent - tally.delivered - len(tally.failures)

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
                if encode is None:
                    values = reader.iter_range(entries, obs.start, obs.stop)
                else:
                    values = ((i, b"") for i in range(obs.start, obs.stop))
                for i, value in values:
                    if self._stopping:
                        interrupted = True
                        break
                    if skip and i in skip:
                        continue
                    entry = entries[i]
                    if encode is not None:
                        value = encode(entry)
                    key = key_of(entry)
                    while True:
                        try:
                            produce(topic, value, key, on_delivery=partial(report, i))
                            break
                        except BufferError:
                            # librdkafka's queue is full (the broker stalls): serve reports, then retry.
                            producer.poll(0.1)
                    sent += 1
                    if first is None:
                        first = entry
                    last = entry
                if interrupted and outstanding():
                    self._emit(Note(f"stopping: waiting for the {outstanding()} alerts already handed to "
                                    "the producer"))
                self._flush(producer, outstanding)
                for _i, file, reason in tally.failures[before_failed:]:
                    self._emit(AlertFailed(file, reason))
                state = _advance(state, flags, obs.start, obs.stop, entries)
                if first is not None:
                    observations_done += 1
                    self._emit(ObservationDelivered(
                        obs.number, tally.delivered - before_delivered,
                        display(first) if display else None, display(last) if display else None,
                        time.monotonic() - m0, tally.delivered, job.to_send))
                    writer.submit(state)
                if tally.fatal is not None:
                    self._emit(Note(f"stopping: the broker at {config.bootstrap} did not take the alerts "
                                    f"({tally.fatal})"))
                    break
                if interrupted:
                    break
        except KeyboardInterrupt:
            # run() on the main thread: same as stop(); what was handed over is still flushed.
            interrupted = True
            self._flush(producer, outstanding)
            state = _advance(state, flags, *current, entries)
            writer.submit(state)
        if not interrupted and tally.fatal is None and not tally.failures:
            state.complete = True
            writer.submit(state)
        return ReplayFinished(
            sent=sent, delivered=tally.delivered, failed=len(tally.failures),
            failed_files=[f for _, f, _ in tally.failures], observations=observations_done,
            seconds=time.time() - t0, interrupted=interrupted or tally.fatal is not None)

    def _flush(self, producer: Any, outstanding: Callable[[], int]) -> None:
        """Wait until every alert handed over has a delivery report (librdkafka retries meanwhile)."""
        while outstanding() > 0:
            producer.flush(0.5)

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
    encode: Callable[[Any], bytes] | None
    key_of: Callable[[Any], bytes | None]


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

    def report(self, i: int, err: Any, _msg: Any) -> None:
        if err is None:
            self.flags[i] = 1
            self.delivered += 1
            return
        reason = scrub(str(err.str()), self.kafka)
        self.failures.append((i, self.entries[i].file, reason))
        if err.name() in _FATAL_DELIVERY or err.fatal():
            self.fatal = reason


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


def _display_reader(index: Any, config: ReplayConfig, first: Any) -> Callable[[Any], object] | None:
    path = config.display_field
    if path == NO_DISPLAY:
        return None
    column = INDEX_FIELDS.get(path.replace(" ", ""))
    if column is not None:
        return lambda entry: getattr(entry, column)
    from elasticc_stream.engine.alert_fields import display_value

    if first is not None:
        try:
            display_value(index.record(first), path)
        except KeyError as exc:
            where = config.source or "--display-field"
            raise UserError(f"{where}: DISPLAY_FIELD {path!r}: {exc.args[0] if exc.args else exc}") from None
    return lambda entry: display_value(index.record(entry), path)


def _external_encoder(index: Any, config: ReplayConfig, plan: ReplayPlan,
                      skip: frozenset[int]) -> Callable[[Any], bytes] | None:
    """With EXTERNAL_SCHEMA, check up front that every alert to send fits it; return the encoder."""
    if config.schema is None:
        return None
    import fastavro.validation
    from elasticc_stream.engine.decoder import encode_schemaless, fingerprint, load_schema_file, parsed

    schema = load_schema_file(config.schema)
    fp = fingerprint(schema)
    entries = index.entries
    if all(entries[i].schema_fp == fp for o in plan.observations for i in range(o.start, o.stop)):
        return None  # prepared with this very schema: the stored bytes are already its encoding
    parsed_schema = parsed(schema)
    for obs in plan.observations:
        for i in range(obs.start, obs.stop):
            entry = entries[i]
            if i in skip or entry.schema_fp == fp:
                continue
            record = index.record(entry)
            problem = None
            try:
                fastavro.validation.validate(record, parsed_schema, raise_errors=True)
                encode_schemaless(record, schema)
            except Exception as exc:  # ValidationError or ValueError: one line either way
                problem = " ".join(str(exc).split())[:300]
            if problem is not None:
                raise UserError(f"{index.path(entry)}: does not fit EXTERNAL_SCHEMA {config.schema}: {problem}")

    def encode(entry: Any) -> bytes:
        if entry.schema_fp == fp:
            return index.payload(entry)
        return encode_schemaless(index.record(entry), schema)

    return encode


def _key_function(index: Any, config: ReplayConfig) -> Callable[[Any], bytes | None]:
    if config.key == "none":
        return lambda entry: None
    if config.key == "schema":
        cache: dict[str, bytes] = {}
        if config.schema is not None:
            from elasticc_stream.engine.decoder import load_schema_file

            fixed = json.dumps(load_schema_file(config.schema), separators=(",", ":")).encode()
            return lambda entry: fixed

        def schema_key(entry: Any) -> bytes:
            raw = cache.get(entry.schema_fp)
            if raw is None:
                raw = cache[entry.schema_fp] = json.dumps(index.schema(entry.schema_fp),
                                                          separators=(",", ":")).encode()
            return raw

        return schema_key

    def object_key(entry: Any) -> bytes | None:
        # diaObjectId keys keep an object's alerts in one partition, hence in time order.
        return None if entry.dia_object_id is None else str(entry.dia_object_id).encode("ascii")

    return object_key


def describe(config: ReplayConfig) -> dict[str, object]:
    """Settings fit for printing or logging: librdkafka secrets redacted."""
    return {"bootstrap": config.bootstrap, "topic": config.topic, "data": str(config.data),
            "kafka": redact(config.kafka)}

