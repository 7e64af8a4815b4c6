"""Avro schemas: parsed once, named, fingerprinted, read from files; the ELAsTiCC schemas that ship with us.

Parsing is cached by fingerprint (and, before that, by the identity of the dict or the raw JSON bytes seen on
the wire), so that thousands of alerts carrying the same schema cost one `fastavro.parse_schema`.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import load_schema, to_parsing_canonical_form

from . import avro_bounds
from .decode_error import DecodeError, short
from .errors import UserError

CONTAINER_MAGIC = b"Obj\x01"
GZIP_MAGIC = b"\x1f\x8b"

SCHEMA_DIR = Path(__file__).parent / "data" / "schemas"
# Fixed trial order for schemaless messages: the exact 2022 stream schema first (the real alerts), then the
# 2023 one. The published v0_9 files last: they were edited in place and match no real stream we know of.
SHIPPED = (
    ("stream2022", SCHEMA_DIR / "stream2022" / "elasticc.v0_9.alert.stream2022.avsc"),
    ("elasticc.v0_9_1", SCHEMA_DIR / "v0_9_1" / "elasticc.v0_9_1.alert.avsc"),
    ("elasticc.v0_9", SCHEMA_DIR / "v0_9" / "elasticc.v0_9.alert.avsc"),
)

# Bounds for caches keyed by object identity or by bytes seen on the wire: a stream normally carries one or two
# schemas, so hitting the bound means the caller builds a new schema per message; clearing is then harmless.
_CACHE_LIMIT = 256
# The raw-bytes cache also holds whatever JSON a message key or container header carried (a Kafka message is up to
# 1 MB): bounded by total size too. Real schemas are 5-60 kB.
_RAW_CACHE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class SchemaInfo:
    """A schema with what is derived from it once: fastavro's parsed form, fingerprint, full name, and the
    bounds check fastavro needs first for it (None for nearly every schema: see `avro_bounds`)."""

    schema: dict
    parsed: Any
    fingerprint: str
    name: str
    guard: avro_bounds.Guard | None = None


_by_fingerprint: dict[str, SchemaInfo] = {}
_by_identity: dict[int, tuple[dict, SchemaInfo]] = {}
_by_raw: dict[bytes, SchemaInfo | None] = {}  # raw JSON bytes (container header, Kafka key) -> schema or "not one"
_raw_bytes = 0  # total size of _by_raw's keys
_shipped: list[tuple[str, SchemaInfo]] | None = None


# --- schemas -----------------------------------------------------------------------------------------------


def fingerprint(schema: dict) -> str:
    """16 hex chars of the sha256 of the schema's parsing canonical form (docs, defaults, order of keys ignored)."""
    return schema_info(schema).fingerprint


def parsed(schema: dict) -> Any:
    """`fastavro.parse_schema(schema)`, parsed once per distinct schema (cached by fingerprint)."""
    return schema_info(schema).parsed


def encode_schemaless(record: dict, schema: dict) -> bytes:
    """Schemaless Avro encoding of `record`; ValueError (one line) if the record does not fit the schema."""
    info = schema_info(schema)
    out = io.BytesIO()
    try:
        fastavro.schemaless_writer(out, info.parsed, record)
    except Exception as exc:  # fastavro reports misfits with several exception types
        raise ValueError(f"record does not fit schema {info.name}: {short(exc)}") from None
    return out.getvalue()


def schema_info(schema: dict) -> SchemaInfo:
    # Identity first: callers pass the same dict again and again, and canonical form is not free.
    hit = _by_identity.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    try:
        canonical = to_parsing_canonical_form(schema)
    except Exception as exc:
        raise ValueError(f"not a valid Avro schema: {short(exc)}") from None
    fp = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    info = _by_fingerprint.get(fp)
    if info is None:
        try:
            parsed_schema = fastavro.parse_schema(schema)
            guard = avro_bounds.guard(parsed_schema)
        except Exception as exc:
            raise ValueError(f"not a valid Avro schema: {short(exc)}") from None
        info = SchemaInfo(schema, parsed_schema, fp, schema_name(schema), guard)
        if len(_by_fingerprint) >= _CACHE_LIMIT:  # a stream of ever new schemas must not grow memory
            _by_fingerprint.clear()
        _by_fingerprint[fp] = info
    if len(_by_identity) >= _CACHE_LIMIT:
        _by_identity.clear()
    _by_identity[id(schema)] = (schema, info)
    return info


def schema_name(schema: Any) -> str:
    """The full name of a record schema ("elasticc.v0_9_1.alert"), for messages."""
    if isinstance(schema, dict):
        name = schema.get("name") or schema.get("type") or "?"
        ns = schema.get("namespace")
        return f"{ns}.{name}" if ns and "." not in str(name) else str(name)
    return str(schema)[:40]


def schema_from_json_bytes(raw: bytes) -> SchemaInfo | None:
    """The schema written as JSON in `raw`, or None if `raw` is not an Avro record schema. Cached by bytes."""
    if raw in _by_raw:
        return _by_raw[raw]
    info: SchemaInfo | None = None
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested past json's limit
        obj = None
    if isinstance(obj, dict) and obj.get("type") == "record" and "fields" in obj:
        try:
            info = schema_info(obj)
        except ValueError:
            info = None
    global _raw_bytes
    if len(_by_raw) >= _CACHE_LIMIT or _raw_bytes + len(raw) > _RAW_CACHE_BYTES:
        _by_raw.clear()
        _raw_bytes = 0
    _by_raw[raw] = info
    _raw_bytes += len(raw)
    return info


def load_schema_file(path: str | Path) -> dict:
    """Read an Avro schema as a plain JSON dict with every named type expanded in place.

    An ``.avsc`` may name types defined in sibling files (``elasticc.v0_9_1.alert.avsc`` names
    ``elasticc.v0_9_1.diaSource``, found in ``elasticc.v0_9_1.diaSource.avsc``); they are resolved as
    `fastavro.schema.load_schema` does, so the result can be embedded whole in a container file. An Avro
    container (``.avro``, optionally gzipped) is accepted too: its embedded writer schema is returned.
    Raises UserError (one line) if the file cannot be read or is not a schema.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise UserError(f"cannot read schema {p}: {exc.strerror or exc}") from None
    if head.startswith(GZIP_MAGIC) or head == CONTAINER_MAGIC:
        from .decoder import read_alert_file

        try:
            return read_alert_file(p)[0].schema
        except DecodeError as exc:
            raise UserError(f"cannot read a schema from {p}: {exc.reason}") from None
    try:
        loaded = load_schema(str(p), _write_hint=False)
        # A JSON round trip drops anything fastavro might attach and proves the result can be embedded.
        schema = json.loads(json.dumps(loaded))
        schema_info(schema)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{p} is not a usable Avro schema: {short(exc)}") from None
    except Exception as exc:  # fastavro raises its own SchemaParseError and UnknownType
        raise UserError(f"{p} is not a usable Avro schema: {type(exc).__name__}: {short(exc)}") from None
    if not isinstance(schema, dict):
        raise UserError(f"{p} is not an Avro record schema (top level is {type(schema).__name__})")
    return schema


def shipped_schemas() -> list[tuple[str, dict]]:
    """The ELAsTiCC schemas that ship with the project, in the order schemaless messages are tried."""
    return [(label, info.schema) for label, info in shipped_infos()]


def shipped_infos() -> list[tuple[str, SchemaInfo]]:
    global _shipped
    if _shipped is None:
        _shipped = [(label, schema_info(load_schema_file(path))) for label, path in SHIPPED]
    return _shipped


