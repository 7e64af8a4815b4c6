"""Rubin alerts (schemas `lsst.vX_Y.alert` of lsst-alert-packet; checked against 7.0 to 11.1).

The same shape as ELAsTiCC's, with the Rubin Science Pipelines' names: ``midpointMjdTai``, ``band``,
``psfFlux``/``psfFluxErr``. Since 8.0 the id is also a top-level ``diaSourceId``; ``diaSource.diaSourceId``
exists in every version, so that one is used. The object is ``diaObject.diaObjectId`` (``diaObject`` is null
for solar-system sources, whose ``diaSource.diaObjectId`` is then null too).
"""

from __future__ import annotations

import re

from .base import AlertSummary, Family, History

_SCHEMA_NAME = re.compile(r"lsst\.v\d+_\d+\.alert")


class Rubin(Family):
    name = "rubin"
    kind = "rubin"
    title = "Rubin alert"
    current = ("diaSource",)
    id_path = ("diaSource", "diaSourceId")
    object_paths = (("diaObject", "diaObjectId"), ("diaSource", "diaObjectId"))
    entry_id = "diaSourceId"
    time_field = "midpointMjdTai"
    band_field = "band"
    flux_field = "psfFlux"
    error_field = "psfFluxErr"
    history = (History("prvDiaSources", "detection"), History("prvDiaForcedSources", "forced"))
    names = {"id": "diaSourceId", "object": "diaObjectId", "time": "midpointMjdTai", "band": "band",
             "flux": "psfFlux"}
    time_label = "midpointMjdTai (MJD)"
    replayable = True

    def matches_schema(self, name: str) -> bool:
        return _SCHEMA_NAME.fullmatch(name) is not None

    def matches_record(self, record: dict) -> bool:
        source = record.get("diaSource")
        return isinstance(source, dict) and "midpointMjdTai" in source

    def save_stem(self, summary: AlertSummary) -> str | None:
        return None if summary.source_id is None else f"alert_src{summary.source_id}"


FAMILY = Rubin()
