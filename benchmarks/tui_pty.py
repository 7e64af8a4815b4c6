"""The real TUI in a pseudo-terminal, watched from outside: its RSS and CPU from /proc, `q` typed as a user would."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

from benchmarks.bench_scale_run import ELASTICC, REPO


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TuiProcess:
    """`elasticc-stream tui ARGS` on a COLUMNS x LINES pty; its screen output is read and dropped."""

    def __init__(self, args: list[str], stats_path: Path, columns: int = 120, lines: int = 40) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines),
               "ELASTICC_STREAM_TUI_STATS": str(stats_path)}
        self.proc = subprocess.Popen([*ELASTICC, "tui", *args], stdin=slave, stdout=slave, stderr=slave,
                                     env=env, cwd=REPO, close_fds=True)
        os.close(slave)
        self._master = master
        self.output_bytes = 0
        self._tail = b""
        self.samples: list[tuple[float, float, float]] = []  # (monotonic, RSS MB, CPU s)
        self._stop = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.output_bytes += len(chunk)
            self._tail = (self._tail + chunk)[-4096:]

    def sample_every(self, seconds: float) -> None:
        def loop() -> None:
            while not self._stop.is_set() and self.proc.poll() is None:
                rss, cpu = _rss_mb(self.proc.pid), _cpu_s(self.proc.pid)
                if rss is not None and cpu is not None:
                    self.samples.append((time.monotonic(), rss, cpu))
                self._stop.wait(seconds)

        threading.Thread(target=loop, daemon=True).start()

    def quit(self, timeout: float = 30.0) -> float | None:
        """Type `q`; seconds until the process has exited (None: it had not after `timeout`, then killed)."""
        self._stop.set()
        started = time.monotonic()
        os.write(self._master, b"q")
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        return time.monotonic() - started

    def kill(self) -> None:
        self._stop.set()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        os.close(self._master)

    @property
    def screen_tail(self) -> str:
        return self._tail.decode(errors="replace")
