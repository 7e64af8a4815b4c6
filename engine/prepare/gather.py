"""Gathering good alerts into ALERTS_DIR/gathered/ (hard links where possible), never overwriting.

One night at a time: what other nights already gathered is asked of the state (on disk) only when a name
is taken, so nothing here grows with the batch.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .files import Stat, same_content
from .night import GATHERED_DIR, GoodFile
from .report import Problem
from .state import FileRow, State

_NO_LINK = (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK, errno.EACCES)


@dataclass
class Gathered:
    rows: list[FileRow] = field(default_factory=list)  # the night's files as they now stand
    # Sources whose entries point elsewhere than gathered/<their name>: their own path, or None (a duplicate).
    overrides: dict[str, str | None] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)


def gathered_file(src: str) -> str:
    return f"{GATHERED_DIR}/{src.rsplit('/', 1)[-1]}"


def gather_night(root: Path, night: str, goods: Iterable[GoodFile], prev: dict[str, FileRow],
                 state: State) -> Gathered:
    """Put every good file of a night just validated in gathered/ under its own base name.

    `prev`: what the night's files were last time (an earlier link of ours may be replaced)."""
    out = Gathered()
    (root / GATHERED_DIR).mkdir(exist_ok=True)
    owners: dict[str, str] = {}  # within the night: base name -> the source that has it
    for g in sorted(goods, key=lambda g: g.src):
        p = prev.get(g.src)
        _gather_one(root, night, g.src, g.stat, p, p is not None and (p.size, p.mtime, p.ino) == g.stat,
                    owners, state, out)
    return out


def regather_night(root: Path, night: str, state: State) -> Gathered:
    """For a night reused as it is while gathered/ changed: put back what is missing of its gathered files.

    Only files whose gathered copy lost its stat are looked at again (their sources are unchanged)."""
    out = Gathered()
    (root / GATHERED_DIR).mkdir(exist_ok=True)
    owners: dict[str, str] = {}
    base = str(root) + os.sep
    for row in state.rows(night):
        if row.file is None or row.file != gathered_file(row.src):
            continue  # a duplicate, or indexed from its night folder: as the night was
        if _gathered_stat(base + row.file) == (row.g_ino, row.g_size, row.g_mtime):
            owners[row.file] = row.src
            continue
        _gather_one(root, night, row.src, (row.size, row.mtime, row.ino), row, True, owners, state, out)
    return out


def _gather_one(root: Path, night: str, src: str, st_src: Stat, prev: FileRow | None, unchanged: bool,
                owners: dict[str, str], state: State, out: Gathered) -> None:
    rel = gathered_file(src)
    base = str(root) + os.sep
    src_path, dst = base + src, base + rel  # plain concatenation: this runs once per alert

    def done(file: str | None, g: tuple[int, int, int] | None = None) -> None:
        out.rows.append(FileRow(src, night, *st_src, file, *(g or (None, None, None))))
        if file != rel:
            out.overrides[src] = file

    owner = owners.get(rel)
    if owner is None:
        if prev is None or prev.file != rel:  # the usual first run: the name is free, one link
            try:
                os.link(src_path, dst)
                owners[rel] = src
                st = os.stat(dst, follow_symlinks=False)
                return done(rel, (st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError as exc:
                if not isinstance(exc, FileExistsError) and exc.errno not in _NO_LINK:
                    out.problems.append(Problem(src, f"cannot gather into {GATHERED_DIR}/: {exc.strerror or exc}"))
                    return done(src)
        other = state.owner(rel)
        owner = other if other != src else None
    if owner is not None:
        if same_content(Path(src_path), root / owner):
            out.skipped.append(Problem(src, f"same content as {owner}; indexed once"))
            return done(None)
        out.problems.append(Problem(src, f"{rel} already holds {owner}, a different alert; indexed from {src}"))
        return done(src)
    try:
        now = _gathered_stat(dst) if prev is not None else None
        # `ours`: gathered/<name> is still exactly what an earlier run put there for this source.
        ours = prev is not None and prev.file == rel and now == (prev.g_ino, prev.g_size, prev.g_mtime)
        if ours and unchanged:
            owners[rel] = src
            return done(rel, now)
        if not _place(src_path, dst, ours=ours):
            reason = f"{rel} exists with different content; not overwritten, indexed from {src}"
            out.problems.append(Problem(src, reason))
            return done(src)
        st = os.stat(dst, follow_symlinks=False)
    except OSError as exc:
        out.problems.append(Problem(src, f"cannot gather into {GATHERED_DIR}/: {exc.strerror or exc}"))
        return done(src)
    owners[rel] = src
    return done(rel, (st.st_ino, st.st_size, st.st_mtime_ns))


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
        if exc.errno not in _NO_LINK:
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
