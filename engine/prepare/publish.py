"""The earlier index (checked before anything of it is reused) and the new one, merged from sorted runs.

The new index is a k-way merge of sorted inputs: each worker's run and the reused part of the earlier
index (its entries are sorted already). Entries stream from the inputs' tables to the writer and each
payload is copied (and its checksum checked) one at a time, so memory does not grow with the batch.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .index import INDEX_NAME, AlertIndex, IndexEntry, check_payloads, sort_key
from .index_write import IndexWriter

# Beside the index: the stat of the index file when its payload section last matched its checksum. While the
# index's stat (inode, size, mtime, ctime) is still that, the payloads are not read again: a 1 GB payload
# section costs ~0.1 s per 10 k alerts to re-checksum, the whole of an unchanged run otherwise.
CHECKED_NAME = INDEX_NAME + ".checked"
# A write lands with a coarse (jiffy, <= 10 ms) timestamp: a stamp is only trusted for an index whose ctime
# was at least this old when stamped, so a later write cannot carry the same ctime.
_SETTLED_NS = 30_000_000


@dataclass
class Previous:
    """The index left by the last run, fully checked: its state says what is still valid."""

    index: AlertIndex | None = None
    state: dict[str, Any] | None = None

    @classmethod
    def load(cls, root: Path) -> tuple[Previous, str | None]:
        path = root / INDEX_NAME
        if not path.exists():
            return cls(), None
        index = None
        try:
            index = AlertIndex.open(path, root)
            state = index.state()
            state["sources"]  # noqa: B018 - an index without state cannot be reused
            checked = _stamp(os.fstat(index._fd))  # type: ignore[arg-type]
            if _read_checked(root) == checked:
                return cls(index, state), None
            bad = check_payloads(index)
            if bad is None:
                _write_checked(root, checked)
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


def unchanged(previous: Previous, runs: list[Path], state: dict[str, Any]) -> bool:
    """True when the earlier index is exactly what would be written now (then it is kept as it is)."""
    # The state records every indexed source's stat and where it was gathered: equal states, and no new
    # run, mean the same entries pointing at the same files.
    return previous.index is not None and not runs and state == previous.state


def write_merged(root: Path, previous: Previous, runs: list[Path], files: dict[str, str | None],
                 reused: set[str], layout: str, state: dict[str, Any]) -> int:
    """Merge the reused entries of the earlier index and the runs into a new index -> alerts written."""
    inputs = [AlertIndex.open(run, root) for run in runs]
    try:
        streams: list[Iterator[tuple[IndexEntry, AlertIndex]]] = []
        if previous.index is not None and reused:
            streams.append(_pairs(previous.index, lambda e: e.source in reused and files.get(e.source) is not None))
        for run in inputs:
            streams.append(_pairs(run, lambda e: files.get(e.source) is not None))
        writer = IndexWriter(root / INDEX_NAME)
        try:
            for e, source in heapq.merge(*streams, key=lambda pair: sort_key(pair[0])):
                data = source.read_range(e.payload_offset, e.payload_length)
                source.check(e, data)
                offset, crc = writer.payload(data, e.payload_crc)
                writer.entry(file=files[e.source] or e.source, source=e.source, dia_source_id=e.dia_source_id,
                             dia_object_id=e.dia_object_id, mid_point_tai=e.mid_point_tai,
                             filter_name=e.filter_name, schema_fp=e.schema_fp, schema=source.schema(e.schema_fp),
                             offset=offset, length=e.payload_length, crc=crc)
        except BaseException:
            writer.discard()
            raise
        count = writer.count
        path = writer.publish(state, layout)
        _write_checked(root, _stamp(os.stat(path)), wait=True)
        return count
    finally:
        for run in inputs:
            run.close()


def _pairs(index: AlertIndex, keep: Any) -> Iterator[tuple[IndexEntry, AlertIndex]]:
    for e in index.entries:
        if keep(e):
            yield e, index


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _read_checked(root: Path) -> list[int] | None:
    try:
        got = json.loads((root / CHECKED_NAME).read_bytes())
    except (OSError, ValueError):
        return None
    return got if isinstance(got, list) else None


def _write_checked(root: Path, stamp: list[int], *, wait: bool = False) -> None:
    """Record that the index of this stat has checked payloads (best effort: without it, they are checked)."""
    young = stamp[4] + _SETTLED_NS - time.time_ns()
    if young > 0:
        if not wait:
            return
        time.sleep(young / 1e9)  # once per index written: a few ms against the writing itself
    path = root / CHECKED_NAME
    tmp = root / f".{CHECKED_NAME}.tmp-{os.getpid()}"
    try:
        tmp.write_text(json.dumps(stamp))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
