"""One alert as one line of strict JSON, for `consume --json` (conventions: `alert_fields.to_json`)."""

from __future__ import annotations

from ..alert_fields import to_json as dumps
from .events import AlertReceived

__all__ = ["alert_document", "alert_json", "dumps", "json_line"]


def alert_json(event: AlertReceived) -> str:
    return dumps(alert_document(event))


def json_line(event: AlertReceived) -> str:
    """The line `consume --json` prints for one alert."""
    return alert_json(event) + "\n"


def alert_document(event: AlertReceived) -> dict:
    """What `consume --json` writes for one alert, before it is made JSON text."""
    alert = event.alert
    return {
        "topic": event.topic,
        "partition": event.partition,
        "offset": event.offset,
        "timestamp_ms": event.timestamp_ms,
        "latency_s": event.latency_s,
        "schema": alert.schema_label,
        "fingerprint": alert.fingerprint,
        "alert": alert.record,
    }
