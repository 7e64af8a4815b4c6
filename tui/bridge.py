"""Runs the engine's Replayer and AlertStream in Textual thread workers and hands their events to the UI.

The engine calls back from its own threads, once per event; the UI wants a few updates a second. So every
event goes into one bounded queue, and the app drains it on a timer (`drain`) and redraws once per batch.
The alerts' queue is bounded so that a UI that falls behind slows the consumer down instead of growing memory;
replay events go through a separate queue that never blocks the replayer (they are few: one per observation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .state import (
    ConnectionChanged,
    ConsumerAssigned,
    KafkaLog,
    KafkaTrouble,
    LagSample,
    WorkerFailed,
    WorkerStatus,
)

if TYPE_CHECKING:
    from textual.app import App
    from textual.worker import Worker

    from ..engine.consume.stream import AlertStream, ConsumeOptions
    from ..engine.replay.config import ReplayConfig
    from ..engine.replay.runner import Replayer

# A few quarter-second batches at ~6,000 alerts/s; each decoded alert is ~20 KB, so this bounds memory.
QUEUE_SIZE = 2_000
TOPIC_POLL_S = 2.0
# A broker that does not answer is asked again this often; a refused address is known in well under a second.
REACH_RETRY_S = 2.0
REACH_TIMEOUT_S = 2.5
LAG_EVERY_S = 2.0
# librdkafka's loggers (see engine): the replay's producer, and everything else (consumer, admin clients).
KAFKA_LOGGERS = {"elasticc_stream.replay.kafka": "replay", "elasticc_stream.kafka": "stream"}
ABANDON_AFTER_S = 5.0
METADATA_TIMEOUT_S = 10.0


class _KafkaLogHandler(logging.Handler):
    """Client log lines go to the event log (never to the terminal, where they would tear the screen)."""

    def __init__(self, post: Callable[[object], None], scrub: Callable[[str], str]) -> None:
        super().__init__(level=logging.WARNING)
        self._post = post
        self._scrub = scrub

    def emit(self, record: logging.LogRecord) -> None:
        source = "replay" if record.name.startswith("elasticc_stream.replay") else "stream"
        try:
            text = " ".join(record.getMessage().split())
        except Exception:  # noqa: BLE001 - a malformed log record must not break the client's thread
            return
        self._post(KafkaLog(source, record.levelno, self._scrub(text)))


def _one_line(exc: BaseException) -> str:
    from ..engine.errors import UserError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, UserError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class EngineBridge:
    """Owns the replay and consumer workers of one app."""

    def __init__(self, app: App, scrub: Callable[[str], str] = lambda text: text) -> None:
        self._app = app
        self._scrub = scrub
        self._alerts: queue.Queue[object] = queue.Queue(maxsize=QUEUE_SIZE)
        self._control: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._replayer: Replayer | None = None
        self._replay_worker: Worker | None = None
        self._replay_stop = threading.Event()
        self._stream: AlertStream | None = None
        self._stream_worker: Worker | None = None
        self._stream_stop = threading.Event()
        self._log_handler = _KafkaLogHandler(self._post_control, scrub)

    def attach_logs(self) -> None:
        for name in KAFKA_LOGGERS:
            logging.getLogger(name).addHandler(self._log_handler)

    def detach_logs(self) -> None:
        for name in KAFKA_LOGGERS:
            logging.getLogger(name).removeHandler(self._log_handler)

    def _reach(self, source: str, bootstrap: str, kafka: dict, stop: threading.Event) -> bool:
        """Wait until the broker answers, showing connecting / unreachable; False if stopped first."""
        from ..engine.kafka_admin.reach import probe

        self._post_control(ConnectionChanged(source, "connecting"))
        while not stop.is_set():
            reach = probe(bootstrap, kafka, timeout=REACH_TIMEOUT_S)
            if reach.ok:
                self._post_control(ConnectionChanged(source, "connected"))
                return True
            reason = reach.reason or f"no answer within {REACH_TIMEOUT_S:g} s"
            self._post_control(ConnectionChanged(source, "unreachable", self._scrub(reason)))
            if source == "replay":
                return False
            stop.wait(REACH_RETRY_S)
        return False

    # Queues -----------------------------------------------------------------------------------------

    def _post_control(self, event: object) -> None:
        """Replay and status events: few (one per observation), never blocked, so replay timing is kept."""
        self._control.put(event)

    def _post_stream(self, event: object) -> None:
        """Back-pressure for the consumer that still gives way to a stop request."""
        while not self._stream_stop.is_set():
            try:
                self._alerts.put(event, timeout=0.2)
                return
            except queue.Full:
                continue
        with contextlib.suppress(queue.Full):
            self._alerts.put_nowait(event)

    def drain(self, limit: int = QUEUE_SIZE) -> list[object]:
        """Everything posted since the last call (at most `limit` stream events), control events first."""
        events: list[object] = []
        with contextlib.suppress(queue.Empty):
            while True:
                events.append(self._control.get_nowait())
        with contextlib.suppress(queue.Empty):
            for _ in range(limit):
                events.append(self._alerts.get_nowait())
        return events

    # Replay -------------------------------------------------------------------------------------------

    @property
    def replay_running(self) -> bool:
        worker = self._replay_worker
        return worker is not None and not worker.is_finished

    def start_replay(self, config: ReplayConfig) -> bool:
        """Start a replay in a thread worker; False if one is already running."""
        if self.replay_running:
            return False
        self._replay_stop.clear()
        self._replay_worker = self._app.run_worker(
            lambda: self._run_replay(config), name="replay", group="replay", thread=True, exit_on_error=False
        )
        return True

    def _run_replay(self, config: ReplayConfig) -> None:
        from ..engine.replay.runner import Replayer

        try:
            if not self._reach("replay", config.bootstrap, config.kafka, self._replay_stop):
                if not self._replay_stop.is_set():
                    self._post_control(WorkerFailed("replay", f"no Kafka broker answered at {config.bootstrap}"))
                return
            replayer = Replayer(config, self._post_control)
            with self._lock:
                self._replayer = replayer
            if self._replay_stop.is_set():
                return
            self._post_control(WorkerStatus("replay", "running"))
            replayer.run()
        except Exception as exc:  # noqa: BLE001 - any failure is shown in the UI, never crashes it
            self._post_control(WorkerFailed("replay", self._scrub(_one_line(exc))))
        finally:
            with self._lock:
                self._replayer = None
            self._post_control(WorkerStatus("replay", "ended"))

    def pause_replay(self) -> bool | None:
        """Toggle pause; returns the new paused state, None when no replay runs."""
        with self._lock:
            replayer = self._replayer
        if replayer is None:
            return None
        if replayer.paused:
            replayer.resume()
            self._post_control(WorkerStatus("replay", "running"))
            return False
        replayer.pause()
        self._post_control(WorkerStatus("replay", "paused"))
        return True

    def stop_replay(self) -> bool:
        self._replay_stop.set()
        with self._lock:
            replayer = self._replayer
        if replayer is None:
            return False
        replayer.stop()
        self._post_control(WorkerStatus("replay", "stopping"))
        return True

    # Stream -------------------------------------------------------------------------------------------

    @property
    def stream_assigned(self) -> bool:
        """The consumer has joined its group and holds partitions: what arrives now is timed fairly."""
        stream = self._stream
        return stream is not None and stream.assigned.is_set()

    @property
    def stream_group(self) -> str | None:
        """The consumer group of the app's consumer, once it exists."""
        stream = self._stream
        return stream.group_id if stream is not None else None

    @property
    def stream_running(self) -> bool:
        worker = self._stream_worker
        return worker is not None and not worker.is_finished

    def start_stream(self, options: ConsumeOptions, prepare: Callable[[], str | None] | None = None) -> bool:
        """Consume in a thread worker. `prepare` runs first in that thread (e.g. creating the topic)."""
        if self.stream_running:
            return False
        self._stream_stop.clear()
        self._stream_worker = self._app.run_worker(
            lambda: self._run_stream(options, prepare), name="stream", group="stream", thread=True,
            exit_on_error=False,
        )
        return True

    def _run_stream(self, options: ConsumeOptions, prepare: Callable[[], str | None] | None) -> None:
        from ..engine.consume.stream import AlertStream
        from ..engine.replay.events import Note

        def kafka_trouble(text: str) -> None:
            self._post_control(KafkaTrouble("stream", self._scrub(text)))

        try:
            if prepare is not None:
                note = prepare()
                if note:
                    self._post_control(Note(note))
            if not self._reach("stream", options.bootstrap, options.kafka, self._stream_stop):
                return
            if not self._wait_for_topic(options):
                return
            stream = AlertStream(options, on_kafka_error=kafka_trouble)
            with self._lock:
                self._stream = stream
            if self._stream_stop.is_set():
                stream.stop()
            self._post_control(WorkerStatus("stream", "running"))
            assigned = False
            for event in stream.events():
                if not assigned and stream.assigned.is_set():
                    assigned = True
                    # When the partitions were assigned, not when the first message came after it.
                    at = getattr(stream, "_assigned_at", None)
                    since = time.monotonic() - at if at is not None else 0.0
                    self._post_control(ConsumerAssigned(time.time() - since))
                self._post_stream(event)
        except Exception as exc:  # noqa: BLE001 - shown in the UI, never crashes it
            self._post_control(WorkerFailed("stream", self._scrub(_one_line(exc))))
        finally:
            with self._lock:
                self._stream = None
            self._post_control(WorkerStatus("stream", "ended"))

    def start_lag_sampler(self, options: ConsumeOptions, positions: Callable[[], dict[int, int]]) -> None:
        """Every LAG_EVERY_S, the end offsets minus `positions()` (partition -> last offset read), summed."""
        self._app.run_worker(lambda: self._sample_lag(options, positions), name="lag", group="lag",
                             thread=True, exit_on_error=False)

    def _sample_lag(self, options: ConsumeOptions, positions: Callable[[], dict[int, int]]) -> None:
        from ..engine.kafka_admin.cluster import KafkaAdmin

        admin = None
        try:
            while not self._stream_stop.wait(LAG_EVERY_S):
                if not self.stream_assigned:
                    continue
                if admin is None:
                    admin = KafkaAdmin(options.bootstrap, options.kafka, timeout=2.0)
                count = admin.partition_count(options.topic) or 0
                seen = positions()
                total, known = 0, True
                for partition in range(count):
                    low, end = admin.watermarks(options.topic, partition)
                    if end is None:
                        known = False
                        break
                    last = seen.get(partition)
                    start = (last + 1) if last is not None else (low if options.start == "earliest" else end)
                    total += max(0, end - start)
                if known:
                    self._post_control(LagSample(total))
        except Exception:  # noqa: BLE001 - the graph just stops; the consumer itself reports broker trouble
            return
        finally:
            if admin is not None:
                admin.close()

    def _wait_for_topic(self, options: ConsumeOptions) -> bool:
        """A topic that a replay elsewhere has yet to create is waited for, not an error; False if stopped."""
        from ..engine.topics import topic_partitions

        waiting = False
        while not self._stream_stop.is_set():
            if topic_partitions(options.bootstrap, options.topic, options.kafka,
                                timeout=METADATA_TIMEOUT_S) is not None:
                return True
            if not waiting:
                waiting = True
                self._post_control(WorkerStatus("stream", "waiting"))
                self._post_control(KafkaTrouble(
                    "stream", f"topic {options.topic} does not exist yet at {options.bootstrap}: waiting for it"))
            self._stream_stop.wait(TOPIC_POLL_S)
        return False

    def stop_stream(self) -> None:
        self._stream_stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.stop()

    # Shutdown -----------------------------------------------------------------------------------------

    def stop_all(self) -> None:
        """Ask both workers to stop (non-blocking)."""
        self.stop_replay()
        self.stop_stream()

    async def shutdown(self, timeout: float = 15.0) -> list[str]:
        """Stop both workers and wait for their threads to end; returns the names of any that did not.

        Quitting must not hang on a frozen broker: alerts it has not confirmed within `ABANDON_AFTER_S` are
        given up (reported as not delivered), since Python waits for worker threads at exit anyway.
        """
        with self._lock:
            replayer = self._replayer
        if replayer is not None:
            replayer.stop(abandon_after=ABANDON_AFTER_S)
        self.stop_all()
        stuck: list[str] = []
        for worker in (self._replay_worker, self._stream_worker):
            if worker is None or worker.is_finished:
                continue
            try:
                await asyncio.wait_for(worker.wait(), timeout)
            except TimeoutError:
                stuck.append(worker.name)
            except Exception:  # noqa: BLE001 - WorkerFailed/WorkerCancelled: it has ended, which is all we need
                pass
        return stuck
