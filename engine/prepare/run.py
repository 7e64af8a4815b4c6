"""`prepare`: NITE archives (or a loose folder of alerts) -> validated, gathered, time-indexed alerts.

The parent plans (what changed since the index was last written), hands nights to worker processes,
then gathers and writes the index; workers only ever touch their own night's folder and bad/.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import queue as queue_module
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.prepare.files import Stat
from elasticc_stream.engine.prepare.gather import gather
from elasticc_stream.engine.prepare.index import (
    COLUMNS,
    INDEX_NAME,
    IndexEntry,
    build_header,
    read_header,
    write_index,
)
from elasticc_stream.engine.prepare.night import (
    BAD_DIR,
    GATHERED_DIR,
    STAGING_PREFIX,
    GoodFile,
    NightResult,
    NightTask,
    run_night,
    scan,
)
from elasticc_stream.engine.prepare.report import PrepareProgress, PrepareReport, Problem, plural
from elasticc_stream.engine.prepare.unpack import night_name, remove_tree

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
CHUNK = 400  # files per task when re-validating loose files: small enough to spread over workers
ProgressCallback = Callable[[PrepareProgress], None]


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
        from elasticc_stream.engine.decoder import fingerprint

        schema_fp = fingerprint(schema_dict)
    plan = _Plan.make(root, schema_dict, schema_fp)
    report = PrepareReport(str(root), plan.layout)
    report.errors.extend(plan.problems)
    report.skipped.extend(plan.skipped)
    emit = on_progress or (lambda _event: None)
    progress = _Progress(emit, len(plan.nights), plan.reused_count())
    progress.send("planned")
    results = _execute(plan.tasks, jobs or default_jobs(), progress)
    _finish(plan, results, report, progress)
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
    from elasticc_stream.engine.decoder import load_schema_file

    return load_schema_file(schema)


# --- planning ------------------------------------------------------------------------------------------------


@dataclass
class _Previous:
    """The index left by the last run: its state says what is still valid."""

    header: dict[str, Any] | None = None
    payload_start: int = 0
    path: Path | None = None

    @classmethod
    def load(cls, root: Path) -> tuple[_Previous, str | None]:
        path = root / INDEX_NAME
        if not path.exists():
            return cls(), None
        try:
            header, start = read_header(path)
            header["state"]["sources"]  # noqa: B018 - an index without state cannot be reused
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return cls(), f"{INDEX_NAME}: earlier index unusable ({exc}); everything is validated again"
        return cls(header, start, path), None

    @property
    def state(self) -> dict[str, Any]:
        return self.header["state"] if self.header else {}


@dataclass
class _Plan:
    root: Path
    layout: str
    schema: dict | None
    schema_fp: str | None
    previous: _Previous
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
        previous, note = _Previous.load(root)
        archives, night_dirs, problems = _discover(root)
        layout = "nights" if archives or night_dirs else "loose"
        plan = cls(root, layout, schema, schema_fp, previous, problems=problems)
        if note:
            plan.notes.append(note)
        state = previous.state
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


# --- running the tasks ---------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, emit: ProgressCallback, nights_total: int, alerts_done: int) -> None:
        self.emit = emit
        self.nights_total = nights_total
        self.nights_done = 0
        self.alerts_done = alerts_done
        self.expected: int | None = None

    def send(self, stage: str, name: str = "") -> None:
        self.emit(
            PrepareProgress(stage, self.nights_done, self.nights_total, self.alerts_done, self.expected, name)
        )

    def alerts(self, n: int) -> None:
        self.alerts_done += n
        self.send("alerts")


_worker_queue: Any = None


def _init_worker(q: Any) -> None:
    global _worker_queue
    _worker_queue = q


def _run_in_worker(task: NightTask) -> NightResult:
    return run_night(task, tick=_worker_queue.put if _worker_queue is not None else None)


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork is the cheapest start, but forking a process that runs other threads (the TUI) is unsafe.
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _execute(tasks: list[NightTask], jobs: int, progress: _Progress) -> list[tuple[NightTask, NightResult]]:
    remaining: dict[str, int] = {}
    for t in tasks:
        remaining[t.night] = remaining.get(t.night, 0) + 1
    progress.nights_done = progress.nights_total - len(remaining)
    out: list[tuple[NightTask, NightResult]] = []

    def done(task: NightTask, result: NightResult) -> None:
        out.append((task, result))
        remaining[task.night] -= 1
        if remaining[task.night] == 0:
            progress.nights_done += 1
            progress.send("night", task.night)

    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            done(task, _guarded(task, lambda t=task: run_night(t, tick=progress.alerts)))
        return out
    ctx = _mp_context()
    q = ctx.Queue()
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=ctx, initializer=_init_worker, initargs=(q,)
    ) as pool:
        pending: dict[Future, NightTask] = {pool.submit(_run_in_worker, t): t for t in tasks}
        try:
            while pending:
                finished, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                _drain(q, progress)
                for fut in finished:
                    task = pending.pop(fut)
                    done(task, _guarded(task, fut.result))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    _drain(q, progress)
    q.close()
    return out


def _drain(q: Any, progress: _Progress) -> None:
    n = 0
    while True:
        try:
            n += q.get_nowait()
        except queue_module.Empty:
            break
    if n:
        progress.alerts(n)


def _guarded(task: NightTask, call: Callable[[], NightResult]) -> NightResult:
    """A task that fails unexpectedly is reported; the other nights still count."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - one broken night must not sink the run
        result = NightResult(task.night, task.archive)
        what = task.archive or task.night or "loose alerts"
        result.problems.append(Problem(what, f"could not be processed: {type(exc).__name__}: {exc}"))
        return result


# --- gathering and indexing ----------------------------------------------------------------------------------


def _finish(
    plan: _Plan, results: list[tuple[NightTask, NightResult]], report: PrepareReport, progress: _Progress
) -> None:
    root, previous = plan.root, plan.previous
    goods: list[GoodFile] = list(plan.reused)
    schemas: dict[str, dict] = dict(previous.header["schemas"]) if previous.header else {}
    archives = dict(plan.archives_kept)
    all_bad: dict[str, tuple[int, int]] = {}  # night -> (good, bad) alert files among its tasks
    for task, result in sorted(results, key=lambda r: (_night_order(r[0].night), r[0].files or ())):
        goods.extend(result.good)
        schemas.update(result.schemas)
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
        unchanged = {x.src for x in goods if x.reused}
        g = gather(root, [x.src for x in goods], unchanged, previous.state.get("gathered", {}))
        files, gathered_state = g.files, g.state
        report.errors.extend(g.problems)
        report.skipped.extend(g.skipped)
    else:
        files = {x.src: x.src for x in goods}

    progress.send("indexing")
    _write(plan, goods, files, schemas, archives, gathered_state, report)


def _count_files(folder: Path) -> int:
    try:
        with os.scandir(folder) as it:
            return sum(1 for e in it if not e.name.startswith("."))
    except OSError:
        return 0


def _write(
    plan: _Plan,
    goods: list[GoodFile],
    files: dict[str, str | None],
    schemas: dict[str, dict],
    archives: dict[str, list[int]],
    gathered_state: dict[str, list],
    report: PrepareReport,
) -> None:
    previous = plan.previous
    old_cols = previous.header["columns"] if previous.header else {}
    old_sources = previous.state.get("sources", {})
    rows: list[tuple[IndexEntry, str, Any]] = []  # (entry without offset, source, payload or old offset)
    for good in goods:
        file = files.get(good.src)
        if file is None:
            continue
        if good.reused:
            for i in old_sources[good.src][3]:
                old = IndexEntry(*(old_cols[c][i] for c in COLUMNS))
                rows.append((_with(old, file, 0), good.src, (old.payload_offset, old.payload_length)))
        else:
            for r in good.records:
                e = IndexEntry(file, r.dia_source_id, r.dia_object_id, r.mid_point_tai, r.filter_name,
                               r.schema_fp, 0, len(r.payload))
                rows.append((e, good.src, r.payload))
    rows.sort(key=lambda row: (row[0].mid_point_tai, row[0].dia_source_id, row[0].file, row[1]))

    entries: list[IndexEntry] = []
    sources: dict[str, list] = {}
    stats: dict[str, Stat] = {g.src: g.stat for g in goods}
    offset = 0
    for i, (e, src, _) in enumerate(rows):
        entries.append(_with(e, e.file, offset))
        offset += e.payload_length
        sources.setdefault(src, [*stats[src], []])[3].append(i)
    state = {
        "schema_arg": plan.schema_fp,
        "archives": dict(sorted(archives.items())),
        "sources": sources,
        "gathered": {s: v for s, v in gathered_state.items() if s in sources},
    }
    header = build_header(entries, schemas, state, plan.layout)
    report.alerts = len(entries)
    report.index_path = str(plan.root / INDEX_NAME)
    if previous.header is not None and header == previous.header:
        return  # nothing changed: the index on disk is already this one
    with _OldPayloads(previous) as old:
        # A generator: reused payloads are copied from the old index one at a time as the new file is
        # written, never all held in memory at once.
        write_index(plan.root, header, (p if isinstance(p, bytes) else old.get(*p) for _, _, p in rows))
    report.index_written = True


def _with(e: IndexEntry, file: str, offset: int) -> IndexEntry:
    return IndexEntry(file, e.dia_source_id, e.dia_object_id, e.mid_point_tai, e.filter_name, e.schema_fp,
                      offset, e.payload_length)


class _OldPayloads:
    """Slices of the previous index's payload section (mapped, so reuse costs no decoding or parsing)."""

    def __init__(self, previous: _Previous) -> None:
        self.previous = previous
        self.map: mmap.mmap | None = None

    def __enter__(self) -> _OldPayloads:
        if self.previous.path is not None and self.previous.path.stat().st_size > 0:
            with open(self.previous.path, "rb") as f:
                self.map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return self

    def get(self, offset: int, length: int) -> bytes:
        assert self.map is not None
        start = self.previous.payload_start + offset
        data = self.map[start : start + length]
        if len(data) != length:
            raise UserError(f"{self.previous.path}: earlier index is cut short; delete it and prepare again")
        return data

    def __exit__(self, *exc: object) -> None:
        if self.map is not None:
            self.map.close()
