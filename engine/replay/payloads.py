"""Reading the stored alert bytes of consecutive index entries with few system calls.

prepare writes the payloads back to back in index order, so an observation's alerts are usually one
contiguous range of the index file: one read instead of one per alert. Anything else (a gap, an index
without `read_range`) falls back to `AlertIndex.payload`, which is always right.

Every read goes through the index's own descriptor (never the index path): a prepare that replaces the
index during a replay must not make this one read its offsets from the new file. Every payload is checked
against its entry's checksum before it is handed out (IndexCorrupt names the alert): a corrupt byte is
never sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from zlib import crc32

MAX_READ = 8 << 20  # bytes per read: a huge observation is read in pieces, not all at once


class PayloadReader:
    def __init__(self, index: Any) -> None:
        self.index = index
        self._read_range = getattr(index, "read_range", None)
        self._check = getattr(index, "check", None)

    def iter_range(self, entries: Sequence[Any], start: int, stop: int) -> Iterator[tuple[int, bytes]]:
        """(i, payload of entries[i]) for i in [start, stop), in order."""
        i = start
        while i < stop:
            end, offset, length = self._contiguous(entries, i, stop)
            if end == i + 1 or self._read_range is None:
                yield i, self.index.payload(entries[i])
                i += 1
                continue
            data = self._read_range(offset, length)
            check = self._check
            pos = 0
            for j in range(i, end):
                entry = entries[j]
                size = entry.payload_length
                payload = data[pos:pos + size]
                if check is not None and crc32(payload) != entry.payload_crc:
                    check(entry, payload)  # raises IndexCorrupt, naming the alert
                yield j, payload
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

    def close(self) -> None:
        """Nothing to release: the index owns the descriptor (kept for callers that close readers)."""
