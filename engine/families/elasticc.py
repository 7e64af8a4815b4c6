"""ELAsTiCC alerts (the DESC challenge's `elasticc.v0_9*` schemas): what both of its streams share.

Identified by ``diaSource.diaSourceId``, never by ``alertId`` (a constant in the real 2022 stream); times are
``midPointTai`` (MJD), bands ``filterName``, fluxes ``psFlux`` (nJy).
"""

from __future__ import annotations

from .base import AlertSummary, Family, History


class ElasticcFamily(Family):
    kind = "elasticc"
    title = "ELAsTiCC alert"
    current = ("diaSource",)
    id_path = ("diaSource", "diaSourceId")
    object_paths = (("diaSource", "diaObjectId"), ("diaObject", "diaObjectId"))
    entry_id = "diaSourceId"
    time_field = "midPointTai"
    band_field = "filterName"
    flux_field = "psFlux"
    error_field = "psFluxErr"
    history = (History("prvDiaSources", "detection"), History("prvDiaForcedSources", "forced"))
    names = {"id": "diaSourceId", "object": "diaObjectId", "time": "midPointTai", "band": "filter",
             "flux": "psFlux"}
    time_label = "midPointTai (MJD)"
    replayable = True

    def matches_record(self, record: dict) -> bool:
        source = record.get("diaSource")
        return isinstance(source, dict) and "midPointTai" in source

    def save_stem(self, summary: AlertSummary) -> str | None:
        # alertId is a constant in the real stream and an object has many alerts: the source names the alert.
        return None if summary.source_id is None else f"alert_src{summary.source_id}"
