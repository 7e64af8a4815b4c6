"""The prepared-alerts index: one file beside `gathered/` that replay, the TUI and consume read.

Layout of `elasticc-stream.index`, version 2 (little-endian), in file order:

    prefix    32 bytes: magic b"ESIDX\\x00\\x02\\n", header offset (u64), header length (u64),
              header crc32 (u32), crc32 of the 28 bytes before it (u32)
    payloads  every alert's schemaless Avro bytes (in entry order in a published index)
    entries   one fixed-size record per alert (ENTRY), sorted by (midPointTai, diaSourceId, source)
    names     the UTF-8 file and source paths the entries point to, back to back
    state     UTF-8 JSON: the incremental state `prepare` reuses (only prepare reads it)
    header    UTF-8 JSON: format/version, layout, count, the writer schemas, and each section's
              [offset, length, crc32]

Every byte is covered by a checksum: the header and prefix by the prefix, the entry table, names and
state by the header, each payload by its entry's crc32. Loading checks all but the payloads (a pass
over the table, never held in memory), unless the stamp beside the index (checked.py) vouches for this
very file; a payload is checked whenever it is read. The entries are read
in blocks through the index's own descriptor, so memory does not grow with the batch.

One atomic rename publishes a consistent index, and replay sends alerts without decoding them.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import UserError
from ..zlib_backend import crc32
from .checked import is_checked

INDEX_NAME = "elasticc-stream.index"
MAGIC = b"ESIDX\x00\x02\n"
MAGIC_V1 = b"ESIDX\x00\x01\n"
FORMAT = "elasticc-stream-index"
VERSION = 2
PREFIX = struct.Struct("<8sQQII")
# source id, object id, midPointTai, payload offset, length, crc32, file name offset, source name offset,
# file name length, source name length, schema number, flags (bit 0: no diaObjectId), filter name.
ENTRY = struct.Struct("<qqdQIIQQHHHB8sx")
# Positions in a raw ENTRY record (AlertIndex.records): what replay reads per alert without building an IndexEntry.
R_SOURCE_ID, R_OBJECT_ID, R_OFFSET, R_LENGTH, R_CRC, R_SCHEMA, R_FLAGS = 0, 1, 3, 4, 5, 10, 11
BLOCK = 4096  # entries read at once
# Sections are checked 1 MB at a time: an unchanged prepare of 1 M alerts peaked at 44 MB with 8 MB reads
# against 30 MB at 100 k (its sections, 7 and 70 MB, read in one and in 8 MB pieces).
CHECK_CHUNK = 1 << 20
NO_OBJECT = 1
_REGION = {"entries": "entry table", "payloads": "payload section"}


class IndexCorrupt(UserError):
    """A checksum of the index does not match: its text names the region (and the alert)."""


class IndexEntry(NamedTuple):  # a tuple, not a dataclass: replay decodes one per alert sent
    file: str  # path relative to the index's root, e.g. "gathered/alert_...avro.gz"
    dia_source_id: int
    dia_object_id: int | None  # None only when the alert itself carries no diaObjectId
    mid_point_tai: float
    filter_name: str
    schema_fp: str
    payload_offset: int  # relative to the start of the payload section
    payload_length: int
    payload_crc: int = 0
    source: str = ""  # where prepare found it (root-relative), e.g. "NITE12/alert_...avro.gz"


def sort_key(e: IndexEntry) -> tuple[float, int, str]:
    return (e.mid_point_tai, e.dia_source_id, e.source)


class _Entries(Sequence):
    """The entry table, decoded a block at a time (the last two blocks kept)."""

    def __init__(self, index: AlertIndex, offset: int, count: int, names: int, fps: list[str]) -> None:
        self._index, self._offset, self._count, self._names, self._fps = index, offset, count, names, fps
        self._cache: dict[int, list[IndexEntry]] = {}

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._count))]
        if i < 0:
            i += self._count
        if not 0 <= i < self._count:
            raise IndexError("index entry out of range")
        block = self._cache.get(i // BLOCK)
        if block is None:
            block = self._load(i // BLOCK)
        return block[i % BLOCK]

    def __iter__(self) -> Iterator[IndexEntry]:
        for b in range(-(-self._count // BLOCK)):
            yield from self._cache.get(b) or self._load(b)

    def stream(self, block: int) -> Iterator[IndexEntry]:
        """Every entry in order, `block` decoded at a time and none kept: a merge reads many tables at once."""
        for first in range(0, self._count, block):
            yield from self._decode(first, min(block, self._count - first))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(self) == len(other) and all(
            a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def one(self, i: int) -> IndexEntry:
        """Entry i alone, decoded without its block (and without evicting a cached one)."""
        if not 0 <= i < self._count:
            raise IndexError("index entry out of range")
        block = self._cache.get(i // BLOCK)
        return block[i % BLOCK] if block is not None else self._decode(i, 1)[0]

    def _load(self, b: int) -> list[IndexEntry]:
        block = self._decode(b * BLOCK, min(BLOCK, self._count - b * BLOCK))
        if len(self._cache) >= 2:
            self._cache.pop(next(iter(self._cache)))
        self._cache[b] = block
        return block

    def _decode(self, first: int, n: int) -> list[IndexEntry]:
        raw = self._index._pread_abs(self._offset + first * ENTRY.size, n * ENTRY.size, "entry table")
        rows = list(ENTRY.iter_unpack(raw))
        lo = min(min(r[6] for r in rows), min(r[7] for r in rows))
        hi = max(max(r[6] + r[8] for r in rows), max(r[7] + r[9] for r in rows))
        raw_names = self._index._pread_abs(self._names + lo, hi - lo, "names")
        # Byte offsets index the decoded text only when every name is ASCII (the usual case, and fast).
        names: Any = raw_names.decode() if raw_names.isascii() else _Utf8(raw_names)
        fps = self._fps
        bands: dict[bytes, str] = {}
        block = []
        for sid, oid, mjd, off, length, crc, f_off, s_off, f_len, s_len, schema, flags, band in rows:
            name = bands.get(band)
            if name is None:
                name = bands[band] = band.rstrip(b"\0").decode()
            f_off -= lo
            s_off -= lo
            block.append(IndexEntry(names[f_off:f_off + f_len], sid, None if flags & NO_OBJECT else oid, mjd, name,
                                    fps[schema], off, length, crc, names[s_off:s_off + s_len]))
        return block


class _Utf8:
    """Slices of UTF-8 bytes by byte offsets, decoded (undecodable bytes of odd file names kept as is)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __getitem__(self, s: slice) -> str:
        return self.raw[s].decode("utf-8", "surrogateescape")


class AlertIndex:
    """A loaded index. Only the header is parsed; entries and payloads are read when asked for."""

    def __init__(self, root: Path, header: dict[str, Any], index_path: Path, fd: int) -> None:
        self.root = root
        self.index_path = index_path
        self.header = header
        sections = header["sections"]
        self.payload_start, self.payload_size = sections["payloads"][:2]
        self.schemas: dict[str, dict] = {fp: schema for fp, schema in header["schemas"]}
        # The descriptor the header was read from: a later prepare that replaces the file cannot mix
        # this header with another file's payloads, and pread on it is safe from any thread.
        self._fd: int | None = fd
        self.fingerprints = [fp for fp, _ in header["schemas"]]  # a record's schema number -> fingerprint
        self._entries_at = sections["entries"][0]
        self._table = _Entries(self, self._entries_at, header["count"], sections["names"][0], self.fingerprints)
        self.entries: Sequence[IndexEntry] = self._table
        # Whether the stamp beside the file vouched for every section when it was opened (checked.py).
        self.vouched = False

    # -- locating and loading -------------------------------------------------------------------
    @classmethod
    def locate(cls, path: str | os.PathLike) -> Path | None:
        """The prepared root for ALERTS_DIR, ALERTS_DIR/gathered, a loose folder or the index file."""
        p = Path(path)
        if p.is_file() and p.name == INDEX_NAME:
            return p.parent
        if (p / INDEX_NAME).is_file():
            return p
        if p.name == "gathered" and (p.parent / INDEX_NAME).is_file():
            return p.parent
        return None

    @classmethod
    def load(cls, path: str | os.PathLike) -> AlertIndex:
        root = cls.locate(path)
        if root is None:
            raise UserError(f"{path}: not prepared (no {INDEX_NAME}); run `elasticc-stream prepare {path}` first")
        return cls.open(root / INDEX_NAME, root)

    @classmethod
    def open(cls, index_path: Path, root: Path | None = None) -> AlertIndex:
        """Open and check (header, entry table, names) any index file, e.g. a prepare worker's run."""
        fd = -1
        try:
            fd = os.open(index_path, os.O_RDONLY)
            header = read_header(fd)
            vouched = is_checked(fd, index_path)
            if not vouched:
                check_sections(fd, header, ("entries", "names"))
        except (OSError, ValueError, IndexCorrupt) as exc:
            if fd >= 0:
                os.close(fd)
            where = root or index_path.parent
            kind = IndexCorrupt if isinstance(exc, IndexCorrupt) else UserError
            raise kind(f"{index_path}: unreadable index ({exc}); run `elasticc-stream prepare {where}` again "
                       "(it rebuilds the index)") from exc
        index = cls(root or index_path.parent, header, index_path, fd)
        index.vouched = vouched
        return index

    # -- access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    def schema(self, fp: str) -> dict:
        return self.schemas[fp]

    def payload(self, entry: IndexEntry) -> bytes:
        data = self.read_range(entry.payload_offset, entry.payload_length)
        self.check(entry, data)
        return data

    def stream_entries(self, block: int = 256) -> Iterator[IndexEntry]:
        return self._table.stream(block)

    def entry(self, i: int) -> IndexEntry:
        """entries[i], decoded alone: for a look at one entry now and then (e.g. per observation)."""
        return self._table.one(i)

    def records(self, start: int, stop: int) -> list[tuple]:
        """The raw ENTRY records of entries [start, stop) (fields at the R_* positions; names not decoded).

        Replay's per-alert read: unpacking a record costs a fraction of building its IndexEntry."""
        stop = min(stop, len(self.entries))
        if start >= stop:
            return []
        raw = self._pread_abs(self._entries_at + start * ENTRY.size, (stop - start) * ENTRY.size, "entry table")
        return list(ENTRY.iter_unpack(raw))

    def check(self, entry: IndexEntry, data: bytes | memoryview) -> None:
        """IndexCorrupt unless `data` is the payload the entry's checksum describes."""
        if crc32(data) != entry.payload_crc:
            raise IndexCorrupt(
                f"{self.index_path}: the stored bytes of {entry.file} (diaSourceId {entry.dia_source_id}) do not "
                f"match their checksum; not sent. Run `elasticc-stream prepare {self.root}` again (it rebuilds "
                "the index)")

    def read_range(self, offset: int, length: int) -> bytes:
        """`length` bytes of the payload section from `offset` (as in IndexEntry.payload_offset), unchecked.

        Read from the descriptor the header came from, so the bytes always belong to this index even
        when a later prepare has replaced the file since."""
        if offset < 0 or offset + length > self.payload_size:
            raise UserError(f"{self.index_path}: payloads at {offset}+{length} cut short (beyond the payload "
                            "section); run `elasticc-stream prepare` again")
        return self._pread_abs(self.payload_start + offset, length, f"payloads at {offset}+{length}")

    def _pread_abs(self, offset: int, length: int, what: str) -> bytes:
        if self._fd is None:
            raise ValueError(f"{self.index_path}: index closed")
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise UserError(f"{self.index_path}: {what} cut short; run `elasticc-stream prepare` again")
        return data

    def state(self) -> dict[str, Any]:
        """prepare's incremental state (checked against its checksum)."""
        offset, length, crc = self.header["sections"]["state"]
        raw = self._pread_abs(offset, length, "state")
        if crc32(raw) != crc:
            raise IndexCorrupt(f"{self.index_path}: state section does not match its checksum")
        return json.loads(raw)

    def record(self, entry: IndexEntry) -> dict:
        from ..decoder import decode

        return decode(self.payload(entry), schema=self.schema(entry.schema_fp), source=entry.file)[0].record

    def path(self, entry: IndexEntry) -> Path:
        return self.root / entry.file

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AlertIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            self.close()


def read_header(source: Path | int) -> dict[str, Any]:
    """The checked header of an index path or open descriptor. ValueError (IndexCorrupt for a checksum
    mismatch) if the file is not a usable index."""
    fd = os.open(source, os.O_RDONLY) if isinstance(source, Path) else source
    try:
        prefix = os.pread(fd, PREFIX.size, 0)
        if prefix[:len(MAGIC_V1)] == MAGIC_V1:
            raise ValueError("written by an older version (index format 1)")
        if len(prefix) != PREFIX.size:
            raise ValueError("file too short")
        magic, offset, length, header_crc, prefix_crc = PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise ValueError("not an elasticc-stream index")
        if crc32(prefix[:-4]) != prefix_crc:
            raise IndexCorrupt("its first 32 bytes do not match their checksum")
        raw = os.pread(fd, length, offset)
    finally:
        if isinstance(source, Path):
            os.close(fd)
    if len(raw) != length:
        raise ValueError("header cut short")
    if crc32(raw) != header_crc:
        raise IndexCorrupt("header does not match its checksum")
    header = json.loads(raw)
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"unsupported index version {header.get('version')!r}")
    return header


def check_sections(fd: int, header: dict[str, Any], names: tuple[str, ...]) -> None:
    """IndexCorrupt unless each named section matches its checksum (read in chunks, never held)."""
    for name in names:
        offset, length, crc = header["sections"][name]
        got, pos, end = 0, offset, offset + length
        while pos < end:
            chunk = os.pread(fd, min(CHECK_CHUNK, end - pos), pos)
            if not chunk:
                raise ValueError(f"{name} cut short")
            got = crc32(chunk, got)
            pos += len(chunk)
        if got != crc:
            raise IndexCorrupt(f"{_REGION.get(name, name)} does not match its checksum")


def check_payloads(index: AlertIndex) -> IndexEntry | None:
    """The first entry whose payload does not match its checksum, or None.

    The whole section's checksum is checked first (one pass in C, in big reads); only when it does not
    match are the entries' own checksums read to name the alert (or the first one, when the damage is
    outside every payload's bytes: the section's checksum itself)."""
    try:
        check_sections(index._fd, index.header, ("payloads",))  # type: ignore[arg-type]
        return None
    except IndexCorrupt:
        pass
    entries = index.entries
    i, n = 0, len(entries)
    while i < n:
        first = entries[i]
        j, length = i, 0
        while j < n and length < CHECK_CHUNK and entries[j].payload_offset == first.payload_offset + length:
            length += entries[j].payload_length
            j += 1
        data = memoryview(index.read_range(first.payload_offset, length))
        pos = 0
        for k in range(i, j):
            e = entries[k]
            if crc32(data[pos:pos + e.payload_length]) != e.payload_crc:
                return e
            pos += e.payload_length
        i = j
    return entries[0] if n else None
