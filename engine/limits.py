"""Caps on what one input may make us hold in memory or write to disk.

Each cap lives in the environment, so that `configure` in the parent also reaches prepare's worker processes,
whatever their start method (fork, forkserver, spawn). The alert cap is read once per message on the consume
path, and reading os.environ costs more than the check itself: it is cached until `configure` or `refresh`.
"""

from __future__ import annotations

import os

MB = 1024 * 1024
# An alert is a few kB decompressed (the largest real ELAsTiCC alerts, 365 days of forced photometry, about
# 100 kB; a ZTF alert with its three cutouts about 100 kB too); 16 MB leaves room for any real stream.
DEFAULT_ALERT_MB = 16
# An archive member is an alert, or a note beside them; 64 MB is generous for both and far from a disk bomb.
DEFAULT_MEMBER_MB = 64
# Items that take no bytes on the wire (null, a record of nulls) cannot be bounded by the message size.
ZERO_SIZE_ITEMS = 65_536

ALERT_ENV = "ELASTICC_STREAM_MAX_ALERT_MB"
MEMBER_ENV = "ELASTICC_STREAM_MAX_MEMBER_MB"


_alert_cap: int | None = None


def max_alert_bytes() -> int:
    """Bytes a compressed alert (gzip, or the blocks of an Avro container) may inflate to, per message."""
    global _alert_cap
    if _alert_cap is None:
        _alert_cap = _read(ALERT_ENV, DEFAULT_ALERT_MB)
    return _alert_cap


def max_member_bytes() -> int:
    """Bytes one archive member may hold to be written."""
    return _read(MEMBER_ENV, DEFAULT_MEMBER_MB)


def configure(*, alert_mb: float | None = None, member_mb: float | None = None) -> None:
    """Set the caps for this process and the processes it starts (None leaves a cap as it is)."""
    for env, value in ((ALERT_ENV, alert_mb), (MEMBER_ENV, member_mb)):
        if value is not None:
            if not value > 0:
                raise ValueError(f"a size cap must be more than 0 MB, not {value}")
            os.environ[env] = repr(float(value))
    refresh()


def refresh() -> None:
    """Read the caps from the environment again (after it was changed other than through `configure`)."""
    global _alert_cap
    _alert_cap = None


def describe(limit: int) -> str:
    """A cap as it is given: '16 MB', '0.5 MB'."""
    return f"{limit / MB:g} MB"


def _read(env: str, default: float) -> int:
    text = os.environ.get(env)
    if text:
        try:
            value = float(text)
        except ValueError:
            value = 0.0
        if value > 0:
            return max(1, int(value * MB))
    return int(default * MB)
