"""The DISPLAY_FIELD printed per observation: read from the index when it holds the field, else decoded.

The index keeps each alert's id, object, time and band as its family names them (`engine.families`), so a
display path naming one of those (`diaSource,midPointTai` for ELAsTiCC, `diaSource,midpointMjdTai` for Rubin)
costs no decoding; any other path is read from the decoded alert.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UserError
from ..families import FAMILIES, Family, family_of
from ..families.elasticc2022 import FAMILY as ELASTICC
from ..families.registry import family_for_schema, schema_full_name
from .config import NO_DISPLAY, ReplayConfig


def index_fields(family: Family) -> dict[str, str]:
    """Display paths the index already knows for alerts of `family` -> the index column holding them."""
    fields = {
        family.display_path("time"): "mid_point_tai",
        family.display_path("id"): "dia_source_id",
        family.display_path("band"): "filter_name",
    }
    for path in family.object_paths:
        fields[",".join(path)] = "dia_object_id"
    return {path: column for path, column in fields.items() if path}


def display_reader(index: Any, config: ReplayConfig,
                   first: Any) -> tuple[Callable[[Any], object] | None, str | None]:
    """(function entry -> the value of the configured display field or None when it is 'None', a note).

    The field is checked on the first alert to send. ELAsTiCC's time (`diaSource,midPointTai`, the
    simulator's default and the one of every reference configuration) given for alerts of another family
    shows that family's time instead, with a note saying so; any other path the alert does not have stops
    the run before anything is sent, with one line naming the configuration and, when the alert's family
    names that field otherwise, the path to use instead.
    """
    path = config.display_field
    if path == NO_DISPLAY:
        return None, None
    from ..alert_fields import display_value

    family, record = _family(index, first)
    note = None
    wanted = path.replace(" ", "").replace(".", ",")
    if wanted == ELASTICC.display_path("time") and family.replayable and family.time_field != ELASTICC.time_field:
        path = family.display_path("time") or path
        note = (f"DISPLAY_FIELD {config.display_field}: these are {family.title}s, whose time is {path}: "
                f"showing that")
        wanted = path
    column = index_fields(family).get(wanted) if family.replayable else None
    if column is not None:
        return (lambda entry: getattr(entry, column)), note
    if first is not None:
        record = record if record is not None else index.record(first)
        try:
            display_value(record, path)
        except KeyError as exc:
            where = config.source or "--display-field"
            raise UserError(f"{where}: DISPLAY_FIELD {path!r}: {exc.args[0] if exc.args else exc}"
                            f"{_hint(family, path)}") from None
    return (lambda entry: display_value(index.record(entry), path)), note


def _family(index: Any, first: Any) -> tuple[Family, dict | None]:
    """The family of the first alert to send, from its schema's name when it tells (no decoding), and the
    decoded record when it had to be decoded."""
    if first is None:
        return ELASTICC, None
    found = family_for_schema(schema_full_name(index.schema(first.schema_fp)))
    if found is not None:
        return found, None
    record = index.record(first)
    return family_of(record), record


def _hint(family: Family, path: str) -> str:
    """'; these are Rubin alerts: their time is diaSource,midpointMjdTai' when `path` names another family's."""
    wanted = path.replace(" ", "").replace(".", ",")
    for other in FAMILIES:
        if other is family:
            continue
        for what in ("time", "id", "band", "flux"):
            if other.display_path(what) == wanted and (mine := family.display_path(what)):
                return f"; these are {family.title}s: their {what} is {mine}"
    return ""

