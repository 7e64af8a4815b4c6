"""Which arrays and maps of a schema can decode into far more memory than they take on the wire.

Every array item takes at least one byte when its type has a size, but one byte can still become a whole dict:
an array of records of one boolean decodes 1 MB into 190 MB. The estimate here is per instance, in bytes of
CPython 3.11 objects (a dict costs about 64 bytes plus 56 a key, a float 24, an int 32, a str or bytes 56 plus
its length; null, booleans and enum symbols are shared objects), against RATIO bytes per encoded byte:

    gain(t) = max over the encodings of one value of t of (memory - RATIO * encoded size)

leaving out the items of arrays and maps inside it, which are checked on their own. It composes: a record's
gain is its dict plus the sum of its fields' gains, a union's is one byte plus its best branch's. An array
whose item has a positive gain (slot included) could repeat that item to exceed RATIO bytes of memory per
byte; those are `heavy`, and the walker (avro_bounds) charges each of their items its full estimated memory
against a budget of RATIO times the message. For the ELAsTiCC, Rubin and ZTF schemas no array is heavy: their
items are records of numbers and unions, each far below RATIO.

A reference back to a named type still being estimated counts as 0 (recursive schemas get the walker anyway,
whose depth limit then bounds what the estimate misses).
"""

from __future__ import annotations

from typing import Any

RATIO = 64  # bytes of decoded objects per byte of input an item may cost before the walker charges it
SLACK = 1024 * 1024  # memory every message may use whatever its size (small messages, schema-fixed overhead)

_RECORD, _FIELD, _SLOT, _LIST, _DICT, _ENTRY, _OBJECT = 64, 56, 8, 56, 232, 96, 56
_COST = {"null": 0, "boolean": 0, "int": 32, "long": 32, "float": 24, "double": 24, "string": 56, "bytes": 56}
_SIZE = {"null": 0, "boolean": 1, "int": 1, "long": 1, "float": 4, "double": 8, "string": 1, "bytes": 1}
_GAIN = {name: _COST[name] - RATIO * _SIZE[name] for name in _COST}


class MemoryEstimate:
    """`heavy`: id of each heavy array or map schema -> the memory charged per item (or entry)."""

    def __init__(self, named: dict) -> None:
        self.named = named
        self.heavy: dict[int, int] = {}
        self._gains: dict[str, int] = {}
        self._costs: dict[str, int] = {}
        self._in_gain: set[str] = set()
        self._in_cost: set[str] = set()

    def gain(self, s: Any) -> int:
        if isinstance(s, str):
            if s in _GAIN:
                return _GAIN[s]
            if s not in self._gains:
                if s in self._in_gain:
                    return 0
                self._in_gain.add(s)
                self._gains[s] = self.gain(self.named[s])
                self._in_gain.discard(s)
            return self._gains[s]
        if isinstance(s, list):
            return -RATIO + max((self.gain(b) for b in s), default=0)
        kind = s["type"]
        if kind in ("record", "error"):
            name = s.get("name")
            if name in self._gains:
                return self._gains[name]
            if name:
                self._in_gain.add(name)
            total = _RECORD + _FIELD * len(s["fields"]) + sum(self.gain(f["type"]) for f in s["fields"])
            if name:
                self._in_gain.discard(name)
                self._gains[name] = total
            return total
        if kind == "array":
            if _SLOT + self.gain(s["items"]) > 0:
                self.heavy[id(s)] = _SLOT + self.cost(s["items"])
            return _LIST - RATIO
        if kind == "map":
            # Entries with the same key collapse into one: every entry but one has a key of a byte or more,
            # and its length byte, so an entry takes two bytes.
            if _ENTRY - 2 * RATIO + self.gain(s["values"]) > 0:
                self.heavy[id(s)] = _ENTRY + self.cost(s["values"])
            return _DICT - RATIO
        if kind == "enum":
            return -RATIO
        if kind == "fixed":
            return _OBJECT - RATIO * int(s["size"])
        return self.gain(kind)

    def cost(self, s: Any) -> int:
        """Memory of one value of `s` at most, items of the arrays and maps inside it left out."""
        if isinstance(s, str):
            if s in _COST:
                return _COST[s]
            if s not in self._costs:
                if s in self._in_cost:
                    return 0
                self._in_cost.add(s)
                self._costs[s] = self.cost(self.named[s])
                self._in_cost.discard(s)
            return self._costs[s]
        if isinstance(s, list):
            return max((self.cost(b) for b in s), default=0)
        kind = s["type"]
        if kind in ("record", "error"):
            name = s.get("name")
            if name in self._costs:
                return self._costs[name]
            if name:
                self._in_cost.add(name)
            total = _RECORD + _FIELD * len(s["fields"]) + sum(self.cost(f["type"]) for f in s["fields"])
            if name:
                self._in_cost.discard(name)
                self._costs[name] = total
            return total
        if kind == "array":
            return _LIST
        if kind == "map":
            return _DICT
        if kind == "enum":
            return 0
        if kind == "fixed":
            return _OBJECT
        return self.cost(kind)
