"""Pieces several subcommands share: the `-X` option, a quiet stop on a closed pipe, running a Textual app."""

from __future__ import annotations

import argparse
import os
import sys


def add_kafka_properties(p: argparse.ArgumentParser, what: str = "the Kafka clients") -> None:
    p.add_argument("-X", dest="properties", action="append", default=[], metavar="PROPERTY=VALUE",
                   help=f"librdkafka property for {what}, repeatable, as kcat takes them (e.g. "
                        "-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=U "
                        "-X sasl.password=P); secret values are never printed")


def discard_stdout() -> None:
    """After a BrokenPipeError (`| head` left): point stdout at /dev/null so Python's exit flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def run_app(app) -> int:
    """Run a Textual app to its end and turn how it ended into an exit code."""
    result = app.run()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code)
