"""The work on one night (or one chunk of files), run in a worker process: unpack, validate, sort out.

Everything here touches only the night's own folder, its staging folder and `bad/`, so nights can run
in parallel without coordination. Gathering and the index are the parent's job (they span nights).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..limits import describe, max_member_bytes
from .files import Stat, file_stat, inside, move_no_clobber, same_content
from .ident import Dirs, archive_ident, night_dirs
from .report import Problem
from .runs import RunWriter
from .unpack import BadArchive, Extracted, Refused, remove_tree, unpack
from .validate import GoodRecord, InvalidAlert, is_alert_name, validate_alert

BAD_DIR = "bad"
GATHERED_DIR = "gathered"
STAGING_PREFIX = ".elasticc-prepare-"
TICK_EVERY = 100  # alerts between progress ticks sent to the parent


@dataclass(frozen=True)
class NightTask:
    root: str
    night: str  # "NITE12", or "" for a loose folder (alerts directly in root)
    archive: str | None = None  # archive file name in root to unpack first
    files: tuple[str, ...] | None = None  # files (relative to the night folder) to validate; None: scan it
    schema: dict | None = None
    run_path: str | None = None  # where to write the task's sorted run (its alerts' entries and bytes)


@dataclass
class GoodFile:
    src: str  # relative to root, e.g. "NITE12/alert_...avro.gz"
    stat: Stat
    records: list[GoodRecord]  # always empty across processes: the records are in the task's run
    reused: bool = False


@dataclass
class NightResult:
    night: str
    archive: str | None = None
    archive_stat: list[int] | None = None  # ident.archive_ident of an archive unpacked successfully
    bad_archive: Problem | None = None
    good: list[GoodFile] = field(default_factory=list)
    bad_alerts: list[Problem] = field(default_factory=list)  # file = where it was found
    problems: list[Problem] = field(default_factory=list)  # refused members, unwritable files...
    skipped: list[Problem] = field(default_factory=list)
    schemas: dict[str, dict] = field(default_factory=dict)
    validated: int = 0
    run: str | None = None  # the sorted run written, if any alert was kept
    # The night's folders as they were before its alerts were read (after this task's own unpacking):
    # the identity a later run compares (None for loose files, or when there is no night folder).
    dirs: Dirs | None = None


def rel_to_root(night: str, rel: str) -> str:
    return f"{night}/{rel}" if night else rel


def bad_name(night: str, rel: str) -> str:
    flat = rel.replace("/", "__")
    return f"{night}__{flat}" if night else flat


def scan(
    root: Path, night: str, exclude: set[str] = frozenset()
) -> tuple[list[tuple[str, Stat | None]], list[Problem]]:
    """Alert files in a night folder (recursively) or a loose folder (top level), with their stat
    (None if it could not be read), and the skipped others."""
    alerts: list[tuple[str, Stat | None]] = []
    skipped: list[Problem] = []

    def walk(folder: str, prefix: str) -> None:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = prefix + entry.name
            if rel in exclude or entry.name.startswith("."):
                continue
            if entry.is_symlink():
                skipped.append(Problem(rel_to_root(night, rel), "symbolic link, not followed"))
            elif entry.is_dir(follow_symlinks=False):
                if night:
                    walk(entry.path, rel + "/")
            elif not entry.is_file(follow_symlinks=False):
                continue
            elif is_alert_name(entry.name):
                try:
                    st = entry.stat(follow_symlinks=False)
                    alerts.append((rel, (st.st_size, st.st_mtime_ns, st.st_ino)))
                except OSError:
                    alerts.append((rel, None))
            elif night:  # in a loose folder, other files (the index, notes...) are simply not ours
                skipped.append(Problem(rel_to_root(night, rel), "not an alert file (.avro/.avro.gz); left in place"))

    walk(str(root / night) if night else str(root), "")
    return alerts, skipped


def run_night(task: NightTask, tick: Callable[[int], None] | None = None) -> NightResult:
    run = RunWriter(Path(task.run_path)) if task.run_path else None
    try:
        result = _run_night(task, tick, run)
        if run is not None:
            written = run.publish(result.schemas)
            result.run = str(written) if written else None
        return result
    except BaseException:
        if run is not None:
            run.discard()
        raise


def _run_night(task: NightTask, tick: Callable[[int], None] | None, run: RunWriter | None) -> NightResult:
    root = Path(task.root)
    result = NightResult(task.night, task.archive)
    counter = _Ticker(tick)
    covered: set[str] = set()
    if task.archive:
        covered = _unpack_night(root, task, result, counter, run)
        night_dir = root / task.night
        if result.bad_archive is not None and (night_dir.is_symlink() or not night_dir.is_dir()):
            counter.flush()
            return result
        # A bad archive beside a night folder unpacked by an earlier run: its alerts are still there
        # (this run wrote nothing into it), so they are indexed as if the folder came without archive.
    if task.files is not None:
        todo: list[tuple[str, Stat | None]] = [(rel, None) for rel in task.files]
    else:
        result.dirs = night_dirs(root / task.night)
        todo, skipped = scan(root, task.night, covered)
        result.skipped.extend(skipped)
    base = root / task.night if task.night else root
    for rel, st in todo:
        src = rel_to_root(task.night, rel)
        path = base / rel
        try:
            if st is None:
                st = file_stat(path)
            if st[0] > max_member_bytes():  # never read whole: it is not an alert, whatever its name
                result.problems.append(Problem(src, f"{describe(st[0])}, more than the {describe(max_member_bytes())} "
                                                    "cap on an alert file (--max-member-mb); left in place, not read"))
                continue
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            result.problems.append(Problem(src, f"cannot read: {exc.strerror or exc}"))
            continue
        records = _check(root, task, rel, path, data, result)
        if records is not None:
            if run is not None:
                run.add(src, records)
                records = []
            result.good.append(GoodFile(src, st, records))
        counter.add()
    counter.flush()
    return result


def _check(
    root: Path, task: NightTask, rel: str, path: Path, data: bytes, result: NightResult
) -> list[GoodRecord] | None:
    """Validate one alert's bytes -> its records; a bad one is moved to bad/ and reported (None)."""
    src = rel_to_root(task.night, rel)
    result.validated += 1
    try:
        records, schemas = validate_alert(data, schema=task.schema, source=src)
    except InvalidAlert as exc:
        try:
            moved = move_no_clobber(path, root / BAD_DIR, bad_name(task.night, rel))
            reason = f"{exc} (moved to {BAD_DIR}/{moved.name})"
        except OSError as move_exc:
            reason = f"{exc} (could not move it to {BAD_DIR}/: {move_exc.strerror or move_exc})"
        result.bad_alerts.append(Problem(src, reason))
        return None
    for fp, schema in schemas.items():
        result.schemas.setdefault(fp, schema)
    return records


def _unpack_night(root: Path, task: NightTask, result: NightResult, counter: _Ticker,
                  run: RunWriter | None) -> set[str]:
    """Unpack into a staging folder, validate alerts from memory, then commit into NITE<n>/."""
    archive = root / task.archive
    night_dir = root / task.night
    staging = root / f"{STAGING_PREFIX}{task.night}.partial"
    remove_tree(staging)  # left by an interrupted run: ours by name, never user data
    staging.mkdir()
    extracted: list[Extracted] = []
    refused: list[Problem] = []
    try:
        archive_stat = archive_ident(archive)
        for item in unpack(archive, task.night, staging, is_alert_name_rel):
            if isinstance(item, Refused):
                refused.append(Problem(f"{task.archive}:{item.member}", f"refused member: {item.reason}"))
            else:
                extracted.append(item)
                if item.data is not None:
                    counter.add()
    except (BadArchive, OSError) as exc:
        remove_tree(staging)
        result.problems.extend(refused)  # hostile members are reported whatever else is wrong with the archive
        reason = str(exc) if isinstance(exc, BadArchive) else f"cannot read: {exc.strerror or exc}"
        try:
            moved = move_no_clobber(archive, root / BAD_DIR, archive.name)
            reason += f" (moved to {BAD_DIR}/{moved.name}; nothing kept from it)"
        except OSError as move_exc:
            reason += f" (could not move it to {BAD_DIR}/: {move_exc.strerror or move_exc})"
        result.bad_archive = Problem(task.archive, reason)
        return set()
    result.problems.extend(refused)

    # Validate before committing, so that bad alerts go straight from staging to bad/.
    good_rels: list[tuple[str, list[GoodRecord]]] = []
    keep: list[str] = []
    for item in extracted:
        data = item.data
        if data is None and is_alert_name_rel(item.rel):  # past unpack's in-memory budget: on disk only
            try:
                data = item.path.read_bytes()  # at most the member cap
            except OSError as exc:
                result.problems.append(Problem(rel_to_root(task.night, item.rel), f"cannot read: {exc.strerror}"))
                continue
            counter.add()
        if data is None:
            keep.append(item.rel)
            result.skipped.append(
                Problem(rel_to_root(task.night, item.rel), "not an alert file (.avro/.avro.gz); left in place")
            )
            continue
        records = _check(root, task, item.rel, item.path, data, result)
        if records is not None:
            keep.append(item.rel)
            if run is not None:
                run.add(rel_to_root(task.night, item.rel), records)
                records = []
            good_rels.append((item.rel, records))
    committed = _commit(staging, night_dir, keep, task, result)
    for rel, records in good_rels:
        src = rel_to_root(task.night, rel)
        if rel not in committed:
            if run is not None:
                run.drop(src)
            continue  # reported by _commit; what the night folder holds there is not this alert
        path = night_dir / rel
        try:
            result.good.append(GoodFile(src, file_stat(path), records))
        except OSError as exc:
            if run is not None:
                run.drop(src)
            result.problems.append(Problem(src, f"vanished after unpacking: {exc}"))
    result.archive_stat = archive_stat
    return {item.rel for item in extracted}


def is_alert_name_rel(rel: str) -> bool:
    return is_alert_name(rel.rsplit("/", 1)[-1])


def _commit(staging: Path, night_dir: Path, rels: list[str], task: NightTask, result: NightResult) -> set[str]:
    """Move the staged files into the night folder -> the rels now there with the archive's content."""
    if not os.path.lexists(night_dir):
        os.rename(staging, night_dir)
        return set(rels)
    committed: set[str] = set()
    for rel in rels:
        staged, target = staging / rel, night_dir / rel
        src = rel_to_root(task.night, rel)
        try:
            if not inside(target.parent, night_dir):
                result.problems.append(Problem(src, f"its folder leads outside {task.night}/; not written"))
                continue
            if target.is_dir() and not target.is_symlink():
                result.problems.append(Problem(src, "a folder of that name is in the way; not written"))
                continue
            if target.is_file() and not target.is_symlink() and same_content(staged, target):
                committed.add(rel)  # keep the existing inode, so links into gathered/ stay valid
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            # The archive is the authority on its own night folder, as `tar xf` would be.
            os.replace(staged, target)
            committed.add(rel)
        except OSError as exc:
            result.problems.append(Problem(src, f"cannot write: {exc.strerror or exc}"))
    remove_tree(staging)
    return committed


class _Ticker:
    def __init__(self, tick: Callable[[int], None] | None) -> None:
        self.tick = tick
        self.pending = 0

    def add(self) -> None:
        self.pending += 1
        if self.pending >= TICK_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.tick is not None and self.pending:
            self.tick(self.pending)
        self.pending = 0
