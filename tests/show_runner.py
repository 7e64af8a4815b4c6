"""`elasticc-stream show` run in-process through its own argument parser, for the tests of what it prints."""

from __future__ import annotations

import argparse

import pytest

from elasticc_stream.cli import show


def run_show(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `show ARGV...`."""
    parser = argparse.ArgumentParser(prog="elasticc-stream")
    show.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["show", *map(str, argv)])
    code = args.run(args)
    out, err = capsys.readouterr()
    return code, out, err
