"""The Confluent wire format: byte 0 (magic), a 4-byte big-endian schema id, then schemaless Avro.

Rubin publishes its alerts this way; a consumer finds the writer schema by the id (see `engine.wire.lookup`).
"""

from __future__ import annotations

import struct

MAGIC = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">bI")
MAX_ID = 0xFFFFFFFF


def frame(schema_id: int, payload: bytes) -> bytes:
    """The framed message: header, then the schemaless Avro `payload` unchanged."""
    return header(schema_id) + payload


def header(schema_id: int) -> bytes:
    if not 0 <= schema_id <= MAX_ID:
        raise ValueError(f"a Confluent schema id is 0 to {MAX_ID}, not {schema_id}")
    return _HEADER.pack(MAGIC, schema_id)


def split(data: bytes) -> tuple[int, bytes] | None:
    """(schema id, schemaless body) when `data` may be framed (magic byte and a body), else None.

    Only "may": a schemaless record whose first field encodes as 0 starts the same way, so the caller
    accepts the framing only if a schema for that id decodes the body exactly.
    """
    if len(data) <= HEADER_SIZE or data[0] != MAGIC:
        return None
    return int.from_bytes(data[1:HEADER_SIZE], "big"), data[HEADER_SIZE:]
