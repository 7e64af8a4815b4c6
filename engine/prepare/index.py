"""The prepared-alerts index: one file beside `gathered/` that replay, the TUI and consume read.

Layout of `elasticc-stream.index` (little-endian):

    8 bytes   magic  b"ESIDX\\x00\\x01\\n"
    8 bytes   length of the JSON header that follows
    header    UTF-8 JSON: format/version, the writer schemas keyed by fingerprint, the entries as
              columns (compact and fast to load), and the incremental state `prepare` reuses
    payload   every alert's schemaless Avro bytes, back to back in index order

Keeping the payloads in the same file as the offsets that point into them means one atomic rename
publishes a consistent index, and replay can send alerts without decoding or even opening them.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticc_stream.engine.errors import UserError

INDEX_NAME = "elasticc-stream.index"
MAGIC = b"ESIDX\x00\x01\n"
FORMAT = "elasticc-stream-index"
VERSION = 1
_PREFIX = struct.Struct("<8sQ")

# Column order of the header's "columns" object; also the IndexEntry field order.
COLUMNS = (
    "file",
    "dia_source_id",
    "dia_object_id",
    "mid_point_tai",
    "filter_name",
    "schema_fp",
    "payload_offset",
    "payload_length",
)


@dataclass(frozen=True)
class IndexEntry:
    file: str  # path relative to the index's root, e.g. "gathered/alert_...avro.gz"
    dia_source_id: int
    dia_object_id: int | None  # None only when the alert itself carries no diaObjectId
    mid_point_tai: float
    filter_name: str
    schema_fp: str
    payload_offset: int  # relative to the start of the payload section
    payload_length: int


class AlertIndex:
    """A loaded index. Payloads are read lazily with pread, so loading costs only the header."""

    def __init__(
        self, root: Path, header: dict[str, Any], payload_start: int, index_path: Path, fd: int
    ) -> None:
        self.root = root
        self.index_path = index_path
        self.header = header
        self.payload_start = payload_start
        self.schemas: dict[str, dict] = header["schemas"]
        cols = header["columns"]
        self.entries: list[IndexEntry] = [IndexEntry(*row) for row in zip(*(cols[c] for c in COLUMNS), strict=True)]
        # The descriptor the header was read from: a later prepare that replaces the file cannot mix
        # this header with another file's payloads, and pread on it is safe from any thread.
        self._fd: int | None = fd

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
        index_path = root / INDEX_NAME
        fd = -1
        try:
            fd = os.open(index_path, os.O_RDONLY)
            header, payload_start = read_header(fd)
        except (OSError, ValueError) as exc:
            if fd >= 0:
                os.close(fd)
            raise UserError(
                f"{index_path}: unreadable index ({exc}); run `elasticc-stream prepare {root}` again"
            ) from exc
        return cls(root, header, payload_start, index_path, fd)

    # -- access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    def schema(self, fp: str) -> dict:
        return self.schemas[fp]

    def payload(self, entry: IndexEntry) -> bytes:
        return self._pread(entry.payload_offset, entry.payload_length, f"payload of {entry.file}")

    def read_range(self, offset: int, length: int) -> bytes:
        """`length` bytes of the payload section from `offset` (as in IndexEntry.payload_offset).

        Read from the descriptor the header came from, so the bytes always belong to this index even
        when a later prepare has replaced the file since."""
        return self._pread(offset, length, f"payloads at {offset}+{length}")

    def _pread(self, offset: int, length: int, what: str) -> bytes:
        if self._fd is None:
            raise ValueError(f"{self.index_path}: index closed")
        data = os.pread(self._fd, length, self.payload_start + offset)
        if len(data) != length:
            raise UserError(f"{self.index_path}: {what} cut short; run `elasticc-stream prepare` again")
        return data

    def record(self, entry: IndexEntry) -> dict:
        from elasticc_stream.engine.decoder import decode

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


def read_header(source: Path | int) -> tuple[dict[str, Any], int]:
    """(header, absolute offset of the payload section) of an index path or open descriptor.
    ValueError if the file is not an index."""
    fd = os.open(source, os.O_RDONLY) if isinstance(source, Path) else source
    try:
        prefix = os.pread(fd, _PREFIX.size, 0)
        if len(prefix) != _PREFIX.size:
            raise ValueError("file too short")
        magic, length = _PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise ValueError("not an elasticc-stream index")
        raw = os.pread(fd, length, _PREFIX.size)
    finally:
        if isinstance(source, Path):
            os.close(fd)
    if len(raw) != length:
        raise ValueError("header cut short")
    header = json.loads(raw)
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"unsupported index version {header.get('version')!r}")
    return header, _PREFIX.size + length


def build_header(
    entries: list[IndexEntry], schemas: dict[str, dict], state: dict[str, Any], layout: str
) -> dict[str, Any]:
    columns = {c: [getattr(e, c) for e in entries] for c in COLUMNS}
    used = {e.schema_fp for e in entries}
    return {
        "format": FORMAT,
        "version": VERSION,
        "layout": layout,
        "count": len(entries),
        "schemas": {fp: schemas[fp] for fp in sorted(used)},
        "columns": columns,
        "state": state,
    }


def write_index(root: Path, header: dict[str, Any], payloads: Iterable[bytes | memoryview]) -> Path:
    """Write header + payloads to a temporary file, then rename it over the index (atomic).

    `payloads` may be a generator: it is consumed once, in order, while the file is written."""
    raw = json.dumps(header, separators=(",", ":")).encode()
    final = root / INDEX_NAME
    tmp = root / f".{INDEX_NAME}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(_PREFIX.pack(MAGIC, len(raw)))
            f.write(raw)
            f.writelines(payloads)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final
