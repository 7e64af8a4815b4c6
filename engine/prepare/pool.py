"""Running prepare's tasks: in worker processes (one night, or one chunk of loose files, each), with
progress ticks from the workers, or in this process for a single task or --jobs 1."""

from __future__ import annotations

import gc
import queue as queue_module
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from ..processes import mp_context
from .night import NightResult, NightTask, run_night
from .report import PrepareProgress, Problem

ProgressCallback = Callable[[PrepareProgress], None]


class Progress:
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
    # A worker allocates a few short-lived dicts per alert and keeps no cycles: the default young-generation
    # collection every 700 allocations was ~1.5% of prepare's CPU (perf), and a 10 k night ran 0.2-0.4 s
    # faster without it (3 runs each, side by side). What imports left is frozen out of every collection.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _run_in_worker(task: NightTask) -> NightResult:
    return run_night(task, tick=_worker_queue.put if _worker_queue is not None else None)


def execute(tasks: list[NightTask], jobs: int, progress: Progress,
            on_result: Callable[[NightTask, NightResult], None]) -> None:
    """Run the tasks, handing each result to `on_result` (on this thread) as soon as it is in: the
    parent keeps no result longer than it takes to gather and record it."""
    remaining: dict[str, int] = {}
    for t in tasks:
        remaining[t.night] = remaining.get(t.night, 0) + 1
    progress.nights_done = progress.nights_total - len(remaining)

    def done(task: NightTask, result: NightResult) -> None:
        on_result(task, result)
        remaining[task.night] -= 1
        if remaining[task.night] == 0:
            progress.nights_done += 1
            progress.send("night", task.night)

    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            done(task, _guarded(task, lambda t=task: run_night(t, tick=progress.alerts)))
        return
    ctx = mp_context()
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


def _drain(q: Any, progress: Progress) -> None:
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
