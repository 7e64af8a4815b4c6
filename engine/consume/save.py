"""`--save DIR`: each received alert as a standalone Avro container file (schema embedded).

Names are the alert family's choice (`engine.families`): ELAsTiCC and Rubin `alert_src<diaSourceId>.avro`
(alertId is a constant in the real ELAsTiCC stream, and an object has many alerts, so neither identifies one),
ZTF `<objectId>_<candid>.avro`, anything else by a hash of its content. A name already taken by a different
alert gets a suffix (`_1`, `_2`...); the same alert received again (a re-run, an at-least-once redelivery) is
recognised and not written twice. Nothing received is lost and no file is ever overwritten: files appear
complete (written aside, then linked into place), and the link refuses an existing name even if another
process saves into the same folder at the same moment.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from ..simulate.record_fill import encode_long

if TYPE_CHECKING:
    from ..decoder import DecodedAlert

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# A name with this many suffixes already taken is a sign of a loop gone wrong, not of real data.
_MAX_SUFFIX = 10_000


@dataclass(frozen=True)
class SaveResult:
    path: Path
    written: bool  # False: an identical file was already there


def alert_file_stem(alert: DecodedAlert) -> str:
    """The file name (without .avro) of an alert: its family's choice, else a hash of its content."""
    stem = alert.family.save_stem(alert.family.summary(alert.record))
    if stem:
        return _safe(stem)
    digest = hashlib.sha256(alert.fingerprint.encode() + alert.payload).hexdigest()[:16]
    return f"alert_{digest}"


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._")[:200] or "alert"


def container_bytes(alert: DecodedAlert) -> bytes:
    """The alert as an Avro container file holding one record: the schema's header, then one block of the
    alert's own schemaless bytes (exact already: decoding checked every byte), so nothing is encoded again.

    The sync marker is derived from the content instead of being random, so the same alert always gives the
    same bytes and a re-run can recognise its earlier files by a plain comparison.
    """
    marker = hashlib.sha256(b"sync" + alert.fingerprint.encode() + alert.payload).digest()[:16]
    payload = alert.payload
    return b"".join((_header(alert), marker, encode_long(1), encode_long(len(payload)), payload, marker))


_HEADERS: dict[str, bytes] = {}  # fingerprint -> container header without its sync marker; a few schemas per run
_NO_MARKER = bytes(16)


def _header(alert: DecodedAlert) -> bytes:
    """The header fastavro writes for this schema (magic, metadata with the schema and codec), cut before the
    sync marker: written once per schema, so a saved file is what fastavro.writer would give for the record."""
    head = _HEADERS.get(alert.fingerprint)
    if head is None:
        import fastavro

        from ..decoder import parsed

        out = io.BytesIO()
        fastavro.writer(out, parsed(alert.schema), [], sync_marker=_NO_MARKER)
        data = out.getvalue()
        if not data.endswith(_NO_MARKER):  # the format puts the marker last in the header
            raise AssertionError("unexpected Avro container header")
        head = _HEADERS[alert.fingerprint] = data[:-16]
    return head


class AlertSaver:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the --save folder {self.directory}: {exc.strerror or exc}") from None
        self.written = 0
        self.skipped = 0
        self.failed = 0

    def count(self, outcome: str) -> None:
        """Count an alert saved by another process (a consume worker): "written", "already there", "failed"."""
        if outcome == "written":
            self.written += 1
        elif outcome == "already there":
            self.skipped += 1
        else:
            self.failed += 1

    def save(self, alert: DecodedAlert) -> SaveResult:
        """Write `alert` under its name, or a suffixed one; UserError (one line) if it cannot be written.

        A failure is counted in `failed` and leaves nothing behind: the caller reports it and goes on.
        """
        try:
            return self._save(alert)
        except UserError:
            self.failed += 1
            raise

    def _save(self, alert: DecodedAlert) -> SaveResult:
        stem = alert_file_stem(alert)
        data = container_bytes(alert)
        tmp = self.directory / f".{stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            try:
                tmp.write_bytes(data)
            except OSError as exc:
                raise UserError(f"cannot write {tmp}: {exc.strerror or exc}") from None
            for n in range(_MAX_SUFFIX):
                path = self.directory / (f"{stem}.avro" if n == 0 else f"{stem}_{n}.avro")
                try:
                    _place(tmp, path)
                except FileExistsError:
                    if _same_alert(path, data, alert):
                        self.skipped += 1
                        return SaveResult(path, False)
                    continue
                except OSError as exc:
                    raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
                self.written += 1
                return SaveResult(path, True)
            raise UserError(f"{self.directory}: {_MAX_SUFFIX} files named {stem}_N.avro already; not saving more")
        finally:
            tmp.unlink(missing_ok=True)


def _place(tmp: Path, path: Path) -> None:
    """Give `tmp` the name `path` unless that name exists (FileExistsError), in one step."""
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    # No hard links here (some network and FAT file systems): reserve the name exclusively, then move the
    # complete file over the empty reservation, so the name never shows partial content.
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    os.replace(tmp, path)


def _same_alert(path: Path, data: bytes, alert: DecodedAlert) -> bool:
    """Whether `path` already holds this very alert (same schema, same encoded record)."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return True
    except OSError:
        return False
    # Written by another tool (other sync marker, other metadata): compare what it decodes to.
    from ..decoder import DecodeError, read_alert_file

    try:
        existing = read_alert_file(path)
    except DecodeError:
        return False
    return (len(existing) == 1 and existing[0].fingerprint == alert.fingerprint
            and existing[0].payload == alert.payload)
