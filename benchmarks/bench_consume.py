"""consume: AlertStream (decode every message, events to a null sink) against a bare confluent-kafka +
fastavro loop, on the same topic in the same run.

The topic is filled once with a few thousand real-format alerts (the 2022 alert, one diaSourceId each).
Each contender reads all of it with a fresh consumer group; the clock runs from the first decoded alert to
the last one, so the group join (seconds, and the same for both) is excluded. Rounds alternate the order
and the best of each contender is kept, which cancels most of the noise of a shared machine. The CPU row
(process time, librdkafka's threads included) is the steadier figure. Goal: at most 1.2x the bare loop
(bar: 1.5x).

Alone: `python -m benchmarks.bench_consume [--bootstrap HOST:PORT] [--alerts N]` (without --bootstrap an
embedded broker is started for the run and stopped after).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import uuid
from pathlib import Path

ALERTS = 5000
ROUNDS = 3
PARTITIONS = 2
REAL = "alert_mjd60674.0512_obj747_src1494043.avro.gz"


def _alerts(count: int) -> tuple[dict, list[bytes]]:
    """`count` schemaless messages: the real 2022 alert with a distinct diaSourceId (and object) each."""
    from elasticc_stream.engine import decoder

    real = decoder.read_alert_file(Path(decoder.__file__).parent / "data" / "real" / REAL)[0]
    record = real.record
    payloads = []
    for i in range(count):
        record["diaSource"]["diaSourceId"] = 10_000_000 + i
        record["diaSource"]["diaObjectId"] = 1000 + i % 200
        payloads.append(decoder.encode_schemaless(record, real.schema))
    return real.schema, payloads


def fill_topic(bootstrap: str, payloads: list[bytes]) -> str:
    from confluent_kafka import Producer
    from elasticc_stream.engine.topics import ensure_topic

    topic = f"bench-consume-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    for i, payload in enumerate(payloads):
        while True:
            try:
                producer.produce(topic, payload, key=str(1000 + i % 200).encode())
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("the benchmark topic could not be filled")
    return topic


def bare_loop(bootstrap: str, topic: str, schema: dict, count: int) -> tuple[float, float]:
    """What one would write by hand: subscribe, consume in batches, schemaless_reader with the known schema."""
    import fastavro
    from confluent_kafka import Consumer

    parsed = fastavro.parse_schema(schema)
    reader = fastavro.schemaless_reader
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-bare-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
    })
    consumer.subscribe([topic])
    seen = 0
    first = cpu = 0.0
    try:
        while seen < count:
            for message in consumer.consume(500, 1.0):
                if message.error() is not None:
                    continue
                reader(io.BytesIO(message.value()), parsed)
                seen += 1
                if seen == 1:
                    first, cpu = time.perf_counter(), time.process_time()
        return time.perf_counter() - first, time.process_time() - cpu
    finally:
        consumer.close()


def alert_stream(bootstrap: str, topic: str, schema: dict | None, count: int) -> tuple[float, float]:
    from elasticc_stream.engine.consume.events import AlertReceived
    from elasticc_stream.engine.consume.stream import AlertStream, ConsumeOptions

    stream = AlertStream(ConsumeOptions(bootstrap, topic, group=f"bench-stream-{uuid.uuid4().hex[:8]}",
                                        schema=schema, max_alerts=count))
    seen = 0
    first = last = cpu = cpu_last = 0.0
    for event in stream.events():  # the null sink
        if type(event) is AlertReceived:
            seen += 1
            if seen == 1:
                first, cpu = time.perf_counter(), time.process_time()
            elif seen == count:
                last, cpu_last = time.perf_counter(), time.process_time()
    if seen != count:
        raise RuntimeError(f"AlertStream delivered {seen} alerts, expected {count}")
    return last - first, cpu_last - cpu


def run(workdir: Path, bootstrap: str, alerts: int = ALERTS, rounds: int = ROUNDS) -> list[dict]:
    schema, payloads = _alerts(alerts)
    topic = fill_topic(bootstrap, payloads)
    bare: list[tuple[float, float]] = []
    given: list[tuple[float, float]] = []
    auto: list[tuple[float, float]] = []
    contenders = [
        (bare, lambda: bare_loop(bootstrap, topic, schema, alerts)),
        (given, lambda: alert_stream(bootstrap, topic, schema, alerts)),
        (auto, lambda: alert_stream(bootstrap, topic, None, alerts)),
    ]
    for n in range(rounds):
        # Alternate the order so that neither side always runs first (cold caches) or last (a busier broker).
        for results, measure in contenders if n % 2 == 0 else contenders[::-1]:
            results.append(measure())
    b, g, a = (min(t for t, _ in runs) for runs in (bare, given, auto))
    # Process CPU time (librdkafka's threads included) is far less sensitive to a busy machine and to the
    # broker's fetch pace than wall time, and shows the decoding overhead alone.
    bc, gc, ac = (min(c for _, c in runs) for runs in (bare, given, auto))
    print(f"consume {alerts} alerts ({len(payloads[0])} bytes each), best of {rounds}: "
          f"bare loop {b:.3f} s ({alerts / b:.0f}/s, cpu {bc:.3f} s); "
          f"AlertStream --schema {g:.3f} s ({g / b:.2f}x, cpu {gc:.3f} s, {gc / bc:.2f}x); "
          f"AlertStream auto schema {a:.3f} s ({a / b:.2f}x, cpu {ac:.3f} s, {ac / bc:.2f}x)", file=sys.stderr)
    common = {"baseline_name": "bare confluent-kafka + fastavro loop", "goal": "<= 1.2x (bar 1.5x)"}
    return [
        {"name": f"consume {alerts} alerts, schema given", "figure": g, "unit": "s", "baseline": b,
         "ratio": g / b, **common},
        {"name": f"consume {alerts} alerts, schema found", "figure": a, "unit": "s", "baseline": b,
         "ratio": a / b, **common},
        {"name": f"consume {alerts} alerts, schema given, CPU", "figure": gc, "unit": "s cpu", "baseline": bc,
         "ratio": gc / bc, **common},
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_consume", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="an existing broker (default: start an embedded one)")
    parser.add_argument("--alerts", type=int, default=ALERTS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    from benchmarks.harness import scratch_and_broker
    from benchmarks.table import print_table

    with scratch_and_broker(args.bootstrap, "bench-consume-") as (tmp, bootstrap):
        rows = run(tmp, bootstrap, args.alerts, args.rounds)
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
