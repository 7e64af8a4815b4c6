"""Prepare folders of ELAsTiCC alerts: safe unpacking, validation, gathering and a time-sorted index."""

from elasticc_stream.engine.prepare.index import AlertIndex, IndexEntry
from elasticc_stream.engine.prepare.report import PrepareProgress, PrepareReport, Problem
from elasticc_stream.engine.prepare.run import prepare

__all__ = ["AlertIndex", "IndexEntry", "PrepareProgress", "PrepareReport", "Problem", "prepare"]
