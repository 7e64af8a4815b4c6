"""`elasticc-stream simulate`: the batch it writes, read back and checked against the FITS files."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import tarfile
from collections import Counter, defaultdict
from pathlib import Path

import fastavro
import numpy as np
import pytest
from astropy.io import fits
from elasticc_stream.engine import decoder
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.simulate.alerts import STREAM_ALERT_ID
from elasticc_stream.engine.simulate.batch import ALERT_NAME_RE, parse_nights, simulate
from elasticc_stream.engine.simulate.schema import V0_9_1_SCHEMA
from elasticc_stream.engine.simulate.snana import bundled_snana_prefix
from elasticc_stream.engine.simulate.visits import sky_field
from fastavro.schema import load_schema

FIRST, LAST = 53062, 53068  # the first four nights with detections: 752 alerts
PREFIX = bundled_snana_prefix()


def _fits_tables():
    head = fits.getdata(str(PREFIX) + "_HEAD.FITS.gz", 1)
    phot = fits.getdata(str(PREFIX) + "_PHOT.FITS.gz", 1)
    return head, phot


def _detections_per_night() -> Counter:
    """Counted straight from PHOT, independently of the simulate code."""
    _, phot = _fits_tables()
    mjd = np.asarray(phot["MJD"])
    det = ((np.asarray(phot["PHOTFLAG"]) & 4096) != 0) & (mjd >= 0)
    return Counter(int(m) for m in mjd[det])


def _read_batch(alerts_dir: Path) -> dict[int, list[tuple[str, bytes]]]:
    out = {}
    for tar_path in sorted(alerts_dir.glob("NITE*.tar.gz")):
        nite = int(tar_path.name[4:-7])
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
            assert members[0].isdir() and members[0].name == f"NITE{nite}"
            out[nite] = [(m.name, tar.extractfile(m).read()) for m in members[1:]]
    return out


@pytest.fixture(scope="module")
def container_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("container")
    report = simulate(PREFIX, out, nights=(FIRST, LAST))
    return report, Path(report.alerts_dir), _read_batch(Path(report.alerts_dir))


@pytest.fixture(scope="module")
def container_alerts(container_batch):
    """nite -> list of (file name, record, DecodedAlert), decoded with fastavro's reader."""
    _, _, batch = container_batch
    decoded = {}
    for nite, members in batch.items():
        rows = []
        for name, data in members:
            records = list(fastavro.reader(io.BytesIO(gzip.decompress(data))))
            assert len(records) == 1, name
            rows.append((name, records[0], decoder.decode(data, source=name)))
        decoded[nite] = rows
    return decoded


def test_layout_and_counts_per_night(container_batch):
    report, alerts_dir, batch = container_batch
    assert alerts_dir.parts[-2:] == ("LSST_ALERTS_BATCH", "ALERTS")
    expected = {n: c for n, c in _detections_per_night().items() if FIRST <= n <= LAST}
    assert {n: len(m) for n, m in batch.items()} == expected
    assert report.alerts == sum(expected.values()) == 752
    assert [n.nite for n in report.nights] == sorted(expected)


def test_names_follow_the_real_pattern_and_match_the_content(container_alerts):
    for nite, rows in container_alerts.items():
        for name, record, _ in rows:
            folder, _, base = name.partition("/")
            assert folder == f"NITE{nite}"
            match = ALERT_NAME_RE.match(base)
            assert match, base
            source = record["diaSource"]
            assert match[1] == f"{source['midPointTai']:.4f}"
            assert int(match[2]) == record["diaObject"]["diaObjectId"] == source["diaObjectId"]
            assert int(match[3]) == source["diaSourceId"]


def test_every_alert_decodes_and_payload_is_canonical_avro(container_alerts):
    for rows in container_alerts.values():
        for _, record, decoded in rows:
            (alert,) = decoded
            assert alert.schema_label == "embedded" and alert.kind == "elasticc"
            assert alert.record == record
            # Pieces are stitched by hand for speed: they must equal fastavro's own encoding.
            assert decoder.encode_schemaless(record, alert.schema) == alert.payload


def test_stream_quirks_and_unique_ids(container_alerts):
    ids = [r["diaSource"]["diaSourceId"] for rows in container_alerts.values() for _, r, _ in rows]
    assert len(ids) == len(set(ids))
    for rows in container_alerts.values():
        for _, record, _ in rows:
            assert record["alertId"] == STREAM_ALERT_ID
            assert record["diaSource"]["ccdVisitId"] == 111111
            assert all(p["ccdVisitId"] == 111111 for p in record["prvDiaSources"] or [])
            assert record["cutoutDifference"] is None and record["prvDiaNondetectionLimits"] is None


def test_prv_sources_are_exactly_the_earlier_detections(container_alerts):
    by_object = defaultdict(list)
    for rows in container_alerts.values():  # FIRST is the first night with detections: histories are complete
        for _, record, _ in rows:
            by_object[record["diaObject"]["diaObjectId"]].append(record["diaSource"])
    checked = 0
    for rows in container_alerts.values():
        for _, record, _ in rows:
            source = record["diaSource"]
            t = source["midPointTai"]
            prv = record["prvDiaSources"] or []
            assert all(p["midPointTai"] < t for p in prv)
            assert all(p["diaObjectId"] == source["diaObjectId"] for p in prv)
            earlier = sorted(s["diaSourceId"] for s in by_object[source["diaObjectId"]] if s["midPointTai"] < t)
            assert sorted(p["diaSourceId"] for p in prv) == earlier
            checked += len(prv)
            forced = record["prvDiaForcedSources"] or []
            assert all(t - 30 <= f["midPointTai"] < t for f in forced)
    assert checked > 1000


def test_visit_times_inside_the_night_and_shared_per_visit(container_alerts):
    for nite, rows in container_alerts.items():
        visit_time = {}
        times = set()
        for _, record, _ in rows:
            s = record["diaSource"]
            t = s["midPointTai"]
            assert nite <= t < nite + 0.4
            assert round(t, 4) == t
            key = (sky_field(s["ra"], s["decl"]), s["filterName"])
            assert visit_time.setdefault(key, t) == t, key
            times.add(t)
        # Many visits a night, each shared by several alerts.
        assert len(times) == len(visit_time) > 6
        if len(rows) > 100:
            assert len(times) < len(rows)
        assert [r["diaSource"]["midPointTai"] for _, r, _ in rows] == sorted(
            r["diaSource"]["midPointTai"] for _, r, _ in rows
        )


def test_values_come_from_the_fits_rows(container_alerts):
    head, phot = _fits_tables()
    rows_by_snid = {int(str(s).strip()): i for i, s in enumerate(head["SNID"])}
    _, record, _ = container_alerts[LAST][-1]
    obj = record["diaObject"]
    h = head[rows_by_snid[obj["diaObjectId"]]]
    assert obj["ra"] == pytest.approx(h["RA"]) and obj["decl"] == pytest.approx(h["DEC"])
    assert obj["z_final"] == pytest.approx(h["REDSHIFT_FINAL"])
    assert obj["hostgal_mag_r"] == pytest.approx(h["HOSTGAL_MAG_r"])
    assert obj["hostgal2_mag_r"] == 999.0 and obj["hostgal2_snsep"] == -9.0
    # diaSourceId = SNID * 2000 + position of the epoch in the object's PHOT block.
    src = record["diaSource"]
    row = h["PTROBS_MIN"] - 1 + src["diaSourceId"] - obj["diaObjectId"] * 2000
    assert math.floor(src["midPointTai"]) == int(phot["MJD"][row])
    assert phot["PHOTFLAG"][row] & 4096
    assert src["filterName"] == phot["BAND"][row].strip()
    assert src["psFlux"] == pytest.approx(phot["FLUXCAL"][row], rel=1e-6)
    assert src["psFluxErr"] == pytest.approx(phot["FLUXCALERR"][row], rel=1e-6)
    assert src["snr"] == pytest.approx(phot["FLUXCAL"][row] / phot["FLUXCALERR"][row], rel=1e-5)


def test_schemaless_format_decodes_with_v0_9_1(tmp_path, container_alerts):
    report = simulate("bundled", tmp_path, nights=(FIRST, 53064), fmt="schemaless")
    assert report.schema == "elasticc.v0_9_1"
    schema = load_schema(str(V0_9_1_SCHEMA))
    batch = _read_batch(Path(report.alerts_dir))
    assert {n: len(m) for n, m in batch.items()} == {53062: 15, 53064: 107}
    container = {r["diaSource"]["diaSourceId"]: r for _, r, _ in container_alerts[53064]}
    for name, data in batch[53064]:
        raw = gzip.decompress(data)
        assert not raw.startswith(b"Obj\x01")
        stream = io.BytesIO(raw)
        record = fastavro.schemaless_reader(stream, schema)
        assert stream.tell() == len(raw), name  # every byte consumed: written with exactly this schema
        assert record["alertId"] == STREAM_ALERT_ID
        assert record["diaObject"]["simVersion"] == PREFIX.name
        same = container[record["diaSource"]["diaSourceId"]]
        assert record["diaSource"]["midPointTai"] == same["diaSource"]["midPointTai"]
        assert [p["diaSourceId"] for p in record["prvDiaSources"] or []] == [
            p["diaSourceId"] for p in same["prvDiaSources"] or []
        ]


def test_output_is_deterministic_and_independent_of_the_range(tmp_path, container_batch):
    _, first_dir, _ = container_batch
    a = simulate(PREFIX, tmp_path / "a", nights=(FIRST, 53064))
    b = simulate(PREFIX, tmp_path / "b", nights=(FIRST, 53064), jobs=2)
    for night in a.nights:
        name = Path(night.path).name
        data = Path(night.path).read_bytes()
        assert data == (Path(b.alerts_dir) / name).read_bytes()
        assert data == (first_dir / name).read_bytes()


def test_objects_and_max_nights_limits(tmp_path, container_batch):
    _, _, full = container_batch
    report = simulate(PREFIX, tmp_path, max_objects=5, max_nights=2)
    assert report.objects == 5
    assert [n.nite for n in report.nights] == [53064, 53066]  # the first 5 objects start later
    objects = set()
    for nite, members in _read_batch(Path(report.alerts_dir)).items():
        objects.update(int(ALERT_NAME_RE.match(n.partition("/")[2])[2]) for n, _ in members)
        # A subset of objects picks alerts out of the full batch without changing a byte of them.
        assert set(members) <= set(full[nite])
    assert 0 < len(objects) <= 5


def test_bad_input_is_a_one_line_user_error(tmp_path):
    with pytest.raises(UserError, match="_HEAD.FITS.gz: no such SNANA file"):
        simulate(tmp_path / "nothing", tmp_path / "out")
    for bad in ("abc", "5:x", "10:2", ""):
        with pytest.raises(UserError, match="--nights"):
            parse_nights(bad)
    assert parse_nights("53062:") == (53062, None)
    assert parse_nights(":53070") == (None, 53070)
    assert parse_nights("53064") == (53064, 53064)
    with pytest.raises(UserError, match="nights are 53062..53480"):
        simulate(PREFIX, tmp_path / "out", nights=(1, 3))
    (tmp_path / "x_HEAD.FITS.gz").write_bytes(gzip.compress(b"not fits"))
    (tmp_path / "x_PHOT.FITS.gz").write_bytes(gzip.compress(b"not fits"))
    with pytest.raises(UserError, match="x_HEAD.FITS.gz: cannot read FITS") as info:
        simulate(tmp_path / "x", tmp_path / "out")
    assert "\n" not in str(info.value)
    schema = tmp_path / "s.avsc"
    schema.write_text('{"type": "record", "name": "x", "fields": [{"name": "a", "type": "long"}]}')
    with pytest.raises(UserError, match="no diaSource"):
        simulate(PREFIX, tmp_path / "out", schema=schema)


def test_cli_json_report(tmp_path, capsys):
    from elasticc_stream.cli import simulate as cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["simulate", "bundled", str(tmp_path), "--nights", "53062:53064", "--json"])
    assert args.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["alerts"] == 122 and report["fmt"] == "container" and report["schema"] == "stream2022"
    assert [n["nite"] for n in report["nights"]] == [53062, 53064]
    args = parser.parse_args(["simulate", "bundled", str(tmp_path), "--nights", "nope"])
    with pytest.raises(UserError):
        args.run(args)
