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
    rss_mb: float  # peak RSS of the process, or of its largest waited-for descendant (prepare's workers)
    cpu: float = 0.0  # user + system seconds of the process and its waited-for descendants
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, line) of stdout
    stderr: str = ""


def run(cmd: list[str], *, timeout: float, capture: bool = True, stdout_path: str = os.devnull) -> Run:
    """Run `cmd`, reading its stdout line by line (timed) unless capture is False (stdout to a file).

    Peak RSS comes from wait4's rusage of this very child, so nothing else on the machine counts."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = subprocess.PIPE if capture else open(stdout_path, "wb")  # noqa: SIM115 - closed below
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env, cwd=REPO)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    reader.start()
    lines: list[tuple[float, str]] = []
    try:
        if capture:
            for raw in proc.stdout:
                lines.append((time.perf_counter() - started, raw.decode(errors="replace").rstrip("\n")))
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        timer.cancel()
        if not capture:
            out.close()
    reader.join(5)
    result = Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, lines,
                 b"".join(errors).decode(errors="replace"))
    if proc.returncode != 0:
        tail = "\n".join(x for _, x in lines[-5:]) + "\n" + result.stderr[-2000:]
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{tail}")
    return result


def elasticc(*args: str, timeout: float, capture: bool = True, stdout_path: str = os.devnull) -> Run:
    return run([*ELASTICC, *args], timeout=timeout, capture=capture, stdout_path=stdout_path)


def raw(*args: str, timeout: float) -> Run:
    return run([sys.executable, "-m", "benchmarks.bench_scale_raw", *args], timeout=timeout)


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
