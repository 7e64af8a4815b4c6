"""Build ELAsTiCC alerts for any alert schema shaped like elasticc.v0_9 / v0_9_1.

Mapping (see also engine/data/README and the module docstring of batch.py; the HEAD column
look-up is in head_fields.py, the record filling in record_fill.py):
- diaObject from the HEAD row: SNID -> diaObjectId, RA/DEC -> ra/decl, MWEBV, REDSHIFT_FINAL
  -> z_final, HOSTGAL_* columns by name (hostgal_z/zspec -> HOSTGAL_SPECZ, zphot -> PHOTOZ),
  simVersion -> the simulation's file prefix. A hostgal* field the HEAD lacks gets the placeholder
  the real stream used (999.0 for magnitudes, -9.0 otherwise); any other missing field gets its
  schema default, else null if nullable, else the same placeholders.
- diaSource from a detection (PHOTFLAG & 4096): diaSourceId = SNID * 2000 + epoch index (the 2022
  stream's scheme), psFlux/psFluxErr = FLUXCAL/FLUXCALERR, filterName = BAND, snr = flux / error,
  nobs = the object's number of detections, midPointTai from the visit model.
- prvDiaSources: the object's detections with a strictly earlier midPointTai (null if none).
- prvDiaForcedSources: every epoch (detected or not) in the 30 days before (null if none);
  totFlux/totFluxErr, which SNANA does not simulate, repeat the difference flux.
- Quirks kept from the real stream: alertId is always 1231321321, ccdVisitId always 111111.

Speed: an object's detections are encoded ONCE; an alert's prvDiaSources is then a slice of the
concatenated encodings (they are sorted by time), so an alert costs a few byte joins instead of
re-encoding hundreds of records. An Avro record is the concatenation of its fields, and an array
is `count, items, 0`, so these slices are valid Avro (the tests compare with fastavro).
"""

from __future__ import annotations

import bisect
import io
import math
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from .head_fields import head_values
from .record_fill import RecordFiller, encode_long, field_fallback, union_branch
from .schema import AlertSchema
from .snana import LightCurve

STREAM_ALERT_ID = 1231321321
CCD_VISIT_ID = 111111
FORCED_WINDOW_DAYS = 30.0


@dataclass(frozen=True)
class _ArrayField:
    null_index: int | None  # union branch for null; None when the field cannot be null
    array_index: int | None  # union branch of the array; None when the field is a bare array
    filler: RecordFiller

    def encode(self, items: bytes, count: int) -> bytes:
        if count == 0 and self.null_index is not None:
            return encode_long(self.null_index)
        prefix = b"" if self.array_index is None else encode_long(self.array_index)
        if count == 0:
            return prefix + b"\x00"
        return prefix + encode_long(count) + items + b"\x00"


@dataclass
class EncodedObject:
    """An object's pre-encoded pieces; payload(j) assembles the alert of its j-th detection."""

    dia_object_id: int
    det_time: list[float]  # detections, sorted by (time, epoch)
    det_source_id: list[int]
    det_source: list[bytes]  # diaSource field encoding of each detection
    prv_items: bytes  # concatenated prvDiaSources item encodings, same order
    prv_offsets: list[int]
    n_earlier: list[int]  # detections with a strictly earlier time
    forced_items: bytes  # every epoch, sorted by time
    forced_offsets: list[int]
    # per detection: epochs in [t - window, t) as positions in forced_items; None before `since`
    forced_range: list[tuple[int, int] | None]
    dia_object: bytes  # diaObject field encoding

    def nights(self) -> list[int]:
        return [math.floor(t) for t in self.det_time]


class AlertEncoder:
    """Encodes alerts as schemaless Avro for one alert schema (parsed once)."""

    def __init__(
        self,
        schema: AlertSchema,
        *,
        sim_name: str,
        id_multiplier: int = 2000,
        forced_window: float = FORCED_WINDOW_DAYS,
    ) -> None:
        self.schema = schema
        self.sim_name = sim_name
        self.id_multiplier = id_multiplier
        self.forced_window = forced_window
        self._plan: list[tuple[str, object]] = []
        self._source: tuple[int | None, RecordFiller] | None = None
        self._prv: _ArrayField | None = None
        self._forced: _ArrayField | None = None
        self._object: tuple[int | None, RecordFiller] | None = None
        self._build_plan(schema.expanded)

    def _build_plan(self, alert: dict) -> None:
        import fastavro

        label = self.schema.label
        for field in alert.get("fields", []):
            name, type_ = field["name"], field["type"]
            if name in ("diaSource", "diaObject"):
                index, record = union_branch(type_, "record")
                if record is None:
                    raise UserError(f"{label}: field {name} is not a record")
                filler = RecordFiller(record, in_object=name == "diaObject")
                if name == "diaSource":
                    self._source = (index, filler)
                else:
                    self._object = (index, filler)
                self._plan.append((name, None))
            elif name in ("prvDiaSources", "prvDiaForcedSources"):
                array_index, array = union_branch(type_, "array")
                items = array.get("items") if isinstance(array, dict) else None
                if not isinstance(items, dict) or items.get("type") != "record":
                    raise UserError(f"{label}: field {name} is not an array of records")
                null_index, _ = union_branch(type_, "null")
                slot = _ArrayField(null_index, array_index, RecordFiller(items))
                if name == "prvDiaSources":
                    self._prv = slot
                else:
                    self._forced = slot
                self._plan.append((name, None))
            else:
                value = STREAM_ALERT_ID if name == "alertId" else field_fallback(field, False)
                buf = io.BytesIO()
                try:
                    fastavro.schemaless_writer(buf, fastavro.parse_schema(type_), value)
                except (ValueError, TypeError) as exc:
                    raise UserError(f"{label}: cannot fill field {name!r}: {exc}") from exc
                self._plan.append(("const", buf.getvalue()))
        if self._source is None:
            raise UserError(f"{label}: the schema has no diaSource field (not an ELAsTiCC alert schema)")
        # Both default schemas use one named diaSource type for both: encode each detection once.
        self._prv_same = self._prv is not None and self._prv.filler.parsed == self._source[1].parsed

    def encode_object(
        self, lc: LightCurve, times: np.ndarray, *, since: float | None = None, until: float | None = None
    ) -> EncodedObject:
        """Pre-encode everything an object's alerts are made of (times: visit time per epoch).

        Only alerts with since <= midPointTai < until can then be built. Epochs they cannot refer
        to are not encoded, so a batch of a few nights is cheap, and byte-identical to the same
        nights of a full run.
        """
        n_det = int(lc.detected.sum())
        order = np.lexsort((lc.epoch, times))
        if until is not None:
            order = order[times[order] < until]
        detected = lc.detected[order]
        ids = (lc.snid * self.id_multiplier + lc.epoch[order]).tolist()
        t_sorted = times[order].tolist()
        bands = lc.band[order].tolist()
        flux = lc.flux[order].tolist()
        err = lc.flux_err[order].tolist()
        common = {
            "ccdVisitId": CCD_VISIT_ID, "diaObjectId": lc.snid, "parentDiaSourceId": None,
            "ra": lc.ra, "decl": lc.dec, "nobs": float(n_det),
        }

        assert self._source is not None
        source_index, source_filler = self._source
        source_prefix = b"" if source_index is None else encode_long(source_index)
        prv_same = self._prv_same

        det_time: list[float] = []
        det_ids: list[int] = []
        det_source: list[bytes] = []
        prv_parts: list[bytes] = []
        forced_parts: list[bytes] = []
        forced_start = 0
        if since is not None and self._forced is not None:
            forced_start = bisect.bisect_left(t_sorted, since - self.forced_window)
        for i in range(len(ids)):
            if self._forced is not None and i >= forced_start:
                forced_parts.append(self._forced.filler.encode({
                    **common, "diaForcedSourceId": ids[i], "midPointTai": t_sorted[i], "filterName": bands[i],
                    "psFlux": flux[i], "psFluxErr": err[i], "totFlux": flux[i], "totFluxErr": err[i],
                }))
            if not detected[i]:
                continue
            values = {
                **common, "diaSourceId": ids[i], "midPointTai": t_sorted[i], "filterName": bands[i],
                "psFlux": flux[i], "psFluxErr": err[i], "snr": flux[i] / err[i] if err[i] > 0 else 0.0,
            }
            raw = source_filler.encode(values)
            det_time.append(t_sorted[i])
            det_ids.append(ids[i])
            det_source.append(source_prefix + raw)
            if self._prv is not None:
                prv_parts.append(raw if prv_same else self._prv.filler.encode(values))

        prv_offsets = _offsets(prv_parts)
        forced_offsets = _offsets(forced_parts)
        forced_range: list[tuple[int, int] | None] = []
        if self._forced is not None:
            for t in det_time:
                lo = bisect.bisect_left(t_sorted, t - self.forced_window) - forced_start
                hi = bisect.bisect_left(t_sorted, t) - forced_start
                forced_range.append((lo, hi) if lo >= 0 else None)
        dia_object = b""
        if self._object is not None:
            object_index, object_filler = self._object
            values = head_values([f[0] for f in object_filler.fields], lc.head)
            values.update(diaObjectId=lc.snid, ra=lc.ra, decl=lc.dec, simVersion=self.sim_name)
            dia_object = (b"" if object_index is None else encode_long(object_index)) + object_filler.encode(values)
        return EncodedObject(
            dia_object_id=lc.snid,
            det_time=det_time,
            det_source_id=det_ids,
            det_source=det_source,
            prv_items=b"".join(prv_parts),
            prv_offsets=prv_offsets,
            n_earlier=[bisect.bisect_left(det_time, t) for t in det_time],
            forced_items=b"".join(forced_parts),
            forced_offsets=forced_offsets,
            forced_range=forced_range,
            dia_object=dia_object,
        )

    def payload(self, obj: EncodedObject, j: int) -> bytes:
        """Schemaless Avro of the alert for the object's j-th detection (time order)."""
        parts = []
        for kind, const in self._plan:
            if kind == "const":
                parts.append(const)
            elif kind == "diaSource":
                parts.append(obj.det_source[j])
            elif kind == "prvDiaSources":
                n = obj.n_earlier[j]
                parts.append(self._prv.encode(obj.prv_items[: obj.prv_offsets[n]], n))
            elif kind == "prvDiaForcedSources":
                window = obj.forced_range[j]
                if window is None:
                    raise ValueError(f"detection {j} of object {obj.dia_object_id} is before the encoded range")
                lo, hi = window
                items = obj.forced_items[obj.forced_offsets[lo]: obj.forced_offsets[hi]]
                parts.append(self._forced.encode(items, hi - lo))
            else:
                parts.append(obj.dia_object)
        return b"".join(parts)


def _offsets(parts: list[bytes]) -> list[int]:
    offsets = [0]
    for p in parts:
        offsets.append(offsets[-1] + len(p))
    return offsets

def id_multiplier(max_epochs: int) -> int:
    """2000 as in the 2022 stream, widened when an object has more epochs, so ids stay unique."""
    return max(2000, -(-max_epochs // 1000) * 1000)
