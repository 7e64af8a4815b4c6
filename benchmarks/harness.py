"""A broker and a scratch folder for a benchmark run on its own (`python -m benchmarks.bench_X`)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_and_broker(bootstrap: str | None, prefix: str, kafka: bool = False) -> Iterator[tuple[Path, str]]:
    """Yield (scratch folder, bootstrap): the given broker, or one started for the run (embedded, or with
    `kafka` a single Apache Kafka node)."""
    from elasticc_stream.engine.broker.process import start_broker, stop_broker

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        if bootstrap:
            yield Path(tmp), bootstrap
            return
        state = Path(tmp) / "broker"
        info = start_broker(port=0, state_dir=state, die_with_parent=True, kafka=kafka)
        try:
            yield Path(tmp), info.address
        finally:
            stop_broker(state)
