"""`make bench`: every benchmark against one broker started for the run, printed as one table.

Each figure is compared with a baseline measured in the same run on the same machine, never with a fixed
number, because this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from benchmarks.harness import scratch_and_broker
from benchmarks.table import print_table

BENCHMARKS = ("bench_startup", "bench_prepare", "bench_replay", "bench_consume")


def main() -> int:
    if "--scale" in sys.argv[1:]:  # `make bench-scale`: its own runner, options and table (bench_scale.py)
        from benchmarks.bench_scale import main as scale_main

        return scale_main([a for a in sys.argv[1:] if a != "--scale"])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--bootstrap", help="an existing broker (default: start an embedded one for the run)")
    parser.add_argument("names", nargs="*", help=f"which to run (default all: {', '.join(BENCHMARKS)})")
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    rows: list[dict] = []
    with scratch_and_broker(args.bootstrap, "elasticc-bench-") as (tmp, bootstrap):
        for name in names:
            module = importlib.import_module(f"benchmarks.{name}")
            workdir = tmp / name
            workdir.mkdir()
            print(f"running {name} ...", file=sys.stderr, flush=True)
            rows.extend(module.run(workdir, bootstrap))
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
