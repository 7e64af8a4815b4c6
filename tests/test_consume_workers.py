"""`consume` decoded (and saved) by worker processes (ConsumeOptions.workers) against the real broker: the same
lines, files, errors, order and offsets as decoding in the consuming process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import alert_factory as af
from confluent_kafka import TopicPartition
from conftest import CLI
from elasticc_stream.engine.consume.events import AlertReceived, AlertsRendered, ConsumeFinished, DecodeFailed
from elasticc_stream.engine.consume.jsonl import alert_json, json_line
from elasticc_stream.engine.consume.stream import AlertStream, ConsumeOptions
from test_consume import GARBAGE, consume, elasticc, produce, schemaless


def _mixed() -> list:
    return [
        *(schemaless(1000 + i) for i in range(150)),
        GARBAGE,                                                                        # offset 150
        af.container([elasticc(2000 + i, schema="stream2022") for i in range(3)], "stream2022"),  # 151
        af.container([af.ztf_record()], af.ZTF_SCHEMA),                                 # 152
        af.gz(schemaless(3000)),                                                        # 153
        *(schemaless(4000 + i) for i in range(60)),                                     # 154-213
    ]


def _run(bootstrap: str, topic: str, **kw) -> tuple[list[tuple[int, dict]], list, ConsumeFinished, AlertStream]:
    """(offset, line without latency_s) per alert, (offset, reason) per decode error, the summary."""
    s = AlertStream(ConsumeOptions(bootstrap, topic, timeout=3, **kw))
    lines: list[tuple[int, dict]] = []
    failed = []
    for event in s.events():
        if isinstance(event, AlertReceived):
            lines.append((event.offset, alert_json(event) + "\n"))
        elif isinstance(event, AlertsRendered):
            lines.extend((event.offset, line) for line in event.lines)
        elif isinstance(event, DecodeFailed):
            failed.append((event.offset, event.reason))
        elif isinstance(event, ConsumeFinished):
            finished = event
    assert all(line.endswith("\n") and line.count("\n") == 1 for _, line in lines)
    parsed = []
    for offset, line in lines:
        doc = json.loads(line)
        doc.pop("latency_s")  # the one value that depends on when it was read
        parsed.append((offset, doc))
    return parsed, failed, finished, s


def test_workers_write_what_this_process_writes_in_stream_order(kafka_bootstrap: str, make_topic) -> None:
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, _mixed())
    here, here_failed, here_end, _ = _run(kafka_bootstrap, topic)
    there, there_failed, there_end, _ = _run(kafka_bootstrap, topic, workers=2, render=json_line)
    assert len(here) == 150 + 3 + 1 + 1 + 60
    assert there == here
    assert there_failed == here_failed and [o for o, _ in there_failed] == [150]
    assert (there_end.alerts, there_end.errors, there_end.offsets) == (here_end.alerts, 1, {f"{topic}[0]": 214})


def test_workers_stop_exactly_at_max_inside_a_container_and_resume(kafka_bootstrap: str, make_topic) -> None:
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, _mixed())
    group = f"max-{topic}"
    first, _, end, s = _run(kafka_bootstrap, topic, workers=2, render=json_line, group=group, max_alerts=152)
    assert [doc["alert"]["diaSource"]["diaSourceId"] for _, doc in first][-3:] == [1149, 2000, 2001]
    assert len(first) == 152 and s.stop_reason == "max"
    assert end.offsets == {f"{topic}[0]": 151}  # the container is read again, whole, by the group's next run
    rest, _, end, _ = _run(kafka_bootstrap, topic, workers=2, render=json_line, group=group)
    assert [o for o, _ in rest[:3]] == [151, 151, 151] and len(rest) == 3 + 1 + 1 + 60
    assert end.offsets == {f"{topic}[0]": 214}


def test_workers_hand_each_message_over_once_when_the_broker_sends_it_again(kafka_bootstrap: str,
                                                                            make_topic) -> None:
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [schemaless(600 + i) for i in range(400)])
    s = AlertStream(ConsumeOptions(kafka_bootstrap, topic, timeout=3, workers=2, render=json_line))
    offsets: list[int] = []
    for event in s.events():
        if isinstance(event, AlertsRendered):
            offsets.append(event.offset)
            if len(offsets) == 80:
                # What a rebalance does: the broker sends from an older position again, some of it in flight.
                s._consumer.seek(TopicPartition(topic, 0, 30))
    assert offsets == list(range(400)) and s.redelivered >= 50
    assert event.alerts == 400 and event.offsets == {f"{topic}[0]": 400}


def test_cli_json_uses_workers_by_default_and_zero_decodes_here(kafka_bootstrap: str, make_topic) -> None:
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, _mixed())
    runs = [consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--json", "--timeout", "3", *extra)
            for extra in ((), ("--workers", "0"), ("--workers", "3"))]
    docs = []
    for done in runs:
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert f"decode error: {topic}[0] offset 150:" in done.stderr
        assert "summary: 215 alerts, 1 decode error" in done.stderr
        docs.append([{k: v for k, v in json.loads(line).items() if k != "latency_s"}
                     for line in done.stdout.splitlines()])
    assert docs[0] == docs[1] == docs[2] and len(docs[0]) == 215
    refused = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--dump-schema", "x.avsc", "--workers", "2")
    assert refused.returncode != 0 and "--workers cannot be combined with --dump-schema" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_ctrl_c_to_the_process_group_stops_workers_and_commits_what_was_written(kafka_bootstrap: str,
                                                                               make_topic) -> None:
    # A terminal's Ctrl-C reaches every process of the group, the workers too: only the consumer may react.
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [schemaless(700 + i) for i in range(3)])
    group = f"sigint-{topic}"
    proc = subprocess.Popen([*CLI, "consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--group", group,
                             "--json", "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert [json.loads(line)["offset"] for line in lines] == [0, 1, 2]
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130 and "(interrupted)" in err and "Traceback" not in err, err
    assert "summary: 3 alerts, 0 decode errors" in err
    _, _, end, _ = _run(kafka_bootstrap, topic, group=group)
    assert end.alerts == 0  # the three were committed on the way out


def test_workers_save_the_files_and_print_the_lines_this_process_does(kafka_bootstrap: str, make_topic,
                                                                      tmp_path: Path) -> None:
    topic = make_topic(1)
    produce(kafka_bootstrap, topic, [*_mixed(), schemaless(1003), schemaless(1003, flux=999.5)])
    runs = {}
    for workers in ("0", "2"):
        out = tmp_path / f"saved-{workers}"
        done = consume("--bootstrap", kafka_bootstrap, "--topic", topic, "--save", str(out), "--timeout", "3",
                       "--workers", workers)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        lines = [line.rsplit("  ", 1)[0] for line in done.stdout.splitlines()]  # without the offset's place
        runs[workers] = (lines, {p.name: p.read_bytes() for p in out.iterdir()}, done.stderr)
    (here, here_files, here_err), (there, there_files, there_err) = runs["0"], runs["2"]
    assert there == here and len(here) == 217
    assert there_files == here_files and "alert_src1003_1.avro" in here_files
    for err in (here_err, there_err):
        assert "saved: 216 files" in err and "(1 already there)" in err and "1 decode error" in err
