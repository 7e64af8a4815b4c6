"""Consume a Kafka topic and decode every message into alerts, as a stream of typed events.

Each message is handled once per run: messages delivered again (after a stall or a rebalance) are skipped, by
offset per partition. Delivery to the group's next run is at-least-once: an offset is stored for commit only
after every event of its message was handed over and the caller came back for the next one, so an alert the
caller failed to handle (a full disk under --save, an exception) is read again by the group's next run, never
skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..kafka_admin.reach import ErrorTrap, wait_for_metadata
from ..kafka_config import consumer_config, scrub
from .commits import GroupPositions
from .events import AlertReceived, ConsumeEvent, ConsumeFinished, DecodeFailed
from .group import default_group_id
from .parallel import ParallelRender
from .polling import BATCH, JOIN_ALLOWANCE_S, LIVE_WAIT_S, POLL_S
from .render_workers import RenderWorkers
from .stats import LatencyStats, overall_rate
from .tally import DecodeBudget, Tally, count_alerts

# librdkafka's log lines: kept off the terminal unless the application (the CLI with -v) adds a handler.
log = logging.getLogger("elasticc_stream.kafka")
log.addHandler(logging.NullHandler())

STARTS = ("earliest", "latest")


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
    # A live view that cannot decode every alert of a fast stream (the TUI): decode at most this many messages
    # a second, the newest of each batch, and only count the others (AlertsCounted). None: decode every one.
    decode_rate: float | None = None
    # Alerts wanted as printed lines (and saved files) only, as the CLI's consume wants them: decode, save and
    # render them in this many worker processes, one AlertsRendered per message instead of AlertReceived (see
    # parallel.py). 0: decode here. `render` (a module-level function: it is sent to the workers by name) makes
    # an alert's line; with `save_dir` each alert is saved there too (save.AlertSaver).
    workers: int = 0
    render: Callable[[AlertReceived], str] | None = None
    save_dir: str | None = None


class AlertStream(ParallelRender, GroupPositions):
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
        if options.decode_rate is not None and options.max_alerts is not None:
            raise UserError("a decode rate (a live view) and --max cannot be combined")
        if options.workers and (options.decode_rate is not None or options.registry is not None
                                or options.render is None):
            raise UserError("workers render every message, with the shipped or given schemas only")
        super().__init__()
        self.options = options
        self.group_id: str = options.group or default_group_id()
        self.stop_reason: str | None = None  # "max", "timeout" or "stopped" once events() has finished
        self.kafka_errors: list[str] = []
        self._on_kafka_error = on_kafka_error
        self._on_connected = on_connected  # once the broker has answered (the topic may still be missing)
        self._trap = ErrorTrap(options.kafka)
        self._connected = False
        self._stop = threading.Event()
        self.redelivered = 0
        self.backlog_alerts = 0  # alerts produced before that: their "latency" is the age they had in the topic
        self._alerts = 0
        self._errors = 0
        self._latency = LatencyStats(window=options.latency_window)
        self._first_receipt: float | None = None
        self._last_handled: float | None = None
        self._started = 0.0

    def stop(self) -> None:
        self._stop.set()

    # --- the stream ----------------------------------------------------------------------------------------

    def events(self) -> Iterator[ConsumeEvent]:
        self._started = time.monotonic()
        # The workers are forked before the client starts its threads.
        opts = self.options
        workers = RenderWorkers(opts.workers, opts.schema, opts.render, opts.save_dir) if opts.workers else None
        try:
            consumer = self._connect()
            try:
                yield from (self._consume(consumer) if workers is None else self._consume_rendered(consumer, workers))
            finally:
                self._close(consumer)
        finally:
            if workers is not None:
                workers.close()
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
        positions = self._positions
        handled = self._handled
        stop = self._stop
        latencies: list[float] = []
        last_message = None
        budget = DecodeBudget(opts.decode_rate) if opts.decode_rate is not None else None
        live_wait = LIVE_WAIT_S if budget is not None else 0
        tally = Tally()
        while not stop.is_set():
            # Drain what is fetched without waiting; block only when nothing is there, and for one message, so
            # that a live stream is handed over (and timed) as it arrives.
            # A live view takes what arrives within LIVE_WAIT_S as one batch: a handful of events a second to
            # fold, however fast the stream.
            messages = consumer.consume(BATCH, live_wait) or self._wait(consumer, last_message, BATCH)
            if messages is None:
                break
            if not messages:
                continue
            receipt_wall, last_message = self._received()
            # A live view decodes only the newest of a batch (see tally.py); the older ones are counted.
            first_decoded = len(messages) - budget.take(len(messages)) if budget is not None else 0
            tally.expect(first_decoded)
            for i, message in enumerate(messages):
                if stop.is_set():
                    break
                admitted = self._admit(message, receipt_wall, latencies)
                if admitted is None:
                    continue
                topic, partition, offset, ts, latency, backlog = admitted
                value = message.value()
                count = count_alerts(value) if i < first_decoded else None
                if count is not None:
                    self._alerts += count
                    self.backlog_alerts += backlog * count
                    tally.add(topic, partition, offset, count, latency, backlog)
                    continue
                if tally.alerts or tally.partitions:
                    yield from self._hand_over(tally)
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
            if tally.alerts or tally.partitions:
                yield from self._hand_over(tally)
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

    def _received(self) -> tuple[float, float]:
        """(wall clock, monotonic clock) of a batch just received; the first one starts the rate's clock."""
        now = time.monotonic()
        if self._first_receipt is None:
            self._first_receipt = now
        return time.time(), now

    def _wait(self, consumer, last_message: float | None, most: int) -> list | None:
        """Nothing was fetched: wait once for a message, then take what else is there (up to `most`); [] when
        none came, None once --timeout has passed without one (stop_reason set)."""
        message = consumer.poll(POLL_S)
        if message is None:
            if self.options.timeout is not None and self._idle_for(last_message) >= self.options.timeout:
                self.stop_reason = "timeout"
                return None
            return []
        return [message, *consumer.consume(most - 1, 0)] if most > 1 else [message]

    def _admit(self, message, receipt_wall: float, latencies: list[float]) -> tuple | None:
        """(topic, partition, offset, timestamp_ms, latency_s, backlog) of a message to handle; None for an error
        (reported) or a message this run already handled (delivered again after a stall or a rebalance)."""
        if message.error() is not None:
            self._message_error(message)
            return None
        topic = message.topic()
        partition = message.partition()
        offset = message.offset()
        done = self._handled.get((topic, partition))
        if done is not None and offset < done:
            self.redelivered += 1
            self._positions[(topic, partition)] = max(self._positions.get((topic, partition), 0), done)
            return None
        ts_type, ts = message.timestamp()
        if ts_type:  # 0 is TIMESTAMP_NOT_AVAILABLE
            latency = receipt_wall - ts / 1000.0
            latencies.append(latency)
        else:
            ts = latency = None
        backlog = ts is not None and self._assigned_wall is not None and ts / 1000 < self._assigned_wall
        return topic, partition, offset, ts, latency, backlog

    def _hand_over(self, tally: Tally) -> Iterator[ConsumeEvent]:
        yield tally.event()
        # The caller came back: every counted message is handled.
        for key, (_, last) in tally.partitions.items():
            self._positions[key] = self._handled[key] = last + 1
        tally.clear()

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
