"""Safe, streaming extraction of one NITE<n>.tar.gz.

The archive is read once, front to back ("r|*" mode, no seeking, no member list held in memory).
Only regular files whose normalised name lies inside `<night>/` are written, into a staging
folder the caller owns; every other member is refused by name and never touches the disk.
Alert members are handed back with their bytes so they can be validated without reading them again.
A member bigger than the cap (`limits.max_member_bytes`) is refused from its header, before a byte of it is
written: a 4 GB member of zeros fits in a 4 MB archive. A member the disk will not take (a name too long for
the filesystem, a full disk) is refused too, and the rest of the archive goes on.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import posixpath
import shutil
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..inflate import open_gzip
from ..limits import describe, max_member_bytes
from ..zlib_backend import ZLIB_ERRORS

# Alert members are handed back in memory while the archive's total stays under this (a night of ELAsTiCC alerts
# is 10-250 MB); past it they are only on disk (Extracted.data None) and the caller reads them back one at a time.
IN_MEMORY_BUDGET = 128 * 1024 * 1024


class BadArchive(Exception):
    """The archive cannot be read to its end; str() is the one-line reason."""


@dataclass(frozen=True)
class Refused:
    member: str
    reason: str


@dataclass(frozen=True)
class Extracted:
    rel: str  # path inside the night folder, e.g. "alert_mjd..._src1.avro.gz" or "sub/x.avro.gz"
    path: Path  # where it was written (inside the staging folder)
    data: bytes | None  # the content, for members the caller wanted in memory while the budget lasted


def night_name(archive: Path) -> str:
    """`NITE12.tar.gz` -> `NITE12` (the part before the first dot, as the reference script does)."""
    return archive.name.split(".", 1)[0]


def check_member_name(name: str, night: str) -> tuple[str | None, str | None]:
    """(path relative to the night folder, None) if acceptable, else (None, reason)."""
    if "\x00" in name:
        return None, "name contains a NUL byte"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return None, "absolute name"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return None, "name has a '..' component"
    norm = posixpath.normpath(name)
    if norm == night or norm == ".":
        return "", None
    prefix = night + "/"
    if not norm.startswith(prefix):
        return None, f"outside {night}/"
    return norm[len(prefix) :], None


def _member_kind(m: tarfile.TarInfo) -> str | None:
    """Reason to refuse a member because of its type, or None for regular files and directories."""
    if m.issym():
        return f"symbolic link (-> {m.linkname})"
    if m.islnk():
        return f"hard link (-> {m.linkname})"
    if m.ischr() or m.isblk():
        return "device file"
    if m.isfifo():
        return "FIFO"
    if m.isreg() or m.isdir():
        return None
    return f"unsupported member type {m.type!r}"


def unpack(
    archive: Path, night: str, staging: Path, wants_data: Callable[[str], bool]
) -> Iterator[Extracted | Refused]:
    """Write the archive's acceptable regular files under `staging` and yield what happened.

    Raises BadArchive when the archive cannot be read to its end; whatever was yielded before
    is then the caller's to discard (it all lives in `staging`).
    """
    # A GzipFile (not tarfile's own "r|gz") because it checks the CRC and the end-of-stream
    # marker, so an archive cut inside its padding is still caught.
    with open_gzip(archive) as gz:
        try:
            tf = tarfile.open(fileobj=gz, mode="r|", tarinfo=_TarInfo)  # noqa: SIM115 (closed below)
        except (tarfile.TarError, OSError, EOFError, *ZLIB_ERRORS) as exc:
            raise BadArchive(_reason(exc)) from exc
        with tf:
            yield from _members(tf, gz, night, staging, wants_data)


def _members(
    tf: tarfile.TarFile, gz: gzip.GzipFile, night: str, staging: Path, wants_data: Callable[[str], bool]
) -> Iterator[Extracted | Refused]:
    seen: set[str] = set()
    made: set[Path] = set()  # folders already created: one mkdir per folder, not per member
    cap = max_member_bytes()
    in_memory = IN_MEMORY_BUDGET
    while True:
        try:
            member = tf.next()
        except (tarfile.TarError, OSError, EOFError, *ZLIB_ERRORS) as exc:
            raise BadArchive(_reason(exc)) from exc
        if member is None:
            _check_end(tf, gz)
            return
        rel, why = check_member_name(member.name, night)
        if why is None:
            why = _member_kind(member)
        if why is None and member.size > cap:  # a sparse member's size is its full, expanded size
            why = f"{describe(member.size)}, more than the {describe(cap)} cap on a member (--max-member-mb)"
        if why is None and rel in seen:
            why = "duplicate member name (the first one is kept)"
        if why is not None:
            yield Refused(member.name, why)
            continue
        if member.isdir() or not rel:
            continue
        seen.add(rel)
        dest = staging / rel
        src = tf.extractfile(member)
        assert src is not None  # a regular file
        keep = wants_data(rel) and member.size <= in_memory
        try:
            if dest.parent not in made:
                _mkdir(dest.parent)
                made.add(dest.parent)
            if keep:
                data: bytes | None = _read(src, member)
                in_memory -= member.size
                _write(dest, [data])
            else:
                data = None
                _write(dest, _chunks(src, member))
        except _WriteError as exc:
            _discard(dest)
            yield Refused(member.name, f"cannot write: {exc}")
            continue
        yield Extracted(rel, dest, data)


class _TarInfo(tarfile.TarInfo):
    """Remembers why the member loop ended: tarfile treats a cut or garbled header after the first
    member as a normal end of archive, which would silently drop the rest of a night."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.HeaderError as exc:
            tarfile_._elasticc_end = exc  # type: ignore[attr-defined]
            raise


def _check_end(tf: tarfile.TarFile, gz: gzip.GzipFile) -> None:
    end = getattr(tf, "_elasticc_end", None)
    if not isinstance(end, tarfile.EOFHeaderError):
        detail = "no end-of-archive marker" if end is None or "empty" in str(end) else str(end)
        raise BadArchive(f"truncated archive ({detail})")
    try:
        while gz.read(1024 * 1024):
            pass
    except (OSError, EOFError, *ZLIB_ERRORS) as exc:
        raise BadArchive(_reason(exc)) from exc


class _WriteError(Exception):
    pass


def _read(src, member: tarfile.TarInfo, size: int = -1) -> bytes:
    try:
        data = src.read(size)
    except (tarfile.TarError, OSError, EOFError, *ZLIB_ERRORS) as exc:
        raise BadArchive(f"{member.name}: {_reason(exc)}") from exc
    if size < 0 and len(data) != member.size:
        raise BadArchive(f"{member.name}: truncated archive (unexpected end of data)")
    return data


def _chunks(src, member: tarfile.TarInfo) -> Iterator[bytes]:
    left = member.size
    while left > 0:
        chunk = _read(src, member, min(left, 1024 * 1024))
        if not chunk:
            raise BadArchive(f"{member.name}: truncated archive (unexpected end of data)")
        left -= len(chunk)
        yield chunk


def _write(dest: Path, chunks) -> None:
    """Write chunks; archive read errors (BadArchive) pass through, disk errors become _WriteError."""
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise _WriteError(exc.strerror or str(exc)) from exc
    try:
        for chunk in chunks:  # BadArchive is no OSError: read errors are not mistaken for disk errors
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
    except OSError as exc:
        raise _WriteError(exc.strerror or str(exc)) from exc
    finally:
        os.close(fd)


def _discard(path: Path) -> None:
    """Remove what a failed write left in staging (often nothing: a name too long was never created)."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _WriteError(exc.strerror or str(exc)) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError) or "unexpected end" in text.lower() or "ended before" in text:
        return f"truncated archive ({text})"
    if isinstance(exc, (gzip.BadGzipFile, *ZLIB_ERRORS)):
        return f"not a valid gzip stream ({text})"
    if isinstance(exc, tarfile.ReadError):
        return f"not a readable tar archive ({text})"
    return text


def remove_tree(path: Path) -> None:
    """Remove a staging folder this run created (never follows symlinks out of it)."""
    if path.is_symlink() or not path.exists():
        return
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():  # pragma: no cover - permissions oddities
        os.rmdir(path)
