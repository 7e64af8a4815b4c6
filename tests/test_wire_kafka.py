"""Rubin's Confluent-framed alerts through the real broker: consume (CLI and engine), the TUI's decode path, a
schema registry (stand-in server), and a framed replay consumed back byte for byte."""

from __future__ import annotations

import json
import time
from pathlib import Path

import alert_factory as af
import pytest
from conftest import run_cli
from elasticc_stream.engine.consume.events import AlertReceived, DecodeFailed
from elasticc_stream.engine.consume.stream import AlertStream, ConsumeOptions
from elasticc_stream.engine.decoder import read_alert_file
from elasticc_stream.engine.prepare import AlertIndex
from elasticc_stream.engine.schemas import rubin
from elasticc_stream.engine.wire import confluent
from registry_standin import StandInRegistry

SINCE_7 = [(v, p) for v, p in rubin.sample_alerts() if int(v.split(".")[0]) >= 7]
WAIT_S = 90.0


def samples() -> list[tuple[int, bytes, bytes, dict]]:
    """(schema id, framed message, the container file's bytes, record) for every version since 7.0."""
    out = []
    for _, path in SINCE_7:
        alert = read_alert_file(path)[0]
        sid = rubin.schema_id_of(alert.schema)
        out.append((sid, confluent.frame(sid, alert.payload), path.read_bytes(), alert.record))
    return out


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for value in values:
        producer.produce(topic, value, partition=0)
    assert producer.flush(30) == 0


@pytest.mark.broker
def test_consume_framed_and_unframed_rubin_samples(kafka_bootstrap: str, make_topic) -> None:
    topic = make_topic(1)
    rows = samples()
    produce(kafka_bootstrap, topic, [framed for _, framed, _, _ in rows] + [raw for _, _, raw, _ in rows])
    done = run_cli("consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--timeout", "3",
                   "--max", str(2 * len(rows)))
    assert done.returncode == 0, done.stderr
    assert f"summary: {2 * len(rows)} alerts, 0 decode errors" in done.stderr
    # Unframed schemaless Rubin alerts need their schema: one topic per version, --schema given.
    for sid, framed, _, record in rows:
        bare = make_topic(1)
        produce(kafka_bootstrap, bare, [confluent.split(framed)[1]])
        got = run_cli("consume", "--bootstrap", kafka_bootstrap, "--topic", bare, "--max", "1",
                      "--schema", str(rubin.shipped()[sid].path))
        assert got.returncode == 0 and "summary: 1 alert, 0 decode errors" in got.stderr, got.stderr
        assert str(record["diaSource"]["diaSourceId"]) in got.stdout
    # The engine, as the CLI and the TUI use it: the framed ones carry their id and the package's schema.
    events = list(AlertStream(ConsumeOptions(kafka_bootstrap, topic, timeout=3)).events())
    alerts = [e.alert for e in events if isinstance(e, AlertReceived)]
    assert not [e for e in events if isinstance(e, DecodeFailed)]
    framed, unframed = alerts[:len(rows)], alerts[len(rows):]
    assert [a.schema_id for a in framed] == [sid for sid, _, _, _ in rows]
    assert {a.schema_label for a in framed} == {"lsst-alert-packet"}
    assert {a.schema_label for a in unframed} == {"embedded"}
    assert [a.record for a in framed] == [a.record for a in unframed] == [r for _, _, _, r in rows]


@pytest.mark.broker
def test_consume_with_a_schema_registry_and_x_properties(kafka_bootstrap: str, make_topic) -> None:
    topic = make_topic(1)
    record = af.elasticc_record("elasticc.v0_9_1", source_id=9911)
    with StandInRegistry(user_info="carol:pw-42") as server:
        sid = server.add(af.shipped("elasticc.v0_9_1"), subject=f"{topic}-value", schema_id=5)
        produce(kafka_bootstrap, topic, [confluent.frame(sid, af.schemaless(record, "elasticc.v0_9_1")),
                                         confluent.frame(6, b"\x02\x04")])
        done = run_cli("consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--timeout", "3", "--json",
                       "--schema-registry", server.url, "-X", "schema.registry.basic.auth.user.info=carol:pw-42")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["alert"] == record and rows[0]["schema"] == "registry"
    errors = [line for line in done.stderr.splitlines() if line.startswith("decode error")]
    assert len(errors) == 1 and f"registry {server.url} has no schema id 6" in errors[0]
    assert "pw-42" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.broker
async def test_tui_decodes_framed_rubin_alerts(kafka_bootstrap: str, make_topic) -> None:
    from elasticc_stream.engine.wire.registry import Registry
    from elasticc_stream.tui.app import ElasticcStreamApp
    from elasticc_stream.tui.screens.alert import AlertScreen
    from elasticc_stream.tui.widgets.alert_table import AlertTable
    from elasticc_stream.tui.widgets.alert_tree import AlertTree

    topic = make_topic(1)
    rows = samples()
    with StandInRegistry() as server:
        record = af.elasticc_record("elasticc.v0_9_1", source_id=5151)
        sid = server.add(af.shipped("elasticc.v0_9_1"), schema_id=12)
        # One message whose id only the registry knows, first; then every Rubin version, newest last.
        produce(kafka_bootstrap, topic, [confluent.frame(sid, af.schemaless(record, "elasticc.v0_9_1"))]
                + [framed for _, framed, _, _ in rows])
        app = ElasticcStreamApp(None, kafka_bootstrap, topic, {}, registry=Registry(server.url))
        async with app.run_test(size=(100, 30)) as pilot:
            deadline = time.monotonic() + WAIT_S
            while app.state.stream.total < len(rows) + 1:
                assert time.monotonic() < deadline, "the framed alerts never arrived"
                await pilot.pause(0.1)
            assert app.state.stream.errors == 0
            await pilot.press("2")
            table = app.screen.query_one(AlertTable)
            while table.row_count < len(rows) + 1:
                assert time.monotonic() < deadline, "the alert table never filled"
                await pilot.pause(0.1)
            await pilot.press("enter")
            while not isinstance(app.screen, AlertScreen):
                assert time.monotonic() < deadline, "the alert screen never opened"
                await pilot.pause(0.1)
            alert = app.screen.alert
            assert alert.schema_id == rows[-1][0] and alert.record == rows[-1][3]  # newest first
            tree = app.screen.query_one(AlertTree)
            assert tree.border_subtitle == f"schema id {rows[-1][0]} (lsst-alert-packet)"
            await pilot.press("q")


# --- framed replay ---------------------------------------------------------------------------------------------


def raw_messages(bootstrap: str, topic: str, count: int) -> list:
    from test_replay import drain

    return sorted(drain(bootstrap, topic, count), key=lambda m: (m.partition(), m.offset()))


@pytest.mark.broker
def test_framed_replay_with_schema_id_is_byte_identical(kafka_bootstrap: str, topic: str, tmp_path: Path) -> None:
    from test_replay import make_batch

    data = make_batch(tmp_path / "gathered", 12)
    done = run_cli("replay", "--bootstrap", kafka_bootstrap, "--topic", topic, "--data", str(data),
                   "--interval", "0", "--per-obs", "6", "--framing", "confluent", "--schema-id", "77", "--key", "none")
    assert done.returncode == 0, done.stderr
    index = AlertIndex.load(data)
    sent = {e.dia_source_id: confluent.frame(77, index.payload(e)) for e in index.entries}
    messages = raw_messages(kafka_bootstrap, topic, 12)
    assert sorted(m.value() for m in messages) == sorted(sent.values())  # byte for byte
    with StandInRegistry() as server:
        server.add(index.schema(index.entries[0].schema_fp), schema_id=77)
        back = run_cli("consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--timeout", "3", "--json",
                       "--schema-registry", server.url)
    assert back.returncode == 0, back.stderr
    rows = [json.loads(line) for line in back.stdout.splitlines()]
    assert len(rows) == 12 and {r["schema"] for r in rows} == {"registry"}
    for row in rows:
        alert = row["alert"]
        assert alert == read_alert_file(index.root / next(
            e.file for e in index.entries if e.dia_source_id == alert["diaSource"]["diaSourceId"]))[0].record


@pytest.mark.broker
def test_framed_replay_registers_its_schema_and_needs_an_id(kafka_bootstrap: str, topic: str,
                                                            tmp_path: Path) -> None:
    from test_replay import make_batch

    data = make_batch(tmp_path / "gathered", 4)
    # ELAsTiCC schemas state no Confluent id: stopped before anything is sent, in one line.
    refused = run_cli("replay", "--bootstrap", kafka_bootstrap, "--topic", topic, "--data", str(data),
                      "--interval", "0", "--framing", "confluent")
    assert refused.returncode != 0 and "states no Confluent schema id" in refused.stderr
    assert "Traceback" not in refused.stderr and "alerts sent" not in refused.stdout
    with StandInRegistry(user_info="dave:pw-9") as server:
        done = run_cli("replay", "--bootstrap", kafka_bootstrap, "--topic", topic, "--data", str(data),
                       "--interval", "0", "--framing", "confluent", "--schema-registry", server.url,
                       "-X", "schema.registry.basic.auth.user.info=dave:pw-9")
        assert done.returncode == 0, done.stderr
        assert f"registered in {server.url} under {topic}-value" in done.stdout
        (sid,) = server.subjects[f"{topic}-value"]
        messages = raw_messages(kafka_bootstrap, topic, 4)
        assert {confluent.split(m.value())[0] for m in messages} == {sid}
        # The default key still carries the schema: fink-style readers keep working, consume too.
        again = run_cli("consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--timeout", "3",
                        "--schema-registry", server.url, "--registry-property", "basic.auth.user.info=dave:pw-9")
    assert again.returncode == 0 and "summary: 4 alerts, 0 decode errors" in again.stderr, again.stderr
    assert "pw-9" not in done.stdout + done.stderr + again.stderr


@pytest.mark.broker
def test_rubin_files_prepared_and_replayed_framed_come_back_byte_identical(kafka_bootstrap: str, topic: str,
                                                                           tmp_path: Path) -> None:
    rows = samples()
    framed_dir, container_dir, bare_dir = tmp_path / "framed", tmp_path / "containers", tmp_path / "bare"
    for folder in (framed_dir, container_dir, bare_dir):
        folder.mkdir()
    for n, (_sid, framed, raw, _record) in enumerate(rows):
        af.write(framed_dir / f"alert_{n}.avro", framed)
        af.write(container_dir / f"alert_{n}.avro", raw)
    # Schemaless Rubin files, with the version's schema given (one version per folder: one schema).
    sid, framed, _, record = rows[-1]
    af.write(bare_dir / "alert_bare.avro", confluent.split(framed)[1])
    for folder, extra in ((framed_dir, ()), (container_dir, ()),
                          (bare_dir, ("--schema", str(rubin.shipped()[sid].path)))):
        done = run_cli("prepare", str(folder), *extra)
        count = len(list(folder.glob("*.avro")))
        assert done.returncode == 0 and f"{count} alert{'s' if count > 1 else ''}," in done.stdout, done.stderr
        assert "0 bad alerts" in done.stdout, done.stdout
    # Framed replay from the framed files: each message is the file's bytes, as Rubin sent them.
    done = run_cli("replay", "--bootstrap", kafka_bootstrap, "--topic", topic, "--data", str(framed_dir),
                   "--interval", "0", "--per-obs", "4", "--framing", "confluent", "--key", "none",
                   "--display-field", "None")
    assert done.returncode == 0, done.stderr
    for sid, *_ in rows:
        assert f"Confluent schema id {sid}, stated by the schema" in done.stdout
    messages = raw_messages(kafka_bootstrap, topic, len(rows))
    assert sorted(m.value() for m in messages) == sorted(framed for _, framed, _, _ in rows)
    back = run_cli("consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--timeout", "3",
                   "--max", str(len(rows)))
    assert back.returncode == 0 and f"summary: {len(rows)} alerts, 0 decode errors" in back.stderr, back.stderr
    # The same from the containers: their schemas state the same ids, so the messages are the same bytes.
    second = f"{topic}-c"
    done = run_cli("replay", "--bootstrap", kafka_bootstrap, "--topic", second, "--data", str(container_dir),
                   "--interval", "0", "--per-obs", "10", "--framing", "confluent", "--key", "none",
                   "--display-field", "None")
    assert done.returncode == 0, done.stderr
    assert sorted(m.value() for m in raw_messages(kafka_bootstrap, second, len(rows))) == \
        sorted(framed for _, framed, _, _ in rows)
