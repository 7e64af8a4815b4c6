"""fink-client, the Fink consumer, reads a DEFAULT replay: its AlertConsumer decodes every message with the schema
that the message key carries (Fink's convention), and each object's alerts stay in one partition, in time order."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import run_cli
from elasticc_stream.engine.decoder import read_alert_file
from elasticc_stream.engine.prepare import AlertIndex
from elasticc_stream.engine.replay.runner import Replayer
from elasticc_stream.engine.wire.partition import murmur2, partition_for
from test_replay import config_for, make_batch

PARTITIONS = 3


@pytest.fixture(scope="module")
def batch40(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("fink") / "gathered40", 40)
WAIT_S = 120.0


def fink_consume(bootstrap: str, topic: str, count: int) -> list[tuple[int, dict, str]]:
    """(partition, alert, key) for `count` messages, read by fink-client's own AlertConsumer."""
    from fink_client.consumer import AlertConsumer

    seen: list[tuple[int, dict, str]] = []
    consumer = AlertConsumer([topic], {"bootstrap.servers": bootstrap, "group.id": f"fink-{uuid.uuid4().hex[:8]}"},
                             survey="lsst")
    try:
        deadline = time.monotonic() + WAIT_S
        while len(seen) < count and time.monotonic() < deadline:
            msg = consumer._consumer.poll(1.0)  # the client's own consumer, so that the partition is known
            if msg is None:
                continue
            _topic, alert, key = consumer.process_message(msg)  # fink-client's decoding, unchanged
            seen.append((msg.partition(), alert, key))
    finally:
        consumer.close()
    return seen


@pytest.mark.broker
def test_fink_client_decodes_a_default_replay_in_object_order(kafka_bootstrap: str, topic: str,
                                                              batch40: Path) -> None:
    finished = Replayer(config_for(kafka_bootstrap, topic, batch40, per_obs=10, partitions=PARTITIONS),
                        lambda event: None).run()
    assert finished.delivered == 40 and finished.failed == 0
    index = AlertIndex.load(batch40)
    expected = {e.dia_source_id: read_alert_file(index.root / e.file)[0].record for e in index.entries}
    got = fink_consume(kafka_bootstrap, topic, 40)
    assert len(got) == 40
    by_object: dict[int, set[int]] = defaultdict(set)
    by_partition: dict[int, list[float]] = defaultdict(list)
    for partition, alert, key in got:
        source = alert["diaSource"]
        assert alert == expected[source["diaSourceId"]]  # every field exactly as prepared
        assert key.startswith('{"type":"record"')  # the schema, as Fink sends it
        obj = alert["diaObject"]["diaObjectId"]
        by_object[obj].add(partition)
        assert partition == partition_for(obj, PARTITIONS)
        by_partition[partition].append(source["midPointTai"])
    assert all(len(parts) == 1 for parts in by_object.values())
    assert len(by_partition) > 1  # the objects are spread, not all in one partition
    for times in by_partition.values():
        assert times == sorted(times)


@pytest.mark.broker
def test_partition_hash_is_kafkas_murmur2_as_librdkafka_computes_it(kafka_bootstrap: str, make_topic) -> None:
    from confluent_kafka import Producer

    topic = make_topic(7)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2"})
    placed: dict[int, int] = {}
    ids = [0, 1, 9, 42, 747, 9198, 17919, 123456789, 281323062375219201]
    for obj in ids:
        producer.produce(topic, b"x", str(obj).encode(),
                         on_delivery=lambda err, msg, obj=obj: placed.__setitem__(obj, msg.partition()))
    assert producer.flush(30) == 0
    assert placed == {obj: partition_for(obj, 7) for obj in ids}
    assert murmur2(b"9198") == murmur2(b"9198") and murmur2(b"9198") != murmur2(b"9199")


def test_replay_help_documents_every_key() -> None:
    done = run_cli("replay", "--help")
    text = " ".join(done.stdout.split())
    for needle in ("schema (default)", "fink-client", "object:", "schema_path", "none:", "murmur2"):
        assert needle in text
