"""The `elasticc-stream` entry point.

Only argparse and the light `cli` modules are imported here, so that `--help` stays fast: each
subcommand imports Textual, confluent-kafka or fastavro inside its `run`, when it actually runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from elasticc_stream import __version__

# Order of the subcommands in --help.
COMMANDS = ("broker", "prepare", "replay", "consume", "show", "tui", "demo", "simulate", "conf")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `only` one subcommand's: a run needs only its own (see `_named_command`)."""
    parser = argparse.ArgumentParser(
        prog="elasticc-stream",
        description="Replay simulated Rubin/LSST (ELAsTiCC) alerts into Kafka as a timed stream, and watch it arrive.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show details (tracebacks) on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (only,) if only else COMMANDS:
        module = importlib.import_module(f"elasticc_stream.cli.{name}")
        module.register(sub)
    return parser


def _named_command(argv: Sequence[str]) -> str | None:
    """The subcommand a command line names, if it is one of ours: registering the other eight (their modules
    and their parsers) took 20-30 ms of every run, a fifth of replay's start-up. Anything else (no command,
    a typo, --help) gets the whole parser, so that help and "invalid choice" list every command."""
    for arg in argv:
        if arg in ("-v", "--verbose"):
            continue
        return arg if arg in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_named_command(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from elasticc_stream.cli.common import apply_size_caps
    from elasticc_stream.engine.errors import UserError

    if args.verbose and not _is_tui(args):
        _show_client_logs()
    try:
        apply_size_caps(args)
        return int(args.run(args) or 0)
    except UserError as exc:
        if args.verbose:
            raise
        print(f"elasticc-stream {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"elasticc-stream {args.command}: interrupted", file=sys.stderr)
        return 130


def _is_tui(args: argparse.Namespace) -> bool:
    """The terminal is the TUI's screen: its client lines go to its event log, never to stderr."""
    return args.command == "tui" or (args.command == "demo" and not getattr(args, "headless", False))


def _show_client_logs() -> None:
    """With -v, the Kafka clients' own log lines (librdkafka retries, connection attempts) go to stderr."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger("elasticc_stream")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
