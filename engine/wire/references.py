"""Avro schemas that refer to other registered schemas (Confluent "schema references"), made self-contained.

A registry may store a record's sub-types as separate subjects and the record as a schema naming them
(``"type": "ns.Dep"``) with a list of references. The decoder (and an Avro container written by `--save`) needs
one self-contained schema: each referenced type is defined in place at its first use and named after that,
as Avro requires (a name may be defined only once).
"""

from __future__ import annotations

from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})


def full_name(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def defined_name(schema: Any) -> str | None:
    """The full name a named schema defines ("ns.Dep"), None for anything else."""
    if isinstance(schema, dict) and schema.get("type") in NAMED and isinstance(schema.get("name"), str):
        return full_name(schema["name"], schema.get("namespace"))
    return None


def inline(schema: Any, named: dict[str, Any]) -> Any:
    """`schema` with every type it names from `named` (full name -> definition) defined at its first use."""
    return _walk(schema, None, named, set())


def _walk(node: Any, ns: str | None, named: dict[str, Any], defined: set[str]) -> Any:
    if isinstance(node, str):
        if node in PRIMITIVES:
            return node
        name = full_name(node, ns)
        if name in defined or name not in named:
            return node  # already defined above (or unknown: fastavro then says which name is missing)
        return _walk(named[name], None, named, defined)
    if isinstance(node, list):
        return [_walk(item, ns, named, defined) for item in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind in NAMED and isinstance(node.get("name"), str):
        name = full_name(node["name"], node.get("namespace", ns))
        defined.add(name)
        own_ns = name.rpartition(".")[0] or None
        # Spelled out in full: moved under another namespace, a short name would change meaning.
        out = {key: value for key, value in node.items() if key != "namespace"}
        out["name"] = name
        if kind in ("record", "error"):
            out["fields"] = [{**f, "type": _walk(f.get("type"), own_ns, named, defined)}
                             for f in node.get("fields", [])]
        return out
    if kind == "array":
        return {**node, "items": _walk(node.get("items"), ns, named, defined)}
    if kind == "map":
        return {**node, "values": _walk(node.get("values"), ns, named, defined)}
    if isinstance(kind, dict | list) or (isinstance(kind, str) and kind not in PRIMITIVES):
        return {**node, "type": _walk(kind, ns, named, defined)}
    return node
