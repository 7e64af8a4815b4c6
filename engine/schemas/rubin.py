"""The Rubin alert schemas that `lsst-alert-packet` (Rubin's own package) ships, found by Confluent schema id.

Rubin frames every Kafka message with the id of its writer schema. The id is not kept in a table here: it is
read from the schemas themselves. Since 11.0 each ``.avsc`` of a version states it (``"confluent:version":
1101``); older versions carry none, and their id is what lsst-alert-packet's ``Schema.get_schema_id`` makes
of the schema's name (``lsst.v7_4.alert`` -> 704: major, then minor on two digits), the ids Rubin registered.

Nothing is imported from the package: importing it costs half a second (numpy, lsst.resources). Its
folder is located with `importlib.util.find_spec`, and each version's files are read only when a message
with that id arrives (then cached for the process).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "lsst.alert.packet"
_NAME = re.compile(r"^lsst\.v(\d+)_(\d+)\.alert\.avsc$")
_ID_IN_TEXT = re.compile(rb'"confluent:version"\s*:\s*(\d+)')
_NAMESPACE = re.compile(r"lsst\.v(\d+)_(\d+)")


@dataclass(frozen=True)
class RubinSchema:
    schema_id: int
    version: str  # "11.1"
    path: Path  # the version's lsst.vX_Y.alert.avsc


def schema_root() -> Path | None:
    """The package's schema folder, or None when lsst-alert-packet is not installed."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "schema"
    return root if root.is_dir() else None


@cache
def shipped() -> dict[int, RubinSchema]:
    """Every shipped alert schema by its schema id (the scan reads file names and a few bytes per file)."""
    root = schema_root()
    found: dict[int, RubinSchema] = {}
    if root is None:
        return found
    for path in sorted(root.glob("*/*/lsst.v*_*.alert.avsc")):
        match = _NAME.match(path.name)
        if match is None:
            continue
        major, minor = int(match[1]), int(match[2])
        schema_id = _stated_id(path.parent) or name_rule_id(major, minor)
        found[schema_id] = RubinSchema(schema_id, f"{major}.{minor}", path)
    return found


def _stated_id(folder: Path) -> int | None:
    """The `confluent:version` that the version's files state, if any does."""
    for avsc in sorted(folder.glob("*.avsc")):
        try:
            match = _ID_IN_TEXT.search(avsc.read_bytes())
        except OSError:
            continue
        if match:
            return int(match[1])
    return None


def name_rule_id(major: int, minor: int) -> int:
    """lsst-alert-packet's rule for schemas that state no id: major, then minor on two digits."""
    return int(f"{major}{minor:02d}")


@cache
def schema_for_id(schema_id: int) -> tuple[str, dict] | None:
    """(label "lsst.v11_1", schema as a self-contained dict) for a shipped id, or None. Loaded once per id."""
    entry = shipped().get(schema_id)
    if entry is None:
        return None
    from ..decoder import load_schema_file

    return entry.path.name.removesuffix(".alert.avsc"), load_schema_file(entry.path)


def schema_id_of(schema: Any) -> int | None:
    """The Confluent id a Rubin schema states (`confluent:version` anywhere in it), else the one its
    `lsst.vX_Y` name gives by lsst-alert-packet's rule; None for any other schema."""
    stated = _find_stated(schema)
    if stated is not None:
        return stated
    if isinstance(schema, dict):
        name = f"{schema.get('namespace') or ''}.{schema.get('name') or ''}"
        match = _NAMESPACE.search(name)
        if match:
            return name_rule_id(int(match[1]), int(match[2]))
    return None


def _find_stated(node: Any) -> int | None:
    if isinstance(node, dict):
        value = node.get("confluent:version")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_stated(child)
        if found is not None:
            return found
    return None


def sample_alerts() -> list[tuple[str, Path]]:
    """(version "7.0", its sample_data/fakeAlert.avro) for every shipped version that has one, oldest first."""
    out = []
    for entry in sorted(shipped().values(), key=lambda e: tuple(int(p) for p in e.version.split("."))):
        sample = entry.path.parent / "sample_data" / "fakeAlert.avro"
        if sample.is_file():
            out.append((entry.version, sample))
    return out


def describe_ids() -> str:
    """The shipped ids as one comma-separated line, for error messages."""
    ids = sorted(shipped())
    return ", ".join(str(i) for i in ids) if ids else "none (lsst-alert-packet is not installed)"


def package_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("lsst-alert-packet")
    except Exception:  # PackageNotFoundError, or broken metadata
        return None
