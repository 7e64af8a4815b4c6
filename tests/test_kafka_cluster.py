"""Faults on a real 3-node Apache Kafka cluster (`broker start --kafka --nodes 3`): nothing lost, nothing doubled.

Every test reads back every diaSourceId with a plain confluent-kafka consumer and checks 0 lost, 0 duplicated
and the time order within each partition. One cluster serves the module; a test that takes a node down brings
it back before it ends, so the next test starts on three nodes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CLI, run_cli, unique_topic
from elasticc_stream.engine.broker.state import StateDir
from elasticc_stream.engine.decoder import decode
from elasticc_stream.engine.prepare import AlertIndex
from elasticc_stream.engine.replay import events as ev
from elasticc_stream.engine.replay.config import ReplayConfig
from elasticc_stream.engine.replay.runner import Replayer
from test_replay import drain, make_batch

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    state = tmp_path_factory.mktemp("kafka-cluster")
    started = run_cli("broker", "start", "--kafka", "--nodes", "3", "--port", "0", "--dir", str(state), timeout=300)
    if started.returncode != 0:
        pytest.fail(f"3-node Kafka cluster start failed: {started.stderr.strip()}")
    address = started.stdout.strip().splitlines()[-1]
    assert len(address.split(",")) == 3
    try:
        yield address, state
    finally:
        run_cli("broker", "stop", "--dir", str(state), timeout=120)


@pytest.fixture(scope="module")
def batch300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("cluster") / "gathered300", 300)


def node_of_port(state: Path, port: int) -> int:
    info = StateDir(state).read()
    assert info is not None
    return next(n["id"] for n in info.nodes if n["port"] == port)


def leader(address: str, topic: str, partition: int = 0) -> int:
    from confluent_kafka.admin import AdminClient

    meta = AdminClient({"bootstrap.servers": address}).list_topics(timeout=10)
    return meta.topics[topic].partitions[partition].leader


def node_cmd(state: Path, action: str, node: int) -> None:
    done = run_cli("broker", "node", action, str(node), "--dir", str(state), timeout=180)
    assert done.returncode == 0, done.stderr


def check_every_alert_once_in_order(address: str, topic: str, data: Path) -> None:
    """0 lost, 0 duplicated, and per partition the order of the index (time order)."""
    expected = [e.dia_source_id for e in AlertIndex.load(data).entries]
    messages = drain(address, topic, len(expected), quiet_s=3.0, limit_s=120)
    per_partition: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for m in messages:
        record = decode(m.value(), source=f"offset {m.offset()}")[0].record
        per_partition[m.partition()].append((record["diaSource"]["midPointTai"], record["diaSource"]["diaSourceId"]))
    ids = Counter(i for rows in per_partition.values() for _, i in rows)
    assert set(ids) == set(expected), f"lost: {len(set(expected) - set(ids))}"
    assert set(ids.values()) == {1}, f"duplicated: {sum(v - 1 for v in ids.values())}"
    rank = {sid: n for n, sid in enumerate(expected)}
    for rows in per_partition.values():
        times = [t for t, _ in rows]
        assert times == sorted(times)
        assert [rank[i] for _, i in rows] == sorted(rank[i] for _, i in rows)


def config(address: str, topic: str, data: Path, **kw) -> ReplayConfig:
    kw.setdefault("per_obs", 20)
    kw.setdefault("observations", -1)
    kw.setdefault("interval", 0.3)
    return ReplayConfig(bootstrap=address, topic=topic, data=data, **kw)


def test_status_shows_nodes_leaders_and_in_sync_replicas(cluster) -> None:
    from elasticc_stream.engine.topics import ensure_topic

    address, state = cluster
    name = unique_topic("status")
    ensure_topic(address, name, 2)
    shown = run_cli("broker", "status", "--dir", str(state))
    assert shown.returncode == 0, shown.stderr
    assert [line.split(",")[0] for line in shown.stdout.splitlines() if line.startswith("node ")] == \
        ["node 1: up", "node 2: up", "node 3: up"]
    report = json.loads(run_cli("broker", "status", "--dir", str(state), "--json").stdout)
    (topic,) = [t for t in report["topics"] if t["name"] == name]
    for r in topic["replicas"]:
        assert sorted(r["replicas"]) == [1, 2, 3] and r["leader"] in (1, 2, 3)
    assert f"{name} partition 0: leader" in shown.stdout


def test_leader_killed_mid_replay(cluster, batch300: Path) -> None:
    address, state = cluster
    name = unique_topic("kill-leader")
    killed: list[int] = []

    def on_event(event: object) -> None:
        if isinstance(event, ev.ObservationDelivered) and event.number == 3 and not killed:
            node = leader(address, name)
            killed.append(node)
            pid = StateDir(state).read().node(node)["pid"]
            os.kill(pid, signal.SIGKILL)  # the partition's leader dies with writes in flight

    try:
        finished = Replayer(config(address, name, batch300, partitions=1), on_event).run()
        assert killed
        assert (finished.sent, finished.delivered, finished.failed, finished.interrupted) == (300, 300, 0, False)
        assert leader(address, name) not in (-1, killed[0])  # re-elected elsewhere
        check_every_alert_once_in_order(address, name, batch300)
    finally:
        if killed:
            node_cmd(state, "restart", killed[0])


def test_node_frozen_for_20_s_mid_replay(cluster, batch300: Path) -> None:
    address, state = cluster
    name = unique_topic("freeze")
    frozen: list[int] = []

    def on_event(event: object) -> None:
        if isinstance(event, ev.ObservationDelivered) and event.number == 2 and not frozen:
            node = leader(address, name)
            frozen.append(node)
            pid = StateDir(state).read().node(node)["pid"]
            os.kill(pid, signal.SIGSTOP)
            threading.Timer(20.0, os.kill, (pid, signal.SIGCONT)).start()

    finished = Replayer(config(address, name, batch300, partitions=2), on_event).run()
    assert frozen
    assert (finished.sent, finished.delivered, finished.failed) == (300, 300, 0)
    check_every_alert_once_in_order(address, name, batch300)


def test_consume_save_while_a_leader_is_killed(cluster, batch300: Path, tmp_path: Path) -> None:
    from elasticc_stream.engine.consume.offsets import group_offsets

    address, state = cluster
    name = unique_topic("save")
    group = f"save-{name}"
    saved = tmp_path / "saved"
    consumer = subprocess.Popen([*CLI, "consume", "--bootstrap", address, "--topic", name, "--group", group,
                                 "--save", str(saved), "--max", "300", "--timeout", "60"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    killed: list[int] = []

    def on_event(event: object) -> None:
        if isinstance(event, ev.ObservationDelivered) and event.number == 5 and not killed:
            node = leader(address, name)
            killed.append(node)
            os.kill(StateDir(state).read().node(node)["pid"], signal.SIGKILL)

    try:
        finished = Replayer(config(address, name, batch300, partitions=1), on_event).run()
        assert finished.delivered == 300 and killed
        _, err = consumer.communicate(timeout=180)
        assert consumer.returncode == 0, err
        files = sorted(p.name for p in saved.glob("*.avro"))
        expected = sorted(f"alert_src{e.dia_source_id}.avro" for e in AlertIndex.load(batch300).entries)
        assert files == expected  # every alert saved, and once: no `_1` copies
        report = group_offsets(address, name, group)
        assert [p.committed for p in report.partitions] == [300]  # never past what was saved (all of it)
        check_every_alert_once_in_order(address, name, batch300)
    finally:
        if consumer.poll() is None:
            consumer.kill()
        if killed:
            node_cmd(state, "restart", killed[0])


def test_replay_killed_then_resumed(cluster, batch300: Path) -> None:
    address, state = cluster
    name = unique_topic("resume")
    args = ["replay", "--bootstrap", address, "--topic", name, "--data", str(batch300), "--per-obs", "20",
            "--observations", "-1", "--interval", "2", "--partitions", "2"]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Observation 4 done"):
            proc.send_signal(signal.SIGKILL)  # no clean-up code runs: only the checkpoint on disk is left
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    resumed = run_cli(*args, "--interval", "0", "--resume", timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert "--resume:" in resumed.stdout
    check_every_alert_once_in_order(address, name, batch300)


def test_cluster_nodes_answer_after_the_faults(cluster) -> None:
    # The faults above leave every node up again: a plain client sees all three brokers.
    from confluent_kafka.admin import AdminClient

    address, _ = cluster
    deadline = time.monotonic() + 60
    while len(AdminClient({"bootstrap.servers": address}).list_topics(timeout=10).brokers) < 3:
        assert time.monotonic() < deadline
        time.sleep(1)


def test_single_node_restarted_mid_replay_keeps_its_data(tmp_path: Path, batch300: Path) -> None:
    """The broker stops and starts again on the same port: the replay waits, then completes exactly once."""
    from elasticc_stream.engine.broker.probe import free_port

    state = tmp_path / "single"
    port = str(free_port())
    started = run_cli("broker", "start", "--kafka", "--port", port, "--dir", str(state), timeout=240)
    assert started.returncode == 0, started.stderr
    address = started.stdout.strip()
    name = unique_topic("restart")
    restarts: list[subprocess.CompletedProcess] = []

    def restart() -> None:
        restarts.append(run_cli("broker", "stop", "--dir", str(state), timeout=120))
        restarts.append(run_cli("broker", "start", "--kafka", "--port", port, "--dir", str(state), timeout=240))

    worker = threading.Thread(target=restart)

    def on_event(event: object) -> None:
        if isinstance(event, ev.ObservationDelivered) and event.number == 3 and not worker.is_alive() \
                and not restarts:
            worker.start()

    try:
        # A JVM restart on a shared machine can outlast the default 30 s of broker silence the replay accepts.
        finished = Replayer(config(address, name, batch300, partitions=2, broker_timeout=240), on_event).run()
        worker.join(timeout=300)
        assert [r.returncode for r in restarts] == [0, 0], [r.stderr for r in restarts]
        assert (finished.sent, finished.delivered, finished.failed) == (300, 300, 0)
        check_every_alert_once_in_order(address, name, batch300)
    finally:
        worker.join(timeout=300)
        run_cli("broker", "stop", "--dir", str(state), timeout=120)
