"""Shared fixtures: a real broker started through the project's own `broker start`, and unique topics.

Every test that uses the session broker runs twice, once per broker: `tansu` (the embedded one) and `kafka`
(Apache Kafka, one KRaft node from `make kafka`'s classpath). Select one with `-k tansu` or `-k kafka`; each
broker is started lazily, so a `-k tansu` run never starts a JVM.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "elasticc_stream"]


def run_cli(*args: str, timeout: float = 120, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """Run `elasticc-stream ARGS...` as a user would (a separate process), capturing text output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=full_env, **kw)


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background by a non-interactive shell inherits SIGINT ignored, and so would every
    # command it runs: the ctrl-C tests would then test nothing. Python only installs its KeyboardInterrupt
    # handler when SIGINT is not ignored at start, so put it back here, before any child is spawned.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


BROKERS = ("tansu", "kafka")
START_FLAGS = {"tansu": ("--embedded",), "kafka": ("--kafka",)}


@pytest.fixture(scope="session", params=BROKERS)
def broker_kind(request: pytest.FixtureRequest) -> str:
    """Which broker the session broker of this test is: "tansu" or "kafka" (Apache Kafka)."""
    return request.param


@pytest.fixture(scope="session")
def broker_dir(broker_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp(f"broker-{broker_kind}")


@pytest.fixture(scope="session")
def kafka_bootstrap(broker_kind: str, broker_dir: Path) -> Iterator[str]:
    """Address of a real broker of `broker_kind` for the whole session, stopped at the end even on failure."""
    started = run_cli("broker", "start", "--port", "0", "--dir", str(broker_dir), *START_FLAGS[broker_kind],
                      timeout=240)
    if started.returncode != 0:
        pytest.fail(f"{broker_kind} broker start failed: {started.stderr.strip()}")
    address = started.stdout.strip().splitlines()[-1]
    try:
        yield address
    finally:
        run_cli("broker", "stop", "--dir", str(broker_dir), timeout=60)


_counter = itertools.count()


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}-{next(_counter)}"


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic name no other test uses (not created: a test creates it with the partitions it needs)."""
    return unique_topic(request.node.name.split("[")[0].replace("_", "-")[:40])


@pytest.fixture
def make_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Create a fresh topic with N partitions on the session broker and return its name."""
    from elasticc_stream.engine.topics import ensure_topic

    def make(partitions: int = 1, name: str | None = None) -> str:
        name = name or unique_topic(request.node.name.split("[")[0].replace("_", "-")[:40])
        ensure_topic(kafka_bootstrap, name, partitions)
        return name

    return make
