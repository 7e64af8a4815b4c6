"""A record of the app's screen updates for the soak benchmark (`python -m benchmarks --tui-soak`).

With ELASTICC_STREAM_TUI_STATS=FILE in the environment, each UI batch appends one line to FILE, once Textual
has painted it: `start tick paint total errors latency` (when the batch began, was folded in and was painted,
in time.time() seconds; total: alerts
received as the Stream screen shows it; latency: the median end-to-end latency of the newest batch, or -).
The benchmark reads it from outside; the app itself only writes a short line four times a second.
"""

from __future__ import annotations

import os
import time
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from .stream_state import StreamState

ENV = "ELASTICC_STREAM_TUI_STATS"


class TickStats:
    def __init__(self, path: str) -> None:
        self._file: IO[str] = open(path, "a", buffering=1)  # noqa: SIM115 - closed by close()

    @classmethod
    def from_env(cls) -> TickStats | None:
        path = os.environ.get(ENV)
        return cls(path) if path else None

    def ticked(self, started: float, state: StreamState) -> tuple[float, float, int, int, str]:
        """What the batch showed, taken when it was folded in; write it with `painted` once on screen."""
        latency = f"{state.sparkline[-1]:.3f}" if state.sparkline else "-"
        return started, time.time(), state.total, state.errors, latency

    def painted(self, ticked: tuple[float, float, int, int, str]) -> None:
        started, tick, total, errors, latency = ticked
        if not self._file.closed:
            self._file.write(f"{started:.3f} {tick:.3f} {time.time():.3f} {total} {errors} {latency}\n")

    def close(self) -> None:
        self._file.close()
