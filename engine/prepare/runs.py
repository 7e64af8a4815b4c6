"""A worker's sorted run: the validated alerts of one task written as an index file of their own.

The worker writes each alert's bytes as soon as it is validated and keeps only a small tuple per
alert of its own task (a night at most); at the end the tuples are sorted and written as the entry
table. The parent merges the runs (and what it reuses of the old index) into the published index, so
no process ever holds the payloads of the batch. Runs live in one staging folder of the root that
an interrupted prepare leaves behind to be cleared by the next.
"""

from __future__ import annotations

from pathlib import Path

from .index_write import IndexWriter
from .validate import GoodRecord

RUNS_DIR = ".elasticc-prepare-runs"


class RunWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer = IndexWriter(path)
        self.pending: dict[str, list[tuple]] = {}  # source -> its rows, until it is known to be kept

    def add(self, src: str, records: list[GoodRecord]) -> None:
        """Write a validated file's payloads now; its entries are written only if `keep(src)` follows."""
        rows = []
        for r in records:
            offset, crc = self.writer.payload(r.payload)
            rows.append(((r.mid_point_tai, r.dia_source_id, src), r.dia_object_id, r.filter_name, r.schema_fp,
                         offset, len(r.payload), crc))
        self.pending[src] = rows

    def drop(self, src: str) -> None:
        self.pending.pop(src, None)

    def publish(self, schemas: dict[str, dict]) -> Path | None:
        """Sort and write the entries of every source still kept; None (nothing written) if none."""
        rows = sorted((row for rows in self.pending.values() for row in rows), key=lambda row: row[0])
        if not rows:
            self.writer.discard()
            return None
        try:
            for (mjd, sid, src), oid, band, fp, offset, length, crc in rows:
                self.writer.entry(file=src, source=src, dia_source_id=sid, dia_object_id=oid, mid_point_tai=mjd,
                                  filter_name=band, schema_fp=fp, schema=schemas[fp], offset=offset,
                                  length=length, crc=crc)
        except BaseException:
            self.writer.discard()
            raise
        return self.writer.publish({}, "run")

    def discard(self) -> None:
        self.writer.discard()
