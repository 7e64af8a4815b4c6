"""What a night is, cheaply: the stat of its archive and of every folder of its tree.

Adding, removing, renaming or replacing an alert (a new inode, as `tar xf`, `cp` to a new name or an
editor's save leave it) changes its folder's mtime and ctime, so a night whose folders all kept their
stat holds what it held. A file rewritten in place under its old inode is the one change this does not
see (it changes the file's own mtime only); the README says so.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .files import Stat

Dirs = list[list]  # [rel ("" for the night folder itself), inode, mtime_ns, ctime_ns], in walk order


def archive_ident(path: Path) -> list[int]:
    st = os.stat(path)
    # Not the ctime: making a hard link to the archive (as a batch copied by links does) changes it.
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def night_dirs(folder: Path) -> Dirs | None:
    """The stat of the folder and each folder under it (symlinks not followed); None if it is not a folder."""
    out: Dirs = []

    def walk(path: str, rel: str) -> None:
        st = os.stat(path, follow_symlinks=False)
        out.append([rel, st.st_ino, st.st_mtime_ns, st.st_ctime_ns])
        with os.scandir(path) as it:
            subs = sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
        for name in subs:
            walk(os.path.join(path, name), f"{rel}/{name}" if rel else name)

    try:
        if folder.is_symlink() or not folder.is_dir():
            return None
        walk(str(folder), "")
    except OSError:
        return None
    return out


def dirs_unchanged(folder: Path, recorded: Dirs) -> bool:
    """True when every recorded folder still has its stat (one stat each; no listing)."""
    base = str(folder)
    try:
        for rel, ino, mtime, ctime in recorded:
            st = os.stat(os.path.join(base, rel) if rel else base, follow_symlinks=False)
            if (st.st_ino, st.st_mtime_ns, st.st_ctime_ns) != (ino, mtime, ctime):
                return False
    except OSError:
        return False
    return bool(recorded)


def folder_stat(folder: Path) -> list[int] | None:
    try:
        st = os.stat(folder, follow_symlinks=False)
    except OSError:
        return None
    return [st.st_ino, st.st_mtime_ns, st.st_ctime_ns]


def listing_digest(alerts: list[tuple[str, Stat | None]]) -> str:
    """A loose folder's identity: its alert files' names and stats (the folder itself also holds the index)."""
    h = hashlib.blake2b(digest_size=16)
    for rel, st in alerts:
        h.update(f"{rel}\0{st}\n".encode("utf-8", "surrogateescape"))
    return f"{len(alerts)}:{h.hexdigest()}"
