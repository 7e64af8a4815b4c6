"""ZTF alerts (schemas `ztf.alert`): ``objectId`` and ``candid`` name an alert, photometry is in magnitudes.

``candidate`` is the detection; ``prv_candidates`` holds earlier detections and, where ``magpsf`` is null,
non-detections, shown as their ``diffmaglim`` upper limit. Bands are the ``fid`` numbers the ZTF schema
documents (1 g, 2 r, 3 i); times are Julian dates (``jd``).
"""

from __future__ import annotations

import re

from .base import AlertSummary, Family, History, LightPoint, number, walk

ZTF_BANDS = {1: "g", 2: "r", 3: "i"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Ztf(Family):
    name = "ztf"
    kind = "ztf"
    title = "ZTF alert"
    current = ("candidate",)
    id_path = ("candid",)
    object_paths = (("objectId",),)
    entry_id = "candid"
    time_field = "jd"
    band_field = "fid"
    flux_field = "magpsf"
    error_field = "sigmapsf"
    history = (History("prv_candidates", "detection"),)
    names = {"id": "candid", "object": "objectId", "time": "jd", "band": "fid", "flux": "magpsf"}
    order = ("object", "id", "time", "band", "flux")
    time_label = "jd"
    invert_y = True
    secondary_label = "upper limit"

    def matches_schema(self, name: str) -> bool:
        return name.startswith("ztf.")

    def matches_record(self, record: dict) -> bool:
        return isinstance(record.get("candidate"), dict) or "objectId" in record

    def band(self, entry: dict) -> str | None:
        fid = entry.get("fid")
        return None if fid is None else ZTF_BANDS.get(fid, str(fid))

    def summary(self, record: dict) -> AlertSummary:
        s = super().summary(record)
        if s.source_id is None:  # some producers keep candid only inside the candidate
            s = AlertSummary(self, walk(record, ("candidate", "candid")), s.object_id, s.time, s.band, s.flux,
                             s.error)
        return s

    def point(self, entry: dict, role: str) -> LightPoint | None:
        if role == "detection" and entry.get("magpsf") is None:
            t, limit = number(entry.get("jd")), number(entry.get("diffmaglim"))
            if t is None or limit is None:
                return None
            return LightPoint(t, limit, None, self.band(entry) or "?", "limit")
        return super().point(entry, role)

    def save_stem(self, summary: AlertSummary) -> str | None:
        if summary.object_id is None or summary.source_id is None:
            return None
        return _UNSAFE.sub("_", f"{summary.object_id}_{summary.source_id}").strip("._")[:200] or None


FAMILY = Ztf()
