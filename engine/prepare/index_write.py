"""Writing an index (see index.py for the layout) in one streaming pass: nothing is held per alert.

Payloads go straight into the file as they come, in any order; entries (in their final sorted order)
and names are spilled to two temporary files beside it and appended at the end, then the state, the
header and, last, the prefix that points at the header. The file becomes the index by one rename.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..zlib_backend import crc32
from .index import ENTRY, FORMAT, MAGIC, NO_OBJECT, PREFIX, VERSION

_BUFFER = 1 << 20


class IndexWriter:
    """`payload()` then `entry()` for each alert, `publish()` once; `discard()` on any failure."""

    def __init__(self, final: Path) -> None:
        self.final = final
        stem = final.parent / f".{final.name}.tmp-{os.getpid()}"
        self.paths = [stem.with_name(stem.name + s) for s in ("", ".entries", ".names")]
        self.out = open(self.paths[0], "wb", buffering=_BUFFER)  # noqa: SIM115 - closed in publish/discard
        self.entries = open(self.paths[1], "w+b", buffering=_BUFFER)  # noqa: SIM115
        self.names = open(self.paths[2], "w+b", buffering=_BUFFER)  # noqa: SIM115
        self.out.write(b"\0" * PREFIX.size)
        self.payload_size = 0
        self.names_size = 0
        self.count = 0
        self.entries_crc = self.names_crc = self.payloads_crc = 0
        self.fps: dict[str, int] = {}
        self.schemas: list[list[Any]] = []

    def payload(self, data: bytes | memoryview, crc: int | None = None) -> tuple[int, int]:
        """Append one alert's bytes -> (offset in the payload section, crc32)."""
        offset = self.payload_size
        self.out.write(data)
        self.payload_size += len(data)
        self.payloads_crc = crc32(data, self.payloads_crc)
        return offset, crc32(data) if crc is None else crc

    def entry(self, *, file: str, source: str, dia_source_id: int, dia_object_id: int | None, mid_point_tai: float,
              filter_name: str, schema_fp: str, schema: dict, offset: int, length: int, crc: int) -> None:
        """Append the next entry (callers add them in sorted order)."""
        number = self.fps.get(schema_fp)
        if number is None:
            number = self.fps[schema_fp] = len(self.schemas)
            self.schemas.append([schema_fp, schema])
        f, s = file.encode("utf-8", "surrogateescape"), source.encode("utf-8", "surrogateescape")
        f_off = self._name(f)
        s_off = f_off if s == f else self._name(s)
        record = ENTRY.pack(dia_source_id, dia_object_id or 0, mid_point_tai, offset, length, crc, f_off, s_off,
                            len(f), len(s), number, NO_OBJECT if dia_object_id is None else 0,
                            filter_name.encode()[:8])
        self.entries.write(record)
        self.entries_crc = crc32(record, self.entries_crc)
        self.count += 1

    def _name(self, raw: bytes) -> int:
        offset = self.names_size
        self.names.write(raw)
        self.names_crc = crc32(raw, self.names_crc)
        self.names_size += len(raw)
        return offset

    def publish(self, state: dict[str, Any], layout: str) -> Path:
        """Finish the file, fsync it and rename it over the index."""
        try:
            sections: dict[str, list[int]] = {"payloads": [PREFIX.size, self.payload_size, self.payloads_crc]}
            pos = PREFIX.size + self.payload_size
            for name, spill, size, crc in (("entries", self.entries, self.count * ENTRY.size, self.entries_crc),
                                           ("names", self.names, self.names_size, self.names_crc)):
                spill.flush()
                spill.seek(0)
                shutil.copyfileobj(spill, self.out, _BUFFER)
                sections[name] = [pos, size, crc]
                pos += size
            raw_state = json.dumps(state, separators=(",", ":")).encode()
            self.out.write(raw_state)
            sections["state"] = [pos, len(raw_state), crc32(raw_state)]
            pos += len(raw_state)
            header = {"format": FORMAT, "version": VERSION, "layout": layout, "count": self.count,
                      "schemas": self.schemas, "sections": sections}
            raw = json.dumps(header, separators=(",", ":")).encode()
            self.out.write(raw)
            self.out.flush()
            head = PREFIX.pack(MAGIC, pos, len(raw), crc32(raw), 0)
            self.out.seek(0)
            self.out.write(head[:-4] + crc32(head[:-4]).to_bytes(4, "little"))
            self.out.flush()
            os.fsync(self.out.fileno())
            self.out.close()
            os.replace(self.paths[0], self.final)
        finally:
            self.discard()
        return self.final

    def discard(self) -> None:
        for f in (self.out, self.entries, self.names):
            with contextlib.suppress(OSError):  # closing flushes: on a full disk that fails too
                f.close()
        for p in self.paths:
            p.unlink(missing_ok=True)
