"""`broker start|stop|status` round trips against real broker processes, and the Kafka-home config."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

from conftest import run_cli
from elasticc_stream.engine.broker.probe import free_port, port_open


def _start(tmp_path: Path, port: str = "0"):
    return run_cli("broker", "start", "--port", port, "--dir", str(tmp_path), "--embedded", timeout=60)


def test_start_status_stop_round_trip(tmp_path: Path) -> None:
    started = _start(tmp_path)
    assert started.returncode == 0, started.stderr
    address = started.stdout.strip()
    host, port = address.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert "memory only" in started.stderr
    assert (tmp_path / "broker.pid").exists() and (tmp_path / "broker.log").exists()
    try:
        status = run_cli("broker", "status", "--dir", str(tmp_path))
        assert status.returncode == 0, status.stderr
        assert "running" in status.stdout and address in status.stdout
        again = _start(tmp_path)
        assert again.returncode != 0
        assert "already running" in again.stderr and "Traceback" not in again.stderr
    finally:
        stopped = run_cli("broker", "stop", "--dir", str(tmp_path))
    assert stopped.returncode == 0
    assert not port_open(int(port))
    assert not (tmp_path / "broker.pid").exists()
    status = run_cli("broker", "status", "--dir", str(tmp_path))
    assert status.returncode == 1 and "not running" in status.stdout


def test_stop_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        stopped = run_cli("broker", "stop", "--dir", str(tmp_path))
        assert stopped.returncode == 0
        assert "no broker running" in stopped.stderr


def test_start_on_busy_port_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = _start(tmp_path, str(port))
    assert started.returncode == 1
    assert started.stderr.strip().splitlines() == [
        f"elasticc-stream broker: error: port {port} on 127.0.0.1 is already in use; "
        "choose another with --port (0 picks a free one)"]
    assert not (tmp_path / "broker.pid").exists()


def test_missing_binary_is_refused(tmp_path: Path) -> None:
    started = run_cli("broker", "start", "--port", "0", "--dir", str(tmp_path), "--embedded",
                      env={"ELASTICC_STREAM_TANSU": str(tmp_path / "no-such-tansu")})
    assert started.returncode == 1
    assert "not an executable file" in started.stderr and "Traceback" not in started.stderr


def test_status_lists_topics_with_counts(kafka_bootstrap: str, broker_dir: Path, make_topic) -> None:
    from confluent_kafka import Producer

    name = make_topic(partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(30):
        producer.produce(name, f"m{i}".encode(), partition=i % 3)
    producer.flush()  # batches of several records: the embedded broker's high watermark undercounts them
    import json

    for how in ("--exact", "--json"):
        status = run_cli("broker", "status", "--dir", str(broker_dir), how, "--json")
        assert status.returncode == 0, status.stderr
        topics = {t["name"]: t for t in json.loads(status.stdout)["topics"]}
        assert topics[name]["partitions"] == 3
        assert topics[name]["messages"] == 30


def test_produce_and_consume_through_started_broker(kafka_bootstrap: str, make_topic) -> None:
    from confluent_kafka import Consumer, Producer

    name = make_topic(partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    sent = [f"alert-{i}".encode() for i in range(20)]
    for value in sent:
        producer.produce(name, value)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"g-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([name])
    got: list[bytes] = []
    try:
        for _ in range(60):
            for msg in consumer.consume(100, timeout=1.0):
                assert msg.error() is None
                got.append(msg.value())
            if len(got) >= len(sent):
                break
    finally:
        consumer.close()
    assert got == sent


def test_help_lists_subcommands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for name in ("broker", "prepare", "replay", "consume", "show", "tui", "demo", "simulate"):
        assert name in result.stdout
    for action in ("start", "stop", "status"):
        assert action in run_cli("broker", "--help").stdout


def test_help_does_not_import_heavy_modules() -> None:
    import subprocess
    import sys

    code = ("import sys; from elasticc_stream.cli.main import build_parser; build_parser(); "
            "heavy = [m for m in ('textual', 'confluent_kafka', 'fastavro', 'plotext', 'astropy') "
            "if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_kraft_config_for_one_and_three_nodes(tmp_path: Path) -> None:
    from elasticc_stream.engine.broker import kraft

    one = [kraft.NodePorts(1, free_port(), free_port())]
    text = kraft.node_config(one[0], one, tmp_path / "data")
    assert "process.roles=broker,controller" in text
    assert f"listeners=PLAINTEXT://127.0.0.1:{one[0].port},CONTROLLER://127.0.0.1:{one[0].controller_port}" in text
    assert f"controller.quorum.voters=1@127.0.0.1:{one[0].controller_port}" in text
    assert "offsets.topic.replication.factor=1" in text and "min.insync.replicas=1" in text
    assert "group.initial.rebalance.delay.ms=0" in text
    three = [kraft.NodePorts(i, 9000 + i, 9100 + i) for i in (1, 2, 3)]
    text = kraft.node_config(three[1], three, tmp_path / "data")
    assert "node.id=2" in text and "advertised.listeners=PLAINTEXT://127.0.0.1:9002" in text
    assert "controller.quorum.voters=1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103" in text
    assert "default.replication.factor=3" in text and "min.insync.replicas=2" in text
    ids = [kraft.new_cluster_id() for _ in range(2000)]  # ~31 of 2000 raw draws start with '-'
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_java_version_parsing() -> None:
    from elasticc_stream.engine.broker.kafka_home import parse_java_major

    assert parse_java_major('openjdk version "17.0.15" 2025-04-15') == 17
    assert parse_java_major('java version "1.8.0_392"') == 8
    assert parse_java_major('openjdk version "25" 2025-09-16') == 25


def test_kafka_home_that_is_not_a_distribution_is_refused(tmp_path: Path) -> None:
    started = run_cli("broker", "start", "--port", "0", "--dir", str(tmp_path / "s"),
                      "--kafka-home", str(tmp_path))
    assert started.returncode == 1
    assert "not an Apache Kafka distribution" in started.stderr and "Traceback" not in started.stderr


def test_no_kafka_found_says_how_to_get_it(tmp_path: Path) -> None:
    started = run_cli("broker", "start", "--kafka", "--port", "0", "--dir", str(tmp_path / "s"),
                      env={"ELASTICC_STREAM_KAFKA_LIBS": str(tmp_path / "none"), "KAFKA_HOME": ""})
    assert started.returncode == 1
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Apache Kafka found" in lines[0] and "make kafka" in lines[0]


def test_no_java_is_one_clear_line(tmp_path: Path) -> None:
    import shutil

    empty = tmp_path / "bin"
    empty.mkdir()
    assert shutil.which("java", path=str(empty)) is None
    started = run_cli("broker", "start", "--kafka", "--port", "0", "--dir", str(tmp_path / "s"),
                      env={"PATH": str(empty), "JAVA_HOME": "", "KAFKA_HOME": ""})
    assert started.returncode == 1
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs Java 17" in lines[0]


def test_kafka_distribution_keeps_topics_and_offsets_across_restart(tmp_path: Path) -> None:
    """A distribution's libs/ and `make kafka`'s cache are one code path; data in --dir survives a restart."""
    import json

    from confluent_kafka import Consumer, Producer, TopicPartition
    from elasticc_stream.engine.broker.kafka_home import CACHE_LIBS
    from elasticc_stream.engine.topics import ensure_topic

    home = tmp_path / "kafka_2.13-4.1.2"
    (home / "bin").mkdir(parents=True)
    (home / "libs").symlink_to(CACHE_LIBS)
    state = tmp_path / "state"
    first = run_cli("broker", "start", "--kafka-home", str(home), "--port", "0", "--dir", str(state), timeout=240)
    assert first.returncode == 0, first.stderr
    assert "keeps topics and committed offsets" in first.stderr
    try:
        address = first.stdout.strip()
        ensure_topic(address, "kept", 2)
        producer = Producer({"bootstrap.servers": address, "enable.idempotence": True})
        for i in range(10):
            producer.produce("kept", f"m{i}".encode(), partition=i % 2)
        assert producer.flush(30) == 0
        consumer = Consumer({"bootstrap.servers": address, "group.id": "kept-group", "enable.auto.commit": False})
        consumer.commit(offsets=[TopicPartition("kept", 0, 3), TopicPartition("kept", 1, 5)], asynchronous=False)
        consumer.close()
    finally:
        assert run_cli("broker", "stop", "--dir", str(state), timeout=60).returncode == 0
    again = run_cli("broker", "start", "--kafka", "--port", "0", "--dir", str(state), timeout=240)
    assert again.returncode == 0, again.stderr
    try:
        address = again.stdout.strip()
        status = run_cli("broker", "status", "--dir", str(state), "--json")
        topics = {t["name"]: t for t in json.loads(status.stdout)["topics"]}
        assert topics["kept"]["messages"] == 10 and topics["kept"]["partitions"] == 2
        consumer = Consumer({"bootstrap.servers": address, "group.id": "kept-group", "enable.auto.commit": False})
        committed = consumer.committed([TopicPartition("kept", 0), TopicPartition("kept", 1)], timeout=30)
        consumer.close()
        assert [tp.offset for tp in committed] == [3, 5]
    finally:
        assert run_cli("broker", "stop", "--dir", str(state), timeout=60).returncode == 0


def test_broker_tied_to_its_owner_dies_with_it(tmp_path: Path) -> None:
    """The demo's broker must not outlive a demo killed with SIGKILL, when no cleanup code runs."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from elasticc_stream.engine.broker.state import StateDir, process_alive

    script = ("import sys, time\n"
              "from elasticc_stream.engine.broker.process import start_broker\n"
              "print(start_broker(0, sys.argv[1], die_with_parent=True).pid, flush=True)\n"
              "time.sleep(120)\n")
    owner = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        broker_pid = int(owner.stdout.readline())
        assert process_alive(broker_pid)
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
    deadline = time.monotonic() + 10
    while process_alive(broker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(broker_pid)
    StateDir(tmp_path).clear()


def test_watermarks_and_lag(kafka_bootstrap: str, broker_kind: str, make_topic) -> None:
    """Batched produce: Apache Kafka's watermarks and lag are exact; Tansu's high watermark is a lower bound."""
    import json

    from confluent_kafka import Consumer, Producer, TopicPartition

    name = make_topic(partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 50})
    for i in range(30):
        producer.produce(name, f"m{i}".encode(), partition=0)
    assert producer.flush(30) == 0
    group = f"lag-{name}"
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(name, 0, 12)], asynchronous=False)
    consumer.close()
    shown = run_cli("consume", "--bootstrap", kafka_bootstrap, "--topic", name, "--group", group,
                    "--offsets", "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    (row,) = report["partitions"]
    assert row["committed"] == 12 and row["low"] == 0
    if broker_kind == "kafka":
        assert row["high"] == 30 and row["lag"] == 18 and report["note"] is None
    else:
        assert row["high"] <= 30 and row["lag"] <= 18 and "undercount" in report["note"]


def test_node_command_without_a_cluster_is_one_clear_line(tmp_path: Path) -> None:
    done = run_cli("broker", "node", "freeze", "2", "--dir", str(tmp_path))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Apache Kafka cluster recorded" in lines[0]


def test_nodes_need_kafka(tmp_path: Path) -> None:
    done = run_cli("broker", "start", "--embedded", "--nodes", "3", "--port", "0", "--dir", str(tmp_path))
    assert done.returncode == 1 and "--nodes needs --kafka" in done.stderr
