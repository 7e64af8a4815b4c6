"""Consume a Kafka topic and decode every message into alerts, as a stream of typed events.

Each message is handled once per run: messages delivered again (after a stall or a rebalance) are skipped, by
offset per partition. Delivery to the group's next run is at-least-once: an offset is stored for commit only
after every event of its message was handed over and the caller came back for the next one, so an alert the
caller failed to handle (a full disk under --save, an exception) is read again by the group's next run, never
skipped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..kafka_admin.reach import ErrorTrap, wait_for_metadata
from ..kafka_config import consumer_config, scrub
from .events import AlertReceived, ConsumeEvent, ConsumeFinished, DecodeFailed
from .group import default_group_id
from .stats import LatencyStats, overall_rate

# librdkafka's log lines: kept off the terminal unless the application (the CLI with -v) adds a handler.
log = logging.getLogger("elasticc_stream.kafka")
log.addHandler(logging.NullHandler())

STARTS = ("earliest", "latest")
BATCH = 500  # messages per client call: amortises the call, yet stop() and --max are honoured promptly
POLL_S = 0.2  # one blocking wait for a message, before stop() and --timeout are checked again
# The idle --timeout only counts once partitions are assigned; until then the group join may take this long.
JOIN_ALLOWANCE_S = 30.0
# How long stopping waits for the final commit, then for the close, before giving up on a broker.
CLOSE_COMMIT_WAIT_S = CLOSE_WAIT_S = 5.0


@dataclass
class ConsumeOptions:
    bootstrap: str
    topic: str
    group: str | None = None            # None: a unique id (see group.default_group_id)
    schema: dict | None = None          # writer schema for schemaless messages (None: key, then shipped schemas)
    max_alerts: int | None = None       # stop after this many alerts
    timeout: float | None = None        # stop after this many seconds without a message
    start: str = "earliest"             # where a group without committed offsets starts
    kafka: dict = field(default_factory=dict)  # librdkafka properties passed through (-X, [kafka])
    connect_timeout: float = 10.0       # seconds to wait for the broker's first answer
    latency_window: int | None = None   # keep only the last N latencies (a live view); None: all, for a summary
    registry: Any = None                # engine.wire.registry.Registry for framed messages of unknown id


class AlertStream:
    """`for event in AlertStream(options).events(): ...` ends with one ConsumeFinished.

    `stop()` may be called from any thread (or a signal handler): events() then commits what was handled
    and finishes with ConsumeFinished. `on_kafka_error(text)`, if given, hears the client's transient errors
    (broker down, authentication refused...) from the consuming thread; secrets are scrubbed from them.
    """

    def __init__(self, options: ConsumeOptions, on_kafka_error: Callable[[str], None] | None = None,
                 on_connected: Callable[[], None] | None = None) -> None:
        if options.start not in STARTS:
            raise UserError(f"start must be one of {', '.join(STARTS)}, not {options.start!r}")
        if options.max_alerts is not None and options.max_alerts < 1:
            raise UserError(f"--max must be at least 1, not {options.max_alerts}")
        if options.timeout is not None and options.timeout <= 0:
            raise UserError(f"--timeout must be positive, not {options.timeout:g}")
        self.options = options
        self.group_id: str = options.group or default_group_id()
        self.stop_reason: str | None = None  # "max", "timeout" or "stopped" once events() has finished
        self.kafka_errors: list[str] = []
        self._on_kafka_error = on_kafka_error
        self._on_connected = on_connected  # once the broker has answered (the topic may still be missing)
        self._trap = ErrorTrap(options.kafka)
        self._connected = False
        self._stop = threading.Event()
        self._consumer = None
        # Next offset per (topic, partition) of messages fully handled: the committable positions.
        self._positions: dict[tuple[str, int], int] = {}
        self._last_seen: dict[tuple[str, int], int] = {}  # for the summary; survives rebalances
        self._held: dict[tuple[str, int], int] = {}  # first offset per partition the caller could not handle
        # Next offset per partition handled in this run, whatever the rebalances: what comes below is a repeat.
        self._handled: dict[tuple[str, int], int] = {}
        self.redelivered = 0
        self._assigned_at: float | None = None
        self._assigned_wall: float | None = None  # first assignment, wall clock: older messages are backlog
        self.backlog_alerts = 0  # alerts produced before that: their "latency" is the age they had in the topic
        # Set once partitions are assigned: a producer started earlier would count the group join as latency.
        self.assigned = threading.Event()
        self._alerts = 0
        self._errors = 0
        self._latency = LatencyStats(window=options.latency_window)
        self._first_receipt: float | None = None
        self._last_handled: float | None = None
        self._started = 0.0

    def stop(self) -> None:
        self._stop.set()

    def hold(self, topic: str, partition: int, offset: int) -> None:
        """The alert at `offset` was not handled (e.g. --save could not write it): nothing at or after it in
        this partition is committed by this run, so the group's next run reads it again."""
        key = (topic, partition)
        if key not in self._held or offset < self._held[key]:
            self._held[key] = offset

    def _position(self, key: tuple[str, int]) -> int:
        return min(self._positions[key], self._held.get(key, 1 << 62))

    # --- the stream ----------------------------------------------------------------------------------------

    def events(self) -> Iterator[ConsumeEvent]:
        self._started = time.monotonic()
        consumer = self._connect()
        try:
            yield from self._consume(consumer)
        finally:
            self._close(consumer)
        yield self._finished()

    def _connect(self):
        from confluent_kafka import Consumer, KafkaException

        opts = self.options
        config = consumer_config(opts.bootstrap, self.group_id, opts.kafka)
        config.update({
            "auto.offset.reset": opts.start,
            # Offsets are stored by us after handling (see the module docstring), whatever -X says.
            "enable.auto.offset.store": False,
            "error_cb": self._kafka_error,
            "logger": log,
        })
        config.setdefault("client.id", "elasticc-stream")
        try:
            consumer = Consumer(config)
        except KafkaException as exc:
            raise UserError(f"bad Kafka configuration: {self._scrub(exc)}") from None
        # Metadata first, with a deadline, or a wrong address would wait forever (a refused one ends at once).
        try:
            meta = wait_for_metadata(consumer, self._trap, opts.bootstrap, opts.connect_timeout, opts.kafka,
                                     topic=opts.topic)
        except UserError:
            consumer.close()
            raise
        self._connected = True
        if self._on_connected is not None:
            self._on_connected()
        info = meta.topics.get(opts.topic)
        if info is None or info.error is not None or not info.partitions:
            consumer.close()
            why = f": {info.error.str()}" if info is not None and info.error is not None else ""
            raise UserError(f"topic {opts.topic!r} does not exist at {opts.bootstrap}{why}")
        consumer.subscribe([opts.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_lost)
        self._consumer = consumer
        return consumer

    def _consume(self, consumer) -> Iterator[ConsumeEvent]:
        from ..decoder import DecodeError, decode

        opts = self.options
        schema = opts.schema
        max_alerts = opts.max_alerts
        timeout = opts.timeout
        positions = self._positions
        handled = self._handled
        stop = self._stop
        latencies: list[float] = []
        last_message = None
        while not stop.is_set():
            # Drain what is fetched without waiting; block only when nothing is there, and for one message, so
            # that a live stream is handed over (and timed) as it arrives.
            messages = consumer.consume(BATCH, 0)
            if not messages:
                message = consumer.poll(POLL_S)
                if message is None:
                    if timeout is not None and self._idle_for(last_message) >= timeout:
                        self.stop_reason = "timeout"
                        break
                    continue
                messages = [message]
                messages.extend(consumer.consume(BATCH - 1, 0))
            receipt_wall = time.time()
            last_message = time.monotonic()
            if self._first_receipt is None:
                self._first_receipt = last_message
            for message in messages:
                if stop.is_set():
                    break
                if message.error() is not None:
                    self._message_error(message)
                    continue
                topic = message.topic()
                partition = message.partition()
                offset = message.offset()
                done = handled.get((topic, partition))
                if done is not None and offset < done:
                    self.redelivered += 1
                    positions[(topic, partition)] = max(positions.get((topic, partition), 0), done)
                    continue
                ts_type, ts = message.timestamp()
                if ts_type:  # 0 is TIMESTAMP_NOT_AVAILABLE
                    latency = receipt_wall - ts / 1000.0
                    latencies.append(latency)
                else:
                    ts = latency = None
                value = message.value()
                try:
                    if value is None:
                        raise DecodeError("", "empty message (null value)")
                    alerts = decode(value, schema=schema, key=message.key(), registry=opts.registry,
                                    source=f"{topic}[{partition}] offset {offset}")
                except DecodeError as exc:
                    self._errors += 1
                    yield DecodeFailed(topic, partition, offset, exc.reason)
                else:
                    whole = True
                    backlog = ts is not None and self._assigned_wall is not None and ts / 1000 < self._assigned_wall
                    for alert in alerts:
                        self._alerts += 1
                        self.backlog_alerts += backlog
                        yield AlertReceived(alert, topic, partition, offset, ts, latency, message.key(),
                                            tuple(message.headers() or ()))
                        if max_alerts is not None and self._alerts >= max_alerts:
                            whole = alert is alerts[-1]
                            break
                    if not whole:  # the rest of this container is read again by the group's next run
                        break
                # Reached only once the caller has come back for more: the message is handled.
                positions[(topic, partition)] = handled[(topic, partition)] = offset + 1
                if max_alerts is not None and self._alerts >= max_alerts:
                    break
            if latencies:
                self._latency.extend(latencies)
                latencies.clear()
            self._store(consumer)
            self._last_handled = time.monotonic()
            if max_alerts is not None and self._alerts >= max_alerts:
                self.stop_reason = "max"
                break
        if self.stop_reason is None:
            self.stop_reason = "stopped"

    def _idle_for(self, last_message: float | None) -> float:
        now = time.monotonic()
        if last_message is not None:
            return now - last_message
        if self._assigned_at is not None:
            return now - self._assigned_at
        # Not assigned yet: let the group join finish before the idle clock starts.
        return max(0.0, now - self._started - JOIN_ALLOWANCE_S)

    def _message_error(self, message) -> None:
        from confluent_kafka import KafkaError

        err = message.error()
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if err.fatal():
            raise UserError(f"Kafka error at {self.options.bootstrap}: {self._scrub(err.str())}")
        self._kafka_error(err)

    # --- offsets -------------------------------------------------------------------------------------------

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

    # --- reporting -----------------------------------------------------------------------------------------

    def _finished(self) -> ConsumeFinished:
        seconds = time.monotonic() - self._started
        p50, p99 = self._latency.percentiles(0.5, 0.99)
        offsets = {f"{t}[{p}]": o for (t, p), o in sorted(self._last_seen.items())}
        return ConsumeFinished(
            alerts=self._alerts,
            errors=self._errors,
            offsets=offsets,
            seconds=seconds,
            rate=overall_rate(self._alerts, self._first_receipt, self._last_handled, seconds),
            latency_p50=p50,
            latency_p99=p99,
            latency_max=self._latency.max,
            redelivered=self.redelivered,
        )

    def _kafka_error(self, err) -> None:
        self._trap(err)
        text = self._scrub(err.str() if hasattr(err, "str") else err)
        self.kafka_errors.append(text)
        del self.kafka_errors[:-100]  # a broker down for hours repeats itself; keep the recent ones
        # Before the broker first answers, errors are kept for the one-line failure message instead.
        if self._on_kafka_error is not None and self._connected:
            self._on_kafka_error(text)

    def _scrub(self, text: object) -> str:
        return scrub(" ".join(str(text).split()), self.options.kafka)
