"""Decompression with a cap on the output: a small hostile input must not become gigabytes in memory.

`gzip.decompress` and friends inflate everything before anyone can look at the size (a 45 kB gzip of zeros is
4 GB). Here every decompressor is asked for at most `limit + 1` bytes: getting that many proves the cap is
exceeded, without holding more than the cap. Otherwise the semantics of the stdlib one-shot functions are
kept (gzip members concatenated and trailing NUL padding allowed; bz2/xz streams concatenated, trailing junk
after a complete stream ignored; raw deflate as the Avro container spec defines it).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable
from pathlib import Path

from .limits import MB, describe
from .zlib_backend import ZLIB_ERRORS, GzipFile, zlib_impl

GZIP_MAGIC = b"\x1f\x8b"
# liblzma allocates the dictionary the stream header asks for (up to 1.5 GB), before any output: its memory is
# bounded separately. xz -9 needs 65 MB; the Avro Java default (preset 6) 9 MB.
_XZ_MEMORY = 80 * MB
CODECS = ("null", "deflate", "bzip2", "xz")


class InflateError(Exception):
    """`kind` is "truncated", "corrupt" or "too big"; str() is the one-line detail."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        super().__init__(detail)


def gunzip(data: bytes, limit: int) -> bytes:
    """Inflate gzip data (one member or several) to at most `limit` bytes; InflateError otherwise."""
    parts: list[bytes] = []
    total = 0
    rest: bytes | memoryview = memoryview(data)
    while True:
        d = zlib_impl.decompressobj(wbits=31)  # 31: zlib parses the gzip header and checks CRC and length itself
        try:
            out = d.decompress(rest, limit - total + 1)
        except ZLIB_ERRORS as exc:
            raise InflateError("corrupt", str(exc)) from None
        total += len(out)
        if total > limit:
            raise _too_big("gzip data", limit)
        if not d.eof:
            raise InflateError("truncated", f"{len(data)} compressed bytes end early")
        parts.append(out)
        rest = d.unused_data.lstrip(b"\x00")
        if not rest:
            break
        if rest[:2] != GZIP_MAGIC:
            raise InflateError("corrupt", f"not gzip data after member {len(parts)} ({bytes(rest[:8])!r})")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def open_gzip(path: Path) -> gzip.GzipFile:
    """A gzip file read as a stream, its CRC and length checked at the end (raises ZLIB_ERRORS, OSError, EOFError).

    A file that does not start as gzip is refused here as the stdlib does (zlib-ng's reader would wait for more
    bytes and call a short one truncated).
    """
    f = GzipFile(path, "rb")
    magic = f.fileobj.peek(2)[:2] if hasattr(f.fileobj, "peek") else GZIP_MAGIC  # type: ignore[union-attr]
    if magic != GZIP_MAGIC:
        f.close()
        raise gzip.BadGzipFile(f"Not a gzipped file ({magic!r})")
    return f


def inflate_block(codec: str, block: bytes, limit: int) -> bytes:
    """Inflate one Avro container block (`codec` from CODECS, not "null") to at most `limit` bytes."""
    if codec == "deflate":
        d = zlib_impl.decompressobj(-15)
        try:
            out = d.decompress(block, limit + 1)
        except ZLIB_ERRORS as exc:
            raise InflateError("corrupt", str(exc)) from None
        if len(out) > limit:
            raise _too_big("deflate block", limit)
        if not d.eof:
            raise InflateError("truncated", "incomplete or truncated stream")
        return out
    if codec == "bzip2":
        return _streams(bz2.BZ2Decompressor, block, limit, "bzip2 block")
    if codec == "xz":
        return _streams(lambda: lzma.LZMADecompressor(memlimit=_XZ_MEMORY), block, limit, "xz block")
    raise ValueError(f"unknown codec {codec!r}")


def _streams(make: Callable[[], bz2.BZ2Decompressor | lzma.LZMADecompressor], data: bytes, limit: int,
             what: str) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        d = make()
        try:
            out = d.decompress(data, limit - total + 1)
        except (OSError, lzma.LZMAError, EOFError) as exc:
            if parts:
                break  # junk after a complete stream, which bz2.decompress and lzma.decompress ignore too
            raise InflateError("corrupt", str(exc) or type(exc).__name__) from None
        total += len(out)
        if total > limit:
            raise _too_big(what, limit)
        if not d.eof:
            # Fewer bytes than asked for and no end of stream: the input ran out.
            raise InflateError("truncated", "compressed data ended before the end-of-stream marker")
        parts.append(out)
        data = d.unused_data
        if not data:
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _too_big(what: str, limit: int) -> InflateError:
    return InflateError("too big", f"{what} inflates to more than {describe(limit)} (the cap on a decompressed "
                                   "alert, --max-alert-mb)")
