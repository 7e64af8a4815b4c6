"""Small filesystem moves that never overwrite anything and never leave ALERTS_DIR."""

from __future__ import annotations

import errno
import filecmp
import os
from pathlib import Path

Stat = tuple[int, int, int]  # (size, mtime_ns, inode): "unchanged since last run" when all three match


def file_stat(path: Path) -> Stat:
    st = os.stat(path, follow_symlinks=False)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def same_content(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def inside(path: Path, base: Path) -> bool:
    """True if `path` (symlinks resolved) is `base` or lies under it."""
    real, real_base = os.path.realpath(path), os.path.realpath(base)
    return real == real_base or real.startswith(real_base + os.sep)


def move_no_clobber(src: Path, dest_dir: Path, name: str) -> Path:
    """Move `src` into `dest_dir` as `name`, or `name.1`, `name.2`... if that name holds a different file.

    If an identical file is already there, `src` is simply removed: its content is kept once.
    """
    dest_dir.mkdir(exist_ok=True)
    for n in range(10_000):
        dest = dest_dir / (name if n == 0 else f"{name}.{n}")
        try:
            os.link(src, dest)  # link + unlink: a rename that fails instead of replacing
        except FileExistsError:
            if same_content(src, dest):
                src.unlink()
                return dest
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK, errno.EACCES):
                raise
            if os.path.lexists(dest):
                if same_content(src, dest):
                    src.unlink()
                    return dest
                continue
            os.rename(src, dest)
            return dest
        src.unlink()
        return dest
    raise OSError(f"no free name for {name} in {dest_dir}")
