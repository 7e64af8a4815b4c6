"""`prepare`: NITE archives (or a loose folder of alerts) -> validated, gathered, time-indexed alerts.

The parent plans (which nights changed since the index was last written: state.py keeps, on disk, what
each night was), hands changed nights to worker processes, gathers each night's alerts as its result
comes in, then writes the index; workers only ever touch their own night's folder and bad/. Nothing the
parent holds grows with the batch: per night, a row; per alert, only what a problem report names.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .gather import Gathered, gather_night, gathered_file, regather_night
from .ident import archive_ident, dirs_unchanged, folder_stat, listing_digest
from .index import INDEX_NAME
from .night import BAD_DIR, GATHERED_DIR, STAGING_PREFIX, NightResult, NightTask, scan
from .pool import Progress, ProgressCallback, execute
from .publish import Previous, write_merged
from .report import PrepareReport, Problem, plural
from .runs import RUNS_DIR
from .state import FileRow, NightRow, State, settle
from .unpack import night_name, remove_tree

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
CHUNK = 400  # files per task when re-validating loose files: small enough to spread over workers


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def prepare(
    alerts_dir: str | os.PathLike,
    *,
    schema: str | os.PathLike | dict | None = None,
    jobs: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> PrepareReport:
    """Unpack, validate, gather and index ALERTS_DIR (see the module doc). UserError if it cannot run."""
    started = time.perf_counter()
    root = Path(alerts_dir)
    _check_root(root)
    schema_dict = _schema(schema)
    schema_fp = None
    if schema_dict is not None:
        from ..decoder import fingerprint

        schema_fp = fingerprint(schema_dict)
    previous, note = Previous.load(root)
    runs = root / RUNS_DIR
    state: State | None = None
    try:
        state, state_note = State.open(root, previous.index_id)
        plan = _Plan.make(root, schema_dict, schema_fp, state)
        report = PrepareReport(str(root), plan.layout)
        report.notes.extend(n for n in (note, state_note) if n)
        report.errors.extend(plan.problems)
        report.skipped.extend(plan.skipped)
        emit = on_progress or (lambda _event: None)
        progress = Progress(emit, len(plan.nights), plan.reused_count())
        progress.send("planned")
        if plan.tasks:
            runs.mkdir()
            for k, task in enumerate(plan.tasks):
                plan.tasks[k] = dataclasses.replace(task, run_path=str(runs / f"run-{k}.index"))
        collected = _Collector(plan, state, report)
        execute(plan.tasks, jobs or default_jobs(), progress, collected.add)
        _finish(plan, previous, state, collected, report, progress)
        state = None
    except (OSError, sqlite3.OperationalError) as exc:  # a full disk, mostly: one line, nothing lost
        what = getattr(exc, "filename", None) or root
        why = getattr(exc, "strerror", None) or exc
        raise UserError(f"{what}: {why}; the earlier index and state are kept as they were: run prepare "
                        "again once this is fixed") from exc
    finally:
        if state is not None:
            state.rollback()
        previous.close()
        remove_tree(runs)
    report.seconds = time.perf_counter() - started
    progress.send("finished")
    return report


# --- input checks --------------------------------------------------------------------------------------------


def _check_root(root: Path) -> None:
    if not root.exists():
        raise UserError(f"{root}: no such folder")
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    if not os.access(root, os.R_OK | os.W_OK | os.X_OK):
        raise UserError(f"{root}: not writable (prepare writes NITE folders, gathered/, bad/ and its index there)")
    for name in (GATHERED_DIR, BAD_DIR):
        p = root / name
        if p.is_symlink() or (p.exists() and not p.is_dir()):
            raise UserError(f"{p}: exists and is not a plain folder; prepare will not write through it")


def _schema(schema: str | os.PathLike | dict | None) -> dict | None:
    if schema is None or isinstance(schema, dict):
        return schema
    from ..decoder import load_schema_file

    return load_schema_file(schema)


# --- planning ------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    root: Path
    layout: str
    schema: dict | None
    schema_fp: str | None
    state: State
    nights: list[str] = field(default_factory=list)  # "" for the loose folder
    tasks: list[NightTask] = field(default_factory=list)
    kept: set[str] = field(default_factory=set)  # nights reused as they are (their entries carried over)
    retired: bool = False  # some night of the earlier index is redone or gone: its entries are not kept
    archives: dict[str, tuple[str, list[int]]] = field(default_factory=dict)  # night -> unchanged archive, ident
    loose_digest: str = ""
    gathered_changed: bool = False  # gathered/ is not as the last run left it: the kept nights' files are checked
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reused_count(self) -> int:
        return sum(self.state.nights[n].files for n in self.kept)

    @classmethod
    def make(cls, root: Path, schema: dict | None, schema_fp: str | None, state: State) -> _Plan:
        archives, night_dirs, problems = _discover(root)
        layout = "nights" if archives or night_dirs else "loose"
        plan = cls(root, layout, schema, schema_fp, state, problems=problems)
        # Results obtained with another --schema (or none) are not reused: the decode could differ. Archives
        # are then unpacked again too: alerts the old schema sent to bad/ get their second chance.
        rows = state.nights if state.meta.get("schema_arg") == schema_fp else {}
        for entry in os.scandir(root):  # staging folders of an interrupted run are ours to clear
            if entry.name.startswith(STAGING_PREFIX) and entry.is_dir(follow_symlinks=False):
                remove_tree(Path(entry.path))
        if layout == "loose":
            alerts, _ = scan(root, "")
            if not alerts:
                raise UserError(
                    f"{root}: nothing to prepare (no NITE*.tar.gz archives, NITE* folders or .avro/.avro.gz alerts)"
                )
            plan.nights = [""]
            plan.loose_digest = listing_digest(alerts)
            row = rows.get("")
            if row is not None and row.ident.get("digest") == plan.loose_digest:
                plan.kept.add("")
            else:  # a loose folder is redone whole: it is not where batches of Rubin size live
                todo = [rel for rel, _ in alerts]
                for i in range(0, len(todo), CHUNK):
                    plan.tasks.append(NightTask(str(root), "", None, tuple(todo[i : i + CHUNK]), schema))
            plan._retire_others()
            return plan
        loose, _ = scan(root, "")
        if loose:
            plan.notes.append(
                f"{plural(len(loose), 'alert file')} directly in {root} not indexed: it holds NITE archives or "
                "folders, whose alerts are the ones prepared"
            )
        plan.nights = sorted(set(archives) | set(night_dirs), key=_night_order)
        plan.gathered_changed = bool(state.nights) and state.meta.get("gathered") != folder_stat(root / GATHERED_DIR)
        for night in plan.nights:
            archive = archives.get(night)
            ident = archive_ident(root / archive) if archive else None
            row = rows.get(night)
            folder = root / night
            if row is not None and ident in (None, row.ident.get("archive")) and \
                    dirs_unchanged(folder, row.ident.get("dirs") or []):
                plan.kept.add(night)
                if archive is None and row.archive is not None:  # the archive went; its night folder stays
                    state.put_night(dataclasses.replace(row, archive=None, ident={**row.ident, "archive": None}))
                continue
            if archive is not None and (row is None or ident != row.ident.get("archive") or not folder.is_dir()):
                plan.tasks.append(NightTask(str(root), night, archive, None, schema))
            else:  # the folder changed under an unchanged archive (or has none): it is what is validated
                plan.tasks.append(NightTask(str(root), night, None, None, schema))
                if archive is not None:
                    plan.archives[night] = (archive, ident)
        plan._retire_others()
        # Big archives first: the longest tasks start early and workers finish together.
        plan.tasks.sort(key=lambda t: -(os.stat(root / t.archive).st_size if t.archive else 0))
        return plan

    def _retire_others(self) -> None:
        for night in list(self.state.nights):
            if night not in self.kept:
                self.state.retire(night)
                self.retired = True


def _discover(root: Path) -> tuple[dict[str, str], set[str], list[Problem]]:
    """(night -> archive name, night folders, problems) found directly in root."""
    archives: dict[str, str] = {}
    dirs: set[str] = set()
    problems: list[Problem] = []
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        if name.endswith(ARCHIVE_SUFFIXES) and entry.is_file():
            night = night_name(Path(name))
            if not night or night in (GATHERED_DIR, BAD_DIR):
                problems.append(Problem(name, "archive name gives no usable night folder; ignored"))
            elif night in archives:
                problems.append(Problem(name, f"a second archive for {night} ({archives[night]}); ignored"))
            else:
                archives[night] = name
        elif name.startswith("NITE"):
            if entry.is_symlink():
                problems.append(Problem(name, "symbolic link to a night folder; not followed"))
            elif entry.is_dir():
                dirs.add(name)
    for night, archive in list(archives.items()):
        target = root / night
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            problems.append(Problem(archive, f"{night} exists and is not a plain folder; archive not unpacked"))
            del archives[night]
    return archives, dirs, problems


def _night_order(night: str) -> tuple[int, str]:
    digits = night[4:]
    return (int(digits), night) if digits.isdigit() else (1 << 62, night)


# --- gathering and indexing ----------------------------------------------------------------------------------


class _Collector:
    """Takes each task's result as it comes in: counts it, gathers the night, records it in the state."""

    def __init__(self, plan: _Plan, state: State, report: PrepareReport) -> None:
        self.plan, self.state, self.report = plan, state, report
        self.runs: list[Path] = []
        self.overrides: dict[str, str | None] = {}  # sources not indexed from gathered/<name> (rare)
        self.counts: dict[str, list[int]] = {}  # night -> [good, bad] alert files among its tasks
        self.loose_files = 0

    def add(self, task: NightTask, result: NightResult) -> None:
        report, plan = self.report, self.plan
        if result.run:
            self.runs.append(Path(result.run))
        report.validated += result.validated
        if result.bad_archive is not None:
            report.bad_archives.append(result.bad_archive.file)
            report.errors.append(result.bad_archive)
        if result.archive_stat is not None:
            report.unpacked += 1
        report.bad_alerts.extend(p.file for p in result.bad_alerts)
        counts = self.counts.setdefault(task.night, [0, 0])
        counts[0] += len(result.good)
        counts[1] += len(result.bad_alerts)
        report.errors.extend(result.problems)
        report.errors.extend(result.bad_alerts)
        report.skipped.extend(result.skipped)
        if plan.layout == "loose":
            self.state.put_files(FileRow(g.src, "", *g.stat, g.src) for g in result.good)
            self.loose_files += len(result.good)
            return
        g = gather_night(plan.root, task.night, result.good, self.state.prev_rows(task.night), self.state)
        self._take(g)
        if result.dirs is None:
            return  # no night folder (a bad archive alone): nothing of the night is left to record
        archive = task.archive if result.archive_stat is not None else None
        ident = result.archive_stat
        if archive is None and result.bad_archive is None and task.night in plan.archives:
            archive, ident = plan.archives[task.night]
        self.state.put_night(NightRow(task.night, archive, {"archive": ident, "dirs": result.dirs}, len(result.good)))

    def _take(self, g: Gathered) -> None:
        self.state.put_files(g.rows)
        self.overrides.update(g.overrides)
        self.report.errors.extend(g.problems)
        self.report.skipped.extend(g.skipped)


def _finish(plan: _Plan, previous: Previous, state: State, collected: _Collector, report: PrepareReport,
            progress: Progress) -> None:
    root = plan.root
    progress.send("gathering")
    if plan.gathered_changed:
        for night in sorted(plan.kept, key=_night_order):
            collected._take(regather_night(root, night, state))
    if plan.layout == "loose" and plan.tasks:
        state.put_night(NightRow("", None, {"digest": plan.loose_digest}, collected.loose_files))
    report.reused = plan.reused_count()
    report.nights = sum(1 for n in plan.nights if n and (root / n).is_dir())
    report.notes.extend(plan.notes)
    for night, (good_n, bad_n) in collected.counts.items():
        if bad_n and not good_n:
            report.notes.append(
                f"every alert of {night or root} was bad ({bad_n}): if they are schemaless (2023 stream), "
                "run again with --schema (the archives are then unpacked again)"
            )
    earlier = _count_files(root / BAD_DIR) - len(report.bad_archives) - len(report.bad_alerts)
    if earlier > 0:
        report.notes.append(f"{BAD_DIR}/ also holds {plural(earlier, 'file')} set aside by earlier runs")

    progress.send("indexing")
    report.index_path = str(root / INDEX_NAME)
    index_id = previous.index_id
    if index_id is None or collected.runs or collected.overrides or plan.retired:
        kept = plan.kept
        keep_old = (lambda src: src.split("/", 1)[0] in kept) if plan.layout == "nights" else \
            ((lambda src: True) if kept else None)
        default = gathered_file if plan.layout == "nights" else (lambda src: src)
        report.alerts, index_id = write_merged(root, previous, collected.runs, keep_old, collected.overrides,
                                               default, plan.layout)
        report.index_written = True
    else:  # nothing changed: the index on disk is already this one
        report.alerts = len(previous.index.entries)  # type: ignore[union-attr]
    gathered = folder_stat(root / GATHERED_DIR) if plan.layout == "nights" else None
    redone = [t.night for t in plan.tasks]
    settle(max(state.youngest_ctime(redone), gathered[2] if gathered else 0))
    state.commit(index_id, plan.schema_fp, gathered)  # type: ignore[arg-type]


def _count_files(folder: Path) -> int:
    try:
        with os.scandir(folder) as it:
            return sum(1 for e in it if not e.name.startswith("."))
    except OSError:
        return 0
