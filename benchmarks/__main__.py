"""`make bench`: every benchmark against one broker started for the run, printed as one table.

Each figure is compared with a baseline measured in the same run on the same machine, never with a fixed
number, because this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.table import print_table

BENCHMARKS = ("bench_startup", "bench_prepare", "bench_replay", "bench_consume")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"which to run (default all: {', '.join(BENCHMARKS)})")
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    cli = [sys.executable, "-m", "elasticc_stream"]
    with tempfile.TemporaryDirectory(prefix="elasticc-bench-") as tmp:
        state = Path(tmp) / "broker"
        started = subprocess.run([*cli, "broker", "start", "--port", "0", "--dir", str(state), "--embedded"],
                                 capture_output=True, text=True)
        if started.returncode != 0:
            print(started.stderr, file=sys.stderr)
            return 1
        bootstrap = started.stdout.strip()
        rows: list[dict] = []
        try:
            for name in names:
                module = importlib.import_module(f"benchmarks.{name}")
                workdir = Path(tmp) / name
                workdir.mkdir()
                print(f"running {name} ...", file=sys.stderr, flush=True)
                rows.extend(module.run(workdir, bootstrap))
        finally:
            subprocess.run([*cli, "broker", "stop", "--dir", str(state)], capture_output=True)
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
