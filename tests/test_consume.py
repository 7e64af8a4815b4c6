"""`consume` and the AlertStream engine against the real broker: decoding, errors, saving, offsets, groups."""

from __future__ import annotations

import base64
import json
import math
import re
import signal
import subprocess
from pathlib import Path

import alert_factory as af
import fastavro
import pytest
from confluent_kafka import Producer
from conftest import CLI, run_cli
from elasticc_stream.engine import decoder
from elasticc_stream.engine.broker.probe import free_port
from elasticc_stream.engine.consume.events import AlertReceived, ConsumeFinished, DecodeFailed
from elasticc_stream.engine.consume.group import default_group_id, placeholder_warning
from elasticc_stream.engine.consume.jsonl import dumps
from elasticc_stream.engine.consume.save import AlertSaver
from elasticc_stream.engine.consume.stats import LatencyStats, percentile
from elasticc_stream.engine.consume.stream import AlertStream, ConsumeOptions

GARBAGE = b"\x00\x00\x00\x00\x2a this is no alert"


def produce(bootstrap: str, topic: str, messages: list, *, one_by_one: bool = False) -> None:
    """Produce to partition 0, in order. Items are bytes or (value, key). `one_by_one` sends each message in
    its own batch, so that the embedded broker's watermarks are exact (see CONTEXT: they undercount batches)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0 if one_by_one else 5})
    for item in messages:
        value, key = item if isinstance(item, tuple) else (item, None)
        producer.produce(topic, value, key=key, partition=0)
        if one_by_one:
            assert producer.flush(30) == 0
    assert producer.flush(30) == 0


def elasticc(source_id: int, object_id: int = 7, flux: float = 123.456, schema: str = "elasticc.v0_9_1") -> dict:
    return af.elasticc_record(schema, source_id=source_id, object_id=object_id, flux=flux)


def schemaless(source_id: int, **kw) -> bytes:
    return af.schemaless(elasticc(source_id, **kw), "elasticc.v0_9_1")


def consume(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_cli("consume", *args, timeout=timeout)


def stream(bootstrap: str, topic: str, **kw) -> tuple[list, AlertStream]:
    kw.setdefault("timeout", 3)
    s = AlertStream(ConsumeOptions(bootstrap, topic, **kw))
    return list(s.events()), s


def strict_json(line: str):
    def refuse(name: str):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(line, parse_constant=refuse)


# --- against the broker --------------------------------------------------------------------------------------


def test_every_alert_decoded_garbage_reported_run_goes_on(kafka_bootstrap: str, make_topic) -> None:
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [
        schemaless(101),
        schemaless(102),
        GARBAGE,
        af.container([elasticc(201, object_id=8, schema="stream2022")], "stream2022"),
        af.container([af.ztf_record()], af.ZTF_SCHEMA),
        af.gz(schemaless(103)),
    ])
    done = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--json", "--timeout", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rows = [strict_json(line) for line in lines]  # stdout holds JSON Lines and nothing else
    assert [r["offset"] for r in rows] == [0, 1, 3, 4, 5]
    assert [r["schema"] for r in rows] == ["elasticc.v0_9_1", "elasticc.v0_9_1", "embedded", "embedded",
                                           "elasticc.v0_9_1"]
    assert [r["alert"].get("diaSource", {}).get("diaSourceId") for r in rows] == [101, 102, 201, None, 103]
    assert rows[0]["alert"]["diaSource"]["psFlux"] == af.f32(123.456)  # exact float through JSON
    assert rows[0]["alert"] == elasticc(101)
    ztf = rows[3]["alert"]
    assert (ztf["objectId"], ztf["candid"]) == ("ZTF21abcdefg", 1500)
    assert base64.b64decode(ztf["cutoutScience"]) == af.ztf_record()["cutoutScience"]
    assert all(r["topic"] == topic and r["partition"] == 0 and r["timestamp_ms"] > 0 for r in rows)
    errors = [line for line in done.stderr.splitlines() if line.startswith("decode error")]
    assert len(errors) == 1
    assert errors[0].startswith(f"decode error: {topic}[0] offset 2: ")
    assert "schema-registry" in errors[0]
    assert "Traceback" not in done.stderr
    assert "summary: 5 alerts, 1 decode error" in done.stderr
    assert f"{topic}[0]=6" in done.stderr
    # Produced before the consumer joined: the figure is their age in the topic, and says so.
    assert re.search(r"  age \(Kafka timestamp to receipt; all were in the topic before this consumer joined\): "
                     r"p50 .*, p99 .*, max ", done.stderr)

    # The same topic through the engine: the events the TUI consumes.
    events, s = stream(kafka_bootstrap, topic)
    assert isinstance(events[-1], ConsumeFinished)
    failed = [e for e in events if isinstance(e, DecodeFailed)]
    assert [(f.topic, f.partition, f.offset) for f in failed] == [(topic, 0, 2)]
    assert topic not in failed[0].reason  # where it happened is in the fields, not repeated in the reason
    received = [e for e in events if isinstance(e, AlertReceived)]
    assert [e.offset for e in received] == [0, 1, 3, 4, 5]
    assert [e.alert.kind for e in received] == ["elasticc", "elasticc", "elasticc", "ztf", "elasticc"]
    assert all(e.latency_s is not None and e.timestamp_ms for e in received)
    end = events[-1]
    assert (end.alerts, end.errors, end.offsets) == (5, 1, {f"{topic}[0]": 6})
    assert end.latency_p50 is not None and end.latency_p50 <= end.latency_p99 <= end.latency_max
    assert s.stop_reason == "timeout"


def test_save_keeps_every_alert_and_never_overwrites(kafka_bootstrap: str, make_topic, tmp_path: Path) -> None:
    topic = make_topic(1)
    same_object = [schemaless(301), schemaless(302), schemaless(303), schemaless(304)]
    produce(kafka_bootstrap, topic, [
        *same_object,
        schemaless(302),                # the very same alert again (a redelivery)
        schemaless(303, flux=999.5),    # same diaSourceId, different content: must not replace 303
        af.container([af.ztf_record()], af.ZTF_SCHEMA),
    ])
    out = tmp_path / "saved"
    done = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--save", str(out), "--timeout", "3")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 7
    names = sorted(p.name for p in out.iterdir())
    assert names == ["ZTF21abcdefg_1500.avro", "alert_src301.avro", "alert_src302.avro", "alert_src303.avro",
                     "alert_src303_1.avro", "alert_src304.avro"]  # no temporary file left either
    assert "saved: 6 files" in done.stderr and "(1 already there)" in done.stderr
    for path in out.iterdir():  # each file reads back alone, schema embedded
        with path.open("rb") as f:
            records = list(fastavro.reader(f))
        assert len(records) == 1
    with (out / "alert_src303.avro").open("rb") as f:
        assert next(fastavro.reader(f))["diaSource"]["psFlux"] == af.f32(123.456)
    with (out / "alert_src303_1.avro").open("rb") as f:
        assert next(fastavro.reader(f))["diaSource"]["psFlux"] == af.f32(999.5)
    assert decoder.read_alert_file(out / "alert_src301.avro")[0].record == elasticc(301)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}

    again = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--save", str(out), "--timeout", "3")
    assert again.returncode == 0, again.stderr
    assert "summary: 7 alerts" in again.stderr
    assert "saved: 0 files" in again.stderr and "(7 already there)" in again.stderr
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before


def test_max_then_resume_with_the_same_group(kafka_bootstrap: str, make_topic, tmp_path: Path) -> None:
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [schemaless(400 + i) for i in range(5)])
    group = f"resume-{topic}"
    conf = tmp_path / "stream.conf"
    conf.write_text(f'# the reference simulator\'s format\nKAFKA_IPPORT="{kafka_bootstrap}"\nKAFKA_TOPIC={topic}\n')
    first = consume("-c", str(conf), "--group", group, "--max", "2")
    assert first.returncode == 0, first.stderr
    assert [line.split()[0] for line in first.stdout.splitlines()] == ["diaSourceId=400", "diaSourceId=401"]
    assert "--max 2 reached" in first.stderr

    events, _ = stream(kafka_bootstrap, topic, group=group)
    got = [e for e in events if isinstance(e, AlertReceived)]
    assert [(e.offset, e.alert.record["diaSource"]["diaSourceId"]) for e in got] == [(2, 402), (3, 403), (4, 404)]
    assert events[-1].offsets == {f"{topic}[0]": 5}

    produce(kafka_bootstrap, topic, [schemaless(405), schemaless(406)])
    events, _ = stream(kafka_bootstrap, topic, group=group)
    assert [e.offset for e in events if isinstance(e, AlertReceived)] == [5, 6]


def test_messages_delivered_again_are_counted_once(kafka_bootstrap: str, make_topic) -> None:
    from confluent_kafka import TopicPartition

    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [schemaless(600 + i) for i in range(120)])
    s = AlertStream(ConsumeOptions(kafka_bootstrap, topic, timeout=3))
    offsets = []
    for event in s.events():
        if isinstance(event, AlertReceived):
            offsets.append(event.offset)
            if len(offsets) == 80:
                # What a rebalance or a lost assignment does: the broker sends from an older position again.
                s._consumer.seek(TopicPartition(topic, 0, 30))
    assert offsets == list(range(120)) and s.redelivered >= 50
    assert event.alerts == 120 and event.redelivered == s.redelivered and event.offsets == {f"{topic}[0]": 120}


def test_timeout_and_start_latest(kafka_bootstrap: str, make_topic) -> None:
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [schemaless(1), schemaless(2)], one_by_one=True)
    events, s = stream(kafka_bootstrap, topic, start="latest", timeout=1)
    assert len(events) == 1 and isinstance(events[0], ConsumeFinished)
    assert events[0].alerts == 0 and s.stop_reason == "timeout"


def test_offsets_shows_committed_offset_and_lag(kafka_bootstrap: str, make_topic, broker_kind: str) -> None:
    topic = make_topic(2)
    produce(kafka_bootstrap, topic, [schemaless(500), schemaless(501), schemaless(502)], one_by_one=True)
    group = f"offsets-{topic}"
    done = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--group", group, "--max", "2")
    assert done.returncode == 0, done.stderr

    shown = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--group", group, "--offsets")
    assert shown.returncode == 0, shown.stderr
    table = {int(cols[0]): cols[1:] for cols in (line.split() for line in shown.stdout.splitlines())
             if cols and cols[0].isdigit()}
    assert table == {0: ["2", "0", "3", "1"], 1: ["-", "0", "0", "0"]}
    total = next(line.split() for line in shown.stdout.splitlines() if line.split()[:1] == ["total"])
    # Blank under `committed` (a partition count is not an offset), the lag, then how many partitions committed.
    assert total[:2] == ["total", "1"] and " ".join(total[2:]) == "(1 of 2 partitions committed)"
    # The undercounting note is Tansu's alone: Apache Kafka's watermarks are exact.
    assert ("Tansu" in shown.stdout and "undercount" in shown.stdout) == (broker_kind == "tansu")

    as_json = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--group", group, "--offsets", "--json")
    report = strict_json(as_json.stdout)
    assert [(p["partition"], p["committed"], p["lag"]) for p in report["partitions"]] == [(0, 2, 1), (1, None, 0)]
    assert report["total_lag"] == 1

    no_group = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--offsets")
    assert no_group.returncode == 1 and "--offsets needs --group" in no_group.stderr


def test_ctrl_c_stops_cleanly_commits_and_summarises(kafka_bootstrap: str, make_topic) -> None:
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [schemaless(600 + i) for i in range(3)])
    group = f"sigint-{topic}"
    proc = subprocess.Popen([*CLI, "consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--group", group],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]  # each alert line is flushed as it is printed
        assert [line.split()[0] for line in lines] == ["diaSourceId=600", "diaSourceId=601", "diaSourceId=602"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err  # 128 + SIGINT, as every command stopped by Ctrl-C
    assert out == ""
    assert "summary: 3 alerts, 0 decode errors" in err and "(interrupted)" in err
    assert "Traceback" not in err
    events, _ = stream(kafka_bootstrap, topic, group=group, timeout=2)
    assert events[-1].alerts == 0  # the three were committed on the way out


def test_schema_from_key_dump_schema_and_given_schema(kafka_bootstrap: str, make_topic, tmp_path: Path) -> None:
    topic = make_topic(1)
    ztf_key = json.dumps(af.ZTF_SCHEMA).encode()  # Fink's distribution streams: writer schema in the key
    produce(kafka_bootstrap, topic, [
        (af.schemaless(af.ztf_record(candid=1), af.ZTF_SCHEMA), ztf_key),
        (af.schemaless(af.ztf_record(candid=2), af.ZTF_SCHEMA), ztf_key),
        af.schemaless(af.ztf_record(candid=3), af.ZTF_SCHEMA),  # no key, no schema: not guessed
    ])
    dumped = tmp_path / "key.avsc"
    done = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--json", "--timeout", "3",
                   "--dump-schema", str(dumped))
    assert done.returncode == 0, done.stderr
    rows = [strict_json(line) for line in done.stdout.splitlines()]
    assert [(r["schema"], r["alert"]["candid"]) for r in rows] == [("key", 1), ("key", 2)]
    assert f"decode error: {topic}[0] offset 2:" in done.stderr
    assert decoder.fingerprint(json.loads(dumped.read_text())) == decoder.fingerprint(af.ZTF_SCHEMA)

    human = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--timeout", "3", "--schema", str(dumped))
    assert human.returncode == 0, human.stderr
    assert [line.split()[:2] for line in human.stdout.splitlines()] == [
        ["objectId=ZTF21abcdefg", f"candid={n}"] for n in (1, 2, 3)]
    assert "jd=2459000.75 fid=r magpsf=18.25" in human.stdout
    assert "summary: 3 alerts, 0 decode errors" in human.stderr


def test_unreachable_broker_fails_clearly_with_unique_group_ids() -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    runs = [consume("--bootstrap", address, "--topic", "x", "--connect-timeout", "2") for _ in range(2)]
    groups = []
    for done in runs:
        assert done.returncode == 1
        assert done.stdout == ""
        err = done.stderr.strip().splitlines()
        assert err[-1].startswith(f"elasticc-stream consume: error: cannot reach Kafka at {address}")
        assert len([line for line in err if "error" in line]) == 1 and "Traceback" not in done.stderr
        # The group id is printed only once the broker answered: before an error it would be noise.
        assert "group id" not in done.stderr
    from elasticc_stream.engine.consume.group import default_group_id

    groups = [default_group_id() for _ in range(2)]
    assert groups[0] != groups[1]
    assert all(re.fullmatch(r"elasticc-stream-[\w.]+-[\w.]+-[0-9a-f]{6}", g) for g in groups)

    toto = consume("--bootstrap", address, "--topic", "x", "--group", "toto", "--connect-timeout", "1")
    assert toto.returncode == 1
    assert "warning: group id 'toto' looks like a placeholder" in toto.stderr
    assert "group id: toto" not in toto.stderr  # announced once connected, and it never connected


# --- without a broker ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["test", "foo", "bar", "toto", "TEST", "test-1", "my_group", "foo.bar", "123"])
def test_placeholder_group_ids_warn(name: str) -> None:
    assert placeholder_warning(name)


@pytest.mark.parametrize("name", ["alice-elasticc-ztf-2024", "lsst-broker-x7", default_group_id()])
def test_chosen_group_ids_do_not_warn(name: str) -> None:
    assert placeholder_warning(name) is None


def test_latency_percentiles_are_nearest_rank() -> None:
    stats = LatencyStats()
    stats.extend([float(i) for i in range(100, 0, -1)])
    assert stats.percentiles(0.5, 0.99) == [50.0, 99.0]
    assert stats.max == 100.0 and stats.count == 100
    assert percentile([], 0.5) is None
    window = LatencyStats(window=3)
    for v in (9.0, 1.0, 2.0, 3.0):
        window.add(v)
    assert window.p50 == 2.0 and window.max == 9.0


def test_json_is_strict_and_exact() -> None:
    value = {"a": float("nan"), "b": [float("inf"), -math.inf, 0.1], "c": b"\x00\xff", "d": af.f32(81.8914)}
    text = dumps(value)
    assert "\n" not in text
    back = strict_json(text)
    assert back == {"a": "NaN", "b": ["Infinity", "-Infinity", 0.1], "c": "AP8=", "d": af.f32(81.8914)}


def test_saver_recognises_the_same_alert_written_by_another_tool(tmp_path: Path) -> None:
    alert = decoder.decode(schemaless(42))[0]
    other = decoder.decode(schemaless(42, flux=1.5))[0]
    with (tmp_path / "alert_src42.avro").open("wb") as f:  # fastavro's own random sync marker
        fastavro.writer(f, fastavro.parse_schema(alert.schema), [alert.record])
    saver = AlertSaver(tmp_path)
    assert saver.save(alert).written is False
    result = saver.save(other)
    assert result.written and result.path.name == "alert_src42_1.avro"
    assert saver.save(other).written is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alert_src42.avro", "alert_src42_1.avro"]


def test_stop_does_not_hang_on_a_frozen_broker(tmp_path: Path) -> None:
    """A quitting TUI or a Ctrl-C must not wait minutes for a broker that stopped answering (SIGSTOP)."""
    import os
    import threading

    from elasticc_stream.engine.broker.process import start_broker, stop_broker
    from elasticc_stream.engine.topics import ensure_topic

    info = start_broker(0, tmp_path / "broker", die_with_parent=True)
    frozen = False
    try:
        ensure_topic(info.address, "frozen", 1)
        producer = Producer({"bootstrap.servers": info.address})
        payload = af.schemaless(af.elasticc_record("elasticc.v0_9_1"), "elasticc.v0_9_1")
        for _ in range(10):
            producer.produce("frozen", payload)
        assert producer.flush(30) == 0
        stream = AlertStream(ConsumeOptions(info.address, "frozen"))
        received = threading.Semaphore(0)
        events: list[object] = []

        def consume() -> None:
            for event in stream.events():
                events.append(event)
                if isinstance(event, AlertReceived):
                    received.release()

        worker = threading.Thread(target=consume, daemon=True)
        worker.start()
        for _ in range(10):
            assert received.acquire(timeout=60)
        os.kill(info.pid, signal.SIGSTOP)  # positions to commit, and a broker that will never answer
        frozen = True
        stream.stop()
        worker.join(60)  # an unbounded commit or close would hold it for minutes
        assert not worker.is_alive()
        assert isinstance(events[-1], ConsumeFinished) and events[-1].alerts == 10
    finally:
        if frozen:
            os.kill(info.pid, signal.SIGCONT)
        stop_broker(tmp_path / "broker")


def test_json_into_a_pipe_closed_early_commits_only_what_was_written(kafka_bootstrap: str, make_topic) -> None:
    # What the reader never got must stay uncommitted, though the consumer had decoded more by then.
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [schemaless(900 + i) for i in range(300)])
    group = f"pipe-{topic}"
    reader = subprocess.Popen(["head", "-n", "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    consumer = subprocess.run([*CLI, "consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--group", group,
                               "--json", "--timeout", "5"], stdout=reader.stdin, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    reader.stdin.close()
    lines = reader.stdout.read().decode().splitlines()
    reader.wait()
    assert consumer.returncode == 0 and "Traceback" not in consumer.stderr, consumer.stderr
    assert [strict_json(line)["alert"]["diaSource"]["diaSourceId"] for line in lines] == [900, 901, 902]
    # Written: into the pipe, whose buffer held a few more lines than `head` read before it left.
    written = int(re.search(r"output closed: stopped after (\d+) alerts", consumer.stderr)[1])
    assert 3 <= written < 300
    events, _ = stream(kafka_bootstrap, topic, group=group)
    got = [e.alert.record["diaSource"]["diaSourceId"] for e in events if isinstance(e, AlertReceived)]
    assert got == list(range(900 + written, 1200))  # the group goes on from the first alert not written
