"""`elasticc-stream prepare`: a thin view over engine.prepare (progress bar, summary, --json)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from elasticc_stream.cli.common import add_size_caps

DESCRIPTION = """\
Unpack every NITE<n>.tar.gz in ALERTS_DIR into ALERTS_DIR/NITE<n>/ (safely: only regular files inside
NITE<n>/ are written; absolute names, '..', links and devices are refused and reported), validate every
alert by decoding it exactly, move bad archives and bad alerts to ALERTS_DIR/bad/ (a bad alert's name is
prefixed with its night: NITE<n>__<name>), gather good alerts in ALERTS_DIR/gathered/ (hard links where
possible) and write ALERTS_DIR/elasticc-stream.index, sorted by midPointTai then diaSourceId, which replay,
show and the TUI read. A folder holding loose .avro/.avro.gz alerts (no NITE archives or folders) is
indexed in place. Running it again reuses every night that has not changed (its archive's size, time and
inode, and the stat of its folders, kept in ALERTS_DIR/elasticc-stream.state) and does the changed nights
again. Nothing is deleted except the partial output of a bad
archive. Exit status 0 when the run completed, even if bad input was reported; 1 when it could not run.

Alert formats: the 2022 stream's gzipped Avro container files carry their schema and need nothing else;
the 2023 stream's gzipped schemaless Avro needs --schema. Without --schema, a schemaless alert is tried
against the shipped schemas (the exact 2022 stream schema, elasticc.v0_9_1, elasticc.v0_9, in that order)
and accepted only if one of them decodes it exactly, consuming every byte; otherwise it is a bad alert.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="unpack, validate, gather and index a folder of NITE*.tar.gz alerts",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("alerts_dir", metavar="ALERTS_DIR", help="folder holding NITE*.tar.gz (or loose alerts)")
    p.add_argument(
        "--schema",
        metavar="AVSC",
        help="writer schema (.avsc; named types resolved from sibling .avsc files) for schemaless alerts; "
        "used exactly, never guessed. Container alerts always use their embedded schema",
    )
    p.add_argument(
        "--jobs",
        type=_positive,
        metavar="N",
        help="nights processed in parallel (worker processes); default min(4, CPU count)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on stdout at the end: alerts, nights, bad_archives, bad_alerts, "
        "errors [{file, reason}], skipped, reused, seconds...",
    )
    add_size_caps(p, member=True)
    p.set_defaults(run=_run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _run(args: argparse.Namespace) -> int:
    from elasticc_stream.engine.prepare import prepare

    bar = _Bar(sys.stderr) if sys.stderr.isatty() else None
    try:
        report = prepare(
            args.alerts_dir, schema=args.schema, jobs=args.jobs, on_progress=bar.update if bar else None
        )
    finally:
        if bar:
            bar.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    for problem in report.errors:
        print(f"prepare: {problem.line()}", file=sys.stderr)
    for note in report.notes:
        print(f"prepare: note: {note}", file=sys.stderr)
    if report.skipped:
        shown = ", ".join(p.file for p in report.skipped[:3])
        more = f" and {len(report.skipped) - 3} more" if len(report.skipped) > 3 else ""
        print(f"prepare: skipped {len(report.skipped)} files ({shown}{more}): kept, not indexed", file=sys.stderr)
    print(report.summary())
    print(f"index: {report.index_path}" + ("" if report.index_written else " (unchanged)"))
    return 0


class _Bar:
    """One redrawn line on a terminal: nights done and alerts checked."""

    WIDTH = 30

    def __init__(self, stream) -> None:
        self.stream = stream
        self.last = 0.0
        self.drawn = False

    def update(self, event) -> None:
        now = time.monotonic()
        if event.stage == "alerts" and now - self.last < 0.1:
            return
        self.last = now
        total = max(event.nights_total, 1)
        filled = round(self.WIDTH * event.nights_done / total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        text = f"\r[{bar}] {event.nights_done}/{event.nights_total} nights, {event.alerts_done} alerts"
        if event.stage in ("gathering", "indexing"):
            text += f" ({event.stage})"
        self.stream.write(text + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
