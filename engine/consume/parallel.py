"""AlertStream's loop when its alerts are wanted as printed lines (and saved files) only, as the CLI's
`consume` wants them: decoded, saved and rendered by worker processes (render_workers.py) while this process
polls, one AlertsRendered per message.

The guarantees are the single-process loop's: each message is handed over once per run, in the order of the
stream, and its offset is stored only after its event was handed over and the caller came back for more;
`--max` ends exactly, even inside an Avro container (the rest of that message is read again by the group's
next run). Messages in flight when the run stops were never handed over, so never committed; with --save their
alerts may already be written, and the group's next run finds them there (save.py recognises the same alert).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .events import AlertsRendered, ConsumeEvent, DecodeFailed
from .polling import BATCH
from .render_workers import Pending, RenderWorkers

if TYPE_CHECKING:
    from .stream import ConsumeOptions


class ParallelRender:
    """Mixed into AlertStream, whose attributes (options, positions, counters) it uses."""

    options: ConsumeOptions
    _alerts: int
    _errors: int
    backlog_alerts: int
    redelivered: int
    stop_reason: str | None
    _last_handled: float | None
    _positions: dict
    _handled: dict
    _stop: Any
    _latency: Any
    # From AlertStream and GroupPositions: _admit (error and repeat checks), _wait, _received, _store.

    def _consume_rendered(self, consumer, workers: RenderWorkers) -> Generator[ConsumeEvent, None, None]:
        opts = self.options
        max_alerts, stop = opts.max_alerts, self._stop
        latencies: list[float] = []
        last_message = None
        # Next offset per partition sent to a worker: a message delivered again while its first copy is still
        # in flight (not yet in _handled) is skipped too.
        sent: dict[tuple[str, int], int] = {}
        while not stop.is_set():
            if workers.full or workers.oldest_ready():
                if not (yield from self._take(consumer, workers)):
                    break
                continue
            # Each message holds at least one alert (most exactly one): once --max of them are out, wait.
            room = BATCH if max_alerts is None else min(BATCH, max_alerts - self._alerts - workers.messages_out)
            messages = consumer.consume(room, 0) if room > 0 else []
            if not messages:
                if workers.in_flight:
                    workers.send()
                    if not (yield from self._take(consumer, workers)):
                        break
                    continue
                messages = self._wait(consumer, last_message, room)
                if messages is None:
                    break
                if not messages:
                    continue
            receipt_wall, last_message = self._received()
            for message in messages:
                admitted = self._admit(message, receipt_wall, latencies)
                if admitted is None:
                    continue
                topic, partition, offset, ts, latency, backlog = admitted
                key = (topic, partition)
                if offset < sent.get(key, -1):
                    self.redelivered += 1
                    continue
                sent[key] = offset + 1
                workers.add(Pending(topic, partition, offset, ts, latency, backlog), message.key(), message.value())
            if latencies:
                self._latency.extend(latencies)
                latencies.clear()
        if self.stop_reason is None:
            self.stop_reason = "stopped"

    def _take(self, consumer, workers: RenderWorkers) -> Generator[ConsumeEvent, None, bool]:
        """Hand over the oldest chunk; False once the run is to end (--max reached, stop())."""
        max_alerts = self.options.max_alerts
        chunk = workers.take()
        try:
            for where, (ok, payload) in chunk:
                if self._stop.is_set():
                    return False
                key = (where.topic, where.partition)
                if ok:
                    alerts = payload
                    if max_alerts is not None and self._alerts + len(alerts) > max_alerts:
                        alerts = alerts[: max_alerts - self._alerts]
                    self._alerts += len(alerts)
                    self.backlog_alerts += where.backlog * len(alerts)
                    if alerts:
                        yield AlertsRendered(where.topic, where.partition, where.offset,
                                             tuple(line for line, _ in alerts), tuple(saved for _, saved in alerts))
                    if len(alerts) < len(payload):  # --max inside a container: the rest is read again later
                        self.stop_reason = "max"
                        return False
                else:
                    self._errors += 1
                    yield DecodeFailed(where.topic, where.partition, where.offset, payload)
                # Reached only once the caller has come back for more: the message is handled.
                self._positions[key] = self._handled[key] = where.offset + 1
                if max_alerts is not None and self._alerts >= max_alerts:
                    self.stop_reason = "max"
                    return False
            return True
        finally:
            self._store(consumer)
            self._last_handled = time.monotonic()
