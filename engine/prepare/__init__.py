"""Prepare folders of ELAsTiCC alerts: safe unpacking, validation, gathering and a time-sorted index.

Only the index is imported with the package: replay, consume and the TUI read it without the run's
workers, unpacking and validation (tens of milliseconds of imports), which load when first asked for.
"""

from importlib import import_module
from typing import Any

from .index import AlertIndex, IndexEntry

__all__ = ["AlertIndex", "IndexEntry", "PrepareProgress", "PrepareReport", "Problem", "prepare"]
_LAZY = {"prepare": "run", "PrepareProgress": "report", "PrepareReport": "report", "Problem": "report"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
