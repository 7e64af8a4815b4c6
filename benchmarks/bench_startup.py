"""Start-up time of `elasticc-stream --help` (goal: under 300 ms), against a bare interpreter start."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 7


def _median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(workdir: Path | None = None, bootstrap: str | None = None) -> list[dict]:
    bare = _median_seconds([sys.executable, "-c", "pass"])
    rows = []
    for args in (["--help"], ["broker", "start", "--help"], ["replay", "--help"], ["tui", "--help"]):
        took = _median_seconds([sys.executable, "-m", "elasticc_stream", *args])
        rows.append({"name": f"start-up: elasticc-stream {' '.join(args)}", "figure": took * 1000, "unit": "ms",
                     "baseline_name": "python -c pass", "baseline": bare * 1000, "goal": "< 300 ms"})
    return rows


if __name__ == "__main__":
    from benchmarks.table import print_table

    print_table(run())
