"""A checker compiled once per Avro schema that walks encoded bytes without building Python objects.

fastavro's `schemaless_reader` spends most of prepare's CPU building dicts that prepare throws away: it only
needs to know that the bytes decode exactly and the few index fields. The checker here accepts a strict
subset of what fastavro accepts (records, arrays with non-negative block counts, unions by a one-byte index,
null/boolean/int/long/float/double/string/bytes, shortest-but-bounded varints, valid UTF-8); any schema or byte
outside that subset makes it answer None, and the caller falls back to the exact decoder, which gives the
authoritative reason. Runs of fixed-layout fields are matched by one compiled regular expression (one C call).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# A long of at most 64 bits: up to 9 continuation bytes, the 10th carrying only the top bit.
_LONG = rb"(?:[\x80-\xff]{0,8}[\x00-\x7f]|[\x80-\xff]{9}[\x00\x01])"
# An int of at most 32 bits: up to 4 continuation bytes, the 5th carrying 4 bits.
_INT = rb"(?:[\x80-\xff]{0,3}[\x00-\x7f]|[\x80-\xff]{4}[\x00-\x0f])"
_FIXED = {"null": b"", "boolean": rb"[\x00\x01]", "int": _INT, "long": _LONG, "float": rb"[\x00-\xff]{4}",
          "double": rb"[\x00-\xff]{8}"}

# A string of at most _SHORT ASCII bytes (its length one varint byte), or bytes of at most _SHORT: one regex
# alternative per length. ASCII is valid UTF-8, and a longer or non-ASCII value falls back to the string step.
_SHORT = 31


def _short(byte: bytes) -> bytes:
    return b"(?:" + b"|".join(re.escape(bytes([2 * n])) + byte + b"{%d}" % n for n in range(_SHORT + 1)) + b")"


_SHORT_STRING, _SHORT_BYTES = _short(rb"[\x00-\x7f]"), _short(rb"[\x00-\xff]")

# step(data, pos) -> new pos; raises _Reject for anything outside the subset (or garbage).
Step = Callable[[bytes, int], int]


class _Reject(Exception):
    pass


class Unsupported(Exception):
    """The schema uses something the checker does not handle: use the exact decoder."""


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Reject
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7


def _type_name(t: Any) -> Any:
    return t["type"] if isinstance(t, dict) and t.get("type") in _FIXED or isinstance(t, dict) and \
        t.get("type") in ("string", "bytes") and len(t) == 1 else t


def _fixed_pattern(t: Any, named: dict[str, dict], short: bool = False) -> bytes | None:
    """A regex for `t` if its encoding has no length prefix inside (fixed layout), else None.

    `short`: strings and bytes are allowed too, as their short values only (a regex that matches less)."""
    t = _type_name(t)
    if isinstance(t, str):
        if t in _FIXED:
            return _FIXED[t]
        if short and t in ("string", "bytes"):
            return _SHORT_STRING if t == "string" else _SHORT_BYTES
        if t in named:
            return _fixed_pattern(named[t], named, short)
        return None
    if isinstance(t, list):
        if len(t) > 63:
            return None
        alts = []
        for i, branch in enumerate(t):
            p = _fixed_pattern(branch, named, short)
            if p is None:
                return None
            alts.append(re.escape(bytes([2 * i])) + p)
        return b"(?:" + b"|".join(alts) + b")"
    if isinstance(t, dict) and t.get("type") == "record":
        if t.get("name"):
            named[t["name"]] = t
        parts = [_fixed_pattern(f["type"], named, short) for f in t["fields"]]
        return None if any(p is None for p in parts) else b"".join(parts)  # type: ignore[arg-type]
    return None


def _seq(steps: list[Step]) -> Step:
    if len(steps) == 1:
        return steps[0]

    def run(data: bytes, pos: int) -> int:
        for step in steps:
            pos = step(data, pos)
        return pos
    return run


def _regex_step(pattern: bytes) -> Step:
    match = re.compile(pattern, re.DOTALL).match

    def run(data: bytes, pos: int) -> int:
        m = match(data, pos)
        if m is None:
            raise _Reject
        return m.end()
    return run


def _string_step(check_utf8: bool) -> Step:
    def run(data: bytes, pos: int) -> int:
        n, pos = _read_long(data, pos)
        end = pos + n
        if n < 0 or end > len(data):
            raise _Reject
        if check_utf8:
            try:
                data[pos:end].decode()
            except UnicodeDecodeError:
                raise _Reject from None
        return end
    return run


def compile_step(t: Any, named: dict[str, dict]) -> Step:
    """The step that skips one value of type `t` (a parsed schema: named types expanded once, then by name)."""
    pattern = _fixed_pattern(t, named)
    if pattern is not None:
        return _regex_step(pattern)
    t = _type_name(t)
    if isinstance(t, str):
        if t in ("string", "bytes"):
            return _string_step(t == "string")
        if t in named:
            return compile_step(named[t], named)
        raise Unsupported(t)
    if isinstance(t, list):
        if len(t) > 63:
            raise Unsupported("wide union")
        branches = [compile_step(b, named) for b in t]

        def union(data: bytes, pos: int) -> int:
            if pos >= len(data):
                raise _Reject
            index = data[pos]
            if index & 1 or index >> 1 >= len(branches):
                raise _Reject
            return branches[index >> 1](data, pos + 1)
        return union
    if isinstance(t, dict) and t.get("type") == "record":
        name = t.get("name")
        if name:
            named[name] = t
        return _record_steps(t, named)
    if isinstance(t, dict) and t.get("type") == "array":
        item = compile_step(t["items"], named)
        pattern = _fixed_pattern(t["items"], dict(named), short=True)
        many = _repeated(pattern) if pattern is not None else None

        def array(data: bytes, pos: int) -> int:
            while True:
                count, pos = _read_long(data, pos)
                if count == 0:
                    return pos
                if count < 0 or count > len(data) - pos:  # every item here takes a byte at least
                    raise _Reject
                m = many(count)(data, pos) if many is not None else None
                if m is not None:
                    pos = m.end()
                    continue
                for _ in range(count):
                    pos = item(data, pos)
        return array
    raise Unsupported(str(t)[:40])


def _repeated(pattern: bytes) -> Callable[[int], Callable]:
    """`many(n)(data, pos)` matches exactly n items of `pattern` in one C call: a light curve's ~90 records of
    short strings, which one step each (a Python call and a regex) made half of the walker's time. The item
    encodings are prefix-free, so the match is the one the steps would make; a miss (a long string) is walked
    item by item."""
    compiled: dict[int, Callable] = {}

    def many(n: int) -> Callable:
        match = compiled.get(n)
        if match is None:
            match = re.compile(b"(?:" + pattern + b"){%d}" % n, re.DOTALL).match
            if len(compiled) < 1024:  # counts seen in one batch: a few hundred at most
                compiled[n] = match
        return match
    return many


def _record_steps(t: dict, named: dict[str, dict]) -> Step:
    """One step per run of fixed-layout fields (one regex) or per variable-length field."""
    steps: list[Step] = []
    run: list[bytes] = []
    for f in t["fields"]:
        p = _fixed_pattern(f["type"], named)
        if p is not None:
            run.append(p)
            continue
        if run:
            steps.append(_regex_step(b"".join(run)))
            run = []
        steps.append(compile_step(f["type"], named))
    if run:
        steps.append(_regex_step(b"".join(run)))
    walk = _seq(steps) if steps else (lambda data, pos: pos)
    whole = _fixed_pattern(t, dict(named), short=True) if len(steps) > 1 else None
    if whole is None:
        return walk
    # A record whose strings are short (diaSource's filterName...) in one C call: the regex parses exactly as
    # the steps do (each part's encoding is prefix-free) but accepts less, so a miss is walked step by step.
    match = re.compile(whole, re.DOTALL).match

    def record(data: bytes, pos: int) -> int:
        m = match(data, pos)
        return m.end() if m is not None else walk(data, pos)
    return record


class RecordChecker:
    """Skips a top-level record; the fields named in `keep` are cut out as byte ranges for an exact read."""

    def __init__(self, schema: dict, keep: set[str]) -> None:
        if not isinstance(schema, dict) or schema.get("type") != "record":
            raise Unsupported("not a record")
        named: dict[str, dict] = {}
        if schema.get("name"):
            named[schema["name"]] = schema
        self.fields: list[tuple[str | None, Step]] = []
        self.kept: dict[str, Any] = {}
        for f in schema["fields"]:
            step = compile_step(f["type"], named)
            if f["name"] in keep:
                self.kept[f["name"]] = f["type"]
                self.fields.append((f["name"], step))
            else:
                self.fields.append((None, step))

    def check(self, data: bytes, pos: int = 0) -> tuple[int, dict[str, tuple[int, int]]] | None:
        """(end, {kept field: (start, stop)}) if a record decodes exactly from `pos`, else None."""
        spans: dict[str, tuple[int, int]] = {}
        try:
            for name, step in self.fields:
                start = pos
                pos = step(data, pos)
                if name is not None:
                    spans[name] = (start, pos)
        except (_Reject, RecursionError):
            return None
        return pos, spans
