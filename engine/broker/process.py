"""Start, stop and describe the local broker: a background process recorded in a state folder."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .probe import free_port, metadata_answers, port_in_use, port_open
from .state import BrokerInfo, StateDir, process_alive, process_command
from .tansu import find_tansu, tansu_command

HOST = "127.0.0.1"
MEMORY_ONLY_NOTE = ("the embedded broker (Tansu) keeps topics in memory only: "
                    "stopping or restarting it loses every topic and message")


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    info: BrokerInfo | None
    stale: bool  # a pid file was left by a process that is gone


def start_broker(port: int = 9092, state_dir: Path | str | None = None, kafka_home: Path | str | None = None,
                 ready_timeout: float | None = None, die_with_parent: bool = False, kafka: bool = False,
                 nodes: int = 1) -> BrokerInfo:
    """Start a broker in the background and return once it answers a metadata request.

    Tansu (embedded, memory only) by default; Apache Kafka with `kafka` or a `kafka_home` distribution, as one
    KRaft node or a cluster of `nodes`, its data kept in the state folder.

    `die_with_parent` ties the broker's life to the calling process (Linux), for owners such as the demo that
    must leave nothing behind even when they are killed with SIGKILL and no cleanup code can run.
    """
    from .state import default_state_dir

    state = StateDir(state_dir or default_state_dir())
    recorded = state.read()
    if recorded is not None and process_alive(recorded.pid):
        raise UserError(f"a broker is already running from {state.path} (pid {recorded.pid}, {recorded.address}); "
                        f"stop it with: elasticc-stream broker stop --dir {state.path}")
    if not (kafka or kafka_home) and nodes != 1:
        raise UserError("--nodes needs --kafka: the embedded broker runs as one node")
    if not (kafka or kafka_home) or nodes == 1:
        if port == 0:
            port = free_port(HOST)
        elif port_in_use(port, HOST):
            raise UserError(f"port {port} on {HOST} is already in use; choose another with --port (0 picks a free one)")
    try:
        state.path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create state folder {state.path}: {exc.strerror}") from exc

    if kafka or kafka_home:
        from .kafka_cluster import start_cluster

        return start_cluster(state, port, nodes, kafka_home, HOST, ready_timeout or 120.0,
                             _kill_with_parent if die_with_parent else None)
    command, kind = tansu_command(find_tansu(), port, HOST), "tansu"
    timeout = ready_timeout or 20.0

    with open(state.log_file, "ab") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True,  # survives the CLI and the terminal's Ctrl-C
                                preexec_fn=_kill_with_parent if die_with_parent else None)
    info = BrokerInfo(address=f"{HOST}:{port}", pid=proc.pid, kind=kind, log_path=str(state.log_file),
                      state_dir=str(state.path))
    state.write(info)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            state.clear()
            raise UserError(f"the broker exited at start-up (code {proc.returncode}): {_last_line(state.log_file)}")
        if metadata_answers(HOST, port, timeout=1.0):
            return info
        time.sleep(0.1)
    _terminate(proc.pid, kind, wait=5.0)
    state.clear()
    raise UserError(f"the broker did not answer on {info.address} within {timeout:.0f} s; see {state.log_file}")


def _kill_with_parent() -> None:
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))


def stop_broker(state_dir: Path | str | None = None, wait: float = 10.0) -> BrokerInfo | None:
    """Stop the recorded broker; return what was stopped, or None when nothing was running."""
    from .state import default_state_dir

    state = StateDir(state_dir or default_state_dir())
    info = state.read()
    if info is None:
        return None
    if info.kind == "kafka" and info.nodes:
        from .kafka_cluster import terminate

        live = [pid for pid in info.pids() if process_alive(pid) and _looks_like_broker(pid)]
        for pid in live:  # all at once: a cluster shuts down in the time of its slowest node
            os.kill(pid, signal.SIGTERM)
        for pid in live:
            terminate(pid, wait=max(wait, 20.0))
        state.clear()
        return info if live else None
    if not process_alive(info.pid) or not _looks_like_broker(info.pid):
        state.clear()
        return None
    _terminate(info.pid, info.kind, wait)
    state.clear()
    if info.address != "unknown":
        port = info.port
        deadline = time.monotonic() + wait
        while port_open(port, HOST) and time.monotonic() < deadline:
            time.sleep(0.05)
    return info


def _looks_like_broker(pid: int) -> bool:
    # Never signal an unrelated process that reused a stale pid.
    command = process_command(pid)
    return not command or "tansu" in command or "kafka" in command.lower()


def _terminate(pid: int, kind: str, wait: float) -> None:
    # Tansu ignores SIGTERM and stops on SIGINT; Kafka stops cleanly on SIGTERM. SIGKILL if neither works.
    first = signal.SIGINT if kind == "tansu" else signal.SIGTERM
    for sig in (first, signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + (wait / 2 if sig != signal.SIGKILL else wait)
        while time.monotonic() < deadline:
            if not process_alive(pid):
                _reap(pid)
                return
            time.sleep(0.05)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def broker_status(state_dir: Path | str | None = None) -> BrokerStatus:
    from .state import default_state_dir

    state = StateDir(state_dir or default_state_dir())
    info = state.read()
    if info is None:
        return BrokerStatus(running=False, info=None, stale=False)
    alive = any(process_alive(pid) for pid in info.pids())
    return BrokerStatus(running=alive, info=info, stale=not alive)


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip() if lines else "no output"
