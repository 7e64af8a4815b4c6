"""How the engine starts worker processes (prepare's nights, consume's decoders)."""

from __future__ import annotations

import multiprocessing
import os
import threading


def _single_threaded() -> bool:
    # librdkafka's threads are not Python threads: a process holding a Kafka client (a test run, an app) has
    # them though threading.active_count() is 1, and a forked child that then collects the client's Python
    # object crashes (seen: a segfault in a prepare worker forked by pytest after Kafka tests).
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return threading.active_count() == 1


def mp_context() -> multiprocessing.context.BaseContext:
    """fork when this process runs no other thread (cheapest: the workers inherit the imports), else forkserver:
    forking a process whose other threads (the TUI's, librdkafka's) may hold locks or state is unsafe."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and _single_threaded():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
