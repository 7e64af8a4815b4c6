"""The baselines of `bench-scale`, each run as its own process so its whole time and peak RSS compare:

    python -m benchmarks.bench_scale_raw produce BOOTSTRAP TOPIC PLAN PER_OBS CONFIG_JSON DATA START
        produce pre-encoded alerts: their bytes back to back in DATA from offset START (the prepared
        index's payload section), their keys and lengths in PLAN (<u32 key length><u32 length><key>),
        flushing once per PER_OBS alerts as replay confirms each observation;
    python -m benchmarks.bench_scale_raw consume BOOTSTRAP TOPIC SCHEMA COUNT
        the bare loop one would write by hand: consume in batches, fastavro.schemaless_reader.

Only confluent_kafka and fastavro are imported: nothing of elasticc_stream.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import uuid

_LENGTHS = struct.Struct("<II")


def produce(bootstrap: str, topic: str, plan: str, per_obs: int, config_json: str, data: str, start: int) -> int:
    from confluent_kafka import Producer

    producer = Producer({**json.loads(config_json), "bootstrap.servers": bootstrap})
    sent = 0
    with open(plan, "rb") as f, open(data, "rb", buffering=1 << 20) as values:
        values.seek(start)
        while True:
            head = f.read(_LENGTHS.size)
            if not head:
                break
            klen, vlen = _LENGTHS.unpack(head)
            key = f.read(klen) if klen else None
            value = values.read(vlen)
            while True:
                try:
                    producer.produce(topic, value, key)
                    break
                except BufferError:
                    producer.poll(0.05)
            sent += 1
            if sent % per_obs == 0 and producer.flush(60) != 0:
                raise SystemExit("the broker did not take the alerts within 60 s")
    if producer.flush(60) != 0:
        raise SystemExit("the broker did not take the alerts within 60 s")
    print(sent)
    return 0


def consume(bootstrap: str, topic: str, schema_path: str, count: int) -> int:
    import fastavro
    from confluent_kafka import Consumer

    with open(schema_path) as f:
        parsed = fastavro.parse_schema(json.load(f))
    reader = fastavro.schemaless_reader
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-bare-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
    })
    consumer.subscribe([topic])
    seen = 0
    try:
        while seen < count:
            for message in consumer.consume(500, 1.0):
                if message.error() is None:
                    reader(io.BytesIO(message.value()), parsed)
                    seen += 1
    finally:
        consumer.close()
    print(seen)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["produce"] and len(argv) == 8:
        return produce(argv[1], argv[2], argv[3], int(argv[4]), argv[5], argv[6], int(argv[7]))
    if argv[:1] == ["consume"] and len(argv) == 5:
        return consume(argv[1], argv[2], argv[3], int(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
