"""`elasticc-stream simulate`: turn an SNANA simulation into NITE<n>.tar.gz alert batches."""

from __future__ import annotations

import argparse
import json
import os

DESCRIPTION = """\
Turn an SNANA simulation (SNANA_PREFIX_HEAD.FITS.gz + SNANA_PREFIX_PHOT.FITS.gz) into a batch in
the real ELAsTiCC layout: OUT_DIR/LSST_ALERTS_BATCH/ALERTS/NITE<n>.tar.gz, each holding
NITE<n>/alert_mjd<mjd>_obj<diaObjectId>_src<diaSourceId>.avro.gz. One alert per detection
(PHOTFLAG & 4096), with earlier detections as prvDiaSources and the epochs of the previous 30 days
as prvDiaForcedSources. NITE<n> is the integer MJD of the night. Each (night, sky field, band)
gets one deterministic exposure time inside the night. Same input, same bytes.
SNANA_PREFIX `bundled` is the simulation shipped with the package (200 light curves,
~166,000 detections over 178 nights, MJD 53062-53480).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="make NITE*.tar.gz alert batches from an SNANA simulation",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("snana", metavar="SNANA_PREFIX", help="path prefix before _HEAD.FITS.gz, or `bundled`")
    p.add_argument("out_dir", metavar="OUT_DIR", help="where LSST_ALERTS_BATCH/ALERTS/ is written")
    p.add_argument("--nights", metavar="FIRST:LAST",
                   help="NITE numbers (integer MJDs) to write, inclusive; either side may be empty (default: all)")
    p.add_argument("--max-nights", type=int, metavar="N",
                   help="keep only the first N nights with detections (after --nights)")
    p.add_argument("--format", dest="fmt", choices=("container", "schemaless"), default="container",
                   help="container: Avro file with embedded schema, gzipped (2022 stream, default); "
                        "schemaless: gzipped schemaless Avro (2023 stream)")
    p.add_argument("--schema", metavar="AVSC",
                   help="alert schema (default: the 2022 stream's schema for container, "
                        "elasticc.v0_9_1 for schemaless)")
    p.add_argument("--objects", type=int, metavar="N", help="use only the first N objects of the HEAD file")
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), metavar="N",
                   help="nights written in parallel processes (default: CPUs, at most 4); output is the same")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from elasticc_stream.engine.errors import UserError
    from elasticc_stream.engine.simulate.batch import NightWritten, SimulationPlanned, parse_nights, simulate

    nights = parse_nights(args.nights) if args.nights is not None else None
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    done = [0]

    def show(event: object) -> None:
        if args.json:
            return
        if isinstance(event, SimulationPlanned):
            print(f"{event.snana}: {event.objects} objects, {len(event.nights)} nights "
                  f"(NITE{event.nights[0]}..NITE{event.nights[-1]}), {event.alerts} alerts, "
                  f"format {event.fmt}, schema {event.schema}", flush=True)
        elif isinstance(event, NightWritten):
            done[0] += event.alerts
            print(f"  {os.path.basename(event.path)}  {event.alerts:6d} alerts  "
                  f"{event.size / 1e6:7.1f} MB  (total {done[0]})", flush=True)

    report = simulate(
        args.snana, args.out_dir, nights=nights, fmt=args.fmt, schema=args.schema,
        max_objects=args.objects, max_nights=args.max_nights, jobs=args.jobs, on_event=show,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        rate = report.alerts / report.seconds if report.seconds > 0 else 0.0
        size = sum(n.size for n in report.nights) / 1e6
        print(f"{report.alerts} alerts in {len(report.nights)} nights, {size:.1f} MB, "
              f"{report.seconds:.1f} s ({rate:.0f} alerts/s) -> {report.alerts_dir}")
    return 0
