"""Scale batches for `make bench-scale`: N alerts cloned from the bundled simulation, with new ids.

Templates: every alert of a few nights of the bundled SNANA simulation (2022 container format, ~8.5 KB of
schemaless Avro each). A clone is a template with a new diaSourceId and midPointTai spliced into its
bytes (no decode or re-encode: the two fields' byte offsets are read once per template), wrapped in the
same container header and gzipped at level 1. Nights hold PER_NIGHT alerts in VISIT-sized visits (one
midPointTai each), so a batch of N alerts has N / PER_NIGHT NITE<n>.tar.gz archives.

Batches are cached by size under `.bench-cache/scale/` (git-ignored) and made by both cores, one night
per task; a batch is complete only when its `.complete` marker exists.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import struct
import tarfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from elasticc_stream.engine.simulate.record_fill import encode_long

CACHE = Path(__file__).resolve().parent.parent / ".bench-cache" / "scale"
PER_NIGHT = 10_000
VISIT = 1_000
FIRST_NITE = 61000
SOURCE_BASE = 10_000_000_000
TEMPLATE_NIGHTS = (53100, 53102)
MARKER = ".complete"


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7


class Template:
    """One simulated alert's schemaless bytes cut around diaSourceId and midPointTai.

    The 2022 schema starts alertId, diaSource{diaSourceId, ccdVisitId, diaObjectId and
    parentDiaSourceId (unions null/long), midPointTai (double), ...}."""

    def __init__(self, payload: bytes, object_id: int) -> None:
        _, a = _read_long(payload, 0)           # alertId
        _, b = _read_long(payload, a)           # diaSourceId
        _, c = _read_long(payload, b)           # ccdVisitId
        for _nullable_long in ("diaObjectId", "parentDiaSourceId"):
            branch, c = _read_long(payload, c)
            if branch == 1:
                _, c = _read_long(payload, c)
        self.head, self.middle, self.tail = payload[:a], payload[b:c], payload[c + 8:]
        self.object_id = object_id
        self.size = len(payload) - (b - a)
        self.packer: object = None
        self.packed = b""

    def gz_file(self, header: bytes, sync: bytes, source_id: int, mjd: float) -> bytes:
        """The clone's `.avro.gz` file: the container with one block holding the new payload.

        Every clone of a template shares the bytes up to its diaSourceId (ids of one batch have one
        varint length), so that part is compressed once and the compressor's state copied."""
        sid = encode_long(source_id)
        if self.packer is None:
            self.packer = zlib.compressobj(1, zlib.DEFLATED, 31)
            prefix = b"".join((header, b"\x02", encode_long(self.size + len(sid)), self.head))
            self.packed = self.packer.compress(prefix)
        packer = self.packer.copy()
        rest = b"".join((sid, self.middle, struct.pack("<d", mjd), self.tail, sync))
        return b"".join((self.packed, packer.compress(rest), packer.flush()))


def _templates(workdir: Path) -> tuple[bytes, bytes, list[Template]]:
    """(container header, sync marker, templates) from the bundled simulation."""
    from elasticc_stream.engine.decoder import decode
    from elasticc_stream.engine.simulate.alert_file import AlertFileWriter
    from elasticc_stream.engine.simulate.batch import alerts_dir, simulate
    from elasticc_stream.engine.simulate.schema import load_alert_schema
    from elasticc_stream.engine.simulate.snana import bundled_snana_prefix

    simulate(bundled_snana_prefix(), workdir, nights=TEMPLATE_NIGHTS, fmt="container")
    writer = AlertFileWriter(load_alert_schema(None, fmt="container"), "container")
    templates = []
    for archive in sorted(alerts_dir(workdir).glob("NITE*.tar.gz")):
        with tarfile.open(archive) as tar:
            for member in tar:
                if member.isfile():
                    data = tar.extractfile(member).read()
                    alert = decode(data, schema=None, source=member.name)[0]
                    object_id = alert.record["diaSource"]["diaObjectId"]
                    templates.append(Template(alert.payload, object_id))
    return writer.header, writer.sync, templates


_STATE: tuple[bytes, bytes, list[Template]] | None = None


def _init(state: tuple[bytes, bytes, list[Template]]) -> None:
    global _STATE
    _STATE = state


def _write_night(task: tuple[Path, int, int, int]) -> int:
    """Write NITE<FIRST_NITE + k>.tar.gz holding alerts [first, first + count) of the batch."""
    assert _STATE is not None
    header, sync, templates = _STATE
    folder, k, first, count = task
    nite = FIRST_NITE + k
    path = folder / f"NITE{nite}.tar.gz"
    tmp = path.with_name(path.name + ".part")
    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for i in range(count):
            n = first + i
            template = templates[n % len(templates)]
            mjd = nite + 0.05 + (i // VISIT) * 0.01
            source_id = SOURCE_BASE + n
            data = template.gz_file(header, sync, source_id, mjd)
            info = tarfile.TarInfo(f"NITE{nite}/alert_mjd{mjd:.4f}_obj{template.object_id}_src{source_id}.avro.gz")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, path)
    return count


def batch(alerts: int, *, jobs: int = 2, log=print) -> Path:
    """The cached folder of NITE archives holding `alerts` alerts (made now if missing)."""
    folder = CACHE / f"{alerts}"
    if (folder / MARKER).exists():
        return folder
    started = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tpl_dir = CACHE / ".templates"
    shutil.rmtree(tpl_dir, ignore_errors=True)
    state = _templates(tpl_dir)
    shutil.rmtree(tpl_dir, ignore_errors=True)
    tasks = [(folder, k, first, min(PER_NIGHT, alerts - first)) for k, first in
             enumerate(range(0, alerts, PER_NIGHT))]
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(state,)) as pool:
        made = sum(pool.map(_write_night, tasks))
    (folder / MARKER).write_text(f"{made}\n")
    size = sum(p.stat().st_size for p in folder.glob("NITE*.tar.gz"))
    seconds = time.perf_counter() - started
    log(f"made {made} alerts in {len(tasks)} nights ({size / 1e6:.0f} MB) in {seconds:.1f} s -> {folder}")
    return folder


def fresh_copy(source: Path, dest: Path) -> Path:
    """A new ALERTS_DIR holding hard links to the cached archives (prepare never writes into them)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for archive in sorted(source.glob("NITE*.tar.gz")):
        try:
            os.link(archive, dest / archive.name)
        except OSError:
            shutil.copyfile(archive, dest / archive.name)
    return dest
