"""Does a broker answer? Fast when the address is refused or unresolvable, bounded when it is slow.

librdkafka retries a refused connection forever and only says so through its error callback; waiting for a
metadata timeout (10 s) to learn what it knew after 0 ms is what made a wrong port feel hung.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ..kafka_config import admin_config, scrub

STEP_S = 0.25
# Error codes after which waiting longer cannot help: nothing listens, or the name does not resolve.
FATAL_CODES = ("_ALL_BROKERS_DOWN", "_RESOLVE", "_AUTHENTICATION", "_SSL")


_WHERE = re.compile(r"^\S+/(?:bootstrap|\d+): ")
_AFTER = re.compile(r"\s*\(after \d+ms in state [A-Z_]+[^)]*\)")
_CONNECT = re.compile(r"^Connect to (?:ipv[46]#)?\S+ failed: ")


def short_reason(text: str) -> str:
    """librdkafka's complaint without what the user already knows (which broker, which internal state):
    `127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state
    CONNECT)` becomes `Connection refused`."""
    text = _AFTER.sub("", _WHERE.sub("", text.strip()))
    return _CONNECT.sub("", text)


@dataclass(frozen=True)
class Reach:
    ok: bool
    reason: str = ""     # the client's own words when not ok
    fatal: bool = False  # refused/unresolvable: the broker is not there, as opposed to slow
    seconds: float = 0.0


class ErrorTrap:
    """An `error_cb` that keeps the client's complaints, most telling first."""

    def __init__(self, extra: Mapping[str, str] | None = None) -> None:
        self.errors: list[tuple[str, str]] = []  # (code name, text)
        self._extra = extra or {}

    def __call__(self, err) -> None:
        name = err.name() if hasattr(err, "name") else ""
        text = scrub(" ".join(str(err.str() if hasattr(err, "str") else err).split()), self._extra)
        self.errors.append((name, text))
        del self.errors[:-50]

    @property
    def fatal(self) -> bool:
        return any(name in FATAL_CODES for name, _ in self.errors)

    def reason(self) -> str:
        """The most specific complaint: "Connection refused" says more than "1/1 brokers are down"."""
        specific = [text for name, text in self.errors if name != "_ALL_BROKERS_DOWN"]
        texts = specific or [text for _, text in self.errors]
        return short_reason(texts[-1]) if texts else ""


def probe(bootstrap: str, extra: Mapping[str, str] | None = None, timeout: float = 10.0) -> Reach:
    """Ask for the cluster's metadata until it answers, the address proves dead, or `timeout` passes."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    trap = ErrorTrap(extra)
    started = time.monotonic()
    config = admin_config(bootstrap, extra)
    config["error_cb"] = trap
    try:
        admin = AdminClient(config)
    except (KafkaException, ValueError, TypeError) as exc:
        return Reach(False, f"bad Kafka configuration: {scrub(str(exc), extra or {})}", True)
    deadline = started + timeout
    while True:
        try:
            admin.list_topics(timeout=min(STEP_S, max(0.01, deadline - time.monotonic())))
            return Reach(True, seconds=time.monotonic() - started)
        except KafkaException as exc:
            last = scrub(str(exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else exc),
                         extra or {})
        admin.poll(0)  # serves error_cb: librdkafka only calls it from poll
        elapsed = time.monotonic() - started
        if trap.fatal or time.monotonic() >= deadline:
            why = trap.reason() or last
            return Reach(False, why, trap.fatal, elapsed)


def wait_for_metadata(client, trap: ErrorTrap, bootstrap: str, timeout: float,
                      extra: Mapping[str, str] | None = None, topic: str | None = None):
    """`client.list_topics()` (a Producer, Consumer or AdminClient whose error_cb is `trap` or feeds it) in
    short steps until the broker answers: a refused or unresolvable address raises UserError at once, a
    broker that is only slow gets `timeout` seconds. Returns the metadata."""
    from confluent_kafka import KafkaException

    from ..errors import UserError

    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            if topic is None:
                return client.list_topics(timeout=max(0.01, min(STEP_S, left)))
            return client.list_topics(topic=topic, timeout=max(0.01, min(STEP_S, left)))
        except KafkaException as exc:
            last = exc
        client.poll(0)  # serves error_cb
        if trap.fatal:
            raise UserError(f"cannot reach Kafka at {bootstrap}: {trap.reason()}")
        if time.monotonic() >= deadline:
            why = trap.reason() or scrub(str(last.args[0].str() if last.args and hasattr(last.args[0], "str")
                                             else last), extra or {})
            raise UserError(f"no Kafka broker answered at {bootstrap} within {timeout:g} s: {why}")
