"""Fill and encode Avro records of an ELAsTiCC alert schema from the values a simulation has.

A field the simulation has no value for gets its schema default, else null if nullable, else the
placeholders the real stream used (999.0 for magnitudes, -9.0 otherwise). A diaObject hostgal*
field without a value gets those placeholders even when it could be null, as in the real stream.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from ..errors import UserError

_NUMERIC = {"int", "long", "float", "double"}
MISSING = object()  # "no value", as opposed to a null value


def encode_long(value: int) -> bytes:
    """Avro long: zig-zag then base-128 varint."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _nullable(type_: object) -> bool:
    return isinstance(type_, list) and "null" in type_


def union_branch(type_: object, kind: str) -> tuple[int | None, dict | str | None]:
    """(union index or None when not a union, the branch of Avro type `kind`)."""
    if isinstance(type_, list):
        for i, t in enumerate(type_):
            if (t.get("type") if isinstance(t, dict) else t) == kind:
                return i, t
        return None, None
    actual = type_.get("type") if isinstance(type_, dict) else type_
    return (None, type_) if actual == kind else (None, None)


def _placeholder(name: str, type_: object, in_object: bool) -> object:
    """Value of a field we have no data for: null, or the stream's placeholders."""
    kind = type_.get("type") if isinstance(type_, dict) else type_
    if isinstance(type_, list):
        if in_object and name.startswith("hostgal"):
            # The real stream filled host-galaxy fields it had no data for with 999.0 / -9.0.
            numeric = [t for t in type_ if t in _NUMERIC]
            if numeric:
                return _placeholder(name, numeric[0], in_object)
        if "null" in type_:
            return None
    if kind in _NUMERIC:
        if in_object and "mag" in name:
            value: object = 999.0
        else:
            value = -9.0
        return int(value) if kind in ("int", "long") else value
    if kind == "string":
        return ""
    if kind == "boolean":
        return False
    if kind == "bytes":
        return b""
    if kind == "array":
        return []
    if kind == "map":
        return {}
    if kind == "enum":
        return type_["symbols"][0]
    if kind == "record":
        return {f["name"]: field_fallback(f, in_object) for f in type_["fields"]}
    raise UserError(f"cannot fill field {name!r} of type {kind!r}")


def field_fallback(field: dict, in_object: bool) -> object:
    """The value a field gets when the simulation has none for it."""
    if in_object and field["name"].startswith("hostgal"):
        return _placeholder(field["name"], field["type"], in_object)
    if "default" in field:
        return field["default"]
    return _placeholder(field["name"], field["type"], in_object)


def _converter(type_: object) -> Callable[[object], object]:
    kinds = type_ if isinstance(type_, list) else [type_]
    kinds = [k.get("type") if isinstance(k, dict) else k for k in kinds]
    if "long" in kinds or "int" in kinds:
        return int
    if "double" in kinds or "float" in kinds:
        return float
    if "string" in kinds:
        return str
    return _identity


def _identity(value: object) -> object:
    return value


class RecordFiller:
    """Projects a dict of known values onto a record schema, filling the rest."""

    def __init__(self, record: dict, *, in_object: bool = False) -> None:
        import fastavro

        self.fields = []
        for f in record["fields"]:
            self.fields.append((f["name"], _converter(f["type"]), _nullable(f["type"]), field_fallback(f, in_object)))
        self.parsed = fastavro.parse_schema(record)
        self._buf = io.BytesIO()

    def fill(self, values: dict) -> dict:
        out = {}
        for name, convert, nullable, fallback in self.fields:
            value = values.get(name, MISSING)
            if value is MISSING or (value is None and not nullable):
                out[name] = fallback
            elif value is None:
                out[name] = None
            else:
                out[name] = convert(value)
        return out

    def encode(self, values: dict) -> bytes:
        import fastavro

        buf = self._buf
        buf.seek(0)
        buf.truncate()
        fastavro.schemaless_writer(buf, self.parsed, self.fill(values))
        return buf.getvalue()
