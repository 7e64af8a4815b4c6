"""`make bench`: every benchmark, those that talk to a broker on both local brokers, printed as one table.

The broker benchmarks (replay, consume) run once on the embedded broker (Tansu) and once on a single
Apache Kafka node (`make kafka`), each started for the run; their rows say which.

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
ON_A_BROKER = ("bench_replay", "bench_consume")


def main() -> int:
    if "--scale" in sys.argv[1:]:  # `make bench-scale`: its own runner, options and table (bench_scale.py)
        from benchmarks.bench_scale import main as scale_main

        return scale_main([a for a in sys.argv[1:] if a != "--scale"])
    if "--tui-soak" in sys.argv[1:]:  # the TUI following a fast stream for minutes (bench_tui_soak.py)
        from benchmarks.bench_tui_soak import main as soak_main

        return soak_main([a for a in sys.argv[1:] if a != "--tui-soak"])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--bootstrap", help="an existing broker (default: start local ones for the run)")
    parser.add_argument("--broker", choices=("both", "tansu", "kafka"), default="both",
                        help="local broker(s) for the broker benchmarks (default both; ignored with --bootstrap)")
    parser.add_argument("names", nargs="*", help=f"which to run (default all: {', '.join(BENCHMARKS)})")
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    kinds = ["given"] if args.bootstrap else (["tansu", "kafka"] if args.broker == "both" else [args.broker])
    rows: list[dict] = []
    for n, kind in enumerate(kinds):
        todo = [name for name in names if name in ON_A_BROKER or n == 0]
        if not todo:
            continue
        with scratch_and_broker(args.bootstrap, "elasticc-bench-", kafka=kind == "kafka") as (tmp, bootstrap):
            for name in todo:
                module = importlib.import_module(f"benchmarks.{name}")
                workdir = tmp / name
                workdir.mkdir()
                print(f"running {name} on {kind} ...", file=sys.stderr, flush=True)
                for row in module.run(workdir, bootstrap):
                    if name in ON_A_BROKER and kind != "given":
                        row = {**row, "name": f"[{kind}] {row['name']}"}
                    rows.append(row)
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
