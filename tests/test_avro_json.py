"""Every Avro type to JSON and to tree text by one rule (engine.avro_json), and big files in `show`.

The ZTF container is built by `alert_factory.ztf_logical_container`: 11 alerts with timestamp-millis,
timestamp-micros, date, time-millis, decimal and uuid logical types, as a broker's ZTF container carries them
(no real one ships on PyPI: fink-client's wheel and sdist hold no test alerts).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import hashlib
import io
import json
import uuid

import alert_factory as af
import fastavro
from elasticc_stream.engine import avro_json, decoder
from elasticc_stream.engine.consume.save import AlertSaver, container_bytes
from elasticc_stream.tui.widgets.alert_tree import PAGE, AlertTree, More
from show_runner import run_show
from textual.app import App


def strict(line: str):
    def refuse(name: str):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(line, parse_constant=refuse)


def test_the_json_rule_for_every_logical_type():
    utc = dt.UTC
    value = {
        "ts": dt.datetime(2020, 3, 20, 4, 5, 6, 789000, tzinfo=utc),
        "local": dt.datetime(2020, 3, 20, 4, 5, 6),
        "offset": dt.datetime(2020, 3, 20, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "date": dt.date(2020, 3, 20), "time": dt.time(4, 5, 6, 789000),
        "dec": decimal.Decimal("12345678901234567890.000000000001"), "big": decimal.Decimal("1E+3"),
        "uuid": uuid.UUID(int=1), "bytes": b"\x00\xff", "nan": float("nan"), "inf": float("-inf"),
        "f32": af.f32(0.1),
    }
    back = strict(avro_json.to_json(value))
    assert back == {
        "ts": "2020-03-20T04:05:06.789000Z", "local": "2020-03-20T04:05:06",
        "offset": "2020-03-20T04:05:00+02:00", "date": "2020-03-20", "time": "04:05:06.789000",
        "dec": "12345678901234567890.000000000001", "big": "1000",
        "uuid": "00000000-0000-0000-0000-000000000001", "bytes": base64.b64encode(b"\x00\xff").decode(),
        "nan": "NaN", "inf": "-Infinity", "f32": af.f32(0.1),
    }
    assert avro_json.leaf(value["ts"]) == ("2020-03-20T04:05:06.789000Z", "time")
    assert avro_json.leaf(value["dec"]) == ("12345678901234567890.000000000001", "number")
    assert avro_json.leaf(object())[1] == "other"  # never an exception, whatever the value


def test_the_fast_encoder_keeps_the_rule_and_never_writes_a_nan_as_null():
    # Records free of non-finite floats go through orjson; the others through json. Both must say the same.
    value = {
        "ts": dt.datetime(2020, 3, 20, 4, 5, 6, 789000, tzinfo=dt.UTC), "date": dt.date(2020, 3, 20),
        "dec": decimal.Decimal("1E+3"), "uuid": uuid.UUID(int=1), "bytes": b"\x00\xff", "none": None,
        "floats": [0.1, -0.0, 5e-324, 1.7976931348623157e308, 2.5e-7], "text": "é\n\"",
    }
    back = strict(avro_json.to_json(value))
    assert back["ts"] == "2020-03-20T04:05:06.789000Z" and back["dec"] == "1000" and back["none"] is None
    assert back["bytes"] == "AP8=" and back["uuid"] == str(uuid.UUID(int=1)) and back["text"] == "é\n\""
    assert back["floats"] == value["floats"]  # every double reads back exactly
    record = af.elasticc_record("stream2022", source_id=7, n_prv=3, n_forced=3)
    assert strict(avro_json.to_json(record)) == strict(json.dumps(record))
    for bad, text in ((float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity")):
        deep = {**record, "prvDiaSources": [*record["prvDiaSources"][:2],
                                            {**record["prvDiaSources"][2], "psFlux": bad}]}
        assert strict(avro_json.to_json(deep))["prvDiaSources"][2]["psFlux"] == text


def test_ztf_container_of_11_alerts_shows_whole_as_json_and_tree(tmp_path, capsys):
    path = af.write(tmp_path / "ztf11.avro", af.ztf_logical_container(11))
    code, out, err = run_show(capsys, path, "--json")
    assert code == 0 and err == ""
    rows = [strict(line) for line in out.splitlines()]
    assert [r["candid"] for r in rows] == [2000 + i for i in range(11)]
    assert rows[3]["publishedAt"] == "2020-03-23T04:05:06.789000Z" and rows[3]["night"] == "2020-03-23"
    assert rows[0]["processedAt"] == "2020-03-21T00:00:00.123456Z" and rows[1]["processedAt"] is None
    assert rows[2]["fluxRatio"] == "2.000125" and rows[2]["alertUuid"] == str(uuid.UUID(int=0x1234 + 2))

    code, out, err = run_show(capsys, path, "--no-plot")
    assert code == 0 and err == ""
    assert out.count("ZTF alert: objectId ZTF20aaaaa") == 11 and f"{path} [record 11]" in out
    assert "datetime." not in out and "Decimal(" not in out and "UUID(" not in out
    assert "publishedAt: 2020-03-20T04:05:06.789000Z" in out and "fluxRatio: 0.000125" in out


def test_show_record_max_and_collapsed_arrays(tmp_path, capsys):
    record = af.elasticc_record("stream2022", source_id=500, n_prv=7, n_forced=9)
    records = [{**record, "diaSource": {**record["diaSource"], "diaSourceId": 500 + i}} for i in range(5)]
    path = af.write(tmp_path / "five.avro", af.container(records, "stream2022"))

    code, out, _ = run_show(capsys, path, "--record", "4", "--no-plot")
    assert code == 0 and out.count("ELAsTiCC alert:") == 1 and "diaSourceId 503," in out
    assert f"{path} [record 4]" in out
    code, out, _ = run_show(capsys, path, "--max", "2", "--json")
    assert [strict(line)["diaSource"]["diaSourceId"] for line in out.splitlines()] == [500, 501]
    code, _, err = run_show(capsys, path, "--record", "9")
    assert code == 1 and "--record 9: the file holds 5 record(s)" in err

    code, out, _ = run_show(capsys, path, "--record", "1", "--no-plot")
    assert "prvDiaSources (7)" in out and "… 4 more items (--full shows all)" in out
    assert "prvDiaForcedSources (9)" in out and "… 6 more items (--full shows all)" in out
    assert "[0]  diaSourceId 493, midPointTai 59993.5, filterName \"u\"" in out
    collapsed = out.count("\n")
    code, out, _ = run_show(capsys, path, "--record", "1", "--no-plot", "--full")
    assert "more items" not in out and "[6]" in out and "[8]" in out
    assert out.count("\n") > 2 * collapsed


def test_a_saved_file_is_what_fastavro_writes_for_the_alert_without_encoding_it_again(tmp_path):
    alerts = [*decoder.decode(af.ztf_logical_container(3)), *decoder.read_alert_file(af.REAL_ALERT)]
    alerts += [decoder.read_alert_file(path)[0] for _, path in af.rubin_samples()[-2:]]
    saver = AlertSaver(tmp_path)
    for alert in alerts:
        data = container_bytes(alert)
        marker = hashlib.sha256(b"sync" + alert.fingerprint.encode() + alert.payload).digest()[:16]
        reference = io.BytesIO()
        fastavro.writer(reference, decoder.parsed(alert.schema), [alert.record], sync_marker=marker)
        assert data == reference.getvalue()
        path = saver.save(alert).path
        assert path.read_bytes() == data
        saved = decoder.read_alert_file(path)[0]
        assert saved.record == alert.record and saved.payload == alert.payload  # logical types survive the trip
    assert (saver.written, saver.failed) == (len(alerts), 0)
    # The record is not encoded again: a file holds the bytes received, even where the record was altered.
    altered = dataclasses.replace(alerts[1], record={**alerts[1].record, "publishedAt": "not a time"})
    assert container_bytes(altered) == container_bytes(alerts[1])


class TreeApp(App):
    def __init__(self, record: dict) -> None:
        super().__init__()
        self.record = record

    def compose(self):
        yield AlertTree(self.record)


async def test_tui_tree_uses_the_rule_and_pages_long_lists():
    record = af.ztf_logical_record(0)
    record["prv_candidates"] = record["prv_candidates"] * 45  # 135 items
    app = TreeApp(record)
    async with app.run_test() as pilot:
        tree = app.query_one(AlertTree)
        labels = {str(node.label) for node in tree.root.children}
        assert "publishedAt: 2020-03-20T04:05:06.789000Z" in labels and "fluxRatio: 0.000125" in labels
        prv = next(node for node in tree.root.children if str(node.label).startswith("prv_candidates"))
        prv.expand()
        await pilot.pause()
        assert len(prv.children) == PAGE + 1 and isinstance(prv.children[-1].data, More)
        assert str(prv.children[-1].label) == f"… {135 - PAGE} more (Enter shows {PAGE} more)"
        tree.select_node(prv.children[-1])
        await pilot.pause()
        assert len(prv.children) == 2 * PAGE + 1
        tree.select_node(prv.children[-1])
        await pilot.pause()
        assert len(prv.children) == 135 and not isinstance(prv.children[-1].data, More)


def test_consume_json_and_save_take_the_ztf_container_whole(kafka_bootstrap: str, make_topic, tmp_path):
    from conftest import run_cli
    from test_consume import produce

    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [af.ztf_logical_container(11)])
    out = tmp_path / "saved"
    done = run_cli("consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--json", "--save", str(out),
                   "--timeout", "3")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    rows = [strict(line) for line in done.stdout.splitlines()]
    assert [(r["offset"], r["alert"]["candid"]) for r in rows] == [(0, 2000 + i) for i in range(11)]
    assert rows[5]["alert"]["publishedAt"] == "2020-03-25T04:05:06.789000Z"
    assert "summary: 11 alerts, 0 decode errors" in done.stderr and "saved: 11 files" in done.stderr
    saved = sorted(out.iterdir())
    assert [p.name for p in saved] == [f"ZTF20aaaaa{i:02d}_{2000 + i}.avro" for i in range(11)]
    expected = [a.record for a in decoder.decode(af.ztf_logical_container(11))]
    assert [decoder.read_alert_file(p)[0].record for p in saved] == expected
