"""Reader for the reference simulator's `.conf` files: shell variable assignments, sourced by bash there.

Only the subset of shell that such files use is accepted (assignments, quotes, comments, `export`,
`$VAR`/`${VAR}`/`${VAR:-default}`); anything else is refused with `FILE:LINE: what is wrong` rather
than guessed at, because a misread Kafka address or topic would send alerts to the wrong place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .text import read_config_text

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")


@dataclass(frozen=True)
class ConfValue:
    key: str
    value: str | None        # None when the value could not be computed (see `error`)
    line: int
    error: str | None = None  # deferred: a variable that was never set only matters if the value is used

    def get(self) -> str:
        if self.error is not None:
            raise UserError(self.error)
        assert self.value is not None
        return self.value


@dataclass
class ShellConf:
    source: str
    values: dict[str, ConfValue] = field(default_factory=dict)  # last assignment wins, as in a shell

    def where(self, key: str) -> str:
        return f"{self.source}:{self.values[key].line}"

    def get(self, key: str) -> str | None:
        item = self.values.get(key)
        return None if item is None else item.get()


def read_shell_conf(path: str | Path, env: Mapping[str, str] | None = None) -> ShellConf:
    """Parse a `.conf` file; raise UserError naming `FILE:LINE` on the first malformed line."""
    text = read_config_text(path)
    return parse_shell_conf(text, str(path), env)


def parse_shell_conf(text: str, source: str, env: Mapping[str, str] | None = None) -> ShellConf:
    env = os.environ if env is None else env
    conf = ShellConf(source)
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{source}:{number}"
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGN.match(line)
        if match is None:
            raise UserError(f"{where}: {_explain(line)}")
        key = match.group(1)
        value, error = _parse_value(line[match.end():], where, conf, env)
        conf.values[key] = ConfValue(key, value, number, error)
    return conf


def _explain(line: str) -> str:
    name = re.match(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s+=", line)
    if name:
        return f"no spaces allowed around '=' in a shell assignment (write {name.group(1)}=value)"
    return f"expected KEY=value, got {line[:60]!r}"


def _parse_value(rest: str, where: str, conf: ShellConf, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Parse the right-hand side of one assignment: a single shell word, then an optional comment."""
    out: list[str] = []
    error: str | None = None
    i = 0
    n = len(rest)

    def expand(j: int) -> int:
        """Expand the `$...` at rest[j]; return the index after it."""
        nonlocal error
        name, default, colon, end = _variable(rest, j, where)
        if name is None:  # a lone '$' stays literal, as in bash
            out.append("$")
            return end
        item = conf.values.get(name)
        empty = (item.value == "" if item is not None else env.get(name) == "")
        if default is not None and colon and empty:
            out.append(default)
        elif item is not None:
            if item.error is not None:
                error = error or item.error
            else:
                out.append(item.value or "")
        elif name in env:
            out.append(env[name])
        elif default is not None:
            out.append(default)
        else:
            error = error or (f"{where}: variable {name} is not set (not assigned on an earlier line "
                              "nor in the environment)")
        return end

    while i < n:
        ch = rest[i]
        if ch in " \t":
            tail = rest[i:].lstrip()
            if tail and not tail.startswith("#"):
                raise UserError(f"{where}: unexpected text after the value: {tail[:40]!r} (quote values with spaces)")
            break
        if ch == "'":
            end = rest.find("'", i + 1)
            if end < 0:
                raise UserError(f"{where}: unterminated single quote")
            out.append(rest[i + 1:end])
            i = end + 1
        elif ch == '"':
            i += 1
            while True:
                if i >= n:
                    raise UserError(f'{where}: unterminated double quote')
                c = rest[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and rest[i + 1] in '"\\$`':
                    out.append(rest[i + 1])
                    i += 2
                elif c == "$":
                    i = expand(i)
                elif c == "`":
                    raise UserError(f"{where}: command substitution is not supported")
                else:
                    out.append(c)
                    i += 1
        elif ch == "\\":
            if i + 1 >= n:
                raise UserError(f"{where}: line continuation with '\\' is not supported")
            out.append(rest[i + 1])
            i += 2
        elif ch == "$":
            i = expand(i)
        elif ch == "`" or ch in ";&|<>()":
            raise UserError(f"{where}: unsupported shell syntax {ch!r} (only KEY=value assignments are read)")
        else:
            out.append(ch)
            i += 1
    if error is not None:
        return None, error
    return "".join(out), None


def _variable(text: str, i: int, where: str) -> tuple[str | None, str | None, bool, int]:
    """Parse `$NAME`, `${NAME}`, `${NAME:-default}` or `${NAME-default}` at text[i] == '$'.

    Returns (name, default, default also replaces an empty value, index after the reference).
    """
    j = i + 1
    if j < len(text) and text[j] == "(":
        raise UserError(f"{where}: command substitution is not supported")
    if j < len(text) and text[j] == "{":
        close = text.find("}", j)
        if close < 0:
            raise UserError(f"{where}: missing '}}' after '${{'")
        inner = text[j + 1:close]
        match = _NAME.match(inner)
        if match is None:
            raise UserError(f"{where}: bad variable reference ${{{inner}}}")
        name, rest = match.group(0), inner[match.end():]
        if rest.startswith(":-"):
            return name, rest[2:], True, close + 1
        if rest.startswith("-"):
            return name, rest[1:], False, close + 1
        if rest:
            raise UserError(f"{where}: unsupported expansion ${{{inner}}} (use ${{NAME}} or ${{NAME:-default}})")
        return name, None, False, close + 1
    match = _NAME.match(text, j)
    if match is None:
        return None, None, False, j
    return match.group(0), None, False, match.end()
