"""The one entry point that decodes alert bytes of every format.

Formats understood (see `decode`):
- Avro object container files (start with ``Obj\\x01``, parsed in `avro_container`): the 2022 ELAsTiCC files,
  real ZTF alerts, Rubin sample alerts, some brokers' messages. The embedded writer schema is used, and a
  container may hold several records.
- Schemaless Avro (what replay and the Fink ELAsTiCC streams send): decoded with the schema carried in the
  Kafka key (Fink's distribution streams), else a given schema, else the shipped ELAsTiCC schemas tried in a
  fixed order. A schema is accepted only if it consumes every byte: a schemaless message can only be read with
  the exact schema it was written with, and a partial decode is a guess.
- gzip-compressed versions of both.

Everything else is a `DecodeError` whose text is one line, "<source>: <reason>". Each alert knows its family
(`engine.families`: ELAsTiCC 2022/2023, Rubin, ZTF), which says where its id, time, band and flux are.
Schemas (parsing, caching, files, the shipped ones) live in `avro_schemas`; the names below are re-exported
from there so that callers need only this module.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro

from . import avro_bounds, inflate
from .avro_container import container_records
from .avro_schemas import (  # noqa: F401  (re-exported: the decoder's public names)
    CONTAINER_MAGIC,
    GZIP_MAGIC,
    SCHEMA_DIR,
    SHIPPED,
    SchemaInfo,
    encode_schemaless,
    fingerprint,
    load_schema_file,
    parsed,
    schema_from_json_bytes,
    schema_info,
    schema_name,
    shipped_infos,
    shipped_schemas,
)
from .decode_error import DecodeError, what_went_wrong
from .families import Family, family_of
from .families.registry import family_for_schema
from .limits import max_alert_bytes
from .wire.confluent import split as split_frame


@dataclass(frozen=True)
class DecodedAlert:
    record: dict  # the decoded Avro record
    schema: dict  # writer schema as parsed JSON, usable with fastavro.parse_schema
    schema_label: str  # "embedded", "stream2022", "elasticc.v0_9_1", "elasticc.v0_9", "key", "given"
    fingerprint: str  # 16 hex chars of the sha256 of the schema's parsing canonical form
    payload: bytes  # schemaless Avro encoding of `record` with `schema` (a framed message without its header)
    family: Family  # which kind of alert: where its id, time, band, flux and history are
    schema_id: int | None = None  # the Confluent schema id of a framed message (see engine.wire)

    @property
    def kind(self) -> str:
        """The family's coarse kind: "elasticc" | "rubin" | "ztf" | "other"."""
        return self.family.kind


def make_alert(record: dict, info: SchemaInfo, label: str, payload: bytes,
               schema_id: int | None = None) -> DecodedAlert:
    """A DecodedAlert of `record`, written with `info`'s schema, its family found from the schema's name."""
    family = family_for_schema(info.name) or family_of(record)
    return DecodedAlert(record, info.schema, label, info.fingerprint, payload, family, schema_id)


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
    return list(iter_decode(data, schema=schema, key=key, source=source, registry=registry))


def iter_decode(
    data: bytes, *, schema: dict | None = None, key: bytes | None = None, source: str = "", registry: Any = None
) -> Iterator[DecodedAlert]:
    """`decode`, one alert at a time: a container's blocks are read only as its records are asked for.

    Errors of the header (or of a schemaless message) are raised at once; errors of a later block when the
    iteration reaches it, after the good records before it.
    """
    data = bytes(data) if not isinstance(data, bytes) else data
    if not data:
        raise DecodeError(source, "empty message")
    budget = max_alert_bytes()  # bytes this message may inflate to, gzip and container blocks together
    if data[:2] == GZIP_MAGIC:
        try:
            data = _gunzip(data, budget, source)
        except DecodeError:
            # Schemaless Avro may start with these two bytes too (alertId -16): accept only an exact decode.
            try:
                return iter([_decode_schemaless(data, schema, key, source)])
            except DecodeError:
                pass
            raise
        if not data:
            raise DecodeError(source, "gzip data decompresses to nothing")
        budget -= len(data)
    if data[:4] == CONTAINER_MAGIC:
        info, records = container_records(data, source, budget)
        return (make_alert(record, info, "embedded", payload) for record, payload in records)
    framed = split_frame(data)
    if framed is None:
        return iter([_decode_schemaless(data, schema, key, source)])
    from .wire.lookup import decode_framed

    alert, why = decode_framed(*framed, schema, registry)
    if alert is not None:
        return iter([alert])
    try:
        return iter([_decode_schemaless(data, schema, key, source)])
    except DecodeError as exc:
        raise DecodeError(source, f"{why}; read as unframed Avro: {exc.reason}") from None


def read_alert_file(path: str | Path, *, schema: dict | None = None, registry: Any = None) -> list[DecodedAlert]:
    """Decode an alert file (``.avro`` or ``.avro.gz``: container, schemaless or Confluent-framed). DecodeError
    names the file."""
    return list(iter_alert_file(path, schema=schema, registry=registry))


def iter_alert_file(path: str | Path, *, schema: dict | None = None, registry: Any = None) -> Iterator[DecodedAlert]:
    """`read_alert_file`, one alert at a time (see `iter_decode`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DecodeError(str(path), f"cannot read: {exc.strerror or exc}") from None
    return iter_decode(data, schema=schema, source=str(path), registry=registry)


def _gunzip(data: bytes, limit: int, source: str) -> bytes:
    try:
        return inflate.gunzip(data, limit)
    except inflate.InflateError as exc:
        if exc.kind == "truncated":
            raise DecodeError(source, f"truncated gzip data ({exc})") from None
        raise DecodeError(source, str(exc) if exc.kind == "too big" else f"corrupt gzip data: {exc}") from None


def _decode_schemaless(data: bytes, schema: dict | None, key: bytes | None, source: str) -> DecodedAlert:
    candidates: list[tuple[str, SchemaInfo]] = []
    if key:
        key_info = schema_from_json_bytes(key) if key.lstrip()[:1] == b"{" else None
        if key_info is not None:
            candidates.append(("key", key_info))
    if schema is not None:
        try:
            candidates.append(("given", schema_info(schema)))
        except ValueError as exc:
            raise DecodeError(source, f"given schema: {exc}") from None
    auto = not candidates
    if auto:
        candidates = shipped_infos()
    failures = []
    for label, info in candidates:
        record, why = _read_exact(data, info)
        if why is None:
            return make_alert(record, info, label, data)
        failures.append(f"{label} ({info.name}): {why}")
    raise DecodeError(source, _explain_failure(data, auto, failures))


def _read_exact(data: bytes, info: SchemaInfo) -> tuple[Any, str | None]:
    """(record, None) if the schema reads `data` consuming every byte, else (None, reason)."""
    if info.guard is not None:
        try:
            info.guard.check(data)
        except avro_bounds.BoundsError as exc:
            return None, str(exc)
    buf = io.BytesIO(data)
    try:
        record = fastavro.schemaless_reader(buf, info.parsed, None)
    except EOFError:
        return None, f"data ends early ({len(data)} bytes)"
    except Exception as exc:  # garbage makes fastavro raise ValueError, IndexError, UnicodeDecodeError, ...
        return None, f"{what_went_wrong(exc)} near byte {buf.tell()}"
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


