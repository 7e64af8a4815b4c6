"""Load the alert schema a simulation is written with, as plain JSON.

fastavro's load_schema resolves named types from sibling .avsc files (the v0_9_1 layout) but
returns its own parsed form; the container header needs clean JSON, and the record builder needs
every sub-schema self-contained (each top-level field is encoded on its own).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

FORMATS = ("container", "schemaless")

_DATA = Path(__file__).resolve().parent.parent / "data" / "schemas"
STREAM2022_SCHEMA = _DATA / "stream2022" / "elasticc.v0_9.alert.stream2022.avsc"
V0_9_1_SCHEMA = _DATA / "v0_9_1" / "elasticc.v0_9_1.alert.avsc"

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


@dataclass(frozen=True)
class AlertSchema:
    label: str  # "stream2022", "elasticc.v0_9_1", or the file name of a --schema
    path: Path
    schema: dict  # plain JSON: each named type defined once, referenced by name afterwards
    expanded: dict  # the same with every named reference replaced by its definition


def default_schema_path(fmt: str) -> Path:
    """The 2022 stream embedded its own schema; the 2023 (schemaless) stream used v0_9_1."""
    return STREAM2022_SCHEMA if fmt == "container" else V0_9_1_SCHEMA


def _strip(node: object) -> object:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if not k.startswith("__")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def expand_named(schema: object) -> object:
    """Inline every reference to a named type (these schemas are not recursive)."""
    named: dict[str, object] = {}

    def walk(node: object) -> object:
        if isinstance(node, str):
            if node in _PRIMITIVES:
                return node
            if node not in named:
                raise UserError(f"schema refers to unknown type {node!r}")
            return copy.deepcopy(named[node])
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, dict):
            kind = node.get("type")
            out = dict(node)
            if kind == "record":
                out["fields"] = [{**f, "type": walk(f["type"])} for f in node.get("fields", [])]
            elif kind == "array":
                out["items"] = walk(node["items"])
            elif kind == "map":
                out["values"] = walk(node["values"])
            elif kind not in ("enum", "fixed", None):
                out["type"] = walk(kind)
            if kind in ("record", "enum", "fixed") and "name" in node:
                named[node["name"]] = out
            return out
        return node

    return walk(schema)


def load_alert_schema(path: str | Path | None = None, *, fmt: str = "container") -> AlertSchema:
    """`path` None -> the default of the format. UserError (one line) on an unreadable schema."""
    import fastavro.schema

    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    given = path is not None
    path = Path(path).expanduser() if given else default_schema_path(fmt)
    if not path.is_file():
        raise UserError(f"{path}: no such schema file")
    try:
        parsed = fastavro.schema.load_schema(str(path))
    except Exception as exc:  # fastavro raises several unrelated types (repository, parse, JSON errors)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: not a usable Avro schema: {reason}") from exc
    schema = _strip(parsed)
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise UserError(f"{path}: the alert schema must be an Avro record")
    label = path.name if given else ("stream2022" if path == STREAM2022_SCHEMA else "elasticc.v0_9_1")
    # Round-trip through JSON so that nothing of fastavro's parsed form is shared with the caller.
    schema = json.loads(json.dumps(schema))
    return AlertSchema(label=label, path=path, schema=schema, expanded=expand_named(schema))
