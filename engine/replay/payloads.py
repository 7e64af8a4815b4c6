"""Reading the stored alert bytes of consecutive index entries with few system calls.

prepare writes the payloads back to back in index order, so an observation's alerts are usually one
contiguous range of the index file: one read instead of one per alert. Anything else (a gap, an index
without those attributes) falls back to `AlertIndex.payload`, which is always right.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from elasticc_stream.engine.errors import UserError

MAX_READ = 8 << 20  # bytes per read: a huge observation is read in pieces, not all at once


class PayloadReader:
    def __init__(self, index: Any) -> None:
        self.index = index
        self._fd: int | None = None
        self._base: int | None = getattr(index, "payload_start", None)
        self._path = getattr(index, "index_path", None)

    def iter_range(self, entries: Sequence[Any], start: int, stop: int) -> Iterator[tuple[int, bytes]]:
        """(i, payload of entries[i]) for i in [start, stop), in order."""
        i = start
        while i < stop:
            end, offset, length = self._contiguous(entries, i, stop)
            if end == i + 1 or self._base is None or self._path is None:
                yield i, self.index.payload(entries[i])
                i += 1
                continue
            data = self._pread(length, self._base + offset)
            pos = 0
            for j in range(i, end):
                size = entries[j].payload_length
                yield j, data[pos:pos + size]
                pos += size
            i = end

    def _contiguous(self, entries: Sequence[Any], i: int, stop: int) -> tuple[int, int, int]:
        """End of the run of entries from i whose payloads follow each other, its offset and total length."""
        first = entries[i]
        offset = first.payload_offset
        length = first.payload_length
        j = i + 1
        while j < stop:
            entry = entries[j]
            if entry.payload_offset != offset + length or length + entry.payload_length > MAX_READ:
                break
            length += entry.payload_length
            j += 1
        return j, offset, length

    def _pread(self, length: int, position: int) -> bytes:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDONLY)
        data = os.pread(self._fd, length, position)
        if len(data) != length:
            raise UserError(f"{self._path}: payloads cut short; run `elasticc-stream prepare` again")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
