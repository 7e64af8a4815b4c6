"""One alert as one line of strict JSON (RFC 8259), for `consume --json`.

Conventions: bytes are standard base64 text, padded (as `alert_fields.jsonable` writes them for `show`);
floats are the shortest text that reads back to the same double (float32 fields arrive as the double of
the float32, so they round-trip too); NaN and infinities, which strict JSON cannot hold, become the strings
"NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from elasticc_stream.engine.consume.events import AlertReceived


def _bytes(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict one-line JSON of a decoded value (see the module docstring for the conventions)."""
    try:
        # The common case needs no copy of the record: only bytes go through `default`.
        return json.dumps(value, default=_bytes, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError:  # a non-finite float somewhere
        return json.dumps(_finite(value), default=_bytes, allow_nan=False, ensure_ascii=False,
                          separators=(",", ":"))


def alert_json(event: AlertReceived) -> str:
    alert = event.alert
    return dumps({
        "topic": event.topic,
        "partition": event.partition,
        "offset": event.offset,
        "timestamp_ms": event.timestamp_ms,
        "latency_s": event.latency_s,
        "schema": alert.schema_label,
        "fingerprint": alert.fingerprint,
        "alert": alert.record,
    })
