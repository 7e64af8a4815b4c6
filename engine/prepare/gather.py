"""Gathering good alerts into ALERTS_DIR/gathered/ (hard links where possible), never overwriting."""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .files import Stat, same_content
from .night import GATHERED_DIR
from .report import Problem

# gathered state per source: [gathered file (root-relative), inode, size, mtime_ns] of the gathered file
GatheredState = list


@dataclass
class GatherResult:
    files: dict[str, str | None] = field(default_factory=dict)  # source -> file to index (None: duplicate)
    state: dict[str, GatheredState] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)


def gather(
    root: Path, sources: list[str], unchanged: dict[str, Stat], previous: dict[str, GatheredState]
) -> GatherResult:
    """Put every source (root-relative, already validated) in gathered/ under its own base name.

    `unchanged`: sources found identical to the last run, with their stat; `previous`: what was gathered
    for them then.
    """
    out = GatherResult()
    (root / GATHERED_DIR).mkdir(exist_ok=True)
    base = str(root) + os.sep
    owners: dict[str, str] = {}
    linked = _inodes(root / GATHERED_DIR) if unchanged else {}
    for src in sorted(sources):
        name = src.rsplit("/", 1)[-1]
        rel = f"{GATHERED_DIR}/{name}"
        src_path, dst = base + src, base + rel  # plain concatenation: this loop runs once per alert
        owner = owners.get(name)
        if owner is not None:
            if same_content(Path(src_path), root / owner):
                out.files[src] = None
                out.skipped.append(Problem(src, f"same content as {owner}; indexed once"))
            else:
                out.files[src] = src
                out.problems.append(
                    Problem(src, f"{rel} already holds {owner}, a different alert; indexed from {src}")
                )
            continue
        prev = previous.get(src)
        st_src = unchanged.get(src)
        if prev is not None and st_src is not None and prev[0] == rel and linked.get(name) == prev[1] == st_src[2] \
                and prev[2] == st_src[0] and prev[3] == st_src[1]:
            # gathered/<name> is still a hard link to the unchanged source (one inode): nothing to stat.
            out.files[src], out.state[src], owners[name] = rel, prev, src
            continue
        try:
            now = _gathered_stat(dst) if prev is not None else None
            # `ours`: gathered/<name> is still exactly what an earlier run put there for this source.
            ours = prev is not None and prev[0] == rel and now is not None and list(now) == prev[1:]
            if ours and src in unchanged:
                out.files[src], out.state[src], owners[name] = rel, prev, src
                continue
            if not _place(src_path, dst, ours=ours):
                out.files[src] = src
                out.problems.append(
                    Problem(src, f"{rel} exists with different content; not overwritten, indexed from {src}")
                )
                continue
            st = os.stat(dst, follow_symlinks=False)
        except OSError as exc:
            out.files[src] = src
            out.problems.append(Problem(src, f"cannot gather into {GATHERED_DIR}/: {exc.strerror or exc}"))
            continue
        out.files[src], owners[name] = rel, src
        out.state[src] = [rel, st.st_ino, st.st_size, st.st_mtime_ns]
    return out


def _inodes(folder: Path) -> dict[str, int]:
    """name -> inode of each entry, from the directory listing alone (no stat per file)."""
    with os.scandir(folder) as it:
        return {e.name: e.inode() for e in it if not e.is_symlink()}


def _gathered_stat(dst: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(dst, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _place(src: str, dst: str, *, ours: bool) -> bool:
    """Link (or copy) src to dst. An existing dst is kept if identical, replaced only if `ours`."""
    try:
        os.link(src, dst)
        return True
    except FileExistsError:
        if os.path.isfile(dst) and not os.path.islink(dst) and same_content(Path(src), Path(dst)):
            return True
        if not ours:
            return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK, errno.EACCES):
            raise
        if os.path.lexists(dst):
            if same_content(Path(src), Path(dst)):
                return True
            if not ours:
                return False
    # Our own earlier copy of a source that changed since: swap it atomically.
    folder, name = os.path.split(dst)
    tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return True
