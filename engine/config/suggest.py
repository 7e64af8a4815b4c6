""""Did you mean ...?" for a mistyped configuration key."""

from __future__ import annotations

from collections.abc import Iterable


def closest(key: str, known: Iterable[str]) -> str | None:
    """The known key `key` most likely meant (case and small typos forgiven), or None."""
    known = list(known)
    by_lower = {k.lower(): k for k in known}
    import difflib  # only when a key is unknown

    found = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.75)
    return by_lower[found[0]] if found else None


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`: did you mean NALERTS_PER_OBS?`, or "" when nothing is close."""
    match = closest(key, known)
    return f": did you mean {match}?" if match else ""
