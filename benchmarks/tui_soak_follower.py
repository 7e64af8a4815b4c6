"""The soak's baseline, its own process: a bare confluent-kafka consumer following the same topic beside the TUI.

    python -m benchmarks.tui_soak_follower BOOTSTRAP TOPIC OUT

It only counts messages and times them (receipt minus the message's timestamp), writing one line a second to
OUT: `wall count latency_max_of_that_second`. It runs until it is terminated. If it falls behind as the TUI
does, the limit is the broker or the machine, not the TUI. Only confluent_kafka is imported.
"""

from __future__ import annotations

import sys
import time
import uuid


def follow(bootstrap: str, topic: str, out: str) -> int:
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"soak-bare-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "enable.auto.commit": False})
    consumer.subscribe([topic])
    count = 0
    worst = 0.0
    mark = time.time() + 1.0
    with open(out, "a", buffering=1) as f:
        while True:
            messages = consumer.consume(500, 0.2)
            now = time.time()
            for message in messages:
                if message.error() is None:
                    count += 1
                    _, ts = message.timestamp()
                    worst = max(worst, now - ts / 1000.0)
            if now >= mark:
                f.write(f"{now:.3f} {count} {worst:.3f}\n")
                worst = 0.0
                mark = now + 1.0


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    return follow(*argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
