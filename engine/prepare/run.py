"""`prepare`: NITE archives (or a loose folder of alerts) -> validated, gathered, time-indexed alerts.

The parent plans (what changed since the index was last written), hands nights to worker processes,
then gathers and writes the index; workers only ever touch their own night's folder and bad/.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .files import Stat
from .gather import gather
from .index import INDEX_NAME
from .night import (
    BAD_DIR,
    GATHERED_DIR,
    STAGING_PREFIX,
    GoodFile,
    NightResult,
    NightTask,
    scan,
)
from .pool import Progress, ProgressCallback, execute
from .publish import Previous, unchanged, write_merged
from .report import PrepareReport, Problem, plural
from .runs import RUNS_DIR
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
    plan = _Plan.make(root, schema_dict, schema_fp)
    runs = root / RUNS_DIR
    try:
        report = PrepareReport(str(root), plan.layout)
        report.errors.extend(plan.problems)
        report.skipped.extend(plan.skipped)
        emit = on_progress or (lambda _event: None)
        progress = Progress(emit, len(plan.nights), plan.reused_count())
        progress.send("planned")
        if plan.tasks:
            runs.mkdir()
            for k, task in enumerate(plan.tasks):
                plan.tasks[k] = dataclasses.replace(task, run_path=str(runs / f"run-{k}.index"))
        results = execute(plan.tasks, jobs or default_jobs(), progress)
        _finish(plan, results, report, progress)
    finally:
        plan.previous.close()
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
    previous: Previous
    nights: list[str] = field(default_factory=list)  # "" for the loose folder
    tasks: list[NightTask] = field(default_factory=list)
    reused: list[GoodFile] = field(default_factory=list)  # found unchanged by the parent's own scan
    archives_kept: dict[str, list[int]] = field(default_factory=dict)  # unchanged archives, state carried over
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reused_count(self) -> int:
        return len(self.reused)

    @classmethod
    def make(cls, root: Path, schema: dict | None, schema_fp: str | None) -> _Plan:
        previous, note = Previous.load(root)
        archives, night_dirs, problems = _discover(root)
        layout = "nights" if archives or night_dirs else "loose"
        plan = cls(root, layout, schema, schema_fp, previous, problems=problems)
        if note:
            plan.notes.append(note)
        state = previous.state or {}
        # Results obtained with another --schema (or none) are not reused: the decode could differ.
        prev_sources: dict[str, list] = state.get("sources", {}) if state.get("schema_arg") == schema_fp else {}
        prev_stats = {src: tuple(v[:3]) for src, v in prev_sources.items()}
        # With another --schema, archives are unpacked again too: alerts the old schema sent to bad/
        # get their second chance from the archive itself.
        same_schema = state.get("schema_arg") == schema_fp
        prev_archives: dict[str, list[int]] = state.get("archives", {}) if same_schema else {}
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
            plan._plan_files(root, "", alerts, prev_stats)
            return plan
        loose, _ = scan(root, "")
        if loose:
            plan.notes.append(
                f"{plural(len(loose), 'alert file')} directly in {root} not indexed: it holds NITE archives or "
                "folders, whose alerts are the ones prepared"
            )
        plan.nights = sorted(set(archives) | set(night_dirs), key=_night_order)
        for night in plan.nights:
            archive = archives.get(night)
            if archive is not None:
                st = os.stat(root / archive)
                if prev_archives.get(archive) != [st.st_size, st.st_mtime_ns] or not (root / night).is_dir():
                    mine = {s: v for s, v in prev_stats.items() if s.startswith(night + "/")}
                    plan.tasks.append(NightTask(str(root), night, archive, None, mine, schema))
                    continue
                plan.archives_kept[archive] = prev_archives[archive]
            alerts, skipped = scan(root, night)
            plan.skipped.extend(skipped)
            plan._plan_files(root, night, alerts, prev_stats)
        # Big archives first: the longest tasks start early and workers finish together.
        plan.tasks.sort(key=lambda t: -(os.stat(root / t.archive).st_size if t.archive else 0))
        return plan

    def _plan_files(self, root: Path, night: str, alerts: list[tuple[str, Stat | None]], prev_stats: dict) -> None:
        todo: list[str] = []
        for rel, st in alerts:
            src = f"{night}/{rel}" if night else rel
            if st is not None and prev_stats.get(src) == st:
                self.reused.append(GoodFile(src, st, [], reused=True))
            else:
                todo.append(rel)  # unreadable ones are reported by the worker
        for i in range(0, len(todo), CHUNK):
            self.tasks.append(NightTask(str(root), night, None, tuple(todo[i : i + CHUNK]), {}, self.schema))


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


def _finish(
    plan: _Plan, results: list[tuple[NightTask, NightResult]], report: PrepareReport, progress: Progress
) -> None:
    root, previous = plan.root, plan.previous
    goods: list[GoodFile] = list(plan.reused)
    runs: list[Path] = []
    archives = dict(plan.archives_kept)
    all_bad: dict[str, tuple[int, int]] = {}  # night -> (good, bad) alert files among its tasks
    for task, result in sorted(results, key=lambda r: (_night_order(r[0].night), r[0].files or ())):
        goods.extend(result.good)
        if result.run:
            runs.append(Path(result.run))
        report.validated += result.validated
        if result.bad_archive is not None:
            report.bad_archives.append(result.bad_archive.file)
            report.errors.append(result.bad_archive)
        if result.archive_stat is not None and task.archive:
            archives[task.archive] = list(result.archive_stat)
            report.unpacked += 1
        report.bad_alerts.extend(p.file for p in result.bad_alerts)
        all_bad[task.night] = all_bad.get(task.night, (0, 0))
        good_n, bad_n = all_bad[task.night]
        all_bad[task.night] = (good_n + len(result.good), bad_n + len(result.bad_alerts))
        report.errors.extend(result.problems)
        report.errors.extend(result.bad_alerts)
        report.skipped.extend(result.skipped)
    report.reused = sum(1 for g in goods if g.reused)
    report.nights = sum(1 for n in plan.nights if n and (root / n).is_dir())
    report.notes.extend(plan.notes)
    for night, (good_n, bad_n) in all_bad.items():
        if bad_n and not good_n:
            report.notes.append(
                f"every alert of {night or root} was bad ({bad_n}): if they are schemaless (2023 stream), "
                "run again with --schema (the archives are then unpacked again)"
            )
    earlier = _count_files(root / BAD_DIR) - len(report.bad_archives) - len(report.bad_alerts)
    if earlier > 0:
        report.notes.append(f"{BAD_DIR}/ also holds {plural(earlier, 'file')} set aside by earlier runs")

    progress.send("gathering")
    files: dict[str, str | None]
    gathered_state: dict[str, list] = {}
    if plan.layout == "nights":
        unchanged = {x.src: x.stat for x in goods if x.reused}
        g = gather(root, [x.src for x in goods], unchanged, (previous.state or {}).get("gathered", {}))
        files, gathered_state = g.files, g.state
        report.errors.extend(g.problems)
        report.skipped.extend(g.skipped)
    else:
        files = {x.src: x.src for x in goods}

    progress.send("indexing")
    _write(plan, goods, runs, files, archives, gathered_state, report)


def _count_files(folder: Path) -> int:
    try:
        with os.scandir(folder) as it:
            return sum(1 for e in it if not e.name.startswith("."))
    except OSError:
        return 0


def _write(
    plan: _Plan,
    goods: list[GoodFile],
    runs: list[Path],
    files: dict[str, str | None],
    archives: dict[str, list[int]],
    gathered_state: dict[str, list],
    report: PrepareReport,
) -> None:
    indexed = {g.src: list(g.stat) for g in goods if files.get(g.src) is not None}
    reused = {g.src for g in goods if g.reused}
    state = {
        "schema_arg": plan.schema_fp,
        "archives": archives,
        "sources": indexed,
        "gathered": {s: v for s, v in gathered_state.items() if s in indexed},
    }
    report.index_path = str(plan.root / INDEX_NAME)
    if unchanged(plan.previous, runs, state):  # dicts compare regardless of order: sorted only to be written
        report.alerts = len(plan.previous.index.entries)
        return  # nothing changed: the index on disk is already this one
    for key in ("archives", "sources", "gathered"):
        state[key] = dict(sorted(state[key].items()))
    report.alerts = write_merged(plan.root, plan.previous, runs, files, reused, plan.layout, state)
    report.index_written = True
