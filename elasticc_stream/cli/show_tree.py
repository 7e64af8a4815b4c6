"""show's tree of a decoded alert, as text lines; values written by the one rule of `engine.avro_json`.

Collapsed by default so that a file of hundreds of alerts stays readable: an array shows its first
`SHOWN_ITEMS` items, a record inside an array as one line of its identifying fields, then how many more
there are; `--full` shows every item whole. Lines are built here rather than with rich's Tree, which takes
about a second per three thousand lines: a Fink partition is hundreds of thousands with `--full`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from elasticc_stream.engine.avro_json import leaf
from elasticc_stream.engine.families.registry import item_fields

SHOWN_ITEMS = 3
# ANSI styles (SGR parameters) of each kind of text, as rich would draw them.
STYLES = {"null": "2", "bool": "35", "number": "33", "string": "32", "bytes": "35", "time": "34", "other": "",
          "name": "36", "node": "1;36", "dim": "2", "root": "1"}


def tree_lines(record: dict, full: bool = False, color: bool = False) -> Iterator[str]:
    """The lines of the tree of `record`, without line ends."""
    paint = _paint if color else _plain
    yield paint("alert", "root")
    yield from _lines(record, "", full, paint)


def _plain(text: str, _style: str) -> str:
    return text


def _paint(text: str, style: str) -> str:
    code = STYLES[style]
    return f"\x1b[{code}m{text}\x1b[0m" if code and text else text


def _lines(value: dict | list, prefix: str, full: bool, paint: Any) -> Iterator[str]:
    in_list = isinstance(value, list)
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = list(value.items())
        more = 0
    else:
        shown = value if full else value[:SHOWN_ITEMS]
        items = [(f"[{i}]", v) for i, v in enumerate(shown)]
        more = len(value) - len(shown)
    guide = paint("├── ", "dim")
    last_guide = paint("└── ", "dim")
    for n, (name, item) in enumerate(items):
        last = n == len(items) - 1 and not more
        head = prefix + (last_guide if last else guide)
        below = prefix + ("    " if last else paint("│   ", "dim"))
        if isinstance(item, dict) and item and in_list and not full:
            yield f"{head}{paint(name, 'node')}  {paint(_brief(item), 'dim')}"
        elif isinstance(item, dict) and item:
            yield head + paint(name, "node")
            yield from _lines(item, below, full, paint)
        elif isinstance(item, list) and item:
            yield f"{head}{paint(name, 'node')} {paint(f'({len(item)})', 'dim')}"
            yield from _lines(item, below, full, paint)
        else:
            text, kind = leaf(item)
            yield f"{head}{paint(name, 'name')}: {paint(text, kind)}"
    if more:
        yield prefix + last_guide + paint(f"… {more} more item{'s' if more > 1 else ''} (--full shows all)", "dim")


def _brief(item: dict) -> str:
    shown = [f"{name} {leaf(item[name])[0]}" for name in item_fields() if name in item][:4]
    return ", ".join(shown) if shown else f"{{{len(item)} fields}}"
