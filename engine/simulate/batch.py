"""Write an SNANA simulation as an ELAsTiCC batch: OUT/LSST_ALERTS_BATCH/ALERTS/NITE<n>.tar.gz.

NITE number: the integer MJD of the night (floor of midPointTai). Every alert of NITE<n> has
n <= midPointTai < n + 0.4, so the number is readable in each alert's file name and does not
change when a different range of nights is written. `nights=(first, last)` selects NITE numbers
inclusively.

Each tarball holds `NITE<n>/alert_mjd<midPointTai:.4f>_obj<diaObjectId>_src<diaSourceId>.avro.gz`
in time order. Output is reproducible byte for byte: gzip mtime 0, tar members dated at the
night's midnight, owner 0, fixed Avro sync marker.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError
from .alert_file import AlertFileWriter
from .alerts import AlertEncoder, EncodedObject, id_multiplier
from .schema import FORMATS, load_alert_schema
from .snana import HEAD_SUFFIX, PHOT_SUFFIX, Simulation, read_snana, resolve_prefix
from .visits import assign_visit_times

BATCH_SUBDIR = Path("LSST_ALERTS_BATCH") / "ALERTS"
# The members are already gzipped alerts: a stronger level costs time and saves nothing.
TAR_GZIP_LEVEL = 1
_MJD_UNIX_EPOCH = 40587
ALERT_NAME_RE = re.compile(r"^alert_mjd(\d+\.\d{4})_obj(\d+)_src(\d+)\.avro\.gz$")


@dataclass(frozen=True)
class SimulationPlanned:
    snana: str
    alerts_dir: str
    fmt: str
    schema: str
    objects: int
    nights: list[int]
    alerts: int


@dataclass(frozen=True)
class NightWritten:
    nite: int
    path: str
    alerts: int
    size: int  # bytes of the tarball


@dataclass(frozen=True)
class SimulationReport:
    snana: str
    alerts_dir: str
    fmt: str
    schema: str
    objects: int
    alerts: int
    seconds: float
    nights: list[NightWritten] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


SimulationEvent = SimulationPlanned | NightWritten


def alerts_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / BATCH_SUBDIR


def alert_file_name(mid_point_tai: float, dia_object_id: int, dia_source_id: int) -> str:
    return f"alert_mjd{mid_point_tai:.4f}_obj{dia_object_id}_src{dia_source_id}.avro.gz"


def parse_nights(text: str) -> tuple[int | None, int | None]:
    """`FIRST:LAST` (inclusive; either side may be empty) or a single NITE number."""
    raw = text.strip()
    first, sep, last = raw.partition(":")
    usage = f"--nights {text!r}: expected FIRST:LAST NITE numbers (integer MJDs), e.g. 53062:53064"
    try:
        lo = int(first) if first.strip() else None
        hi = (int(last) if last.strip() else None) if sep else lo
    except ValueError:
        raise UserError(usage) from None
    if sep == "" and lo is None:
        raise UserError(usage)
    if lo is not None and hi is not None and hi < lo:
        raise UserError(f"--nights {text!r}: LAST is before FIRST")
    return lo, hi


def write_night_tar(path: Path, nite: int, members: list[tuple[str, bytes]]) -> int:
    """Write the tarball through a temporary file so that a crash never leaves a half tarball."""
    mtime = (nite - _MJD_UNIX_EPOCH) * 86400
    tmp = path.with_name(path.name + ".part")
    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=TAR_GZIP_LEVEL, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        folder = tarfile.TarInfo(f"NITE{nite}")
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        folder.mtime = mtime
        tar.addfile(folder)
        for name, data in members:
            info = tarfile.TarInfo(f"NITE{nite}/{name}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, path)
    return path.stat().st_size


# (midPointTai, diaSourceId, object index, detection index)
_Entry = tuple[float, int, int, int]

# Worker state: set in the parent for jobs=1, by the pool initializer otherwise.
_STATE: tuple[AlertEncoder, list[EncodedObject], AlertFileWriter, Path] | None = None


def _init_worker(state: tuple[AlertEncoder, list[EncodedObject], AlertFileWriter, Path]) -> None:
    global _STATE
    _STATE = state


def _write_night(task: tuple[int, list[_Entry]]) -> NightWritten:
    assert _STATE is not None
    encoder, objects, writer, folder = _STATE
    nite, entries = task
    members = []
    for t, source_id, o, j in entries:
        obj = objects[o]
        name = alert_file_name(t, obj.dia_object_id, source_id)
        members.append((name, writer.file_bytes(encoder.payload(obj, j))))
    path = folder / f"NITE{nite}.tar.gz"
    size = write_night_tar(path, nite, members)
    return NightWritten(nite=nite, path=str(path), alerts=len(members), size=size)


_LOADED: dict[tuple, tuple[Simulation, list]] = {}


def _load(prefix: Path) -> tuple[Simulation, list]:
    """Read the files and time every epoch, once per process and file version (demo and tests
    make several batches from the same files)."""
    stats = [Path(str(prefix) + suffix).stat() for suffix in (HEAD_SUFFIX, PHOT_SUFFIX)]
    key = (str(prefix.resolve()), *[(st.st_mtime_ns, st.st_size) for st in stats])
    if key not in _LOADED:
        sim = read_snana(prefix)
        # Times come from every object of the file, so that --objects picks alerts without changing them.
        _LOADED.clear()
        _LOADED[key] = (sim, assign_visit_times(sim.light_curves))
    return _LOADED[key]


def simulate(
    snana_prefix: str | Path,
    out_dir: str | Path,
    *,
    nights: tuple[int | None, int | None] | None = None,
    fmt: str = "container",
    schema: str | Path | None = None,
    max_objects: int | None = None,
    max_nights: int | None = None,
    jobs: int = 1,
    on_event: Callable[[SimulationEvent], None] | None = None,
) -> SimulationReport:
    """Write the batch; returns what was written. Raises UserError on bad input.

    `nights` is an inclusive (first, last) range of NITE numbers (None = open end); `max_nights`
    then keeps the first N nights that have detections; `max_objects` the first N objects of HEAD.
    """
    started = time.monotonic()
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if max_objects is not None and max_objects < 1:
        raise UserError("--objects must be at least 1")
    if max_nights is not None and max_nights < 1:
        raise UserError("--max-nights must be at least 1")
    alert_schema = load_alert_schema(schema, fmt=fmt)
    sim, times = _load(resolve_prefix(snana_prefix))
    first, last = nights if nights is not None else (None, None)
    light_curves = sim.light_curves[:max_objects]
    times = times[: len(light_curves)]
    available = sorted({
        math.floor(tt) for lc, t in zip(light_curves, times, strict=True) for tt in t[lc.detected].tolist()
    })
    if not available:
        raise UserError(f"{sim.prefix}: no detections (PHOTFLAG & 4096) in the simulation")
    selected = [n for n in available if (first is None or n >= first) and (last is None or n <= last)]
    if max_nights is not None:
        selected = selected[:max_nights]
    if not selected:
        wanted = f"{'' if first is None else first}:{'' if last is None else last}"
        raise UserError(
            f"no detections in nights {wanted}; this simulation's nights are {available[0]}..{available[-1]} "
            f"({len(available)} nights with detections)"
        )

    encoder = AlertEncoder(alert_schema, sim_name=sim.name, id_multiplier=id_multiplier(sim.max_epochs))
    until = selected[-1] + 1
    objects = [
        encoder.encode_object(lc, t, since=selected[0], until=until)
        for lc, t in zip(light_curves, times, strict=True)
    ]
    wanted_nights = set(selected)
    tasks: dict[int, list[_Entry]] = {n: [] for n in selected}
    for o, obj in enumerate(objects):
        for j, t in enumerate(obj.det_time):
            night = math.floor(t)
            if night in wanted_nights:
                tasks[night].append((t, obj.det_source_id[j], o, j))
    for entries in tasks.values():
        entries.sort()
    total = sum(len(v) for v in tasks.values())

    folder = alerts_dir(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{folder}: cannot create the output folder: {exc.strerror or exc}") from exc
    if on_event:
        on_event(SimulationPlanned(
            snana=str(sim.prefix), alerts_dir=str(folder), fmt=fmt, schema=alert_schema.label,
            objects=len(light_curves), nights=selected, alerts=total,
        ))

    state = (encoder, objects, AlertFileWriter(alert_schema, fmt), folder)
    written: list[NightWritten] = []
    ordered = [(n, tasks[n]) for n in selected]
    jobs = max(1, min(jobs, len(ordered)))
    if jobs == 1:
        _init_worker(state)
        try:
            for task in ordered:
                written.append(_write_night(task))
                if on_event:
                    on_event(written[-1])
        finally:
            _init_worker(None)  # type: ignore[arg-type]
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(state,)) as pool:
            for result in pool.map(_write_night, ordered):
                written.append(result)
                if on_event:
                    on_event(result)
    return SimulationReport(
        snana=str(sim.prefix), alerts_dir=str(folder), fmt=fmt, schema=alert_schema.label,
        objects=len(light_curves), alerts=total, seconds=time.monotonic() - started, nights=written,
    )
