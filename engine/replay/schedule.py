"""When each observation starts: the plan's offsets, moved by pauses and by stalls.

"In step" after a stall means the gaps between observation starts are kept: an observation that could not
start on time (the previous one waited for a stalled broker, or a pause) starts as soon as it can, and every
later one moves by the same delay. Observations are never sent back to back to catch up with the clock,
which a broker's consumers would see as a burst that never happened in the sky.
"""

from __future__ import annotations

import threading
import time


class Schedule:
    """Thread-safe: `pause`, `resume` and `stop` come from any thread, `wait_for` from the sending one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.stopping = False
        self._paused_at: float | None = None
        self.shift = 0.0  # seconds the schedule moved (pauses and late starts)
        self.m0 = time.monotonic()

    def start(self) -> None:
        self.m0 = time.monotonic()

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def pause(self) -> None:
        with self._cond:
            if self._paused_at is None:
                self._paused_at = time.monotonic()
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            if self._paused_at is not None:
                self.shift += time.monotonic() - self._paused_at
                self._paused_at = None
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopping = True
            self._cond.notify_all()

    def wait_for(self, offset_s: float) -> bool:
        """Sleep until the observation planned at `offset_s` is due; False if stopped first.

        A late start moves the rest of the schedule by the delay (see the module docstring).
        """
        with self._cond:
            while True:
                if self.stopping:
                    return False
                if self._paused_at is not None:
                    self._cond.wait()
                    continue
                left = self.m0 + offset_s + self.shift - time.monotonic()
                if left <= 0:
                    self.shift -= left
                    return True
                self._cond.wait(left)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
