"""`elasticc-stream conf list|show NAME`: the example configurations installed with the package."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "conf",
        help="list or print the example configurations (reference .conf and TOML) installed with the package",
        description=("The commented examples of both configuration formats, wherever the package is installed: "
                     "`conf list` names them, `conf show NAME > my.conf` starts a configuration of your own."),
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="name each example and its first line")
    show = actions.add_parser("show", help="print one example")
    show.add_argument("name", metavar="NAME", help="an example's file name, e.g. elasticc_replay.conf")
    p.set_defaults(run=_run)


def examples() -> dict[str, str]:
    """File name -> text of every example (`.conf`, `.toml`, and the key table README.md)."""
    from importlib.resources import files

    folder = files("elasticc_stream.conf")
    return {item.name: item.read_text(encoding="utf-8") for item in sorted(folder.iterdir(), key=lambda i: i.name)
            if item.name.endswith((".conf", ".toml", ".md"))}


def _run(args: argparse.Namespace) -> int:
    from elasticc_stream.engine.config.suggest import did_you_mean
    from elasticc_stream.engine.errors import UserError

    found = examples()
    if args.action == "list":
        for name, text in found.items():
            first = next((line.lstrip("#").strip() for line in text.splitlines() if line.strip()), "")
            print(f"{name:<24} {first}")
        return 0
    text = found.get(args.name)
    if text is None:
        raise UserError(f"no example named {args.name!r}{did_you_mean(args.name, found)} "
                        f"(`elasticc-stream conf list` names them)")
    sys.stdout.write(text)
    return 0
