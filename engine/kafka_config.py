"""librdkafka settings shared by every command: `-X` pass-through, defaults, and secret redaction."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

from .errors import UserError

# Property names whose values must never reach output or logs (SASL/SSL credentials, OAuth config...).
# basic.auth.user.info is the schema registry's USER:PASSWORD.
_SECRET = re.compile(r"password|secret|jaas|credential|token|oauthbearer\.config|ssl\.key\.pem|private|user\.info",
                     re.I)
REDACTED = "***"

# Admin clients log through this logger instead of librdkafka writing to stderr: a user sees one clear
# error line, and the CLI's -v or the TUI's event log can still show the client's own words.
admin_log = logging.getLogger("elasticc_stream.kafka.admin")
admin_log.addHandler(logging.NullHandler())


def parse_properties(items: Iterable[str] | None) -> dict[str, str]:
    """Parse kcat-style `-X property=value` items."""
    props: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"-X {_shown(item)!s}: expected property=value")
        props[key] = value
    return props


def _shown(item: str) -> str:
    key, sep, _ = item.partition("=")
    return f"{key}={REDACTED}" if sep and is_secret(key) else item


def is_secret(key: str) -> bool:
    return bool(_SECRET.search(key))


def redact(props: Mapping[str, object]) -> dict[str, object]:
    """A copy of `props` fit for printing."""
    return {k: (REDACTED if is_secret(k) else v) for k, v in props.items()}


def scrub(text: str, props: Mapping[str, object]) -> str:
    """Remove secret values from a message (librdkafka errors can echo configuration)."""
    for key, value in props.items():
        if is_secret(key) and isinstance(value, str) and value:
            text = text.replace(value, REDACTED)
    return text


# The first metadata answer replaces the bootstrap connection by one to the broker's own id, and a request sent
# on the old one is asked again once the new one is up; librdkafka spaces such connections by half of
# reconnect.backoff.ms, so its default (100 ms) put 50 ms into every other start-up (metadata 60 ms instead of
# 7-10 ms, measured on both local brokers). Retries after a real disconnect still back off exponentially.
CONNECT = {"reconnect.backoff.ms": 20}


def consumer_config(bootstrap: str, group: str, extra: Mapping[str, str] | None = None) -> dict[str, object]:
    config: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        **CONNECT,
        "group.id": group,
        "auto.offset.reset": "earliest",
        # For Tansu: librdkafka's default (45 s) makes its group join take ~23 s; 6 s gives ~3 s. Harmless on
        # Apache Kafka, whose brokers accept 6 s (their group.min.session.timeout.ms) and join at once.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1500,
        # A request to a stalled broker (an auto-commit, typically) holds the coordinator connection until it
        # times out: with librdkafka's 60 s the group rejoin after a stall waited behind it for a minute.
        "socket.timeout.ms": 10000,
        # Offsets are stored only after an alert has been handled, then auto-committed: at-least-once.
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "auto.commit.interval.ms": 1000,
    }
    config.update(extra or {})
    return config


def producer_config(bootstrap: str, extra: Mapping[str, str] | None = None) -> dict[str, object]:
    config: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        **CONNECT,
        # Retries after a stall or a dropped connection must neither lose nor duplicate alerts.
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    }
    config.update(extra or {})
    return config


def admin_config(bootstrap: str, extra: Mapping[str, str] | None = None) -> dict[str, object]:
    config: dict[str, object] = {"bootstrap.servers": bootstrap, "logger": admin_log, **CONNECT}
    # Producer/consumer-only properties would make AdminClient warn; keep connection/security ones.
    shared = ("security.", "sasl.", "ssl.", "socket.", "client.")
    config.update({k: v for k, v in (extra or {}).items() if k.startswith(shared)})
    return config
