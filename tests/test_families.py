"""Alert families: each of ELAsTiCC 2022, ELAsTiCC 2023, Rubin and ZTF found and read by its own names.

Rubin alerts are lsst-alert-packet's own sample alerts (every version since 7.0), checked against the
`alert.json` the package ships beside each one.
"""

from __future__ import annotations

import json

import alert_factory as af
import pytest
from elasticc_stream.engine import alert_fields, decoder, lightcurve
from elasticc_stream.engine.consume.save import alert_file_stem
from elasticc_stream.engine.families import by_name, family_of
from elasticc_stream.engine.replay.display import index_fields
from show_runner import run_show

RUBIN = af.rubin_samples()


@pytest.mark.parametrize("version,path", RUBIN, ids=[v for v, _ in RUBIN])
def test_rubin_sample_alert_is_read_by_rubin_names(version: str, path, capsys):
    expected = json.loads((path.parent / "alert.json").read_text())
    alert = decoder.read_alert_file(path)[0]
    assert alert.family is by_name("rubin") and alert.kind == "rubin"
    major, minor = version.split(".")
    assert decoder.schema_name(alert.schema) == f"lsst.v{major}_{minor}.alert"
    s = alert_fields.alert_summary(alert)
    source = expected["diaSource"]
    assert (s.source_id, s.time, s.band) == (source["diaSourceId"], source["midpointMjdTai"], source["band"])
    assert s.object_id == expected["diaObject"]["diaObjectId"]
    assert s.flux == pytest.approx(source["psfFlux"]) and s.error == pytest.approx(source["psfFluxErr"])
    assert alert_file_stem(alert) == f"alert_src{source['diaSourceId']}"

    curve = lightcurve.light_curve(alert.record, alert.family)
    assert curve.x_label == "midpointMjdTai (MJD)" and curve.y_label == "psfFlux" and not curve.invert_y
    prv_times = sorted(p["midpointMjdTai"] for p in expected["prvDiaSources"])
    assert sorted(p.time for points in curve.bands.values() for p in points) == sorted(
        [source["midpointMjdTai"], *prv_times])

    code, out, err = run_show(capsys, path, "--width", "90", "--height", "14")
    assert code == 0 and err == ""
    assert (f"Rubin alert: diaSourceId {source['diaSourceId']}, diaObjectId {expected['diaObject']['diaObjectId']}, "
            f"midpointMjdTai {float(source['midpointMjdTai'])}, band {source['band']}, psfFlux ") in out
    assert "(no light curve" not in out
    assert f"◆ current detection ({source['band']} at {float(source['midpointMjdTai'])})" in out


def test_rubin_light_curve_per_band_with_forced_photometry(tmp_path, capsys):
    record, schema = af.rubin_with_forced("11.1", n_forced=5)
    path = af.write(tmp_path / "rubin.avro", af.container([record], schema))
    alert = decoder.read_alert_file(path)[0]
    curve = lightcurve.light_curve(alert.record, alert.family)
    forced = {band: [p.value for p in points] for band, points in curve.secondary.items()}
    assert forced == {"g": [af.f32(13.0), af.f32(10.0)], "r": [af.f32(14.0), af.f32(11.0)], "i": [af.f32(12.0)]}
    assert all(p.source == "forced" and p.error == 1.5 for points in curve.secondary.values() for p in points)
    assert curve.current is not None and curve.current.band == record["diaSource"]["band"]
    code, out, _ = run_show(capsys, path, "--width", "90", "--height", "14")
    assert code == 0 and "○ forced" in out and "• g" in out and "• i" in out


def test_elasticc_families_2022_container_and_2023_schemaless(tmp_path):
    real = decoder.read_alert_file(af.REAL_ALERT)[0]
    assert real.family is by_name("elasticc2022") and real.kind == "elasticc"
    record = af.elasticc_record("elasticc.v0_9_1", source_id=4242, n_forced=2)
    alert = decoder.decode(af.schemaless(record, "elasticc.v0_9_1"))[0]
    assert alert.family is by_name("elasticc2023")
    s = alert_fields.alert_summary(alert)
    assert (s.source_id, s.object_id, s.time, s.band) == (4242, 7, 60000.5, "r")
    assert s.pairs()[0] == ("diaSourceId", 4242) and s.pairs()[3] == ("filter", "r")
    # Without a schema, the record's shape decides: the 2023 schema has no cutouts.
    assert family_of(record) is by_name("elasticc2023")
    assert family_of(real.record) is by_name("elasticc2022")


def test_ztf_family_names_and_upper_limits():
    record = af.ztf_record(n_prv=3, n_limits=2)
    alert = decoder.decode(af.container([record], af.ZTF_SCHEMA))[0]
    assert alert.family is by_name("ztf")
    s = alert_fields.alert_summary(alert)
    assert s.pairs() == [("objectId", "ZTF21abcdefg"), ("candid", 1500), ("jd", 2459000.75), ("fid", "r"),
                         ("magpsf", 18.25)]
    assert alert_file_stem(alert) == "ZTF21abcdefg_1500"
    curve = lightcurve.light_curve(alert.record, alert.family)
    assert curve.invert_y and curve.secondary_label == "upper limit"
    assert sum(len(p) for p in curve.secondary.values()) == 2


def test_registry_by_schema_name_before_record_shape():
    rubin_record = decoder.read_alert_file(RUBIN[-1][1])[0].record
    assert family_of(rubin_record) is by_name("rubin")
    assert family_of({}, "lsst.v9_0.alert") is by_name("rubin")
    assert family_of({}, {"type": "record", "name": "alert", "namespace": "ztf"}) is by_name("ztf")
    assert family_of({"x": 1}) is by_name("other")
    assert alert_fields.summary({"x": 1}).kind == "other"


def test_display_paths_the_index_knows_follow_the_family():
    rubin = index_fields(by_name("rubin"))
    assert rubin["diaSource,midpointMjdTai"] == "mid_point_tai" and rubin["diaSource,band"] == "filter_name"
    assert rubin["diaObject,diaObjectId"] == "dia_object_id"
    assert "diaSource,midPointTai" not in rubin
    assert index_fields(by_name("elasticc2022"))["diaSource,midPointTai"] == "mid_point_tai"


def test_rubin_alerts_prepared_replayed_and_consumed_by_their_names(kafka_bootstrap: str, make_topic, tmp_path):
    import copy

    from elasticc_stream.engine.consume.stream import AlertStream, ConsumeOptions
    from elasticc_stream.engine.prepare import prepare
    from elasticc_stream.engine.replay.events import ObservationDelivered, ReplayPlanned
    from elasticc_stream.engine.replay.runner import Replayer
    from test_replay import Recorder, config_for

    base = decoder.read_alert_file(dict(RUBIN)["11.1"])[0]
    times = []
    for i in range(6):
        record = copy.deepcopy(base.record)
        record["diaSource"]["diaSourceId"] += i
        record["diaSource"]["midpointMjdTai"] += i / 100
        times.append(record["diaSource"]["midpointMjdTai"])
        af.write(tmp_path / "rubin" / f"alert_{i}.avro", af.container([record], base.schema))
    prepare(tmp_path / "rubin")
    for display in ("diaSource,midpointMjdTai", "diaSource,midPointTai"):  # Rubin's own, ELAsTiCC's default
        topic = make_topic(1)
        rec = Recorder()
        finished = Replayer(config_for(kafka_bootstrap, topic, tmp_path / "rubin", per_obs=3,
                                       display_field=display), rec).run()
        assert finished.delivered == 6
        assert [(o.first, o.last) for o in rec.of(ObservationDelivered)] == [(times[0], times[2]),
                                                                              (times[3], times[5])]
        notes = [n for n in rec.of(ReplayPlanned)[0].notes if "DISPLAY_FIELD" in n]
        assert notes == ([] if display == "diaSource,midpointMjdTai" else [
            "DISPLAY_FIELD diaSource,midPointTai: these are Rubin alerts, whose time is diaSource,midpointMjdTai: "
            "showing that"])
    received = [e.alert for e in AlertStream(ConsumeOptions(kafka_bootstrap, topic, timeout=3)).events()
                if hasattr(e, "alert")]
    assert [a.family.name for a in received] == ["rubin"] * 6
    assert [alert_fields.alert_summary(a).time for a in received] == times
