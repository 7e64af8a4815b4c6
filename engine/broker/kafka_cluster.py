"""A local Apache Kafka cluster (1 or 3 KRaft nodes) run from a classpath, recorded in a state folder.

Data lives in D/kraft and survives `broker stop` + `broker start`: topics and committed offsets are kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from . import kraft
from .kafka_home import SERVER_CLASS, STORAGE_CLASS, KafkaRuntime, find_runtime
from .probe import free_port, metadata_brokers, port_in_use
from .state import BrokerInfo, StateDir, process_alive

KEEPS_DATA_NOTE = ("Apache Kafka keeps its data in {dir}: stopping and starting it again keeps topics and "
                   "committed offsets (delete the folder to start afresh)")


def pick_ports(port: int, nodes: int, host: str) -> list[kraft.NodePorts]:
    """Client ports port, port+1, ... (free ones when port is 0); controller ports are always free ones."""
    chosen: list[int] = []
    for i in range(nodes):
        p = free_port(host) if port == 0 else port + i
        if port != 0 and port_in_use(p, host):
            raise UserError(f"port {p} on {host} is already in use; choose another with --port (0 picks free ones)")
        chosen.append(p)
    return [kraft.NodePorts(i + 1, p, free_port(host)) for i, p in enumerate(chosen)]


def start_cluster(state: StateDir, port: int, nodes: int, kafka_home: Path | str | None, host: str,
                  timeout: float, preexec: Callable[[], None] | None) -> BrokerInfo:
    """Format (once) and start every node; return once each answers metadata and sees all the brokers."""
    if nodes not in (1, 3):
        raise UserError(f"--nodes {nodes}: a local Kafka cluster has 1 or 3 nodes")
    runtime = find_runtime(kafka_home)
    lay = kraft.layout(state.path)
    ports = pick_ports(port, nodes, host)
    cluster_id, needs_format = kraft.write_configs(lay, ports, host)
    if needs_format:
        for p in ports:
            _format(runtime, lay, lay.node(p.node_id), cluster_id)
        kraft.record_formatted(lay, cluster_id, nodes)
    started: list[dict] = []
    try:
        for p in ports:
            proc = _launch(runtime, lay, lay.node(p.node_id), preexec)
            started.append({"id": p.node_id, "port": p.port, "controller_port": p.controller_port, "pid": proc.pid})
        info = BrokerInfo(address=",".join(f"{host}:{n['port']}" for n in started), pid=started[0]["pid"],
                          kind="kafka", log_path=str(lay.node(1).log if nodes == 1 else lay.root),
                          state_dir=str(state.path), nodes=started)
        state.write(info)
        _wait_ready(info, lay, host, nodes, timeout)
    except BaseException:
        for n in started:
            terminate(n["pid"], wait=10.0)
        state.clear()
        raise
    return info


def _format(runtime: KafkaRuntime, lay: kraft.ClusterLayout, node: kraft.NodeLayout, cluster_id: str) -> None:
    command = runtime.command(STORAGE_CLASS, "format", "-t", cluster_id, "-c", str(node.config),
                              "--ignore-formatted", log_config=lay.log_config)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"Kafka storage format of node {node.node_id} did not finish in 120 s") from exc
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit code {done.returncode}"
        raise UserError(f"Kafka storage format of node {node.node_id} failed: {detail}")


def _launch(runtime: KafkaRuntime, lay: kraft.ClusterLayout, node: kraft.NodeLayout,
            preexec: Callable[[], None] | None) -> subprocess.Popen:
    with open(node.log, "ab") as log:
        return subprocess.Popen(runtime.command(SERVER_CLASS, str(node.config), log_config=lay.log_config),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=preexec)


def _wait_ready(info: BrokerInfo, lay: kraft.ClusterLayout, host: str, nodes: int, timeout: float,
                only: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    waiting = [n for n in info.nodes if only is None or n["id"] == only]
    while waiting:
        for n in list(waiting):
            if not process_alive(n["pid"]):
                raise UserError(f"Kafka node {n['id']} exited at start-up: {last_line(lay.node(n['id']).log)}")
            if (metadata_brokers(host, n["port"], timeout=1.0) or 0) >= nodes:
                waiting.remove(n)
        if waiting and time.monotonic() > deadline:
            ids = ", ".join(str(n["id"]) for n in waiting)
            raise UserError(f"Kafka node(s) {ids} did not answer within {timeout:.0f} s; "
                            f"see {lay.root}/node-*/kafka.log")
        if waiting:
            time.sleep(0.2)


def terminate(pid: int, wait: float = 20.0) -> None:
    """SIGTERM (Kafka shuts down cleanly on it), bounded; SIGKILL if it is still there. A frozen one is thawed."""
    for sig in (signal.SIGCONT, signal.SIGTERM):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not process_alive(pid):
            _reap(pid)
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def node_action(state_dir: Path | str, action: str, node_id: int, kafka_home: Path | str | None = None,
                host: str = "127.0.0.1", timeout: float = 90.0) -> dict:
    """stop | kill | freeze | thaw | restart one node of the recorded cluster; return that node's record."""
    state = StateDir(state_dir)
    info = state.read()
    if info is None or info.kind != "kafka" or not info.nodes:
        raise UserError(f"no Apache Kafka cluster recorded in {state.path}; start one with "
                        f"elasticc-stream broker start --kafka --nodes 3 --dir {state.path}")
    node = info.node(node_id)
    if node is None:
        raise UserError(f"node {node_id}: the cluster in {state.path} has nodes "
                        f"{', '.join(str(n['id']) for n in info.nodes)}")
    alive = process_alive(node["pid"])
    if action == "stop":
        if alive:
            terminate(node["pid"])
    elif action == "kill":
        if alive:
            os.kill(node["pid"], signal.SIGKILL)
            terminate(node["pid"], wait=5)
    elif action in ("freeze", "thaw"):
        if not alive:
            raise UserError(f"node {node_id} is not running (pid {node['pid']})")
        os.kill(node["pid"], signal.SIGSTOP if action == "freeze" else signal.SIGCONT)
    elif action == "restart":
        if alive:
            terminate(node["pid"])
        runtime = find_runtime(kafka_home)
        lay = kraft.layout(state.path)
        proc = _launch(runtime, lay, lay.node(node_id), None)
        node = {**node, "pid": proc.pid}
        nodes = [node if n["id"] == node_id else n for n in info.nodes]
        info = dataclasses.replace(info, nodes=nodes, pid=nodes[0]["pid"])
        state.write(info)
        _wait_ready(info, lay, host, 1, timeout, only=node_id)
    else:
        raise UserError(f"unknown node action {action!r}")
    return node


def last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if " ERROR " in line]
    return (errors or lines or ["no output"])[-1].strip()
