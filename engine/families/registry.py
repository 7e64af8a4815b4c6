"""Which family an alert belongs to: by its writer schema's full name first, else by the record's shape."""

from __future__ import annotations

from typing import Any

from . import elasticc2022, elasticc2023, rubin, ztf
from .base import OTHER, Family

# Tried in this order; the record shapes do not overlap (midPointTai vs midpointMjdTai vs candidate).
FAMILIES: tuple[Family, ...] = (elasticc2022.FAMILY, elasticc2023.FAMILY, rubin.FAMILY, ztf.FAMILY)
_by_schema_name: dict[str, Family | None] = {}


def schema_full_name(schema: Any) -> str:
    """ "lsst.v10_0.alert" from a record schema dict; "" for anything else."""
    if not isinstance(schema, dict):
        return ""
    name = str(schema.get("name") or "")
    ns = schema.get("namespace")
    return f"{ns}.{name}" if ns and "." not in name else name


def family_for_schema(name: str) -> Family | None:
    """The family whose writer schemas carry this full name, or None if the name tells nothing."""
    if name not in _by_schema_name:
        if len(_by_schema_name) > 256:  # names come from the wire: stay bounded
            _by_schema_name.clear()
        _by_schema_name[name] = next((f for f in FAMILIES if f.matches_schema(name)), None)
    return _by_schema_name[name]


def family_of(record: Any, schema: Any = None) -> Family:
    """The family of a decoded record (given its writer schema, a dict or a full name, when known)."""
    if schema is not None:
        found = family_for_schema(schema if isinstance(schema, str) else schema_full_name(schema))
        if found is not None:
            return found
    if isinstance(record, dict):
        for family in FAMILIES:
            if family.matches_record(record):
                return family
    return OTHER


def item_fields() -> tuple[str, ...]:
    """Fields that identify one item of a history array (its id, time, band, flux), every family's names,
    for the one-line label a collapsed item gets in show's tree and the TUI."""
    names: list[str] = []
    for family in FAMILIES:
        for name in (family.entry_id, "diaForcedSourceId" if family.current == ("diaSource",) else "",
                     family.time_field, family.band_field, family.flux_field):
            if name and name not in names:
                names.append(name)
    return tuple(names)


def by_name(name: str) -> Family:
    """The family called `name` ("rubin"); KeyError if there is none."""
    for family in (*FAMILIES, OTHER):
        if family.name == name:
            return family
    raise KeyError(name)
