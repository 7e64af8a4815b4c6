"""consume's standard error: plain lines, a live count redrawn in place on a terminal, client errors rate-limited."""

from __future__ import annotations

import sys
import time

from elasticc_stream.engine.consume.stats import RateMeter


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Status:
    """Standard error: plain lines, plus a live count redrawn in place when it is a terminal."""

    def __init__(self, enabled: bool, interleaved: bool) -> None:
        self.enabled = enabled
        self.interleaved = interleaved  # stdout shares the terminal: clear the count before each alert line
        self.alerts = 0
        self.errors = 0
        self._rate = RateMeter()
        self._shown = False
        self._next = 0.0
        self._t0 = time.monotonic()

    def line(self, text: str) -> None:
        self.clear()
        if self.interleaved:
            sys.stdout.flush()
        err(text)

    def count(self, alerts: int = 0, errors: int = 0) -> None:
        self.alerts += alerts
        self.errors += errors
        if not self.enabled:
            return
        self._rate.add(alerts)
        now = time.monotonic()
        if now < self._next and not errors:
            return
        self._next = now + 0.2
        if self.interleaved:
            sys.stdout.flush()
        sys.stderr.write(f"\r\x1b[K{self.alerts} alerts, {self.errors} errors, {self._rate.rate():.0f}/s "
                         f"({now - self._t0:.0f} s)")
        sys.stderr.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._shown = False


class KafkaErrors:
    """Client errors on standard error, each distinct one at most every 30 s (a broker down repeats them)."""

    def __init__(self, status: Status) -> None:
        self._status = status
        self._last: dict[str, float] = {}

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last.get(text, -1e9) >= 30:
            self._last[text] = now
            self._status.line(f"kafka: {text}")
