"""A local broker for the demo that is stopped however the demo ends (signals included)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:
    from ..broker.state import BrokerInfo

_AVOID_PORTS = frozenset({9092})  # a user's own Kafka is likely there


class DemoSignal(SystemExit):
    """SIGTERM or SIGHUP turned into an exception, so that every `finally` (the broker's stop) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _raise_signal(signum: int, _frame: object) -> None:
    raise DemoSignal(signum)


@contextlib.contextmanager
def local_broker(state_dir: str | os.PathLike | None = None, *, keep: bool = False,
                 kafka: bool = False) -> Iterator[BrokerInfo]:
    """A local broker on a free port (never 9092) that is stopped when the block ends, however it ends.

    The embedded one (Tansu), or with `kafka` a single Apache Kafka node (`broker start --kafka`).

    Normal exit, exception, KeyboardInterrupt, SIGTERM and SIGHUP (raised as DemoSignal while the block runs,
    when entered from the main thread) all stop it; an atexit guard covers an interpreter that exits some
    other way. With `keep`, a block that ends normally leaves the broker running in `state_dir`.
    """
    from ..broker.process import stop_broker

    own_dir = state_dir is None
    folder = Path(tempfile.mkdtemp(prefix="elasticc-stream-demo-")) if own_dir else Path(state_dir)
    guard = _AtExitGuard(folder)
    atexit.register(guard)
    previous = _install_handlers()
    kept = False
    try:
        info = _start_on_free_port(folder, die_with_parent=not keep, kafka=kafka)
        yield info
        kept = keep
    finally:
        # A second Ctrl-C or a SIGTERM must not cut the stop short and leave the broker behind.
        with _signals_held():
            try:
                if not kept:
                    stop_broker(folder)
                    if own_dir:
                        shutil.rmtree(folder, ignore_errors=True)
            finally:
                atexit.unregister(guard)
                _restore_handlers(previous)


def _start_on_free_port(folder: Path, *, die_with_parent: bool, kafka: bool = False,
                        attempts: int = 5) -> BrokerInfo:
    from ..broker.probe import free_port, port_in_use
    from ..broker.process import HOST, start_broker

    for attempt in range(attempts):
        port = free_port(HOST)
        if port in _AVOID_PORTS:
            continue
        try:
            return start_broker(port, folder, die_with_parent=die_with_parent, kafka=kafka)
        except UserError:
            # Someone took the port between our pick and the broker's bind: pick again.
            if attempt == attempts - 1 or not port_in_use(port, HOST):
                raise
    raise UserError("no free port found for the demo broker")


class _AtExitGuard:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self) -> None:
        from ..broker.process import stop_broker

        with contextlib.suppress(Exception):
            stop_broker(self.folder)


_HANDLED = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


def _install_handlers() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in _HANDLED:
        previous[sig] = signal.signal(sig, _raise_signal)
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM/SIGHUP for the few moments the broker takes to stop (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, *_HANDLED)}
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
