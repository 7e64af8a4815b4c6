"""The soak's producer, its own process: pre-encoded alerts at a steady rate for a given time.

    python -m benchmarks.tui_soak_producer BOOTSTRAP TOPIC RATE SECONDS TEMPLATES OUT_JSON

TEMPLATES is a file written by `write_templates`: the bundled simulation's alerts as schemaless Avro, each
cut around its diaSourceId (see bench_scale_data.Template). Message n is template n % count with
diaSourceId SOURCE_BASE + n spliced in (a bytes join, no encoding), keyed by its diaObjectId as replay's
`--key object` does. Sending is paced in 10 ms steps against the clock; what was sent, delivered and how far
the producer fell behind the rate go to OUT_JSON.
"""

from __future__ import annotations

import json
import pickle
import struct
import sys
import time
from pathlib import Path

from elasticc_stream.engine.simulate.record_fill import encode_long

SOURCE_BASE = 20_000_000_000
STEP_S = 0.01
PRODUCER = {"linger.ms": 5, "batch.num.messages": 10_000, "queue.buffering.max.kbytes": 262_144,
            "acks": "all", "enable.idempotence": True}


def write_templates(path: Path, workdir: Path) -> int:
    """Cut the bundled simulation's alerts into templates once (a few seconds), for every soak run."""
    from benchmarks.bench_scale_data import _templates

    _, _, templates = _templates(workdir)
    cut = [(t.head, t.middle, t.tail, str(t.object_id).encode()) for t in templates]
    path.write_bytes(pickle.dumps(cut, protocol=pickle.HIGHEST_PROTOCOL))
    return len(cut)


def produce(bootstrap: str, topic: str, rate: float, seconds: float, templates: str, out: str) -> int:
    from confluent_kafka import Producer

    cut = pickle.loads(Path(templates).read_bytes())
    mjd = struct.pack("<d", 61500.05)
    counts = {"delivered": 0, "failed": 0}
    acked: list[float] = []  # produce() to acknowledgement, every 100th message: the broker's share of latency

    def delivered(err, msg) -> None:
        counts["failed" if err is not None else "delivered"] += 1
        if counts["delivered"] % 100 == 0 and err is None:
            acked.append(msg.latency() or 0.0)

    producer = Producer({**PRODUCER, "bootstrap.servers": bootstrap, "on_delivery": delivered})
    total = int(rate * seconds)
    sent = 0
    behind_max = 0
    started = time.monotonic()
    while sent < total:
        due = min(total, int((time.monotonic() - started) * rate))
        behind_max = max(behind_max, due - sent)
        while sent < due:
            head, middle, tail, key = cut[sent % len(cut)]
            value = b"".join((head, encode_long(SOURCE_BASE + sent), middle, mjd, tail))
            try:
                producer.produce(topic, value, key)
            except BufferError:
                producer.poll(0.01)
                continue
            sent += 1
        producer.poll(0)
        pause = started + (sent + 1) / rate - time.monotonic()
        if pause > 0:
            time.sleep(min(STEP_S, pause))
    sending = time.monotonic() - started
    left = producer.flush(120)
    report = {"sent": sent, "delivered": counts["delivered"], "failed": counts["failed"], "undelivered": left,
              "seconds": sending, "rate": sent / sending if sending > 0 else 0.0,
              "behind_max": behind_max, "ended": time.time(),
              "ack_p50": _quantile(acked, 0.5), "ack_p99": _quantile(acked, 0.99), "ack_max": max(acked, default=None)}
    Path(out).write_text(json.dumps(report))
    return 0 if left == 0 and counts["failed"] == 0 else 1


def _quantile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def main(argv: list[str]) -> int:
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    return produce(argv[0], argv[1], float(argv[2]), float(argv[3]), argv[4], argv[5])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
