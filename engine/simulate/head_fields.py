"""diaObject values from an SNANA HEAD row (SNID -> diaObjectId, HOSTGAL_SPECZ -> hostgal_z, ...)."""

from __future__ import annotations

import re

from .record_fill import MISSING

_HEAD_SUFFIXES = {
    "z": "SPECZ", "z_err": "SPECZ_ERR", "zspec": "SPECZ", "zspec_err": "SPECZ_ERR",
    "zphot": "PHOTOZ", "zphot_err": "PHOTOZ_ERR",
}
_HEAD_ALIASES = {
    "diaObjectId": "SNID", "ra": "RA", "decl": "DEC",
    "z_final": "REDSHIFT_FINAL", "z_final_err": "REDSHIFT_FINAL_ERR",
}


def head_values(names: list[str], head: dict[str, object]) -> dict[str, object]:
    """diaObject field -> value from the HEAD row, for the fields the HEAD has."""
    folded = {k.upper(): k for k in head}
    out = {}
    for name in names:
        value = head_value(name, head, folded)
        if value is not MISSING:
            out[name] = value
    return out


def head_value(name: str, head: dict[str, object], folded: dict[str, str] | None = None) -> object:
    """The HEAD column for a diaObject field, or MISSING."""
    candidates = []
    if name in _HEAD_ALIASES:
        candidates.append(_HEAD_ALIASES[name])
    match = re.fullmatch(r"(hostgal2?)_(.+)", name)
    if match:
        prefix, rest = match[1].upper(), match[2]
        if rest in _HEAD_SUFFIXES:
            candidates.append(f"{prefix}_{_HEAD_SUFFIXES[rest]}")
        candidates.append(f"{prefix}_{rest}")
    candidates.append(name)
    if folded is None:
        folded = {k.upper(): k for k in head}
    for candidate in candidates:
        if candidate in head:
            return head[candidate]
        if candidate.upper() in folded:
            return head[folded[candidate.upper()]]
    return MISSING
