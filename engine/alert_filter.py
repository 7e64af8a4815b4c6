"""A filter over decoded alerts, as typed in the TUI's `/` box.

Terms separated by spaces must all hold:
    obj=1164         the object (diaObjectId; ZTF objectId)      src=2283000   the source (diaSourceId; candid)
    band=r  band=g,r the band(s)                                 t=59582..59583  t>59582  t<=59583.5  the time
    diaSource.psFlux>100   any field path (`.` or `,` between names, a list index allowed) with = != > < >= <=
    diaSource.filterName~r  ~ for "contains" (text)
Numbers compare as numbers, anything else as text. A term that cannot be parsed is a FilterError (one line).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .alert_fields import FieldNotFound, display_value, summary

SHORTHANDS = {"obj": "object_id", "object": "object_id", "src": "source_id", "source": "source_id",
              "band": "band", "t": "time", "time": "time", "flux": "flux"}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "=": operator.eq, ">": operator.gt, "<": operator.lt,
    "~": lambda have, want: str(want).lower() in str(have).lower(),
}
_TERM = re.compile(r"^(?P<field>[A-Za-z_][\w.,\[\]]*)\s*(?P<op>>=|<=|!=|=|>|<|~)\s*(?P<value>.+)$")


class FilterError(ValueError):
    pass


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Term:
    field: str           # a SHORTHANDS key's summary attribute, or a field path
    op: str
    values: tuple[str, ...]  # several for `band=g,r`; (low, high) for a `..` range

    def _value(self, record: dict) -> Any:
        if self.field in SHORTHANDS.values():
            return getattr(summary(record), self.field)
        try:
            return display_value(record, self.field.replace("[", ",").replace("]", ""))
        except FieldNotFound:
            return None

    def matches(self, record: dict) -> bool:
        have = self._value(record)
        if have is None:
            return self.op == "!="
        if self.op == "..":
            low, high = (_number(v) for v in self.values)
            number = _number(str(have))
            return number is not None and (low is None or number >= low) and (high is None or number <= high)
        if self.op == "!=":
            return not any(_equal(have, want) for want in self.values)
        compare = _OPS[self.op]
        for want in self.values:
            have_n, want_n = _number(str(have)), _number(want)
            if self.op != "~" and have_n is not None and want_n is not None:
                if compare(have_n, want_n):
                    return True
            elif compare(str(have), want):
                return True
        return False


def _equal(have: Any, want: str) -> bool:
    have_n, want_n = _number(str(have)), _number(want)
    return have_n == want_n if have_n is not None and want_n is not None else str(have) == want


@dataclass(frozen=True)
class AlertFilter:
    text: str
    terms: tuple[Term, ...]

    def matches(self, record: dict) -> bool:
        return all(term.matches(record) for term in self.terms)


def parse_filter(text: str) -> AlertFilter | None:
    """None for an empty filter (everything matches)."""
    terms = []
    for raw in text.split():
        found = _TERM.match(raw)
        if found is None:
            raise FilterError(f"{raw!r}: expected FIELD=VALUE (or != > < >= <= ~), e.g. obj=1164 band=r t>59582")
        field, op, value = found["field"], found["op"], found["value"]
        field = SHORTHANDS.get(field.lower(), field)
        if op == "=" and ".." in value:
            low, _, high = value.partition("..")
            if (low and _number(low) is None) or (high and _number(high) is None):
                raise FilterError(f"{raw!r}: a range is NUMBER..NUMBER (either side may be left out)")
            terms.append(Term(field, "..", (low, high)))
        else:
            values = tuple(v for v in value.split(",") if v) if op in ("=", "!=") else (value,)
            if op in (">", "<", ">=", "<=") and _number(value) is None:
                raise FilterError(f"{raw!r}: {op} needs a number")
            terms.append(Term(field, op, values))
    return AlertFilter(text.strip(), tuple(terms)) if terms else None
