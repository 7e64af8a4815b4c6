"""Whether the producer (replay) and the consumer (stream) reach the broker, shown in the status line.

The client's own complaints (librdkafka logs, error callbacks) go to the event log; what the user sees at a
glance is one state per client: connecting, connected, or unreachable with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

STATES = ("off", "connecting", "connected", "unreachable", "stopped")
# Words in a librdkafka error or log line that mean the broker cannot be reached (as opposed to, say, a
# rebalance notice).
UNREACHABLE_WORDS = ("refused", "resolve", "brokers are down", "timed out", "authentication", "unreachable",
                     "no kafka broker answered", "cannot reach", "ssl handshake", "disconnected")


@dataclass(frozen=True)
class ConnectionChanged:
    """A worker learned something about its connection: `state` is one of STATES."""

    source: str  # "replay" (the producer) or "stream" (the consumer)
    state: str
    reason: str = ""


@dataclass(frozen=True)
class KafkaLog:
    """One log line of a Kafka client, for the event log only."""

    source: str
    level: int
    text: str


def means_unreachable(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in UNREACHABLE_WORDS)


class Connection:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.state = "off"
        self.reason = ""
        self.since: float | None = None

    def set(self, state: str, reason: str = "") -> bool:
        if (state, reason) == (self.state, self.reason):
            return False
        if state != self.state:
            self.since = self._clock()
        self.state, self.reason = state, reason
        return True


class ConnectionState:
    """The producer's and the consumer's connection; `version` changes when either does."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.producer = Connection(clock)
        self.consumer = Connection(clock)
        self.version = 0

    def of(self, source: str) -> Connection:
        return self.producer if source == "replay" else self.consumer

    def set(self, source: str, state: str, reason: str = "") -> None:
        if self.of(source).set(state, reason):
            self.version += 1

    def trouble(self, source: str, text: str) -> None:
        """A client error: unreachable if it says so, otherwise only the log hears of it."""
        from ..engine.kafka_admin.reach import short_reason

        if means_unreachable(text):
            self.set(source, "unreachable", short_reason(text))

    def alive(self, source: str) -> None:
        """The client just did something only a reachable broker allows (a delivery, a message)."""
        if self.of(source).state != "connected":
            self.set(source, "connected")
