"""The demo batch: made once from the bundled simulation and prepared, then reused from a cache folder."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elasticc_stream import __version__

from ..errors import UserError

# Three nights of the survey's steady phase: ~3,400 alerts whose objects already have light curves worth
# drawing, built in ~15 s on two cores. The first nights only hold the first detections of each object.
DEFAULT_NIGHTS = (53100, 53104)
MARKER = "demo-batch.json"
# Bump when the way the demo batch is made changes, so that old caches are not reused.
RECIPE = 1
_BUILD_PREFIX = ".build-"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "elasticc-stream" / "demo"


@dataclass(frozen=True)
class BatchBuilding:
    """Emitted before a batch is made (first run, or new parameters): this takes a while."""

    key: str
    nights: tuple[int | None, int | None]
    folder: str


@dataclass(frozen=True)
class DemoBatch:
    path: Path            # the prepared ALERTS folder (what replay's `data` points at)
    key: str              # the cache entry's name: version and parameters
    alerts: int
    nights: list[int]     # NITE numbers written
    reused: bool          # True when an earlier run had built it
    seconds: float        # time spent here (building or checking the cache)
    build_seconds: float  # what the build took when it was made


def batch_key(nights: tuple[int | None, int | None], snana_prefix: Path | None = None) -> str:
    """Cache entry name: readable, and different whenever anything that shapes the batch differs."""
    from ..simulate.snana import HEAD_SUFFIX, PHOT_SUFFIX, bundled_snana_prefix

    prefix = snana_prefix or bundled_snana_prefix()
    sizes = []
    for suffix in (HEAD_SUFFIX, PHOT_SUFFIX):
        try:
            sizes.append(os.stat(str(prefix) + suffix).st_size)
        except OSError:
            sizes.append(-1)
    params = {"version": __version__, "recipe": RECIPE, "nights": list(nights), "snana": prefix.name,
              "sizes": sizes, "format": "container"}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    first, last = ("" if n is None else str(n) for n in nights)
    return f"batch-{__version__}-{first}-{last}-{digest}"


def demo_batch(cache_dir: str | os.PathLike | None = None,
               nights: tuple[int | None, int | None] = DEFAULT_NIGHTS,
               on_event: Callable[[BatchBuilding], None] | None = None) -> DemoBatch:
    """The prepared demo batch for `nights`, built once and then reused.

    The build happens in a hidden folder beside the cache entry and becomes the entry by one rename, after
    the marker is written: an interrupted build is never mistaken for a finished one.
    """
    started = time.monotonic()
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    key = batch_key(nights)
    final = root / key
    ready = _ready(final, key, started)
    if ready is not None:
        return ready
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_builds(root)
        build = Path(tempfile.mkdtemp(prefix=f"{_BUILD_PREFIX}{os.getpid()}-", dir=root))
    except OSError as exc:
        raise UserError(f"{root}: cannot write the demo cache there ({exc.strerror or exc}); "
                        "choose another with --cache DIR") from exc
    try:
        # Inside the try: a Ctrl-C that lands while the event is being shown must still remove the build folder.
        if on_event is not None:
            on_event(BatchBuilding(key=key, nights=nights, folder=str(final)))
        _build(build, key, nights)
        _publish(build, final, key)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    built = _ready(final, key, started)
    if built is None:
        raise UserError(f"{final}: the demo batch was built but cannot be read back; remove the folder and retry")
    return DemoBatch(built.path, key, built.alerts, built.nights, False, time.monotonic() - started,
                     built.build_seconds)


def _build(folder: Path, key: str, nights: tuple[int | None, int | None]) -> None:
    from ..prepare import prepare
    from ..simulate.batch import alerts_dir, simulate
    from ..simulate.snana import bundled_snana_prefix

    t0 = time.monotonic()
    made = simulate(bundled_snana_prefix(), folder, nights=nights, jobs=min(2, os.cpu_count() or 1))
    prepared = prepare(alerts_dir(folder))
    if prepared.errors or prepared.alerts != made.alerts:
        first = prepared.errors[0].line() if prepared.errors else "alert counts differ"
        raise UserError(f"the demo batch did not prepare cleanly ({prepared.alerts} of {made.alerts} alerts "
                        f"indexed; {first})")
    marker = {
        "key": key, "version": __version__, "recipe": RECIPE, "nights": [n.nite for n in made.nights],
        "alerts": prepared.alerts, "path": str(alerts_dir(".")),
        "build_seconds": round(time.monotonic() - t0, 3), "simulate_seconds": round(made.seconds, 3),
        "prepare_seconds": round(prepared.seconds, 3), "built_at": time.time(),
    }
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2) + "\n")
    os.replace(tmp, folder / MARKER)


def _publish(build: Path, final: Path, key: str) -> None:
    for _ in range(3):
        try:
            os.rename(build, final)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise UserError(f"{final}: cannot store the demo batch: {exc.strerror or exc}") from exc
        if _ready(final, key, time.monotonic()) is not None:
            return  # another demo finished the same build first: its batch is as good as ours
        # Only finished builds are renamed into place, so this one was damaged later (files removed by hand):
        # move it out of the way, then take its place.
        trash = final.with_name(f"{_BUILD_PREFIX}{os.getpid()}-damaged-{final.name}")
        with contextlib.suppress(OSError):
            os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    raise UserError(f"{final}: cannot replace the damaged demo batch there; remove it and retry")


def _ready(entry: Path, key: str, started: float) -> DemoBatch | None:
    from ..prepare.index import AlertIndex

    try:
        marker = json.loads((entry / MARKER).read_text())
        path = entry / marker["path"]
        if marker["key"] != key or AlertIndex.locate(path) is None:
            return None
        return DemoBatch(path=path, key=key, alerts=int(marker["alerts"]), nights=list(marker["nights"]),
                         reused=True, seconds=time.monotonic() - started,
                         build_seconds=float(marker["build_seconds"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remove_abandoned_builds(root: Path) -> None:
    """Builds left by a demo that was killed (its pid is in the folder name and is gone)."""
    from ..broker.state import process_alive

    for entry in root.iterdir():
        if not entry.name.startswith(_BUILD_PREFIX):
            continue
        pid_text = entry.name[len(_BUILD_PREFIX):].split("-", 1)[0]
        if pid_text.isdigit() and not process_alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)
