"""Short, fixed-width renderings of numbers shared by several widgets."""

from __future__ import annotations


def duration(seconds: float | None) -> str:
    """`1:02:03`, `2:03` or `–` (unknown)."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def rate(per_second: float | None) -> str:
    if per_second is None:
        return "–"
    if per_second >= 100:
        return f"{per_second:,.0f}/s"
    return f"{per_second:.1f}/s"


def latency(seconds: float | None) -> str:
    """Milliseconds below 10 s (what broker testers compare), seconds above."""
    if seconds is None:
        return "–"
    if abs(seconds) < 10:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s"


def value(obj: object) -> str:
    """A DISPLAY_FIELD or alert field value as the reference simulator prints it (floats unrounded)."""
    if obj is None:
        return "–"
    if isinstance(obj, bytes):
        return f"<{len(obj)} bytes>"
    return str(obj)


def flux(obj: object) -> str:
    if isinstance(obj, float):
        return f"{obj:.2f}"
    return value(obj)
