"""The bytes of one alert file (`.avro.gz`): a schemaless payload, or an Object Container File."""

from __future__ import annotations

import gzip
import hashlib
import json

from .record_fill import encode_long
from .schema import AlertSchema

# Level 5 is 25% faster than 6 for the same size on these alerts.
ALERT_GZIP_LEVEL = 5


def _encode_bytes(data: bytes) -> bytes:
    return encode_long(len(data)) + data


class AlertFileWriter:
    """Turns a schemaless payload into the bytes of an `.avro.gz` file of the chosen format."""

    def __init__(self, schema: AlertSchema, fmt: str, *, level: int = ALERT_GZIP_LEVEL) -> None:
        self.fmt = fmt
        self.level = level
        if fmt == "container":
            text = json.dumps(schema.schema, separators=(",", ":")).encode()
            # A fixed sync marker (random in most writers) keeps the output byte-for-byte reproducible.
            self.sync = hashlib.blake2b(text, digest_size=16).digest()
            self.header = (
                b"Obj\x01" + encode_long(2)
                + _encode_bytes(b"avro.codec") + _encode_bytes(b"null")
                + _encode_bytes(b"avro.schema") + _encode_bytes(text)
                + encode_long(0) + self.sync
            )

    def file_bytes(self, payload: bytes) -> bytes:
        if self.fmt == "container":
            payload = b"".join((self.header, encode_long(1), encode_long(len(payload)), payload, self.sync))
        return gzip.compress(payload, compresslevel=self.level, mtime=0)
