"""The one module that knows every alert format.

Formats understood (see `decode`):
- Avro object container files (start with ``Obj\\x01``): the 2022 ELAsTiCC files, real ZTF alerts, some
  brokers' messages. The embedded writer schema is used, and a container may hold several records.
- Schemaless Avro (what replay and the Fink ELAsTiCC streams send): decoded with the schema carried in the
  Kafka key (Fink's distribution streams), else a given schema, else the shipped ELAsTiCC schemas tried in a
  fixed order. A schema is accepted only if it consumes every byte: a schemaless message can only be read with
  the exact schema it was written with, and a partial decode is a guess.
- gzip-compressed versions of both.

Everything else is a `DecodeError` whose text is one line, "<source>: <reason>".

Containers are parsed here rather than with `fastavro.reader`, which re-parses the embedded schema for every
file: prepare validates thousands of files, all carrying the same schema, so the parsed schema is cached by the
raw schema bytes and records are read with `fastavro.schemaless_reader` straight from the block data. The byte
range each record occupies in its block is, by construction, its schemaless encoding: that slice becomes
`DecodedAlert.payload`, so nothing is re-encoded.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.wire.confluent import split as split_frame
from fastavro.schema import load_schema, to_parsing_canonical_form

CONTAINER_MAGIC = b"Obj\x01"
GZIP_MAGIC = b"\x1f\x8b"
SYNC_SIZE = 16

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


class DecodeError(Exception):
    """Alert bytes that cannot be decoded exactly. ``str(e)`` is one line: "<source>: <reason>"."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{source}: {self.reason}" if source else self.reason)

    def __reduce__(self):  # prepare's worker processes send these back through pickle
        return (type(self), (self.source, self.reason))


@dataclass(frozen=True)
class DecodedAlert:
    record: dict  # the decoded Avro record
    schema: dict  # writer schema as parsed JSON, usable with fastavro.parse_schema
    schema_label: str  # "embedded", "stream2022", "elasticc.v0_9_1", "elasticc.v0_9", "key", "given"
    fingerprint: str  # 16 hex chars of the sha256 of the schema's parsing canonical form
    payload: bytes  # schemaless Avro encoding of `record` with `schema` (a framed message without its header)
    kind: str  # "elasticc" | "ztf" | "other"
    schema_id: int | None = None  # the Confluent schema id of a framed message (see engine.wire)


@dataclass(frozen=True)
class _Schema:
    schema: dict
    parsed: Any
    fingerprint: str
    name: str


_by_fingerprint: dict[str, _Schema] = {}
_by_identity: dict[int, tuple[dict, _Schema]] = {}
_by_raw: dict[bytes, _Schema | None] = {}  # raw JSON bytes (container header, Kafka key) -> schema or "not one"
_shipped: list[tuple[str, _Schema]] | None = None


# --- schemas -----------------------------------------------------------------------------------------------


def fingerprint(schema: dict) -> str:
    """16 hex chars of the sha256 of the schema's parsing canonical form (docs, defaults, order of keys ignored)."""
    return _info(schema).fingerprint


def parsed(schema: dict) -> Any:
    """`fastavro.parse_schema(schema)`, parsed once per distinct schema (cached by fingerprint)."""
    return _info(schema).parsed


def encode_schemaless(record: dict, schema: dict) -> bytes:
    """Schemaless Avro encoding of `record`; ValueError (one line) if the record does not fit the schema."""
    info = _info(schema)
    out = io.BytesIO()
    try:
        fastavro.schemaless_writer(out, info.parsed, record)
    except Exception as exc:  # fastavro reports misfits with several exception types
        raise ValueError(f"record does not fit schema {info.name}: {_short(exc)}") from None
    return out.getvalue()


def _info(schema: dict) -> _Schema:
    # Identity first: callers pass the same dict again and again, and canonical form is not free.
    hit = _by_identity.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    try:
        canonical = to_parsing_canonical_form(schema)
    except Exception as exc:
        raise ValueError(f"not a valid Avro schema: {_short(exc)}") from None
    fp = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    info = _by_fingerprint.get(fp)
    if info is None:
        try:
            parsed_schema = fastavro.parse_schema(schema)
        except Exception as exc:
            raise ValueError(f"not a valid Avro schema: {_short(exc)}") from None
        info = _Schema(schema, parsed_schema, fp, schema_name(schema))
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


def _schema_from_json_bytes(raw: bytes) -> _Schema | None:
    """The schema written as JSON in `raw`, or None if `raw` is not an Avro record schema. Cached by bytes."""
    if raw in _by_raw:
        return _by_raw[raw]
    info: _Schema | None = None
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        obj = None
    if isinstance(obj, dict) and obj.get("type") == "record" and "fields" in obj:
        try:
            info = _info(obj)
        except ValueError:
            info = None
    if len(_by_raw) >= _CACHE_LIMIT:
        _by_raw.clear()
    _by_raw[raw] = info
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
        try:
            return read_alert_file(p)[0].schema
        except DecodeError as exc:
            raise UserError(f"cannot read a schema from {p}: {exc.reason}") from None
    try:
        loaded = load_schema(str(p), _write_hint=False)
        # A JSON round trip drops anything fastavro might attach and proves the result can be embedded.
        schema = json.loads(json.dumps(loaded))
        _info(schema)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{p} is not a usable Avro schema: {_short(exc)}") from None
    except Exception as exc:  # fastavro raises its own SchemaParseError and UnknownType
        raise UserError(f"{p} is not a usable Avro schema: {type(exc).__name__}: {_short(exc)}") from None
    if not isinstance(schema, dict):
        raise UserError(f"{p} is not an Avro record schema (top level is {type(schema).__name__})")
    return schema


def shipped_schemas() -> list[tuple[str, dict]]:
    """The ELAsTiCC schemas that ship with the project, in the order schemaless messages are tried."""
    return [(label, info.schema) for label, info in _shipped_infos()]


def _shipped_infos() -> list[tuple[str, _Schema]]:
    global _shipped
    if _shipped is None:
        _shipped = [(label, _info(load_schema_file(path))) for label, path in SHIPPED]
    return _shipped


# --- decoding ----------------------------------------------------------------------------------------------


def decode(
    data: bytes, *, schema: dict | None = None, key: bytes | None = None, source: str = "", registry: Any = None
) -> list[DecodedAlert]:
    """Decode alert bytes of any supported format into one or more alerts.

    Precedence: an Avro container always uses its embedded schema (`schema` is then ignored: the writer
    schema wins over anything on disk). For schemaless bytes, a `key` that parses as an Avro record schema
    comes first (it is the writer's own statement, per message), then `schema`, then the shipped schemas in
    `SHIPPED` order. A schema is used only if it consumes every byte. Raises DecodeError otherwise.
    Confluent-framed bytes (Rubin's) are read with the schema of their id: see `engine.wire.lookup`;
    `registry` is an `engine.wire.registry.Registry` or None.
    """
    data = bytes(data) if not isinstance(data, bytes) else data
    if not data:
        raise DecodeError(source, "empty message")
    if data[:2] == GZIP_MAGIC:
        try:
            data = _gunzip(data, source)
        except DecodeError:
            # Schemaless Avro may start with these two bytes too (alertId -16): accept only an exact decode.
            try:
                return [_decode_schemaless(data, schema, key, source)]
            except DecodeError:
                pass
            raise
        if not data:
            raise DecodeError(source, "gzip data decompresses to nothing")
    if data[:4] == CONTAINER_MAGIC:
        return _decode_container(data, source)
    framed = split_frame(data)
    if framed is None:
        return [_decode_schemaless(data, schema, key, source)]
    from elasticc_stream.engine.wire.lookup import decode_framed

    alert, why = decode_framed(*framed, schema, registry)
    if alert is not None:
        return [alert]
    try:
        return [_decode_schemaless(data, schema, key, source)]
    except DecodeError as exc:
        raise DecodeError(source, f"{why}; read as unframed Avro: {exc.reason}") from None


def read_alert_file(path: str | Path, *, schema: dict | None = None, registry: Any = None) -> list[DecodedAlert]:
    """Decode an alert file (``.avro`` or ``.avro.gz``: container, schemaless or Confluent-framed). DecodeError
    names the file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DecodeError(str(path), f"cannot read: {exc.strerror or exc}") from None
    return decode(data, schema=schema, source=str(path), registry=registry)


def alert_kind(record: dict) -> str:
    """ "elasticc" (has diaSource), "ztf" (has candidate or objectId) or "other"."""
    if "diaSource" in record:
        return "elasticc"
    if "candidate" in record or "objectId" in record:
        return "ztf"
    return "other"


def _gunzip(data: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(data)
    except EOFError:
        raise DecodeError(source, f"truncated gzip data ({len(data)} compressed bytes end early)") from None
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DecodeError(source, f"corrupt gzip data: {_short(exc)}") from None


def _decode_schemaless(data: bytes, schema: dict | None, key: bytes | None, source: str) -> DecodedAlert:
    candidates: list[tuple[str, _Schema]] = []
    if key:
        key_info = _schema_from_json_bytes(key) if key.lstrip()[:1] == b"{" else None
        if key_info is not None:
            candidates.append(("key", key_info))
    if schema is not None:
        try:
            candidates.append(("given", _info(schema)))
        except ValueError as exc:
            raise DecodeError(source, f"given schema: {exc}") from None
    auto = not candidates
    if auto:
        candidates = _shipped_infos()
    failures = []
    for label, info in candidates:
        record, why = _read_exact(data, info.parsed)
        if why is None:
            return DecodedAlert(record, info.schema, label, info.fingerprint, data, alert_kind(record))
        failures.append(f"{label} ({info.name}): {why}")
    raise DecodeError(source, _explain_failure(data, auto, failures))


def _read_exact(data: bytes, parsed_schema: Any) -> tuple[Any, str | None]:
    """(record, None) if the schema reads `data` consuming every byte, else (None, reason)."""
    buf = io.BytesIO(data)
    try:
        record = fastavro.schemaless_reader(buf, parsed_schema, None)
    except EOFError:
        return None, f"data ends early ({len(data)} bytes)"
    except Exception as exc:  # garbage makes fastavro raise ValueError, IndexError, UnicodeDecodeError, ...
        return None, f"{_what_went_wrong(exc)} near byte {buf.tell()}"
    left = len(data) - buf.tell()
    if left:
        return None, f"{left} byte{'s' if left > 1 else ''} left over after the record (of {len(data)})"
    if not isinstance(record, dict):
        return None, "not a record"
    return record, None


def _explain_failure(data: bytes, auto: bool, failures: list[str]) -> str:
    if data[:1] in (b"{", b"["):
        try:
            json.loads(data)
            return "JSON text, not Avro"
        except (ValueError, UnicodeDecodeError):
            pass
    if auto:
        return "not an Avro container and no shipped schema decodes it exactly: " + "; ".join(failures)
    return "schema does not decode it exactly: " + "; ".join(failures)


def _read_long(data: bytes, pos: int, what: str, source: str) -> tuple[int, int]:
    """Avro zigzag varint at `pos` -> (value, next position)."""
    shift = 0
    acc = 0
    start = pos
    end = len(data)
    while True:
        if pos >= end:
            raise DecodeError(source, f"truncated Avro container: {what} at byte {start} ends early")
        b = data[pos]
        pos += 1
        acc |= (b & 0x7F) << shift
        if not b & 0x80:
            return (acc >> 1) ^ -(acc & 1), pos
        shift += 7
        if shift > 63:
            raise DecodeError(source, f"corrupt Avro container: {what} at byte {start} is not a valid long")


def _read_header(data: bytes, source: str) -> tuple[dict[str, bytes], bytes, int]:
    pos = len(CONTAINER_MAGIC)
    meta: dict[str, bytes] = {}
    while True:
        count, pos = _read_long(data, pos, "metadata block count", source)
        if count == 0:
            break
        if count < 0:  # a negative count is followed by the block's size in bytes, which we do not need
            count = -count
            _, pos = _read_long(data, pos, "metadata block size", source)
        for _ in range(count):
            items = []
            for what in ("metadata key", "metadata value"):
                size, pos = _read_long(data, pos, f"{what} length", source)
                if size < 0 or pos + size > len(data):
                    raise DecodeError(source, f"truncated Avro container: {what} at byte {pos} ends early")
                items.append(data[pos : pos + size])
                pos += size
            try:
                meta[items[0].decode()] = items[1]
            except UnicodeDecodeError:
                raise DecodeError(source, f"corrupt Avro container: metadata key before byte {pos}") from None
    sync = data[pos : pos + SYNC_SIZE]
    if len(sync) != SYNC_SIZE:
        raise DecodeError(source, "truncated Avro container: header ends before its sync marker")
    return meta, sync, pos + SYNC_SIZE


def _decode_container(data: bytes, source: str) -> list[DecodedAlert]:
    meta, sync, pos = _read_header(data, source)
    raw_schema = meta.get("avro.schema")
    if raw_schema is None:
        raise DecodeError(source, "Avro container without an embedded schema (no avro.schema in its header)")
    info = _schema_from_json_bytes(raw_schema)
    if info is None:
        raise DecodeError(source, "Avro container whose embedded schema is not a valid Avro record schema")
    codec = meta.get("avro.codec", b"null").decode(errors="replace") or "null"
    if codec not in _CODECS:
        raise DecodeError(source, f"Avro container codec {codec!r} is not supported (null, deflate, bzip2, xz)")
    alerts: list[DecodedAlert] = []
    block_no = 0
    end = len(data)
    while pos < end:
        block_no += 1
        block_start = pos
        count, pos = _read_long(data, pos, f"block {block_no} record count", source)
        size, pos = _read_long(data, pos, f"block {block_no} size", source)
        if count < 0 or size < 0:
            raise DecodeError(source, f"corrupt Avro container: block {block_no} at byte {block_start}")
        if pos + size + SYNC_SIZE > end:
            raise DecodeError(
                source,
                f"truncated Avro container: block {block_no} at byte {block_start} needs "
                f"{size + SYNC_SIZE} bytes, {end - pos} left",
            )
        block = data[pos : pos + size]
        pos += size
        if data[pos : pos + SYNC_SIZE] != sync:
            raise DecodeError(source, f"corrupt Avro container: sync marker mismatch after block {block_no}")
        pos += SYNC_SIZE
        inflate = _CODECS[codec]
        if inflate is not None:
            try:
                block = inflate(block)
            except Exception as exc:
                raise DecodeError(source, f"block {block_no}: {codec} data corrupt: {_short(exc)}") from None
        # A record takes at least one byte except with degenerate schemas; an absurd count is garbage.
        if count > len(block) + 1024:
            raise DecodeError(source, f"corrupt Avro container: block {block_no} claims {count} records")
        alerts.extend(_read_block(block, count, info, block_no, source))
    if not alerts:
        raise DecodeError(source, "Avro container holds no records")
    return alerts


def _read_block(block: bytes, count: int, info: _Schema, block_no: int, source: str) -> list[DecodedAlert]:
    buf = io.BytesIO(block)
    out = []
    reader = fastavro.schemaless_reader
    start = 0
    for i in range(count):
        try:
            record = reader(buf, info.parsed, None)
        except EOFError:
            raise DecodeError(
                source, f"block {block_no}: record {i + 1} of {count} ends early (embedded schema {info.name})"
            ) from None
        except Exception as exc:
            raise DecodeError(
                source, f"block {block_no}: record {i + 1} of {count} unreadable: {_what_went_wrong(exc)}"
            ) from None
        stop = buf.tell()
        payload = block if count == 1 and stop == len(block) else block[start:stop]
        out.append(DecodedAlert(record, info.schema, "embedded", info.fingerprint, payload, alert_kind(record)))
        start = stop
    if start != len(block):
        raise DecodeError(
            source, f"block {block_no}: {len(block) - start} bytes left over after its {count} record(s)"
        )
    return out


_CODECS: dict[str, Any] = {
    "null": None,
    "deflate": lambda b: zlib.decompress(b, -15),
    "bzip2": bz2.decompress,
    "xz": lzma.decompress,
}


def _what_went_wrong(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8 in a string"
    if isinstance(exc, IndexError):
        return "invalid union branch or enum symbol"
    if isinstance(exc, MemoryError | OverflowError):
        return "absurd length"
    return type(exc).__name__


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__
