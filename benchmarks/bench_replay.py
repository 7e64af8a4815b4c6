"""replay: the Replayer against the reference simulator's per-alert path and a raw produce loop.

A batch of a few thousand alerts (the bundled SNANA simulation, 2022 container format) is simulated and
prepared once. Then, in the same run, against the same broker, each on a fresh 1-partition topic, with the
same observations (OBS_SIZE alerts, no wait, flush per observation) and the same producer settings:

(a) reference: for each alert, open its gzip file, read the Avro container with fastavro.reader, re-encode
    the record schemaless with its writer schema (as fink-alert-simulator's AlertProducer does), produce;
(b) raw: produce the same pre-encoded bytes, already in memory, with the same keys;
(c) Replayer: the real thing (index payloads, delivery reports, events, checkpoint), timed from its
    ReplayStarted to its ReplayFinished (topic creation and planning are not counted, as for (b)).

(b) and (c) alternate over ROUNDS rounds and the best of each is kept, which cancels most of the noise of a
shared machine. Goal: (c) within 1.25x of (b) and at least 40x faster than (a) (bar: 2x and 20x).

Alone: `python -m benchmarks.bench_replay [--bootstrap HOST:PORT] [--nights N]` (without --bootstrap an
embedded broker is started for the run and stopped after).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import time
import uuid
from pathlib import Path

NIGHTS = 7          # the bundled simulation ramps up: its first 7 nights hold ~3000 alerts
OBS_SIZE = 100
ROUNDS = 5


def make_batch(workdir: Path, nights: int) -> Path:
    from elasticc_stream.engine.prepare import prepare
    from elasticc_stream.engine.simulate.batch import alerts_dir, simulate
    from elasticc_stream.engine.simulate.snana import bundled_snana_prefix

    simulate(bundled_snana_prefix(), workdir / "sim", max_nights=nights, fmt="container")
    root = alerts_dir(workdir / "sim")
    prepare(root)
    return root


def _producer(bootstrap: str):
    from confluent_kafka import Producer
    from elasticc_stream.engine.kafka_config import producer_config

    return Producer(producer_config(bootstrap))


def _topic(bootstrap: str, name: str) -> str:
    from elasticc_stream.engine.topics import ensure_topic

    topic = f"bench-replay-{name}-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, 1)
    return topic


def _produce(producer, topic: str, value: bytes, key: bytes | None) -> None:
    while True:
        try:
            producer.produce(topic, value, key)
            return
        except BufferError:
            producer.poll(0.1)


def _flush(producer) -> None:
    if producer.flush(60) != 0:
        raise RuntimeError("the broker did not take the alerts within 60 s")


def reference_path(bootstrap: str, files: list[Path]) -> float:
    """fink-alert-simulator's send_visit: read each file, re-encode schemaless, produce, flush per observation."""
    import fastavro

    producer = _producer(bootstrap)
    topic = _topic(bootstrap, "reference")
    start = time.perf_counter()
    for first in range(0, len(files), OBS_SIZE):
        for path in files[first:first + OBS_SIZE]:
            with gzip.open(path, "rb") as f:
                reader = fastavro.reader(f)
                schema = reader.writer_schema
                record = next(reader)
            out = io.BytesIO()
            fastavro.schemaless_writer(out, schema, record)
            _produce(producer, topic, out.getvalue(), None)
        _flush(producer)
    return time.perf_counter() - start


def raw_produce(bootstrap: str, payloads: list[bytes], keys: list[bytes | None]) -> float:
    producer = _producer(bootstrap)
    topic = _topic(bootstrap, "raw")
    start = time.perf_counter()
    for first in range(0, len(payloads), OBS_SIZE):
        for value, key in zip(payloads[first:first + OBS_SIZE], keys[first:first + OBS_SIZE], strict=True):
            _produce(producer, topic, value, key)
        _flush(producer)
    return time.perf_counter() - start


def replayer(bootstrap: str, root: Path, workdir: Path) -> float:
    from elasticc_stream.engine.replay.config import ReplayConfig
    from elasticc_stream.engine.replay.events import ReplayFinished
    from elasticc_stream.engine.replay.runner import Replayer

    topic = _topic(bootstrap, "replayer")
    config = ReplayConfig(bootstrap=bootstrap, topic=topic, data=root, per_obs=OBS_SIZE, observations=-1,
                          interval=0.0, checkpoint=workdir / f"checkpoint-{topic}.json")
    finished = Replayer(config, lambda _event: None).run()
    if not isinstance(finished, ReplayFinished) or finished.delivered != finished.sent or finished.failed:
        raise RuntimeError(f"replay did not deliver everything: {finished}")
    return finished.seconds


def run(workdir: Path, bootstrap: str, nights: int = NIGHTS, rounds: int = ROUNDS) -> list[dict]:
    from elasticc_stream.engine.prepare import AlertIndex

    root = make_batch(workdir, nights)
    index = AlertIndex.load(root)
    entries = index.entries
    files = [index.path(e) for e in entries]
    payloads = [index.payload(e) for e in entries]
    # The same keys as the Replayer's default (--key schema: the writer schema as compact JSON, Fink's convention).
    schema_keys = {fp: json.dumps(index.schema(fp), separators=(",", ":")).encode() for fp in index.schemas}
    keys = [schema_keys[e.schema_fp] for e in entries]
    count = len(entries)

    reference = reference_path(bootstrap, files)
    raw: list[float] = []
    ours: list[float] = []
    for _ in range(rounds):
        raw.append(raw_produce(bootstrap, payloads, keys))
        ours.append(replayer(bootstrap, root, workdir))
    b, c = min(raw), min(ours)
    print(f"replay {count} alerts ({OBS_SIZE} per observation, no wait): reference per-alert path "
          f"{reference:.3f} s ({count / reference:.0f}/s), raw produce {b:.3f} s ({count / b:.0f}/s, best of "
          f"{rounds}), Replayer {c:.3f} s ({count / c:.0f}/s, best of {rounds}): {c / b:.2f}x raw, "
          f"{reference / c:.1f}x faster than the reference", file=sys.stderr)
    return [
        {"name": f"replay {count} alerts vs raw produce", "figure": c, "unit": "s", "baseline": b,
         "baseline_name": "raw produce of pre-encoded bytes", "ratio": c / b, "goal": "<= 1.25x (bar 2x)"},
        {"name": f"replay {count} alerts: speed-up vs reference", "figure": reference, "unit": "s",
         "baseline": c, "baseline_name": "Replayer", "ratio": reference / c,
         "goal": ">= 40x (bar 20x)"},
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="an existing broker (default: start an embedded one)")
    parser.add_argument("--nights", type=int, default=NIGHTS, help="nights of the simulation to replay")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    from benchmarks.harness import scratch_and_broker
    from benchmarks.table import print_table

    with scratch_and_broker(args.bootstrap, "bench-replay-") as (tmp, bootstrap):
        rows = run(tmp, bootstrap, args.nights, args.rounds)
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
