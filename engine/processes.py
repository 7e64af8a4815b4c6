"""How the engine starts worker processes (prepare's nights, consume's JSON encoders)."""

from __future__ import annotations

import multiprocessing
import threading


def mp_context() -> multiprocessing.context.BaseContext:
    """fork when this process runs no other thread (cheapest: the workers inherit the imports), else forkserver:
    forking a process whose other threads (the TUI's, librdkafka's) may hold locks is unsafe."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
