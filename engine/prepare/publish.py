"""The earlier index (checked before anything of it is reused) and the new one, merged from sorted runs.

The new index is a k-way merge of sorted inputs: each worker's run and the entries of the earlier index
whose nights are reused (sorted already). Entries stream from the inputs' tables to the writer a few
hundred at a time and each payload is copied (and its checksum checked) one at a time, so memory does
not grow with the batch.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .checked import stamp, write_stamp
from .index import INDEX_NAME, AlertIndex, IndexEntry, check_payloads, sort_key
from .index_write import IndexWriter

STATE_FORMAT = "per-night"  # the index's state section: {"format": ..., "id": ...}; the rest is in state.py


@dataclass
class Previous:
    """The index left by the last run, fully checked: its state says what is still valid."""

    index: AlertIndex | None = None
    state: dict[str, Any] | None = None

    @property
    def index_id(self) -> str | None:
        return self.state.get("id") if self.index is not None and self.state else None

    @classmethod
    def load(cls, root: Path) -> tuple[Previous, str | None]:
        path = root / INDEX_NAME
        if not path.exists():
            return cls(), None
        index = None
        try:
            index = AlertIndex.open(path, root)
            state = index.state()
            if state.get("format") != STATE_FORMAT or not isinstance(state.get("id"), str):
                index.close()
                return cls(), (f"{INDEX_NAME}: written by an older version (its state is kept per file); every "
                               "night is validated again, once, and the index rebuilt")
            if index.vouched:  # open() read the stamp: every section matched, the payloads too
                return cls(index, state), None
            bad = check_payloads(index)
            if bad is None:
                write_stamp(path, stamp(os.fstat(index._fd)))  # type: ignore[arg-type]
            else:
                index.close()
                return cls(), (f"{INDEX_NAME}: the stored bytes of {bad.file} (diaSourceId {bad.dia_source_id}) "
                               "do not match their checksum; everything is validated again and the index rebuilt")
        except (OSError, ValueError, UserError, KeyError, TypeError) as exc:
            if index is not None:
                index.close()
            reason = exc.__cause__ if isinstance(exc, UserError) and exc.__cause__ is not None else exc
            return cls(), (f"{INDEX_NAME}: earlier index unusable ({reason}); everything is "
                           "validated again and the index rebuilt")
        return cls(index, state), None

    def close(self) -> None:
        if self.index is not None:
            self.index.close()


def write_merged(root: Path, previous: Previous, runs: list[Path], keep_old: Callable[[str], bool] | None,
                 overrides: dict[str, str | None], default_file: Callable[[str], str], layout: str
                 ) -> tuple[int, str]:
    """Merge the kept entries of the earlier index and the runs into a new index -> (alerts written, its id).

    An earlier entry is kept when `keep_old(its source)`; an entry's file is `overrides[source]` if the source
    is there (None: not indexed), else the earlier entry's file, or `default_file(source)` for a run's."""
    inputs = [AlertIndex.open(run, root) for run in runs]
    try:
        streams: list[Iterator[tuple[IndexEntry, AlertIndex, str]]] = []
        if previous.index is not None and keep_old is not None:
            streams.append(_kept(previous.index, keep_old, overrides))
        for run in inputs:
            streams.append(_fresh(run, overrides, default_file))
        writer = IndexWriter(root / INDEX_NAME)
        try:
            for e, source, file in heapq.merge(*streams, key=lambda item: sort_key(item[0])):
                data = source.read_range(e.payload_offset, e.payload_length)
                source.check(e, data)
                offset, crc = writer.payload(data, e.payload_crc)
                writer.entry(file=file, source=e.source, dia_source_id=e.dia_source_id,
                             dia_object_id=e.dia_object_id, mid_point_tai=e.mid_point_tai,
                             filter_name=e.filter_name, schema_fp=e.schema_fp, schema=source.schema(e.schema_fp),
                             offset=offset, length=e.payload_length, crc=crc)
        except BaseException:
            writer.discard()
            raise
        count = writer.count
        # The id ties the state to this index; made of its content, an index rebuilt the same is the same file.
        index_id = f"{count}-{writer.entries_crc:08x}{writer.names_crc:08x}{writer.payloads_crc:08x}"
        path = writer.publish({"format": STATE_FORMAT, "id": index_id}, layout)
        write_stamp(path, stamp(os.stat(path)), wait=True)
        return count, index_id
    finally:
        for run in inputs:
            run.close()


def _kept(index: AlertIndex, keep: Callable[[str], bool], overrides: dict[str, str | None]
          ) -> Iterator[tuple[IndexEntry, AlertIndex, str]]:
    for e in index.stream_entries():
        if keep(e.source):
            file = overrides.get(e.source, e.file) if overrides else e.file
            if file is not None:
                yield e, index, file


def _fresh(run: AlertIndex, overrides: dict[str, str | None], default_file: Callable[[str], str]
           ) -> Iterator[tuple[IndexEntry, AlertIndex, str]]:
    for e in run.stream_entries():
        file = overrides[e.source] if e.source in overrides else default_file(e.source)
        if file is not None:
            yield e, run, file
    # Nights follow one another in time, so runs are used up one after another: each one's disk space is
    # given back as soon as it is, not when the index is done (a whole batch's payloads less at the peak).
    run.close()
    run.index_path.unlink(missing_ok=True)
