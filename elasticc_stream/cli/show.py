"""`elasticc-stream show FILE...`: print decoded alert files as a tree (or JSON) with their light curve."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import Any

from elasticc_stream.cli.common import add_registry_options, add_size_caps, discard_stdout, registry_from_args

DESCRIPTION = (
    "Decode alert files (.avro or .avro.gz; an Avro container with its embedded schema, schemaless Avro "
    "read with --schema or, without it, with the first shipped ELAsTiCC schema that decodes every byte, or "
    "Confluent-framed Avro as Rubin sends it, read with the schema of its id: --schema, the Rubin schemas "
    "that lsst-alert-packet ships, then --schema-registry) and "
    "print each alert as a tree (arrays collapsed to their first items unless --full), then its light curve: "
    "ELAsTiCC psFlux against midPointTai per band (current detection marked), Rubin psfFlux against "
    "midpointMjdTai with forced photometry, ZTF magpsf against jd per fid. Times, dates, decimals and bytes "
    "are written as ISO 8601, exact digits and base64 (hex in the tree). A file that cannot be decoded gets "
    "one error line on stderr and the next file is shown; the exit code is 1 if any file failed."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="print alert files as a tree (or JSON) with their light curve",
                       description=DESCRIPTION)
    p.add_argument("files", nargs="+", metavar="FILE", help="alert file (.avro, .avro.gz)")
    p.add_argument("--schema", metavar="AVSC",
                   help="writer schema for schemaless files (.avsc; named types in sibling .avsc files are found); "
                        "containers always use their embedded schema")
    add_registry_options(p)
    p.add_argument("--json", action="store_true",
                   help="print one strict JSON object per alert per line instead (exact values, bytes as base64, "
                        "NaN/Infinity as strings); "
                        "nothing else goes to stdout")
    p.add_argument("--record", type=int, metavar="N",
                   help="show only record N (1 = the first) of each file (a container may hold hundreds)")
    p.add_argument("--max", type=int, metavar="N", dest="max_records",
                   help="show at most N alerts in all, then stop (the rest of a file is not even decoded)")
    p.add_argument("--full", action="store_true",
                   help="show every item of every array whole (default: the first 3 items of an array, a "
                        "record in an array as one line of its id, time, band and flux)")
    p.add_argument("--no-plot", action="store_true", help="do not draw the light curve")
    p.add_argument("--width", type=int, metavar="N", help="plot width in columns (default: the terminal's)")
    p.add_argument("--height", type=int, metavar="N", help="plot height in rows (default: about half the terminal)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour output (default auto: when stdout is a terminal and NO_COLOR is unset)")
    add_size_caps(p)
    p.set_defaults(run=_run)


def _archive_hint(path: str) -> str | None:
    """A NITE*.tar.gz is a night of alerts, not one: say how to get at them instead of a decode error."""
    import tarfile
    from pathlib import Path

    try:
        is_tar = Path(path).is_file() and tarfile.is_tarfile(path)
    except OSError:
        return None
    if not is_tar:
        return None
    folder = Path(path).parent
    return (f"{path} is a tar archive (a night of alerts), not an alert: `elasticc-stream prepare {folder}` "
            f"unpacks and validates it, then show any file of {folder / 'gathered'}")


def _run(args: argparse.Namespace) -> int:
    import shutil

    from elasticc_stream.engine.alert_fields import to_json
    from elasticc_stream.engine.decoder import DecodeError, iter_alert_file, load_schema_file
    from elasticc_stream.engine.errors import UserError

    schema = load_schema_file(args.schema) if args.schema else None
    registry, _ = registry_from_args(args)
    if args.width is not None and args.width < 30:
        raise UserError(f"--width {args.width}: at least 30 columns are needed for a plot")
    if args.height is not None and args.height < 8:
        raise UserError(f"--height {args.height}: at least 8 rows are needed for a plot")
    size = shutil.get_terminal_size((100, 40))
    width = args.width or size.columns
    height = args.height or max(12, min(30, size.lines // 2))
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    for flag, value in (("--record", args.record), ("--max", args.max_records)):
        if value is not None and value < 1:
            raise UserError(f"{flag} {value}: must be at least 1 (records are counted from 1)")
    failed = 0
    shown = 0
    try:
        for path in args.files:
            if args.max_records is not None and shown >= args.max_records:
                break
            try:
                alerts = _numbered(iter_alert_file(path, schema=schema, registry=registry))
                number = 0
                for number, many, alert in alerts:
                    if args.record is not None and number != args.record:
                        continue
                    if args.json:
                        print(to_json(alert.record), flush=True)
                    else:
                        where = f"{path} [record {number}]" if many else path
                        _print_alert(where, alert, width, height, color, plot=not args.no_plot, full=args.full)
                    shown += 1
                    if args.record is not None or (args.max_records is not None and shown >= args.max_records):
                        break
                else:
                    if args.record is not None and number < args.record:
                        raise DecodeError(path, f"--record {args.record}: the file holds {number} record(s)")
            except DecodeError as exc:
                failed += 1
                print(f"elasticc-stream show: error: {_archive_hint(path) or exc}", file=sys.stderr, flush=True)
                continue
    except BrokenPipeError:
        # The reader (`| head`) left: stop quietly, and keep Python's exit flush from failing again.
        discard_stdout()
        return 0
    if failed:
        print(f"elasticc-stream show: {failed} of {len(args.files)} file(s) could not be decoded",
              file=sys.stderr, flush=True)
    return 1 if failed else 0


def _numbered(alerts: Iterator[Any]) -> Iterator[tuple[int, bool, Any]]:
    """(number from 1, whether the file holds more than one, alert): one alert is read ahead to know."""
    first = next(alerts, None)
    if first is None:
        return
    second = next(alerts, None)
    yield 1, second is not None, first
    if second is not None:
        yield 2, True, second
        for number, alert in enumerate(alerts, 3):
            yield number, True, alert


def _schema_note(alert: Any) -> str:
    from elasticc_stream.engine.decoder import schema_name

    name = schema_name(alert.schema)
    if alert.schema_id is not None:
        from elasticc_stream.engine.wire.lookup import describe

        return f"schema {name} ({describe(alert.schema_label, alert.schema_id)}; fingerprint {alert.fingerprint})"
    how = {
        "embedded": "embedded in the file",
        "given": "given with --schema",
        "key": "carried in the message key",
    }.get(alert.schema_label, f"shipped schema {alert.schema_label}, the first that decodes every byte")
    return f"schema {name} ({how}; fingerprint {alert.fingerprint})"


def _print_alert(where: str, alert: Any, width: int, height: int, color: bool, plot: bool, full: bool) -> None:
    from rich.console import Console

    from elasticc_stream.cli.show_tree import tree_lines

    console = Console(file=sys.stdout, force_terminal=color, no_color=not color, highlight=False,
                      width=width, soft_wrap=True)
    family = alert.family
    if family.current is not None:
        pairs = family.summary(alert.record).pairs()
        ident = f"{family.title}: " + ", ".join(f"{name} {value}" for name, value in pairs)
    else:
        ident = "alert of an unknown kind (not ELAsTiCC, Rubin or ZTF)"
    console.print(f"[bold]{_escape(where)}[/bold]")
    console.print(f"{_escape(ident)}\n[dim]{_escape(_schema_note(alert))}[/dim]")
    sys.stdout.write("\n".join(tree_lines(alert.record, full, color)) + "\n")
    if plot:
        from elasticc_stream.engine.lightcurve import render_light_curve

        sys.stdout.write(render_light_curve(alert.record, width, height, color=color, family=family) + "\n\n")
        sys.stdout.flush()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
