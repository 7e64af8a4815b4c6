"""Where a started broker is recorded: `D/broker.pid`, `D/broker.log`, and `D/broker.json` (address, kind)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "elasticc-stream" / "broker"


@dataclass(frozen=True)
class BrokerInfo:
    address: str
    pid: int
    kind: str  # "tansu" (embedded, memory only) or "kafka" (Apache Kafka, one node or a cluster)
    log_path: str
    state_dir: str
    # Apache Kafka only: one entry per node, {"id", "port", "controller_port", "pid"}; `pid` above is node 1's.
    nodes: list[dict] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.address.split(",")[0].rsplit(":", 1)[1])

    def node(self, node_id: int) -> dict | None:
        return next((n for n in self.nodes if n["id"] == node_id), None)

    def pids(self) -> list[int]:
        return [n["pid"] for n in self.nodes] if self.nodes else [self.pid]


class StateDir:
    def __init__(self, path: Path | str):
        self.path = Path(path)

    @property
    def pid_file(self) -> Path:
        return self.path / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.path / "broker.log"

    @property
    def info_file(self) -> Path:
        return self.path / "broker.json"

    def write(self, info: BrokerInfo) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.info_file, json.dumps(asdict(info), indent=2) + "\n")
        _atomic_write(self.pid_file, f"{info.pid}\n")

    def read(self) -> BrokerInfo | None:
        """The recorded broker, if a pid file is there (its process may be gone)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            data = json.loads(self.info_file.read_text())
            return BrokerInfo(**{**data, "pid": pid})
        except (OSError, ValueError, TypeError):
            return BrokerInfo(address="unknown", pid=pid, kind="unknown", log_path=str(self.log_file),
                              state_dir=str(self.path))

    def clear(self) -> None:
        for path in (self.pid_file, self.info_file):
            path.unlink(missing_ok=True)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def process_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def process_command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
