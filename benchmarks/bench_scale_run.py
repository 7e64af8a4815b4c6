"""Running one command of `bench-scale` as a child process: wall time, peak RSS, timed output lines."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ELASTICC = [str(Path(sys.executable).parent / "elasticc-stream")]  # the installed entry point, as a user runs it


@dataclass
class Run:
    seconds: float
    rss_mb: float  # peak RSS (VmHWM) of the process, or of its largest descendant (prepare's workers)
    cpu: float = 0.0  # user + system seconds of the process and its waited-for descendants
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, line) of stdout
    stderr: str = ""


def run(cmd: list[str], *, timeout: float, capture: bool = True, stdout_path: str = os.devnull) -> Run:
    """Run `cmd`, reading its stdout line by line (timed) unless capture is False (stdout to a file).

    Peak RSS is each process's own VmHWM, sampled every SAMPLE_S over the child and its descendants. Not wait4's
    ru_maxrss: Linux carries the RSS of the process that forked the child (this benchmark, ~120 MB) into it,
    so every command measured that way looked at least that large."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = subprocess.PIPE if capture else open(stdout_path, "wb")  # noqa: SIM115 - closed below
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env, cwd=REPO)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    reader.start()
    peak = _PeakSampler(proc.pid)
    lines: list[tuple[float, str]] = []
    try:
        if capture:
            for raw in proc.stdout:
                lines.append((time.perf_counter() - started, raw.decode(errors="replace").rstrip("\n")))
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        peak.stop()
        timer.cancel()
        if not capture:
            out.close()
    reader.join(5)
    result = Run(seconds, peak.mb, usage.ru_utime + usage.ru_stime, lines,
                 b"".join(errors).decode(errors="replace"))
    if proc.returncode != 0:
        tail = "\n".join(x for _, x in lines[-5:]) + "\n" + result.stderr[-2000:]
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{tail}")
    return result


def elasticc(*args: str, timeout: float, capture: bool = True, stdout_path: str = os.devnull) -> Run:
    return run([*ELASTICC, *args], timeout=timeout, capture=capture, stdout_path=stdout_path)


def raw(*args: str, timeout: float) -> Run:
    return run([sys.executable, "-m", "benchmarks.bench_scale_raw", *args], timeout=timeout)


SAMPLE_S = 0.05


class _PeakSampler:
    """The largest VmHWM seen in a process tree, sampled in a thread until stop()."""

    def __init__(self, pid: int) -> None:
        self.pid, self.mb = pid, 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._done.wait(SAMPLE_S):
                return

    def sample(self) -> None:
        for pid in _tree(self.pid):
            self.mb = max(self.mb, peak_rss_mb(pid) or 0.0)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _tree(pid: int) -> list[int]:
    """`pid` and its living descendants (from /proc/PID/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak RSS) of a running process, e.g. the broker."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def current_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
