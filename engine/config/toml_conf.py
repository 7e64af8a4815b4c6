"""Reader for our own TOML configuration files, with `FILE:LINE` in every error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .text import read_config_text

_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True)
class TomlConf:
    source: str
    data: dict[str, Any]
    text: str

    def line_of(self, key: str, table: str | None = None) -> int | None:
        """Line where `key` is assigned (in `[table]` if given): tomllib keeps no positions, so look."""
        current: str | None = None
        pattern = re.compile(rf"""\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
        for number, line in enumerate(self.text.splitlines(), start=1):
            header = re.match(r"\s*\[([^\[\]]+)\]\s*(?:#.*)?$", line)
            if header:
                current = header.group(1).strip()
                continue
            if current == table and pattern.match(line):
                return number
        return None

    def where(self, key: str, table: str | None = None) -> str:
        line = self.line_of(key, table)
        return f"{self.source}:{line}" if line else self.source


def read_toml_conf(path: str | Path) -> TomlConf:
    import tomllib  # here, not at the top: every replay imports this module, few read a .toml (~3 ms)

    text = read_config_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _AT_LINE.search(message)
        line = match.group(1) if match else "1"
        reason = _AT_LINE.sub("", message).strip()
        raise UserError(f"{path}:{line}: {reason}") from exc
    return TomlConf(str(path), data, text)


def string_table(conf: TomlConf, name: str) -> dict[str, str]:
    """A table of librdkafka properties: every value becomes the string librdkafka expects."""
    table = conf.data.get(name, {})
    if not isinstance(table, dict):
        raise UserError(f"{conf.where(name)}: [{name}] must be a table of property = value")
    props: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, bool):
            props[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            props[key] = str(value)
        else:
            raise UserError(f"{conf.where(key, name)}: kafka property {key} must be a string, number or boolean")
    return props
