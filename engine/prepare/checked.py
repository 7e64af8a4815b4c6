"""The stamp beside a published index that says every one of its sections matched its checksum.

`elasticc-stream.index.checked` holds the index file's stat (device, inode, size, mtime, ctime) as it was when all
its sections last matched: written by prepare when it publishes an index, or once it has checked an earlier one
in full. While the file's stat is still that one, nothing has written to it since, so its sections are not read
again: at 1 M alerts the entry table and names alone are 194 MB, 64-89 ms of every replay's start (0.55 s from
a cold page cache), and the payloads GBs. Each payload is still checked against its own checksum when read.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

# A write lands with a coarse (jiffy, <= 10 ms) timestamp: a stamp is only trusted for an index whose ctime
# was at least this old when stamped, so a later write cannot carry the same ctime.
_SETTLED_NS = 30_000_000


def stamp_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".checked")


def stamp(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def read_stamp(index_path: Path) -> list[int] | None:
    try:
        got = json.loads(stamp_path(index_path).read_bytes())
    except (OSError, ValueError):
        return None
    return got if isinstance(got, list) else None


def is_checked(fd: int, index_path: Path) -> bool:
    """Whether the index open as `fd` is the very file a stamp beside `index_path` vouches for."""
    return read_stamp(index_path) == stamp(os.fstat(fd))


def write_stamp(index_path: Path, st: list[int], *, wait: bool = False) -> None:
    """Record that the index of this stat has checked sections (best effort: without it, they are checked)."""
    young = st[4] + _SETTLED_NS - time.time_ns()
    if young > 0:
        if not wait:
            return
        time.sleep(young / 1e9)  # once per index written: a few ms against the writing itself
    path = stamp_path(index_path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(st))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
