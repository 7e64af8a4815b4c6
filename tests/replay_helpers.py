"""Helpers of the replay tests: alert batches, an independent plain confluent-kafka reader, own brokers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import alert_factory as af
from conftest import CLI, START_FLAGS, run_cli
from elasticc_stream.engine.decoder import decode
from elasticc_stream.engine.kafka_config import consumer_config
from elasticc_stream.engine.prepare import AlertIndex, prepare
from elasticc_stream.engine.replay.config import ReplayConfig

V0_9_1 = Path(af.decoder.__file__).parent / "data" / "schemas" / "v0_9_1" / "elasticc.v0_9_1.alert.avsc"
BANDS = "ugrizY"


# -- helpers --------------------------------------------------------------------------------------------------

def make_batch(folder: Path, n: int, *, fmt: str = "container", per_visit: int = 4, prepared: bool = True) -> Path:
    """`n` alerts as loose .avro.gz files (2022 containers or 2023 schemaless), prepared in place.

    Visits of `per_visit` alerts share a midPointTai, like a real exposure; file names are not in time order.
    """
    schema = af.shipped("stream2022" if fmt == "container" else "elasticc.v0_9_1")
    folder.mkdir(parents=True)
    for i in range(n):
        mjd = round(60000.0 + (i // per_visit) * 0.0137, 4)
        source_id = 5_000_000 - 7 * i  # ids run against time order, so sorting by file name would be wrong
        record = af.elasticc_record(schema, source_id=source_id, object_id=100 + i % 11, mjd=mjd, band=BANDS[i % 6])
        data = af.container([record], schema) if fmt == "container" else af.schemaless(record, schema)
        af.write(folder / f"alert_obj{100 + i % 11}_src{source_id}.avro.gz", af.gz(data))
    if prepared:
        prepare(folder, schema=None if fmt == "container" else V0_9_1)
    return folder


def drain(bootstrap: str, topic: str, expected: int, *, quiet_s: float = 3.0, limit_s: float = 90.0) -> list:
    """Every message of `topic`: read until `expected` arrived, then a quiet period to catch any extra."""
    from confluent_kafka import Consumer

    consumer = Consumer(consumer_config(bootstrap, f"drain-{uuid.uuid4().hex[:8]}", {"enable.auto.commit": "false"}))
    consumer.subscribe([topic])
    messages: list = []
    deadline = time.monotonic() + limit_s
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                messages.append(msg)
            if len(messages) >= expected:
                quiet_until = quiet_until or time.monotonic() + quiet_s
                if time.monotonic() >= quiet_until:
                    break
    finally:
        consumer.close()
    return messages


def topic_exists(bootstrap: str, topic: str) -> bool:
    # Ask for all topics: a metadata request naming the topic would make the embedded broker create it.
    from confluent_kafka.admin import AdminClient

    return topic in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics


def source_ids(messages: list, schema: dict | None = None) -> list[int]:
    return [decode(m.value(), schema=schema, source=f"offset {m.offset()}")[0].record["diaSource"]["diaSourceId"]
            for m in messages]


def config_for(bootstrap: str, topic: str, data: Path, **kw) -> ReplayConfig:
    kw.setdefault("interval", 0.0)
    return ReplayConfig(bootstrap=bootstrap, topic=topic, data=data, **kw)


class Recorder:
    def __init__(self) -> None:
        self.events: list = []

    def __call__(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def own_broker(tmp_path: Path, kind: str = "tansu") -> tuple[str, int, Path]:
    """A broker of this test's own (to freeze, kill or restart): "tansu" (embedded) or "kafka" (one KRaft node)."""
    state = tmp_path / "own-broker"
    started = run_cli("broker", "start", "--port", "0", "--dir", str(state), *START_FLAGS[kind], timeout=240)
    assert started.returncode == 0, started.stderr
    address = started.stdout.strip().splitlines()[-1]
    pid = int((state / "broker.pid").read_text().split()[0])
    return address, pid, state


def stop_own_broker(pid: int, state: Path) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)
    run_cli("broker", "stop", "--dir", str(state), timeout=60)


def exactly_once(bootstrap: str, topic: str, data: Path) -> None:
    """The topic holds each prepared alert exactly once, as an independent plain consumer counts it."""
    expected = {e.dia_source_id for e in AlertIndex.load(data).entries}
    messages = drain(bootstrap, topic, len(expected))
    ids = Counter(source_ids(messages))
    lost = expected - set(ids)
    repeated = {i: n for i, n in ids.items() if n > 1}
    assert (len(lost), len(repeated)) == (0, 0), f"lost {sorted(lost)[:10]}, repeated {sorted(repeated)[:10]}"
    assert set(ids) == expected and len(messages) == len(expected)


def start_replay(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "replay", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(proc: subprocess.Popen, prefix: str) -> list[str]:
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"no line {prefix!r} in {lines} (stderr: {proc.stderr.read() if proc.stderr else ''})")
