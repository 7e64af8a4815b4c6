"""Named fields of decoded alerts: the one-line summary, a field picked by path, and exact JSON.

Which fields name an alert is each family's business (`engine.families`): ELAsTiCC by
``diaSource.diaSourceId`` (never ``alertId``, a constant in the real 2022 stream), Rubin by
``diaSource.diaSourceId`` with ``midpointMjdTai``/``band``/``psfFlux``, ZTF by ``objectId`` and ``candid``.
"""

from __future__ import annotations

from typing import Any

from .families import AlertSummary, Family, family_of
from .families.ztf import ZTF_BANDS  # noqa: F401  (re-exported)


class FieldNotFound(KeyError):
    """A display path names a field the alert does not have. ``str(e)`` is one clear line."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "field not found"


def summary(record: dict, schema: Any = None, family: Family | None = None) -> AlertSummary:
    """The fields a person needs to tell alerts apart, found by the alert's family (given, or picked here
    from the writer schema, a dict or its full name, else from the record's shape)."""
    return (family or family_of(record, schema)).summary(record)


def alert_summary(alert: Any) -> AlertSummary:
    """`summary` of a DecodedAlert, by the family the decoder found for it."""
    return alert.family.summary(alert.record)


def split_path(path: str) -> list[str]:
    """ "diaSource,midPointTai" (the simulator's DISPLAY_FIELD form) or "diaSource.midPointTai" -> parts.

    Avro names cannot hold a dot or a comma, so both separators are unambiguous.
    """
    return [part.strip() for part in path.replace(".", ",").split(",") if part.strip()]


def display_value(record: dict, path: str) -> Any:
    """The value at `path` ("diaSource,midPointTai", a top-level field, or "None" for no field -> None).

    A missing field raises FieldNotFound (a KeyError with a readable message) rather than returning None, so
    that a mistyped DISPLAY_FIELD is reported once instead of printing "None" for every alert. A field that
    exists but is null on the way (``diaObject`` is nullable) gives None. A list element may be picked by its
    index: "prvDiaSources,0,midPointTai".
    """
    if path is None or path.strip() in ("", "None"):
        return None
    value: Any = record
    walked: list[str] = []
    for part in split_path(path):
        if value is None:
            return None
        if isinstance(value, dict):
            if part not in value:
                where = ",".join(walked) or "the alert"
                raise FieldNotFound(f"no field {part!r} in {where} (display field {path!r})")
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                return None
            value = value[index]
        else:
            raise FieldNotFound(f"{','.join(walked)} is not a record, cannot take {part!r} (display field {path!r})")
        walked.append(part)
    return value


def to_json(value: Any, *, indent: int | None = None) -> str:
    """Strict JSON of a decoded alert: the one rule of `engine.avro_json` (ISO 8601 times, exact decimals,
    base64 bytes, non-finite floats as strings)."""
    from .avro_json import to_json as dumps

    return dumps(value, indent=indent)
