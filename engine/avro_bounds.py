"""Where fastavro can be made to allocate without bound, and a checker for the schemas that allow it.

fastavro's compiled `schemaless_reader`, fed an `io.BytesIO` as the decoder does, is bounded by the input for
most schemas: a string, bytes or fixed is read with `BytesIO.read(n)`, which never returns (nor allocates)
more than what is left, and the length is checked after; an array or map item of at least one byte ends the
read with EOFError once the bytes run out, so a block count of 2**60 costs nothing. Two things escape that:

- an array whose items take no bytes at all (null, fixed of size 0, a record of such fields): a count read
  from the data is obeyed item by item, appending Python objects forever (1.8 GB in 27 s, then 20 GB). A
  single flipped bit in a container's embedded schema gets there: fastavro reads a record whose "fields" key
  is misspelt as a record with no fields.
- a recursive schema (a record reachable from itself): fastavro's compiled reader recurses in C without a
  depth check, so 10 kB of nested data overflows the stack and the process dies (SIGSEGV).

A third is bounded but loose: one byte per item can still become a whole dict (an array of records of one
boolean decodes 1 MB into 190 MB); `avro_memory` finds the arrays and maps that can do that ("heavy").

`guard(parsed_schema)` says which schemas have any of these, at parse time (cached with the parsed schema),
and compiles for those only a walker over the encoded bytes that checks every count and length against what
the input can still hold, gives items of zero size a fixed budget per message, charges the items of heavy
arrays against a memory budget of `avro_memory.RATIO` times the message, and bounds the nesting depth; the
walker runs before fastavro. The shipped ELAsTiCC, Rubin and ZTF schemas have none, so the common case costs
nothing at decode time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .avro_memory import RATIO, SLACK, MemoryEstimate
from .limits import ZERO_SIZE_ITEMS

# Nesting levels of data (records, arrays, maps, unions). Alerts nest 5 deep; fastavro's C recursion overflows an
# 8 MB stack near 10,000, and the walker's own recursion must stay well inside Python's limit of 1,000 frames.
MAX_DEPTH = 128

_FIXED_SIZE = {"null": 0, "boolean": 1, "int": 1, "long": 1, "float": 4, "double": 8, "bytes": 1, "string": 1}


class BoundsError(Exception):
    """The data claims more than it can hold; str() is the one-line reason."""


class _State:
    __slots__ = ("data", "end", "zero_left", "memory_left")

    def __init__(self, data: bytes, budget: list[int]) -> None:
        self.data = data
        self.end = len(data)
        self.zero_left, self.memory_left = budget


Step = Callable[[_State, int, int], int]  # (state, position, depth) -> position after the value


class Guard:
    """Checks one encoded value of its schema. The records of one container share one `budget()`, which each
    block `grant`s its (inflated) size to; a value checked alone gets a budget of its own size."""

    def __init__(self, step: Step) -> None:
        self._step = step

    def budget(self) -> list[int]:
        return [ZERO_SIZE_ITEMS, SLACK]  # [zero-size items left, bytes of decoded memory left]

    def grant(self, budget: list[int], size: int) -> None:
        budget[1] += RATIO * size

    def check(self, data: bytes, pos: int = 0, budget: list[int] | None = None) -> int:
        """Position after the value starting at `pos`; BoundsError if the bytes cannot hold what they claim."""
        if budget is None:
            budget = self.budget()
            self.grant(budget, len(data))
        st = _State(data, budget)
        try:
            return self._step(st, pos, 0)
        except RecursionError:  # a caller already deep in its own stack
            raise BoundsError(f"data nested too deeply (from byte {pos})") from None
        finally:
            budget[0], budget[1] = st.zero_left, st.memory_left


def guard(parsed: Any) -> Guard | None:
    """A Guard if reading `parsed` (a fastavro parsed schema) with fastavro alone is unbounded, else None.

    ValueError if the schema is nested too deeply to analyse.
    """
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    analysis = _Analysis(named)
    memory = MemoryEstimate(named)
    try:
        analysis.min_size(parsed)
        memory.gain(parsed)
        if not analysis.unbounded and not memory.heavy:
            return None
        return Guard(_Compiler(named, analysis, memory.heavy).compile(parsed))
    except RecursionError:
        raise ValueError("schema nested too deeply") from None


class _Analysis:
    """Minimum encoded size of every type, and whether fastavro would be unbounded on the schema.

    Named types are memoised, so a schema of exponentially many paths is still analysed in linear time. A
    reference back to a type still being sized counts as 0 bytes: an underestimate, which at worst sends a
    schema to the walker that did not need it, never the other way round.
    """

    def __init__(self, named: dict) -> None:
        self.named = named
        self.sizes: dict[str, int] = {}
        self.active: set[str] = set()
        self.unbounded = False

    def min_size(self, s: Any) -> int:
        if isinstance(s, str):
            if s in _FIXED_SIZE:
                return _FIXED_SIZE[s]
            if s in self.active:
                self.unbounded = True  # recursive: fastavro recurses in C as deep as the data says
                return 0
            if s not in self.sizes:
                self.active.add(s)
                self.sizes[s] = self.min_size(self.named[s])
                self.active.discard(s)
            return self.sizes[s]
        if isinstance(s, list):
            return 1 + min((self.min_size(b) for b in s), default=0)
        kind = s["type"]
        if kind in ("record", "error"):
            name = s.get("name")
            if name:
                self.active.add(name)
            total = sum(self.min_size(f["type"]) for f in s["fields"])
            if name:
                self.active.discard(name)
                self.sizes[name] = total
            return total
        if kind == "array":
            if self.min_size(s["items"]) == 0:
                self.unbounded = True
            return 1
        if kind == "map":
            self.min_size(s["values"])  # each entry has a key of at least one byte: bounded
            return 1
        if kind == "enum":
            return 1
        if kind == "fixed":
            return int(s["size"])
        return self.min_size(kind)  # {"type": "long", "logicalType": ...} and the like


class _Compiler:
    def __init__(self, named: dict, analysis: _Analysis, heavy: dict[int, int]) -> None:
        self.named = named
        self.analysis = analysis
        self.heavy = heavy
        self.steps: dict[str, Step] = {}

    def compile(self, s: Any) -> Step:
        if isinstance(s, str):
            if s in _PRIMITIVE:
                return _PRIMITIVE[s]
            return self.steps.get(s) or self.compile(self.named[s])
        if isinstance(s, list):
            return _union([self.compile(b) for b in s])
        kind = s["type"]
        if kind in ("record", "error"):
            name = s.get("name")
            if name in self.steps:
                return self.steps[name]
            cell: list[Step] = []
            if name:  # registered before its fields are compiled: a recursive reference goes through the cell
                self.steps[name] = lambda st, p, d: cell[0](st, p, d)
            cell.append(_record([self.compile(f["type"]) for f in s["fields"]]))
            return self.steps[name] if name else cell[0]
        if kind == "array":
            return _array(self.compile(s["items"]), self.analysis.min_size(s["items"]), self.heavy.get(id(s), 0))
        if kind == "map":
            return _map(self.compile(s["values"]), self.heavy.get(id(s), 0))
        if kind == "enum":
            return _enum(len(s["symbols"]))
        if kind == "fixed":
            return _fixed(int(s["size"]))
        return self.compile(kind)


def _long(st: _State, p: int) -> tuple[int, int]:
    data, end = st.data, st.end
    start, shift, acc = p, 0, 0
    while True:
        if p >= end:
            raise BoundsError(f"data ends early (a number at byte {start})")
        b = data[p]
        p += 1
        acc |= (b & 0x7F) << shift
        if not b & 0x80:
            return (acc >> 1) ^ -(acc & 1), p
        shift += 7
        if shift > 63:
            raise BoundsError(f"invalid number at byte {start} (more than 10 bytes)")


def _need(st: _State, p: int, n: int, what: str) -> int:
    if n < 0:
        raise BoundsError(f"{what} at byte {p} has a negative length ({n})")
    if n > st.end - p:
        raise BoundsError(f"{what} at byte {p} claims {n} bytes, only {st.end - p} left")
    return p + n


def _null(st: _State, p: int, d: int) -> int:
    return p


def _sized(n: int, what: str) -> Step:
    return lambda st, p, d: _need(st, p, n, what)


def _varint(st: _State, p: int, d: int) -> int:
    return _long(st, p)[1]


def _blob(st: _State, p: int, d: int) -> int:
    n, q = _long(st, p)
    return _need(st, q, n, "a string or bytes")


_PRIMITIVE: dict[str, Step] = {
    "null": _null, "boolean": _sized(1, "a boolean"), "int": _varint, "long": _varint,
    "float": _sized(4, "a float"), "double": _sized(8, "a double"), "bytes": _blob, "string": _blob,
}


def _fixed(size: int) -> Step:
    return _sized(size, "a fixed")


def _enum(count: int) -> Step:
    def step(st: _State, p: int, d: int) -> int:
        i, q = _long(st, p)
        if not 0 <= i < count:
            raise BoundsError(f"enum index {i} at byte {p} out of range ({count} symbols)")
        return q

    return step


def _union(branches: list[Step]) -> Step:
    def step(st: _State, p: int, d: int) -> int:
        i, q = _long(st, p)
        if not 0 <= i < len(branches):
            raise BoundsError(f"union branch {i} at byte {p} out of range ({len(branches)} branches)")
        return branches[i](st, q, _deeper(d, p))

    return step


def _record(fields: list[Step]) -> Step:
    def step(st: _State, p: int, d: int) -> int:
        d = _deeper(d, p)
        for f in fields:
            p = f(st, p, d)
        return p

    return step


def _array(item: Step, min_size: int, charge: int) -> Step:
    def step(st: _State, p: int, d: int) -> int:
        d = _deeper(d, p)
        while True:
            at = p
            count, p = _blocks(st, p)
            if count == 0:
                return p
            if min_size:
                if count * min_size > st.end - p:
                    raise BoundsError(f"array at byte {at} claims {count} items of at least {min_size} bytes, "
                                      f"only {st.end - p} bytes left")
            else:
                st.zero_left -= count
                if st.zero_left < 0:
                    raise BoundsError(f"array at byte {at} claims {count} items that take no bytes (at most "
                                      f"{ZERO_SIZE_ITEMS} such items in one message)")
            if charge:
                _charge(st, count * charge, f"array at byte {at} claims {count} items")
            for _ in range(count):
                p = item(st, p, d)

    return step


def _map(value: Step, charge: int) -> Step:
    def step(st: _State, p: int, d: int) -> int:
        d = _deeper(d, p)
        while True:
            at = p
            count, p = _blocks(st, p)
            if count == 0:
                return p
            if count > st.end - p:  # every entry has a key, of one byte at least
                raise BoundsError(f"map at byte {at} claims {count} entries, only {st.end - p} bytes left")
            if charge:
                _charge(st, count * charge, f"map at byte {at} claims {count} entries")
            for _ in range(count):
                p = value(st, _blob(st, p, d), d)

    return step


def _charge(st: _State, memory: int, what: str) -> None:
    st.memory_left -= memory
    if st.memory_left < 0:
        raise BoundsError(f"{what}: decoded, they would take more than {RATIO} times the message's size in memory")


def _blocks(st: _State, p: int) -> tuple[int, int]:
    """The next block's item count (negative counts are followed by the block's size in bytes)."""
    count, p = _long(st, p)
    if count < 0:
        count = -count
        _, p = _long(st, p)
    return count, p


def _deeper(d: int, p: int) -> int:
    if d >= MAX_DEPTH:
        raise BoundsError(f"data nested more than {MAX_DEPTH} levels deep at byte {p}")
    return d + 1
