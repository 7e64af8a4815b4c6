"""Build alert records, messages and files for tests (ELAsTiCC with the shipped schemas, and a ZTF-like alert).

Functions:
- ``shipped(label)`` -> the shipped schema dict: "stream2022" (the exact 2022 stream schema), "elasticc.v0_9_1",
  "elasticc.v0_9".
- ``fill(schema, **overrides)`` -> a record valid for any record schema: every field gets a neutral value
  (0, 0.0, "", b"", null for nullable, [] for arrays), then top-level `overrides` are applied.
- ``elasticc_record(schema="elasticc.v0_9_1", *, source_id=1001, object_id=7, mjd=60000.5, band="r",
  flux=123.5, flux_err=4.25, n_prv=3, n_forced=0)`` -> an ELAsTiCC alert record for that schema (a label or a
  dict) with `n_prv` earlier detections (bands cycling u g r i z Y, one day apart, ids source_id-n..-1) and
  `n_forced` forced-photometry points when the schema has prvDiaForcedSources.
- ``ZTF_SCHEMA`` -> a small ZTF-like schema (objectId, candid, candidate{jd, fid, magpsf, sigmapsf, ...},
  prv_candidates with nullable magpsf and diffmaglim, cutoutScience bytes); ``ztf_record(object_id="ZTF21abc",
  candid=1500, jd=2459000.75, fid=2, magpsf=18.25, n_prv=3, n_limits=1)`` -> a record for it.
- ``rubin_samples(since=(7, 0))`` -> [(version "11.1", Path of lsst-alert-packet's sample_data/fakeAlert.avro)],
  every version the installed lsst-alert-packet ships from `since` on, oldest first.
- ``rubin_schema(version)`` -> that version's alert schema, every named type expanded (lsst-alert-packet's).
- ``rubin_with_forced(version, n_forced=4)`` -> (record, schema): the version's real sample alert with
  `n_forced` prvDiaForcedSources added (bands g r i..., one day apart before the first detection).
- ``ZTF_LOGICAL_SCHEMA`` -> ZTF_SCHEMA plus Avro logical types (timestamp-millis, timestamp-micros, date,
  time-millis, decimal, uuid), as some brokers' ZTF containers carry; ``ztf_logical_container(n=11)`` -> one
  container of `n` such alerts (objectId ZTF20aaaaaNN, candid 2000+i), ``ztf_logical_record(i)`` -> record i.
- ``schemaless(record, schema)`` -> schemaless Avro bytes (what replay sends on Kafka).
- ``container(records, schema, *, codec="null", one_block_per_record=False)`` -> Avro container file bytes.
- ``gz(data)`` -> gzip-compressed bytes.
- ``write(path, data)`` -> writes bytes to path (parents created), returns the Path.
"""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path
from typing import Any

import fastavro
from elasticc_stream.engine import decoder

BANDS = ("u", "g", "r", "i", "z", "Y")
REAL_ALERT = Path(decoder.__file__).parent / "data" / "real" / "alert_mjd60674.0512_obj747_src1494043.avro.gz"

ZTF_SCHEMA: dict = {
    "type": "record",
    "name": "alert",
    "namespace": "ztf.test",
    "fields": [
        {"name": "schemavsn", "type": "string"},
        {"name": "objectId", "type": "string"},
        {"name": "candid", "type": "long"},
        {
            "name": "candidate",
            "type": {
                "type": "record",
                "name": "candidate",
                "fields": [
                    {"name": "jd", "type": "double"},
                    {"name": "fid", "type": "int"},
                    {"name": "candid", "type": ["null", "long"], "default": None},
                    {"name": "magpsf", "type": ["null", "float"], "default": None},
                    {"name": "sigmapsf", "type": ["null", "float"], "default": None},
                    {"name": "diffmaglim", "type": ["null", "float"], "default": None},
                    {"name": "ra", "type": "double"},
                    {"name": "dec", "type": "double"},
                ],
            },
        },
        {"name": "prv_candidates", "type": ["null", {"type": "array", "items": "ztf.test.candidate"}], "default": None},
        {"name": "cutoutScience", "type": ["null", "bytes"], "default": None},
    ],
}


ZTF_LOGICAL_SCHEMA: dict = {
    **ZTF_SCHEMA,
    "fields": [
        *ZTF_SCHEMA["fields"][:5],
        {"name": "publishedAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "processedAt", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
         "default": None},
        {"name": "night", "type": {"type": "int", "logicalType": "date"}},
        {"name": "exposureStart", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "fluxRatio", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 6}},
        {"name": "alertUuid", "type": {"type": "string", "logicalType": "uuid"}},
        *ZTF_SCHEMA["fields"][5:],
    ],
}


def ztf_logical_record(i: int) -> dict:
    import datetime as dt
    import decimal
    import uuid

    record = ztf_record(object_id=f"ZTF20aaaaa{i:02d}", candid=2000 + i, jd=2458930.5 + i, n_prv=2, n_limits=1)
    for prv in record["prv_candidates"]:
        prv["fid"] = 1
    utc = dt.UTC
    record.update(
        publishedAt=dt.datetime(2020, 3, 20 + i % 8, 4, 5, 6, 789000, tzinfo=utc),
        processedAt=None if i % 2 else dt.datetime(2020, 3, 21, 0, 0, 0, 123456, tzinfo=utc),
        night=dt.date(2020, 3, 20 + i % 8),
        exposureStart=dt.time(4, 5, 6, 789000),
        fluxRatio=decimal.Decimal(f"{i}.000125"),
        alertUuid=uuid.UUID(int=0x1234 + i),
    )
    return record


def ztf_logical_container(n: int = 11) -> bytes:
    return container([ztf_logical_record(i) for i in range(n)], ZTF_LOGICAL_SCHEMA)


def f32(x: float) -> float:
    """`x` rounded to float32, as an Avro "float" field reads back (records then compare equal after a trip)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def shipped(label: str) -> dict:
    return dict(decoder.shipped_schemas())[label]


def _schema(schema: str | dict) -> dict:
    return shipped(schema) if isinstance(schema, str) else schema


def fill(schema: dict, **overrides: Any) -> dict:
    names: dict[str, Any] = {}
    record = _neutral(schema, names, schema.get("namespace"))
    record.update(overrides)
    return record


def _neutral(node: Any, names: dict[str, Any], ns: str | None) -> Any:
    if isinstance(node, str):
        simple = {"null": None, "boolean": False, "int": 0, "long": 0, "float": 0.0, "double": 0.0}
        if node in simple:
            return simple[node]
        if node in ("string",):
            return ""
        if node == "bytes":
            return b""
        found = names.get(node) or names.get(f"{ns}.{node}")
        if found is None:
            raise KeyError(f"unknown named type {node}")
        return _neutral(found, names, ns)
    if isinstance(node, list):
        return None if "null" in node else _neutral(node[0], names, ns)
    kind = node["type"]
    if kind == "record":
        name = node["name"]
        ns = node.get("namespace", ns)
        names[name] = node
        if ns and "." not in name:
            names[f"{ns}.{name}"] = node
        return {f["name"]: _neutral(f["type"], names, ns) for f in node["fields"]}
    if kind == "array":
        if isinstance(node["items"], dict):  # registers named types defined inside the items
            _neutral(node["items"], names, ns)
        return []
    if kind == "map":
        return {}
    if kind == "enum":
        return node["symbols"][0]
    if kind == "fixed":
        return b"\0" * node["size"]
    return _neutral(kind, names, ns)


def _field_type(schema: dict, name: str) -> Any:
    for field in schema["fields"]:
        if field["name"] == name:
            return field["type"]
    return None


def _record_type(node: Any) -> dict | None:
    """The record schema inside a field type (through a nullable union or an array), if given inline."""
    if isinstance(node, list):
        for branch in node:
            found = _record_type(branch)
            if found:
                return found
        return None
    if isinstance(node, dict):
        if node.get("type") == "record":
            return node
        if node.get("type") == "array":
            return _record_type(node["items"])
    return None


def elasticc_record(
    schema: str | dict = "elasticc.v0_9_1",
    *,
    source_id: int = 1001,
    object_id: int = 7,
    mjd: float = 60000.5,
    band: str = "r",
    flux: float = 123.5,
    flux_err: float = 4.25,
    n_prv: int = 3,
    n_forced: int = 0,
) -> dict:
    schema = _schema(schema)
    source_type = _record_type(_field_type(schema, "diaSource"))
    assert source_type is not None, "diaSource must be inline in the expanded schema"

    def source(sid: int, t: float, b: str, f: float) -> dict:
        return fill(
            source_type, diaSourceId=sid, diaObjectId=object_id, midPointTai=t, filterName=b, psFlux=f32(f),
            psFluxErr=f32(flux_err), ra=150.25, decl=-30.5, snr=f32(f / flux_err),
        )

    record = fill(schema, alertId=1231321321, diaSource=source(source_id, mjd, band, flux))
    record["prvDiaSources"] = [
        source(source_id - n_prv + i, mjd - (n_prv - i), BANDS[i % 6], flux * (0.5 + 0.1 * i)) for i in range(n_prv)
    ] or None
    forced_type = _record_type(_field_type(schema, "prvDiaForcedSources"))
    if n_forced and forced_type is not None:
        record["prvDiaForcedSources"] = [
            fill(
                forced_type, diaForcedSourceId=90000 + i, diaObjectId=object_id, midPointTai=mjd - n_prv - 1 - i,
                filterName=BANDS[i % 6], psFlux=float(i), psFluxErr=f32(flux_err),
            )
            for i in range(n_forced)
        ]
    object_type = _record_type(_field_type(schema, "diaObject"))
    if object_type is not None:
        record["diaObject"] = fill(object_type, diaObjectId=object_id, ra=150.25, decl=-30.5)
    return record


def ztf_record(
    object_id: str = "ZTF21abcdefg",
    candid: int = 1500,
    jd: float = 2459000.75,
    fid: int = 2,
    magpsf: float = 18.25,
    n_prv: int = 3,
    n_limits: int = 1,
) -> dict:
    def cand(c: int | None, t: float, f: int, mag: float | None) -> dict:
        return {
            "jd": t, "fid": f, "candid": c, "magpsf": None if mag is None else f32(mag),
            "sigmapsf": 0.125 if mag is not None else None,
            "diffmaglim": 20.5, "ra": 10.5, "dec": 20.25,
        }

    prv = [cand(candid - n_prv + i, jd - (n_prv - i), 1 + i % 2, magpsf + 0.25 * (n_prv - i)) for i in range(n_prv)]
    prv += [cand(None, jd - n_prv - 1 - i, 1, None) for i in range(n_limits)]
    return {
        "schemavsn": "test",
        "objectId": object_id,
        "candid": candid,
        "candidate": cand(candid, jd, fid, magpsf),
        "prv_candidates": prv or None,
        "cutoutScience": b"\x1f\x8b fake stamp \x00\xff",
    }


def _rubin_root() -> Path:
    import lsst.alert.packet

    return Path(lsst.alert.packet.__file__).parent / "schema"


def rubin_samples(since: tuple[int, int] = (7, 0)) -> list[tuple[str, Path]]:
    found = []
    for sample in _rubin_root().glob("*/*/sample_data/fakeAlert.avro"):
        major, minor = int(sample.parent.parent.parent.name), int(sample.parent.parent.name)
        if (major, minor) >= since:
            found.append(((major, minor), sample))
    assert found, "lsst-alert-packet ships no sample alerts"
    return [(f"{v[0]}.{v[1]}", path) for v, path in sorted(found)]


def rubin_schema(version: str) -> dict:
    major, minor = version.split(".")
    path = _rubin_root() / major / minor / f"lsst.v{major}_{minor}.alert.avsc"
    return decoder.load_schema_file(path)


def rubin_with_forced(version: str, n_forced: int = 4) -> tuple[dict, dict]:
    schema = rubin_schema(version)
    sample = dict(decoder.read_alert_file(dict(rubin_samples())[version])[0].record)
    forced_type = _record_type(_field_type(schema, "prvDiaForcedSources"))
    assert forced_type is not None
    first = min(s["midpointMjdTai"] for s in [sample["diaSource"], *(sample["prvDiaSources"] or [])])
    sample["prvDiaForcedSources"] = [
        fill(forced_type, diaForcedSourceId=70000 + i, diaObjectId=sample["diaObject"]["diaObjectId"],
             midpointMjdTai=first - 1 - i, band="gri"[i % 3], psfFlux=f32(10.0 + i), psfFluxErr=f32(1.5))
        for i in range(n_forced)
    ]
    return sample, schema


def schemaless(record: dict, schema: str | dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(_schema(schema)), record)
    return out.getvalue()


def container(
    records: list[dict], schema: str | dict, *, codec: str = "null", one_block_per_record: bool = False
) -> bytes:
    out = io.BytesIO()
    # sync_interval=1 flushes a block after every record.
    fastavro.writer(out, fastavro.parse_schema(_schema(schema)), records, codec=codec,
                    sync_interval=1 if one_block_per_record else 16000)
    return out.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


def write(path: str | Path, data: bytes) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p
