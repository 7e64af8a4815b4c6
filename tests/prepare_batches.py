"""Batches for the prepare tests: the real 2022 alert given new ids and times, packed into NITE tarballs."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import alert_factory as af
import fastavro
from elasticc_stream.engine.prepare import AlertIndex


def _real() -> tuple[dict, dict]:
    with gzip.open(af.REAL_ALERT, "rb") as f:
        reader = fastavro.reader(f)
        return reader.writer_schema, next(reader)


REAL_SCHEMA, REAL_RECORD = _real()


def real_alert(source_id: int, mjd: float, object_id: int = 747) -> tuple[str, bytes]:
    """The real 2022 alert with a new diaSourceId/midPointTai: gzipped container, embedded schema."""
    record = json.loads(json.dumps(REAL_RECORD))
    record["diaSource"].update(diaSourceId=source_id, midPointTai=mjd, diaObjectId=object_id)
    out = io.BytesIO()
    fastavro.writer(out, REAL_SCHEMA, [record], codec="null")
    return f"alert_mjd{mjd}_obj{object_id}_src{source_id}.avro.gz", gzip.compress(out.getvalue())


def night_members(night: int, count: int, first_id: int = 0) -> list[tuple[str, bytes]]:
    # Times deliberately out of name order, and two alerts sharing a time, to exercise the sort.
    members = []
    for i in range(count):
        sid = first_id + night * 1000 + (count - i)
        mjd = 60000 + night + round(0.1 * ((i * 7) % count // 2), 4)
        name, data = real_alert(sid, mjd)
        members.append((f"NITE{night}/{name}", data))
    return members


def write_tar(path: Path, members: list, *, special: list[tarfile.TarInfo] = ()) -> Path:
    """NITE tarball from (name, bytes) members, plus raw TarInfo members (links, devices...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in special:
            tf.addfile(info)
    return path


def listing(path: Path, *, but: Path | None = None) -> set[str]:
    """Every path under `path` (relative), leaving out the tree under `but`."""
    found = {str(p.relative_to(path)) for p in path.rglob("*")}
    if but is not None:
        inner = str(but.relative_to(path))
        found = {f for f in found if f != inner and not f.startswith(inner + os.sep)}
    return found


def index_of(root: Path) -> AlertIndex:
    return AlertIndex.load(root)


def two_night_batch(tmp_path: Path) -> Path:
    """ALERTS folder with NITE1 (6 alerts) and NITE2 (5 alerts), not prepared yet."""
    root = tmp_path / "ALERTS"
    write_tar(root / "NITE1.tar.gz", night_members(1, 6))
    write_tar(root / "NITE2.tar.gz", night_members(2, 5))
    return root
