"""What every alert family says about its alerts: where the id, object, time, band and flux live.

A family is one way of writing alerts (ELAsTiCC 2022, ELAsTiCC 2023, Rubin `lsst.vX_Y`, ZTF). Everything that
shows or names an alert (show's header, consume's line, `--save` names, the TUI table, the light curve, replay's
display field) asks the alert's family instead of assuming one set of field names. A family is plain data plus
a few small methods; `registry.family_of` picks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class History:
    """A list of earlier photometry in the alert: its field name and what its points are."""

    field: str
    role: str  # "detection" | "forced"


@dataclass(frozen=True)
class LightPoint:
    time: float
    value: float
    error: float | None
    band: str
    source: str  # "detection" | "forced" | "limit" (ZTF upper limit) | "current"


@dataclass(frozen=True)
class AlertSummary:
    """The fields a person needs to tell alerts apart, named by the family they come from."""

    family: Family
    source_id: Any  # the id of this alert's detection (diaSourceId, ZTF candid)
    object_id: Any  # the object it belongs to (diaObjectId, ZTF objectId)
    time: float | None  # the detection's time, in the family's unit (MJD, ZTF JD)
    band: str | None
    flux: float | None  # a flux, or for ZTF a magnitude
    error: float | None = None

    @property
    def kind(self) -> str:
        return self.family.kind

    def pairs(self) -> list[tuple[str, Any]]:
        """(field name, value) in the order the family lists them, for headers and summary lines."""
        f = self.family
        values = {"id": self.source_id, "object": self.object_id, "time": self.time, "band": self.band,
                  "flux": self.flux}
        return [(f.names[what], values[what]) for what in f.order]


def number(value: object) -> float | None:
    """`value` as a float if it is a finite number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def walk(record: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` in nested records, None as soon as a step is missing or null."""
    value = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class Family:
    """The generic family: each module below defines one subclass instance by filling in these attributes."""

    name = "other"  # unique, stable: used in tests and JSON
    kind = "other"  # the coarse kind older callers compare ("elasticc", "rubin", "ztf", "other")
    title = "alert of an unknown kind"  # how show's header starts
    # Where the summary fields live; `current` is the record holding this alert's own detection.
    current: tuple[str, ...] | None = None
    id_path: tuple[str, ...] | None = None
    object_paths: tuple[tuple[str, ...], ...] = ()
    # Field names inside one photometry entry (the current detection and each history item).
    entry_id = ""
    time_field = ""
    band_field = ""
    flux_field = ""
    error_field = ""
    history: tuple[History, ...] = ()
    # Names shown for each summary field, and their order in headers and summary lines.
    names = {"id": "id", "object": "object", "time": "time", "band": "band", "flux": "flux"}
    order: tuple[str, ...] = ("id", "object", "time", "band", "flux")
    time_label = "time"  # the light curve's x axis
    invert_y = False  # magnitudes: brighter is up
    secondary_label = "forced"  # what the second kind of point of the light curve is
    # Whether `prepare` indexes and `replay` streams these alerts (they need an integer id and a time).
    replayable = False

    def matches_schema(self, name: str) -> bool:
        """Whether a writer schema of this full name ("lsst.v10_0.alert") is one of this family's."""
        return False

    def matches_record(self, record: dict) -> bool:
        """Whether a record with no known schema looks like this family's."""
        return False

    def band(self, entry: dict) -> str | None:
        value = entry.get(self.band_field) if self.band_field else None
        return None if value is None else str(value)

    def summary(self, record: dict) -> AlertSummary:
        entry = walk(record, self.current) if self.current else None
        entry = entry if isinstance(entry, dict) else {}
        source_id = walk(record, self.id_path) if self.id_path else None
        object_id = None
        for path in self.object_paths:
            object_id = walk(record, path)
            if object_id is not None:
                break
        return AlertSummary(self, source_id, object_id, entry.get(self.time_field) if self.time_field else None,
                            self.band(entry) if entry else None, entry.get(self.flux_field) if self.flux_field
                            else None, entry.get(self.error_field) if self.error_field else None)

    def display_path(self, what: str) -> str | None:
        """The DISPLAY_FIELD path ("diaSource,midpointMjdTai") of a summary field of the current detection."""
        field = {"time": self.time_field, "band": self.band_field, "flux": self.flux_field}.get(what)
        if what == "id" and self.id_path:
            return ",".join(self.id_path)
        if not field or not self.current:
            return None
        return ",".join((*self.current, field))

    def save_stem(self, summary: AlertSummary) -> str | None:
        """The `--save` file name (without .avro) of an alert, or None to name it by its content."""
        return None

    # --- light curve ---------------------------------------------------------------------------------------

    def point(self, entry: dict, role: str) -> LightPoint | None:
        """One light-curve point of a photometry entry, or None if it lacks a time or a value."""
        t, value = number(entry.get(self.time_field)), number(entry.get(self.flux_field))
        band = self.band(entry)
        if t is None or value is None:
            return None
        return LightPoint(t, value, number(entry.get(self.error_field)), band if band is not None else "?", role)

    def points(self, record: dict) -> tuple[LightPoint | None, list[LightPoint], list[LightPoint]]:
        """(current detection, earlier detections, secondary points: forced photometry or upper limits)."""
        entry = walk(record, self.current) if self.current else None
        current = self.point(entry, "current") if isinstance(entry, dict) else None
        seen = {entry.get(self.entry_id)} if isinstance(entry, dict) and self.entry_id else set()
        detections = [current] if current else []
        secondary: list[LightPoint] = []
        for hist in self.history:
            for item in record.get(hist.field) or []:
                if not isinstance(item, dict):
                    continue
                if hist.role == "detection" and self.entry_id:
                    # Guard against a producer that repeats the current detection among the previous ones.
                    ident = item.get(self.entry_id)
                    if ident is not None and ident in seen:
                        continue
                    seen.add(ident)
                point = self.point(item, hist.role)
                if point is not None:
                    (detections if point.source == "detection" else secondary).append(point)
        return current, detections, secondary

    def __repr__(self) -> str:
        return f"<alert family {self.name}>"


OTHER = Family()
