"""The fast path of `validate_alert`: gzip'd (or plain) Avro containers checked by a compiled `avro_skip` walker.

It answers only when it is sure the exact decoder would accept the same bytes and give the same records;
otherwise None, and the caller decodes exactly (which also gives a bad alert its one-line reason).
"""

from __future__ import annotations

import io

import fastavro

from .. import inflate
from ..avro_container import container_blocks, read_header
from ..avro_schemas import CONTAINER_MAGIC, GZIP_MAGIC, SchemaInfo, schema_from_json_bytes
from ..decode_error import DecodeError
from ..families import Family
from ..families.base import walk
from ..families.registry import family_for_schema
from ..limits import max_alert_bytes
from .avro_skip import RecordChecker

# Per raw embedded schema bytes: (info, family, checker, {kept field: parsed type}) or None (not handled).
_COMPILED: dict[bytes, tuple[SchemaInfo, Family, RecordChecker, dict] | None] = {}


def _compiled(raw_schema: bytes) -> tuple[SchemaInfo, Family, RecordChecker, dict] | None:
    if raw_schema in _COMPILED:
        return _COMPILED[raw_schema]
    out = None
    info = schema_from_json_bytes(raw_schema)
    family = family_for_schema(info.name) if info is not None else None
    if info is not None and info.guard is None and family is not None and family.replayable:
        keep = {path[0] for path in (family.current, family.id_path, *family.object_paths) if path}
        try:
            checker = RecordChecker(info.parsed, keep)
            kept = {name: fastavro.parse_schema(_standalone(t)) for name, t in checker.kept.items()}
            out = (info, family, checker, kept)
        except Exception:  # noqa: BLE001 - any schema it cannot compile (Unsupported...) goes to the exact decoder
            out = None
    if len(_COMPILED) < 64:
        _COMPILED[raw_schema] = out
    return out


def _standalone(t: object) -> object:
    """A kept field's type as a schema of its own (fastavro's parsed form carries a marker key)."""
    if isinstance(t, dict):
        return {k: _standalone(v) for k, v in t.items() if k != "__fastavro_parsed" and k != "__named_schemas"}
    if isinstance(t, list):
        return [_standalone(x) for x in t]
    return t


def _index_record(family: Family, block: bytes, spans: dict[str, tuple[int, int]], kept: dict) -> dict:
    """The kept fields the index reads, decoded only as far as needed: an object id found in the current
    detection (ELAsTiCC's diaSource.diaObjectId) spares decoding diaObject, 6x the cost of diaSource."""
    record: dict = {}

    def decode(name: str) -> None:
        if name not in record and name in spans:
            a, b = spans[name]
            record[name] = fastavro.schemaless_reader(io.BytesIO(block[a:b]), kept[name], None)

    for path in (family.current, family.id_path):
        if path:
            decode(path[0])
    for path in family.object_paths:
        decode(path[0])
        if walk(record, path) is not None:
            break
    return record


def fast_records(data: bytes) -> tuple[SchemaInfo, Family, list[tuple[dict, bytes]]] | None:
    """(schema info, family, [(partial record holding the index fields' parents, payload)]) or None."""
    try:
        if data[:2] == GZIP_MAGIC:
            data = inflate.gunzip(data, max_alert_bytes())
        if data[:4] != CONTAINER_MAGIC:
            return None
        meta, sync, pos = read_header(data, "")
    except (inflate.InflateError, DecodeError):
        return None
    raw = meta.get("avro.schema")
    if raw is None or meta.get("avro.codec", b"null") not in (b"null", b""):
        return None
    compiled = _compiled(raw)
    if compiled is None:
        return None
    info, family, checker, kept = compiled
    out: list[tuple[dict, bytes]] = []
    try:
        for _, count, block in container_blocks(data, pos, sync, "null", "", len(data)):
            start = 0
            for _ in range(count):
                got = checker.check(block, start)
                if got is None:
                    return None
                stop, spans = got
                record = _index_record(family, block, spans, kept)
                out.append((record, block if count == 1 and stop == len(block) else block[start:stop]))
                start = stop
            if start != len(block):
                return None
    except Exception:  # noqa: BLE001  (anything odd: the exact decoder decides and explains)
        return None
    return (info, family, out) if out else None

