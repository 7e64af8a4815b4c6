"""Which zlib does the inflating and the crc32s: zlib-ng where its wheel imports, else the stdlib's.

zlib-ng produces and accepts the same formats and checksums, and on this machine's CPUs it inflates a 4 kB
gzip'd ELAsTiCC alert in 27-30 us against the stdlib's 50-55, and computes crc32 at ~30 GB/s against ~2.4
(an alert's 13.7 kB: 0.45 us against 5.6; prepare takes four crc32s of every payload, replay one).
"""

from __future__ import annotations

import gzip
import zlib

try:
    from zlib_ng import gzip_ng, zlib_ng

    zlib_impl = zlib_ng
    GzipFile: type[gzip.GzipFile] = gzip_ng.GzipNGFile
except ImportError:  # pragma: no cover - the wheel is a dependency; this is for platforms it does not build on
    zlib_impl = zlib  # type: ignore[assignment]
    GzipFile = gzip.GzipFile

crc32 = zlib_impl.crc32
# What a corrupt deflate stream raises, from either library.
ZLIB_ERRORS: tuple[type[Exception], ...] = (zlib.error, zlib_impl.error)
