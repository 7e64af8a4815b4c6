"""The one decoder: containers, schemaless with shipped/given/key schemas, gzip, and every way bytes go wrong."""

from __future__ import annotations

import gzip
import io
import json
import random

import alert_factory as af
import fastavro
import pytest
from elasticc_stream.engine import alert_fields, avro_container, decoder, lightcurve
from elasticc_stream.engine.decoder import DecodeError, decode
from elasticc_stream.engine.errors import UserError

LABELS = ("stream2022", "elasticc.v0_9_1", "elasticc.v0_9")


def _one_line(exc: DecodeError, source: str) -> str:
    text = str(exc)
    assert "\n" not in text
    assert text.startswith(f"{source}: ")
    return text


# --- containers ----------------------------------------------------------------------------------------


def test_real_alert_file_decodes_with_its_embedded_schema():
    [alert] = decoder.read_alert_file(af.REAL_ALERT)
    expected = next(iter(fastavro.reader(io.BytesIO(gzip.decompress(af.REAL_ALERT.read_bytes())))))
    assert alert.record == expected
    assert alert.schema_label == "embedded"
    assert alert.kind == "elasticc"
    assert alert.record["diaSource"]["diaSourceId"] == 1494043
    assert len(alert.fingerprint) == 16 and int(alert.fingerprint, 16) >= 0
    # The shipped stream2022 schema is exactly the one the real alert embeds.
    assert alert.fingerprint == decoder.fingerprint(af.shipped("stream2022"))
    # The payload is the record's schemaless encoding, byte for byte.
    assert alert.payload == decoder.encode_schemaless(alert.record, alert.schema)
    [again] = decode(alert.payload)
    assert again.record == alert.record and again.schema_label == "stream2022"


def test_multi_record_container_one_block_and_many_blocks_and_deflate():
    schema = af.shipped("elasticc.v0_9_1")
    records = [af.elasticc_record(schema, source_id=2000 + i, mjd=60000.25 + i) for i in range(3)]
    for kwargs in ({}, {"one_block_per_record": True}, {"codec": "deflate"}, {"codec": "bzip2"}):
        alerts = decode(af.container(records, schema, **kwargs), source="multi.avro")
        assert [a.record for a in alerts] == records, kwargs
        assert {a.schema_label for a in alerts} == {"embedded"}
        for a, r in zip(alerts, records, strict=True):
            assert a.payload == af.schemaless(r, schema)


def test_ztf_like_container_alert():
    records = [af.ztf_record(), af.ztf_record(candid=1501, jd=2459001.5)]
    alerts = decode(af.container(records, af.ZTF_SCHEMA))
    assert [a.kind for a in alerts] == ["ztf", "ztf"]
    assert alerts[0].record["cutoutScience"] == records[0]["cutoutScience"]
    s = alert_fields.summary(alerts[1].record)
    assert (s.kind, s.object_id, s.source_id, s.time, s.band) == ("ztf", "ZTF21abcdefg", 1501, 2459001.5, "r")


def test_truncated_and_corrupt_containers():
    data = af.container([af.elasticc_record()], "elasticc.v0_9_1")
    with pytest.raises(DecodeError, match="truncated Avro container") as err:
        decode(data[:-7], source="cut.avro")
    _one_line(err.value, "cut.avro")
    with pytest.raises(DecodeError, match="truncated Avro container"):
        decode(data[:30], source="head.avro")
    bad_sync = data[:-1] + bytes([data[-1] ^ 0xFF])
    with pytest.raises(DecodeError, match="sync marker"):
        decode(bad_sync, source="sync.avro")
    with pytest.raises(DecodeError, match="truncated Avro container"):
        decode(data + b"\x02", source="trail.avro")
    empty = af.container([], "elasticc.v0_9_1")
    with pytest.raises(DecodeError, match="no records"):
        decode(empty, source="empty.avro")


def test_container_block_with_extra_bytes_is_rejected():
    # Rewrite the block so that it claims one record but carries three more bytes than that record.
    schema = af.shipped("elasticc.v0_9_1")
    record = af.elasticc_record(schema)
    payload = af.schemaless(record, schema) + b"\x00\x00\x00"
    header = af.container([record], schema)
    _, sync, pos = avro_container.read_header(header, "x")
    out = io.BytesIO()
    fastavro.schemaless_writer(out, {"type": "long"}, 1)
    fastavro.schemaless_writer(out, {"type": "long"}, len(payload))
    forged = header[:pos] + out.getvalue() + payload + sync
    with pytest.raises(DecodeError, match="3 bytes left over"):
        decode(forged, source="forged.avro")


# --- schemaless ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", LABELS)
def test_schemaless_roundtrip_and_autodetection(label):
    record = af.elasticc_record(label, n_forced=2)
    data = decoder.encode_schemaless(record, af.shipped(label))
    assert data == af.schemaless(record, label)
    [alert] = decode(data, source="msg")
    assert alert.schema_label == label  # says which shipped schema was used
    assert alert.record == record
    assert alert.payload == data
    assert alert.fingerprint == decoder.fingerprint(af.shipped(label))


def test_shipped_schema_order_and_load_resolves_sibling_files():
    assert [label for label, _ in decoder.shipped_schemas()] == list(LABELS)
    schema = decoder.load_schema_file(decoder.SCHEMA_DIR / "v0_9_1" / "elasticc.v0_9_1.alert.avsc")
    text = json.dumps(schema)
    assert '"name": "elasticc.v0_9_1.diaSource"' in text and "__fastavro" not in text
    # Expanded enough to be embedded alone in a container that reads back.
    record = af.elasticc_record(schema)
    out = io.BytesIO()
    fastavro.writer(out, json.loads(text), [record])
    [alert] = decode(out.getvalue())
    assert alert.record == record and alert.fingerprint == decoder.fingerprint(af.shipped("elasticc.v0_9_1"))


def test_load_schema_file_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="cannot read schema"):
        decoder.load_schema_file(tmp_path / "missing.avsc")
    bad = af.write(tmp_path / "bad.avsc", b'{"type": "record", "name": "x", "fields": [{"name": "a", "type": "nope"}]}')
    with pytest.raises(UserError, match="bad.avsc"):
        decoder.load_schema_file(bad)
    notjson = af.write(tmp_path / "text.avsc", b"hello")
    with pytest.raises(UserError, match="text.avsc"):
        decoder.load_schema_file(notjson)
    # An alert file is also a schema source: its embedded schema.
    assert decoder.fingerprint(decoder.load_schema_file(af.REAL_ALERT)) == decoder.fingerprint(af.shipped("stream2022"))


def test_given_schema_is_used_exactly():
    record = af.elasticc_record("elasticc.v0_9_1")
    data = af.schemaless(record, "elasticc.v0_9_1")
    [alert] = decode(data, schema=af.shipped("elasticc.v0_9_1"))
    assert alert.schema_label == "given" and alert.record == record
    with pytest.raises(DecodeError, match="schema does not decode it exactly") as err:
        decode(data, schema=af.shipped("stream2022"), source="t[0]@5")
    _one_line(err.value, "t[0]@5")


def test_key_carrying_the_writer_schema():
    schema = af.shipped("elasticc.v0_9_1")
    record = af.elasticc_record(schema)
    data = af.schemaless(record, schema)
    key = json.dumps(schema).encode()
    [alert] = decode(data, key=key)
    assert alert.schema_label == "key" and alert.record == record
    # A key that is not a schema (an id, say) is not one: the shipped schemas are tried.
    [alert] = decode(data, key=b"1494043")
    assert alert.schema_label == "elasticc.v0_9_1"
    # A key schema that does not fit is an error, not a fallback guess.
    with pytest.raises(DecodeError, match="key"):
        decode(data, key=json.dumps(af.shipped("stream2022")).encode(), source="k")


def test_gzip_of_container_and_of_schemaless():
    record = af.elasticc_record("stream2022")
    [a] = decode(af.gz(af.container([record], "stream2022")))
    assert a.schema_label == "embedded" and a.record == record
    [b] = decode(af.gz(af.schemaless(record, "stream2022")))
    assert b.schema_label == "stream2022" and b.record == record
    assert b.payload == af.schemaless(record, "stream2022")  # the payload is the decompressed message


def test_schemaless_message_that_starts_like_gzip():
    record = af.elasticc_record("elasticc.v0_9_1", source_id=-70)
    record["alertId"] = -16
    data = af.schemaless(record, "elasticc.v0_9_1")
    assert data[:2] == b"\x1f\x8b"
    [alert] = decode(data)
    assert alert.record == record and alert.schema_label == "elasticc.v0_9_1"


def test_truncated_and_corrupt_gzip(tmp_path):
    data = af.REAL_ALERT.read_bytes()
    path = af.write(tmp_path / "cut.avro.gz", data[: len(data) // 2])
    with pytest.raises(DecodeError, match="truncated gzip") as err:
        decoder.read_alert_file(path)
    _one_line(err.value, str(path))
    with pytest.raises(DecodeError, match="corrupt gzip"):
        decode(data[:80] + b"\xff" * 40 + data[120:], source="bad.gz")


# --- bad bytes -----------------------------------------------------------------------------------------


def test_truncated_trailing_garbage_confluent_and_json_are_decode_errors():
    data = af.schemaless(af.elasticc_record("elasticc.v0_9_1"), "elasticc.v0_9_1")
    cases = {
        "truncated": (data[:-5], "no shipped schema decodes it exactly"),
        "trailing": (data + b"\x00", "left over"),
        "garbage": (b"\xde\xad\xbe\xef" * 40, "no shipped schema decodes it exactly"),
        "confluent": (b"\x00" + (42).to_bytes(4, "big") + data,
                      r"Confluent framing, schema id 42: .*no --schema-registry given"),
        "json": (b'{"alertId": 1}', "JSON text, not Avro"),
        "empty": (b"", "empty message"),
    }
    for name, (payload, reason) in cases.items():
        with pytest.raises(DecodeError, match=reason) as err:
            decode(payload, source=f"topic[3]@{name}")
        text = _one_line(err.value, f"topic[3]@{name}")
        assert err.value.source == f"topic[3]@{name}" and err.value.reason in text


def test_decode_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(DecodeError("a.avro", "truncated gzip data")))
    assert (str(err), err.source, err.reason) == ("a.avro: truncated gzip data", "a.avro", "truncated gzip data")


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(DecodeError, match="cannot read") as err:
        decoder.read_alert_file(tmp_path / "nope.avro")
    _one_line(err.value, str(tmp_path / "nope.avro"))


def test_random_and_mutated_bytes_never_escape_as_other_exceptions():
    rng = random.Random(20220302)
    real = decoder.read_alert_file(af.REAL_ALERT)[0].payload
    container = gzip.decompress(af.REAL_ALERT.read_bytes())
    decoded = 0
    for i in range(300):
        if i % 3 == 0:
            blob = rng.randbytes(rng.randint(1, 400))
        else:
            base = bytearray(real if i % 3 == 1 else container)
            for _ in range(rng.randint(1, 8)):
                base[rng.randrange(len(base))] = rng.randrange(256)
            blob = bytes(base[: rng.randint(len(base) // 2, len(base))]) if i % 2 else bytes(base)
        try:
            alerts = decode(blob, source=f"fuzz{i}")
        except DecodeError as exc:
            _one_line(exc, f"fuzz{i}")
            continue
        # Mutating a float or an id keeps the bytes decodable: then the payload must still read back exactly.
        decoded += 1
        for a in alerts:
            assert decode(a.payload, schema=a.schema)[0].record == a.record
    assert decoded < 300


def test_encode_schemaless_reports_a_misfit():
    with pytest.raises(ValueError, match="does not fit schema"):
        decoder.encode_schemaless({"alertId": "x"}, af.shipped("elasticc.v0_9_1"))


def test_parsed_schema_is_cached():
    schema = af.shipped("elasticc.v0_9_1")
    assert decoder.parsed(schema) is decoder.parsed(json.loads(json.dumps(schema)))


# --- fields and light curves ---------------------------------------------------------------------------


def test_display_value_and_summary():
    record = af.elasticc_record("elasticc.v0_9_1", source_id=77, mjd=59582.0513)
    assert alert_fields.display_value(record, "diaSource,midPointTai") == 59582.0513
    assert alert_fields.display_value(record, "diaSource.diaSourceId") == 77
    assert alert_fields.display_value(record, "alertId") == 1231321321
    assert alert_fields.display_value(record, "None") is None
    assert alert_fields.display_value(record, "prvDiaSources,0,filterName") == "u"
    record["diaObject"] = None
    assert alert_fields.display_value(record, "diaObject,ra") is None  # null on the way: no value
    with pytest.raises(alert_fields.FieldNotFound, match="no field 'midPointTaj' in diaSource") as err:
        alert_fields.display_value(record, "diaSource,midPointTaj")
    assert isinstance(err.value, KeyError)
    s = alert_fields.summary(record)
    assert (s.kind, s.source_id, s.object_id, s.time, s.band, s.flux) == ("elasticc", 77, 7, 59582.0513, "r", 123.5)
    assert alert_fields.summary({"x": 1}).kind == "other"


def test_to_json_is_exact_and_bytes_are_base64():
    record = af.ztf_record()
    back = json.loads(alert_fields.to_json(record))
    assert back["candidate"]["magpsf"] == record["candidate"]["magpsf"]
    import base64

    assert base64.b64decode(back["cutoutScience"]) == record["cutoutScience"]


def test_light_curve_points_and_text():
    record = af.elasticc_record("elasticc.v0_9_1", n_prv=6, n_forced=3, band="Y", mjd=60674.0512)
    curve = lightcurve.light_curve(record)
    assert curve.current is not None and curve.current.band == "Y" and curve.current.time == 60674.0512
    assert sorted(curve.bands) == sorted(["u", "g", "r", "i", "z", "Y"])
    assert sum(len(v) for v in curve.bands.values()) == 7
    assert sum(len(v) for v in curve.secondary.values()) == 3
    text = lightcurve.render_light_curve(record, 90, 18, color=False)
    assert "\x1b" not in text
    key = text.splitlines()[-1]
    for band in ("u", "g", "r", "i", "z", "Y"):
        assert f"• {band}" in key
    assert "○ forced" in key and "◆ current detection (Y at 60674.0512)" in key
    assert "◆" in "\n".join(text.splitlines()[:-1])  # the current detection is drawn, not only named
    assert max(len(line) for line in text.splitlines()[:-1]) <= 90
    assert "\x1b[" in lightcurve.render_light_curve(record, 90, 18, color=True)


def test_real_alert_light_curve_and_ztf_inverted_magnitudes():
    [alert] = decoder.read_alert_file(af.REAL_ALERT)
    curve = lightcurve.light_curve(alert.record)
    assert sum(len(v) for v in curve.bands.values()) == 19  # diaSource + 18 prvDiaSources
    ztf = lightcurve.light_curve(af.ztf_record(n_prv=3, n_limits=2))
    assert ztf.invert_y and ztf.kind == "ztf"
    assert sum(len(v) for v in ztf.secondary.values()) == 2
    text = lightcurve.render_light_curve(af.ztf_record(), 80, 16, color=False)
    assert "▽ upper limit" in text and "◆ current detection (r at 2459000.75)" in text
    # Brighter (smaller magnitude) is up: the first y tick label is the smallest magnitude.
    ticks = [float(line.split("┤")[0]) for line in text.splitlines() if "┤" in line]
    assert ticks == sorted(ticks)
    assert lightcurve.render_light_curve({"x": 1}, 80, 16, color=False).startswith("(no light curve")


def test_render_light_curve_from_several_threads_gives_the_same_text():
    from concurrent.futures import ThreadPoolExecutor

    records = [af.elasticc_record("elasticc.v0_9_1", n_prv=4), af.ztf_record()]
    expected = [lightcurve.render_light_curve(r, 70, 14, color=False) for r in records]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: lightcurve.render_light_curve(records[i % 2], 70, 14, color=False), range(16)))
    assert got == [expected[i % 2] for i in range(16)]
