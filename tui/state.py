"""What the screens show, folded from engine events.

Plain Python (no Textual) so that it can be fed directly by tests. Everything that grows with the stream is
bounded: observation rows, alert rows, kept alerts, log lines and latency samples. Each part carries a
`version` that changes when its content changes, so widgets redraw only what moved since their last tick.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..engine.consume.events import AlertReceived, AlertsCounted, ConsumeFinished, DecodeFailed
from ..engine.replay.events import (
    AlertFailed,
    Note,
    ObservationDelivered,
    ReplayFinished,
    ReplayPlanned,
    ReplayStarted,
)
from .connection_state import ConnectionChanged, ConnectionState, KafkaLog, means_unreachable
from .replay_state import MAX_OBSERVATION_ROWS, ObservationRow, ReplayState
from .stream_state import (
    LATENCY_WINDOW,
    MAX_ALERT_ROWS,
    SPARKLINE_POINTS,
    AlertRow,
    ConsumerAssigned,
    LagSample,
    StreamState,
)

__all__ = ["LATENCY_WINDOW", "MAX_ALERT_ROWS", "MAX_LOG_LINES", "MAX_OBSERVATION_ROWS", "SPARKLINE_POINTS",
           "AlertRow", "ConnectionChanged", "ConsumerAssigned", "KafkaLog", "KafkaTrouble", "LagSample", "Notice",
           "ObservationRow", "ReplayState", "StreamState", "TuiState", "WorkerFailed", "WorkerStatus"]

MAX_LOG_LINES = 500
TROUBLE_REPEAT_S = 60.0
_CLIENT = {"replay": "producer", "stream": "consumer"}


@dataclass(frozen=True)
class WorkerFailed:
    """A replay or consumer worker stopped on an error (unreachable broker, bad configuration...)."""

    source: str
    text: str


@dataclass(frozen=True)
class KafkaTrouble:
    """A transient client error (broker down, authentication refused...): the worker keeps trying."""

    source: str
    text: str


@dataclass(frozen=True)
class WorkerStatus:
    """A worker changed state: "running", "paused", "stopping", "stopped", "finished"."""

    source: str
    status: str


@dataclass(frozen=True)
class Notice:
    severity: str  # "information" | "warning" | "error", as App.notify takes them
    text: str


@dataclass
class LogState:
    lines: deque[tuple[int, str, str]] = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    last: int = 0

    def add(self, severity: str, text: str) -> None:
        self.last += 1
        self.lines.append((self.last, severity, text))


class TuiState:
    """The app's whole view state: replay progress, stream contents, and the log."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.replay = ReplayState(clock)
        self.stream = StreamState(clock)
        self.log = LogState()
        self.connection = ConnectionState(clock)
        self._trouble_seen: dict[tuple[str, str], float] = {}

    def apply(self, events: Iterable[object]) -> list[Notice]:
        """Fold a batch of events; return the notifications to show, at most one per kind per batch."""
        events = list(events)
        notices: dict[str, Notice] = {}
        stream_events: list[object] = []
        decode_failures: list[DecodeFailed] = []
        alert_failures: list[AlertFailed] = []
        for event in events:
            match event:
                case AlertReceived() | AlertsCounted():
                    stream_events.append(event)
                    self.connection.alive("stream")
                case ConsumeFinished():
                    stream_events.append(event)
                    self.connection.set("stream", "stopped")
                    self.log.add("info", f"consumer stopped: {event.alerts} alerts, {event.errors} errors")
                case LagSample(lag=lag):
                    self.stream.add_lag(lag)
                case ConsumerAssigned(wall=wall):
                    self.stream.assigned_wall = wall
                    self.connection.set("stream", "connected")
                case ConnectionChanged(source=source, state=state, reason=reason):
                    before = self.connection.of(source).state
                    self.connection.set(source, state, reason)
                    if state == "unreachable" and before != "unreachable":
                        self.log.add("error", f"{_CLIENT[source]}: broker unreachable: {reason}")
                    elif state == "connected" and before == "unreachable":
                        self.log.add("info", f"{_CLIENT[source]}: connected again")
                case KafkaLog(source=source, text=text):
                    self._once_a_minute(source, text, "note")
                case DecodeFailed():
                    stream_events.append(event)
                    decode_failures.append(event)
                    self.log.add("error", f"{event.topic}[{event.partition}]@{event.offset}: {event.reason}")
                case WorkerFailed(source=source, text=text):
                    self.log.add("error", f"{source}: {text}")
                    notices[f"failed-{source}"] = Notice("error", f"{source}: {text}")
                    self._set_status(source, "failed")
                    if means_unreachable(text):
                        self.connection.set(source, "unreachable", text)
                case KafkaTrouble(source=source, text=text):
                    # The state line says it at a glance; the log keeps the client's words.
                    self.connection.trouble(source, text)
                    self._once_a_minute(source, text, "note")
                case WorkerStatus(source=source, status=status):
                    self._set_status(source, status)
                case Note(text=text):
                    self.replay.apply(event)
                    self.log.add("note", text)
                    if text.startswith("Kafka at "):
                        self.connection.trouble("replay", text)
                case AlertFailed(file=file, reason=reason):
                    self.replay.apply(event)
                    alert_failures.append(event)
                    self.log.add("error", f"{file}: {reason}")
                case ReplayPlanned():
                    self.replay.apply(event)
                    self.log.add(
                        "info",
                        f"Total alert available ({event.path}): {event.available}; to be sent: {event.to_send}",
                    )
                    for note in event.notes:
                        self.log.add("note", note)
                case ReplayStarted(t0=t0):
                    self.replay.apply(event)
                    self.connection.set("replay", "connected")
                    self.log.add("info", f"replay started, t0: {t0}")
                case ReplayFinished():
                    self.replay.apply(event)
                    verb = "stopped" if event.interrupted else "finished"
                    text = (
                        f"replay {verb}: {event.delivered}/{event.sent} delivered, {event.failed} failed, "
                        f"{event.observations} observations in {event.seconds:.1f} s"
                    )
                    self.log.add("error" if event.failed else "info", text)
                    notices["replay-finished"] = Notice("warning" if event.failed else "information", text)
                case ObservationDelivered():
                    self.replay.apply(event)
                    self.connection.alive("replay")
                case _:
                    self.replay.apply(event)
        if stream_events:
            self.stream.apply_batch(stream_events)
        if decode_failures:
            last = decode_failures[-1]
            more = f" (+{len(decode_failures) - 1} more)" if len(decode_failures) > 1 else ""
            # The reason can run to several lines (every schema tried); the log keeps it whole.
            reason = last.reason if len(last.reason) <= 80 else last.reason[:79] + "… (see the log, key 1)"
            notices["decode"] = Notice("error", f"undecodable message {last.topic}[{last.partition}]"
                                                f"@{last.offset}: {reason}{more}")
        if alert_failures:
            last = alert_failures[-1]
            more = f" (+{len(alert_failures) - 1} more)" if len(alert_failures) > 1 else ""
            notices["alert-failed"] = Notice("error", f"not delivered: {last.file}: {last.reason}{more}")
        return list(notices.values())

    def _once_a_minute(self, source: str, text: str, severity: str) -> None:
        # librdkafka repeats the same complaint while the broker stays down: log it once a minute.
        now = self.clock()
        seen = self._trouble_seen.get((source, text))
        if seen is None or now - seen >= TROUBLE_REPEAT_S:
            self._trouble_seen[(source, text)] = now
            while len(self._trouble_seen) > 64:
                self._trouble_seen.pop(next(iter(self._trouble_seen)))
            self.log.add(severity, f"{_CLIENT[source]}: {text}")

    def _set_status(self, source: str, status: str) -> None:
        if status == "ended":
            # A worker that ended on its own already said how (finished, stopped or failed) unless it vanished.
            part = self.replay if source == "replay" else self.stream
            if part.status not in ("running", "paused", "stopping", "idle", "waiting"):
                return
            status = "stopped"
        if status in ("stopped", "finished"):
            conn = self.connection.of(source)
            if conn.state in ("connecting", "connected"):
                self.connection.set(source, "stopped")
        if source == "replay":
            self.replay.set_status(status)
        elif self.stream.status != status:
            self.stream.status = status
            self.stream.version += 1

    def tick(self) -> None:
        self.stream.tick()
        self.replay.sample(self.stream.series_time())
