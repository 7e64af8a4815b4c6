"""Confluent wire format: Rubin's sample alerts (lsst-alert-packet) framed and unframed, ids from the schemas,
and a schema registry through confluent-kafka's client (against the stand-in server of registry_standin)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import alert_factory as af
import pytest
from conftest import run_cli
from elasticc_stream.engine.decoder import DecodeError, decode, load_schema_file, read_alert_file
from elasticc_stream.engine.schemas import rubin
from elasticc_stream.engine.wire import confluent
from elasticc_stream.engine.wire.registry import Registry
from registry_standin import StandInRegistry
from show_runner import run_show

SINCE_7 = [(v, p) for v, p in rubin.sample_alerts() if int(v.split(".")[0]) >= 7]


def framed_sample(version: str, path: Path) -> tuple[bytes, object]:
    alert = read_alert_file(path)[0]
    return confluent.frame(rubin.schema_id_of(alert.schema), alert.payload), alert


def test_every_version_since_7_is_shipped_and_ids_come_from_the_schemas() -> None:
    versions = [v for v, _ in SINCE_7]
    assert versions[:5] == ["7.0", "7.1", "7.2", "7.3", "7.4"] and {"8.0", "9.0", "10.0", "11.0"} <= set(versions)
    from lsst.alert.packet import Schema

    for version, path in SINCE_7:
        entry = next(e for e in rubin.shipped().values() if e.version == version)
        # Rubin's own package computes the same id from the schema (its registry ids)...
        assert Schema.from_file(str(entry.path)).get_schema_id() == entry.schema_id, version
        # ...and where the files state confluent:version, that is the id.
        stated = rubin._stated_id(entry.path.parent)
        assert stated in (None, entry.schema_id)
        embedded = read_alert_file(path)[0].schema
        assert rubin.schema_id_of(embedded) == entry.schema_id
    assert rubin.shipped()[1101].version == "11.1" and rubin._stated_id(rubin.shipped()[1101].path.parent) == 1101
    assert rubin.schema_id_of(af.shipped("elasticc.v0_9_1")) is None  # not a Rubin schema: no id guessed


def test_framed_and_unframed_samples_decode_exactly() -> None:
    for version, path in SINCE_7:
        framed, container_alert = framed_sample(version, path)
        got = decode(framed, source=version)[0]
        assert got.schema_id == rubin.schema_id_of(container_alert.schema)
        assert got.schema_label == "lsst-alert-packet"
        assert got.record == container_alert.record and got.payload == container_alert.payload
        assert got.fingerprint == container_alert.fingerprint  # the package's .avsc is the writer schema
        # Unframed schemaless, with the version's schema given; framed with it given too.
        avsc = rubin.shipped()[got.schema_id].path
        given = load_schema_file(avsc)
        assert decode(container_alert.payload, schema=given)[0].record == container_alert.record
        assert decode(framed, schema=given)[0].schema_label == "given"


def test_framed_with_unknown_id_is_one_line_naming_every_place_looked_in() -> None:
    _, alert = framed_sample(*SINCE_7[-1])
    with pytest.raises(DecodeError) as err:
        decode(confluent.frame(4242, alert.payload), source="rubin[0] offset 9")
    text = str(err.value)
    assert "\n" not in text and text.startswith("rubin[0] offset 9: Confluent framing, schema id 4242: ")
    assert "lsst-alert-packet ships no schema with id 4242" in text and "no --schema-registry given" in text
    # A wrong id that IS shipped: its schema does not read the body, said with the schema's name.
    with pytest.raises(DecodeError, match=r"schema id 700: lsst-alert-packet \(lsst.v7_0.alert\)"):
        decode(confluent.frame(700, alert.payload))


def test_frame_header_layout() -> None:
    assert confluent.frame(1101, b"xy") == b"\x00" + struct.pack(">I", 1101) + b"xy"
    assert confluent.split(b"\x00\x00\x00\x04\x4d" + b"body") == (1101, b"body")
    assert confluent.split(b"\x01\x00\x00\x00\x01body") is None and confluent.split(b"\x00\x00\x00\x00\x01") is None
    with pytest.raises(ValueError):
        confluent.header(-1)


def test_show_framed_and_unframed_samples(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    framed_files, schemaless_files = [], []
    for version, path in SINCE_7:
        framed, alert = framed_sample(version, path)
        framed_files.append(af.write(tmp_path / f"framed_{version}.avro", framed))
        schemaless_files.append((af.write(tmp_path / f"bare_{version}.avro", alert.payload), alert))
    code, out, err = run_show(capsys, *framed_files, "--width", "100", "--height", "12")
    assert code == 0, err
    assert out.count("Rubin alert: diaSourceId ") == len(SINCE_7)  # the family's header, as for the containers
    assert out.count("◆ current detection") == len(SINCE_7)  # and its light curve
    for version, _ in SINCE_7:
        sid = next(e.schema_id for e in rubin.shipped().values() if e.version == version)
        name = f"lsst.v{version.replace('.', '_')}.alert"
        assert f"schema {name} (Confluent framing, schema id {sid}, shipped by lsst-alert-packet" in out
    for (path, alert), (version, _) in zip(schemaless_files, SINCE_7, strict=True):
        sid = rubin.schema_id_of(alert.schema)
        code, out, err = run_show(capsys, path, "--schema", rubin.shipped()[sid].path, "--no-plot")
        assert code == 0 and "given with --schema" in out, (version, err)
    # The containers themselves, as lsst-alert-packet ships them.
    code, out, err = run_show(capsys, *(p for _, p in SINCE_7), "--no-plot")
    assert code == 0 and out.count("embedded in the file") == len(SINCE_7), err


# --- a schema registry ---------------------------------------------------------------------------------------


def test_registry_decodes_an_id_nothing_ships_with_basic_auth(tmp_path: Path) -> None:
    record = af.elasticc_record("elasticc.v0_9_1", source_id=777)
    body = af.schemaless(record, "elasticc.v0_9_1")
    with StandInRegistry(user_info="alice:s3cret") as server:
        sid = server.add(af.shipped("elasticc.v0_9_1"), subject="elasticc-value", schema_id=31)
        good = Registry(server.url, {"basic.auth.user.info": "alice:s3cret"})
        alert = decode(confluent.frame(sid, body), registry=good)[0]
        assert (alert.record, alert.schema_label, alert.schema_id) == (record, "registry", 31)
        asked = len(server.requests)
        decode(confluent.frame(sid, body), registry=good)  # cached by the client: no second request
        assert len(server.requests) == asked and ("GET", "/schemas/ids/31") in server.requests
        # Unknown id: the registry is asked once, and says so.
        with pytest.raises(DecodeError, match=f"registry {server.url} has no schema id 32"):
            decode(confluent.frame(32, body), registry=good)
        # Wrong password: one line, the password nowhere.
        bad = Registry(server.url, {"basic.auth.user.info": "alice:wrong-pw"})
        with pytest.raises(DecodeError) as err:
            decode(confluent.frame(sid, body), registry=bad)
        assert "refused schema id 31" in str(err.value) and "401" in str(err.value)
        assert "wrong-pw" not in str(err.value) and "\n" not in str(err.value)
        # Credentials in the URL work too and are never shown.
        host = server.url.removeprefix("http://")
        in_url = Registry(f"http://alice:s3cret@{host}")
        assert in_url.shown == f"http://alice:***@{host}"
        assert decode(confluent.frame(sid, body), registry=in_url)[0].record == record
        # Looking up and registering (what replay does for --framing confluent with a registry).
        assert good.id_for(af.shipped("elasticc.v0_9_1"), "elasticc-value") == (31, False)
        new_id, registered = good.id_for(af.shipped("stream2022"), "other-value")
        assert registered and server.schemas[new_id]
        assert good.id_for(af.shipped("stream2022"), "other-value") == (new_id, False)
    # The registry gone: one line per message, no traceback, nothing else asked for RETRY_AFTER_S.
    gone = Registry(server.url, {"timeout": "2"})
    with pytest.raises(DecodeError, match=r"registry http://127\.0\.0\.1:\d+ unreachable for schema id 31"):
        decode(confluent.frame(31, body), registry=gone)


def test_show_with_schema_registry_and_registry_properties(tmp_path: Path) -> None:
    record = af.elasticc_record("elasticc.v0_9_1", source_id=4141)
    with StandInRegistry(user_info="bob:pw-123") as server:
        sid = server.add(af.shipped("elasticc.v0_9_1"))
        path = af.write(tmp_path / "framed.avro", confluent.frame(sid, af.schemaless(record, "elasticc.v0_9_1")))
        done = run_cli("show", str(path), "--no-plot", "--schema-registry", server.url,
                       "--registry-property", "basic.auth.user.info=bob:pw-123")
        assert done.returncode == 0, done.stderr
        assert f"(Confluent framing, schema id {sid}, from the registry" in done.stdout
        assert "diaSourceId 4141" in done.stdout
        denied = run_cli("show", str(path), "--schema-registry", server.url,
                         "--registry-property", "basic.auth.user.info=bob:nope-77")
        assert denied.returncode == 1 and "nope-77" not in denied.stderr + denied.stdout
        assert "Traceback" not in denied.stderr and len(denied.stderr.strip().splitlines()) == 2
        lonely = run_cli("show", str(path), "--registry-property", "timeout=3")
        assert lonely.returncode != 0 and "without --schema-registry" in lonely.stderr


def test_replay_settings_for_framing_and_registry(tmp_path: Path) -> None:
    from elasticc_stream.engine.errors import UserError
    from elasticc_stream.engine.replay.config import load_replay_config

    conf = tmp_path / "r.toml"
    conf.write_text(f'bootstrap = "127.0.0.1:9"\ntopic = "t"\ndata = "{tmp_path}"\nframing = "confluent"\n'
                    'schema_id = 1101\nschema_registry = "http://127.0.0.1:8081"\n'
                    '[registry]\n"basic.auth.user.info" = "u:p"\n')
    config = load_replay_config(conf).validated()
    assert (config.key, config.framing, config.schema_id) == ("schema", "confluent", 1101)
    assert config.schema_registry == "http://127.0.0.1:8081" and config.registry == {"basic.auth.user.info": "u:p"}
    assert "u:p" not in repr(config)
    with pytest.raises(UserError, match=r"r.toml:5: schema_id must fit in 4 bytes"):
        conf.write_text(conf.read_text().replace("1101", "4294967296"))
        load_replay_config(conf)
    with pytest.raises(UserError, match="--framing must be one of none, confluent"):
        load_replay_config(None, {"bootstrap": "h:1", "topic": "t", "data": tmp_path, "framing": "rubin"})
    with pytest.raises(UserError, match="only serve with framing confluent"):
        load_replay_config(None, {"bootstrap": "h:1", "topic": "t", "data": tmp_path, "schema_id": 3}).validated()


def test_registry_schema_with_references_is_made_self_contained() -> None:
    import io

    import fastavro

    point = {"type": "record", "name": "Point", "namespace": "geo", "fields": [
        {"name": "x", "type": "int"}, {"name": "label", "type": "geo.Label"}]}
    label = {"type": "enum", "name": "Label", "namespace": "geo", "symbols": ["A", "B"]}
    track = {"type": "record", "name": "Track", "namespace": "app", "fields": [
        {"name": "first", "type": "geo.Point"}, {"name": "maybe", "type": ["null", "geo.Point"]},
        {"name": "all", "type": {"type": "array", "items": "geo.Point"}}, {"name": "tag", "type": "geo.Label"}]}
    record = {"first": {"x": 1, "label": "A"}, "maybe": None, "all": [{"x": 2, "label": "B"}], "tag": "B"}
    named: dict = {}
    for schema in (label, point):
        fastavro.parse_schema(schema, named_schemas=named)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(track, named_schemas=named), record)
    with StandInRegistry() as server:
        server.add(label, subject="geo.Label", schema_id=50)
        server.add(point, subject="geo.Point", schema_id=51,
                   references=[{"name": "geo.Label", "subject": "geo.Label", "version": 1}])
        server.add(track, subject="tracks-value", schema_id=52,
                   references=[{"name": "geo.Point", "subject": "geo.Point", "version": 1}])
        alert = decode(confluent.frame(52, out.getvalue()), registry=Registry(server.url))[0]
        assert alert.record == record and alert.schema_label == "registry"
        # Self-contained: each referenced type defined once, at its first use, so the schema parses alone.
        text = json.dumps(alert.schema)
        assert text.count('"name": "geo.Point"') == 1 and text.count('"name": "geo.Label"') == 1
        fastavro.parse_schema(alert.schema)
        assert ("GET", "/subjects/geo.Point/versions/1") in server.requests
        # A reference the registry does not have: one line naming it.
        server.add(dict(track, name="Broken"), schema_id=53,
                   references=[{"name": "geo.Gone", "subject": "geo.Gone", "version": 1}])
        with pytest.raises(DecodeError, match=r"schema id 53: reference geo.Gone \(geo.Gone version 1\)"):
            decode(confluent.frame(53, out.getvalue()), registry=Registry(server.url))
