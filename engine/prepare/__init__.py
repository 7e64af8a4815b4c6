"""Prepare folders of ELAsTiCC alerts: safe unpacking, validation, gathering and a time-sorted index."""

from .index import AlertIndex, IndexEntry
from .report import PrepareProgress, PrepareReport, Problem
from .run import prepare

__all__ = ["AlertIndex", "IndexEntry", "PrepareProgress", "PrepareReport", "Problem", "prepare"]
