"""Worker processes that decode messages, save their alerts (--save) and make the lines `consume` prints.

Decoding an ELAsTiCC alert (fastavro, ~0.45 ms) is most of what `consume` costs, and one interpreter runs it on
one core. Here the consuming process only polls, keeps the offsets and writes; decoding, saving and the lines
are spread over worker processes, one chunk of messages each, and the results are taken back in the order the
chunks were sent, so the output keeps the order of the stream. A worker makes exactly what the single-process
path makes: the caller's `render` of the same AlertReceived, and `AlertSaver.save` of the same alert (whose
files are safe to write from several processes at once: see save.py).
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..processes import mp_context

# Messages per chunk sent to a worker: small enough that the chunks in flight stay a few MB of JSON (an 8.6 KB
# ELAsTiCC alert is ~40 KB of it), large enough to amortise the round trip (~0.1 ms).
CHUNK = 64
IN_FLIGHT_PER_WORKER = 3  # chunks queued per worker: it never waits for the next while the parent polls


@dataclass(frozen=True)
class Pending:
    """One message sent to a worker: where it came from, as the parent knows it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    latency_s: float | None
    backlog: bool  # produced before this consumer held its partitions


# What became of one alert with --save: ("written" | "already there", path) or ("failed", why); None without.
Saved = tuple[str, str] | None
# A message's result: (True, ((line, saved) per alert)) or (False, why it could not be decoded).
Result = tuple[bool, Any]

_schema: dict | None = None
_render: Callable | None = None
_saver: Any = None


def _init_worker(schema: dict | None, render: Callable, save_dir: str | None) -> None:
    global _schema, _render, _saver
    from .save import AlertSaver

    _schema, _render = schema, render
    _saver = AlertSaver(save_dir) if save_dir is not None else None
    # Ctrl-C reaches the whole process group: the parent stops the stream gently and then ends its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _save(alert) -> Saved:
    if _saver is None:
        return None
    try:
        result = _saver.save(alert)
    except UserError as exc:
        return ("failed", str(exc))
    return ("written" if result.written else "already there", str(result.path))


def render_chunk(items: list[tuple]) -> list[Result]:
    """In a worker: decode each (topic, partition, offset, timestamp_ms, latency_s, key, value), save and render
    its alerts."""
    from ..decoder import DecodeError, decode
    from .events import AlertReceived

    results: list[Result] = []
    for topic, partition, offset, ts, latency, key, value in items:
        try:
            if value is None:
                raise DecodeError("", "empty message (null value)")
            alerts = decode(value, schema=_schema, key=key, source=f"{topic}[{partition}] offset {offset}")
        except DecodeError as exc:
            results.append((False, exc.reason))
            continue
        results.append((True, tuple((_render(AlertReceived(a, topic, partition, offset, ts, latency, key)), _save(a))
                                    for a in alerts)))
    return results


class RenderWorkers:
    """A pool of `workers` processes started now (before the consumer's threads exist: see processes.py) and a
    queue of chunks in flight, taken back oldest first. `render` must be a module-level function (it is sent to
    the workers by name)."""

    def __init__(self, workers: int, schema: dict | None, render: Callable, save_dir: str | None) -> None:
        self.workers = workers
        self._pool = mp_context().Pool(workers, initializer=_init_worker, initargs=(schema, render, save_dir))
        self._flight: deque[tuple[list[Pending], Any]] = deque()
        self._items: list[tuple] = []
        self._pending: list[Pending] = []

    def add(self, where: Pending, key: bytes | None, value: bytes | None) -> None:
        self._pending.append(where)
        self._items.append((where.topic, where.partition, where.offset, where.timestamp_ms, where.latency_s, key,
                            value))
        if len(self._items) >= CHUNK:
            self.send()

    def send(self) -> None:
        """Send what was added since the last chunk, even if fewer than CHUNK."""
        if self._items:
            self._flight.append((self._pending, self._pool.apply_async(render_chunk, (self._items,))))
            self._items, self._pending = [], []

    @property
    def full(self) -> bool:
        return len(self._flight) >= self.workers * IN_FLIGHT_PER_WORKER

    @property
    def in_flight(self) -> int:
        return len(self._flight) + bool(self._items)

    @property
    def messages_out(self) -> int:
        """Messages added and not yet taken back."""
        return len(self._pending) + sum(len(pending) for pending, _ in self._flight)

    def oldest_ready(self) -> bool:
        return bool(self._flight) and self._flight[0][1].ready()

    def take(self) -> list[tuple[Pending, Result]]:
        """The oldest chunk's messages with their results, waiting for it if need be (a worker's unexpected
        error is raised here: the messages of that chunk are then never handed over, so never committed)."""
        pending, result = self._flight.popleft()
        return list(zip(pending, result.get(), strict=True))

    def close(self) -> None:
        # What is still in flight was never handed over, so never committed: it may be dropped.
        self._pool.terminate()
        self._pool.join()
        self._flight.clear()
