"""The CLI's daily-use details: one line for an unreachable broker (and nothing of librdkafka's without -v),
the group id only once connected, backlog named age, a tarball given to show, the installed examples."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import alert_factory as af
from conftest import run_cli
from test_tui import make_batch

REFUSED = "127.0.0.1:1"
UNRESOLVABLE = "nosuchhost.invalid:9092"


def _one_error_line(done, command: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1, done.stderr  # no librdkafka line, no group id before the error
    assert lines[0].startswith(f"elasticc-stream {command}: error: cannot reach Kafka at ")
    return lines[0]


def test_consume_refused_and_unresolvable_end_with_one_line():
    line = _one_error_line(run_cli("consume", "--bootstrap", REFUSED, "--topic", "x", timeout=60), "consume")
    assert line.endswith(f"{REFUSED}: Connection refused")
    line = _one_error_line(run_cli("consume", "--bootstrap", UNRESOLVABLE, "--topic", "x", timeout=60), "consume")
    assert "Failed to resolve" in line and "rdkafka" not in line


def test_replay_refused_ends_with_one_line(tmp_path: Path):
    data = make_batch(tmp_path / "gathered", 5)
    done = run_cli("replay", "--bootstrap", REFUSED, "--topic", "x", "--data", str(data), "--per-obs", "5",
                   "--observations", "1", timeout=60)
    # The replay's own header lines come first on stdout; stderr holds the error alone.
    line = _one_error_line(done, "replay")
    assert line.endswith("Connection refused")
    assert "(retrying)" not in done.stdout


def test_verbose_shows_the_clients_own_lines():
    done = run_cli("-v", "consume", "--bootstrap", REFUSED, "--topic", "x", timeout=60)
    assert done.returncode == 1
    assert any(line.startswith("elasticc_stream.kafka: ") and "Connection refused" in line
               for line in done.stderr.splitlines())


def test_group_id_only_once_connected_and_backlog_is_age(kafka_bootstrap: str, make_topic):
    from confluent_kafka import Producer

    topic = make_topic(1)
    schema = af.shipped("elasticc.v0_9_1")
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(3):
        producer.produce(topic, af.schemaless(af.elasticc_record(schema, source_id=900 + i), schema))
    assert producer.flush(30) == 0
    done = run_cli("consume", "--bootstrap", kafka_bootstrap, "--topic", topic, "--max", "3")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0].startswith("group id: ")
    # All three were in the topic before this consumer joined: how long they waited is their age.
    assert "  age (Kafka timestamp to receipt; all were in the topic before this consumer joined)" in done.stderr
    assert "  latency (" not in done.stderr


def test_show_on_a_night_archive_suggests_prepare(tmp_path: Path):
    schema = af.shipped("stream2022")
    alert = af.gz(af.container([af.elasticc_record(schema)], schema))
    archive = tmp_path / "NITE60100.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("NITE60100/alert_obj7_src1001.avro.gz")
        info.size = len(alert)
        tar.addfile(info, io.BytesIO(alert))
    done = run_cli("show", str(archive))
    assert done.returncode == 1
    assert f"`elasticc-stream prepare {tmp_path}`" in done.stderr.splitlines()[0]


def test_conf_examples_are_installed_and_reachable():
    listed = run_cli("conf", "list")
    assert listed.returncode == 0
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert {"elasticc_replay.conf", "elasticc_replay.toml", "README.md"} <= set(names)
    shown = run_cli("conf", "show", "elasticc_replay.toml")
    repo_copy = Path(__file__).parents[1] / "conf" / "elasticc_replay.toml"
    assert shown.returncode == 0 and shown.stdout == repo_copy.read_text()
    typo = run_cli("conf", "show", "elasticc_replay.tml")
    assert typo.returncode == 1 and "did you mean elasticc_replay.toml?" in typo.stderr


def test_a_broker_that_does_not_answer_gets_the_bounded_wait():
    import socket

    # Accepts connections (the kernel's backlog) but never answers: slow, not refused.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        done = run_cli("consume", "--bootstrap", address, "--topic", "x", "--connect-timeout", "2", timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"elasticc-stream consume: error: no Kafka broker answered at "
                                                  f"{address} within 2 s")
