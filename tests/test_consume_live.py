"""A live view's consumer (ConsumeOptions.decode_rate): the newest alerts decoded, every one counted exactly.

On a real broker: a burst far larger than the decode budget and the prefetch queue is counted to the last
alert, per partition, and committed; units: counting container records from block headers, the budget.
"""

from __future__ import annotations

import alert_factory as af
import pytest
from elasticc_stream.engine.consume.events import AlertReceived, AlertsCounted, ConsumeFinished, DecodeFailed
from elasticc_stream.engine.consume.offsets import group_offsets
from elasticc_stream.engine.consume.stream import AlertStream, ConsumeOptions
from elasticc_stream.engine.consume.tally import LATENCY_SAMPLE, DecodeBudget, count_alerts
from elasticc_stream.engine.errors import UserError

BURST = 3_000


def _produce(bootstrap: str, topic: str, values: list[bytes], partitions: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i, value in enumerate(values):
        producer.produce(topic, value, partition=i % partitions)
        if i % 500 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def test_a_burst_is_counted_exactly_newest_decoded_and_committed(kafka_bootstrap: str, make_topic) -> None:
    schema = af.shipped("elasticc.v0_9_1")
    topic = make_topic(3)
    values = [af.schemaless(af.elasticc_record(schema, source_id=1_000 + i), schema) for i in range(BURST)]
    _produce(kafka_bootstrap, topic, values, 3)
    stream = AlertStream(ConsumeOptions(kafka_bootstrap, topic, group=f"{topic}-g", timeout=3.0, decode_rate=40))
    per_partition: dict[int, int] = {}
    last: dict[int, int] = {}
    decoded: list[AlertReceived] = []
    finished = None
    for event in stream.events():
        if isinstance(event, AlertsCounted):
            for _topic, partition, alerts, last_offset in event.partitions:
                per_partition[partition] = per_partition.get(partition, 0) + alerts
                last[partition] = last_offset
            # Every message has a timestamp: each is live or backlog; latencies are a bounded sample.
            assert event.live + event.backlog == event.alerts
            assert len(event.latencies) <= min(event.live, LATENCY_SAMPLE)
        elif isinstance(event, AlertReceived):
            decoded.append(event)
            per_partition[event.partition] = per_partition.get(event.partition, 0) + 1
            last[event.partition] = max(last.get(event.partition, -1), event.offset)
        elif isinstance(event, ConsumeFinished):
            finished = event
        assert not isinstance(event, DecodeFailed)
    assert per_partition == {0: 1000, 1: 1000, 2: 1000}
    assert last == {0: 999, 1: 999, 2: 999}
    assert finished is not None and finished.alerts == BURST
    # The budget held: only a small part was decoded (the first batch's allowance plus the trickle since).
    assert 0 < len(decoded) < BURST // 2
    assert all(e.alert.record["diaSource"]["diaSourceId"] >= 1_000 for e in decoded)
    report = group_offsets(kafka_bootstrap, topic, f"{topic}-g")
    assert [(p.partition, p.committed, p.lag) for p in report.partitions] == [(0, 1000, 0), (1, 1000, 0), (2, 1000, 0)]


def test_without_a_decode_rate_every_alert_is_decoded(kafka_bootstrap: str, make_topic) -> None:
    schema = af.shipped("elasticc.v0_9_1")
    topic = make_topic(1)
    _produce(kafka_bootstrap, topic, [af.schemaless(af.elasticc_record(schema, source_id=i), schema)
                                      for i in range(300)], 1)
    events = list(AlertStream(ConsumeOptions(kafka_bootstrap, topic, timeout=3.0)).events())
    assert sum(isinstance(e, AlertReceived) for e in events) == 300
    assert not any(isinstance(e, AlertsCounted) for e in events)


def test_count_alerts_reads_container_block_headers_only() -> None:
    schema = af.shipped("elasticc.v0_9_1")
    records = [af.elasticc_record(schema, source_id=i) for i in range(5)]
    assert count_alerts(af.schemaless(records[0], schema)) == 1
    assert count_alerts(af.container(records, schema)) == 5
    assert count_alerts(af.container(records, schema, one_block_per_record=True)) == 5
    assert count_alerts(af.container(records, schema, codec="deflate")) == 5
    whole = af.container(records, schema, one_block_per_record=True)
    # Only decoding can tell: gzip, a truncated container, nothing at all.
    assert count_alerts(af.gz(whole)) is None
    assert count_alerts(whole[:-20]) is None
    assert count_alerts(b"") is None
    assert count_alerts(None) is None


def test_decode_budget_saves_up_half_a_second_and_refills_at_its_rate() -> None:
    now = [100.0]
    budget = DecodeBudget(40, clock=lambda: now[0])
    assert budget.take(500) == 20  # a burst: half a second's worth
    assert budget.take(500) == 0
    now[0] += 0.25
    assert budget.take(500) == 10
    now[0] += 10
    assert budget.take(3) == 3  # a quiet stream: every message
    assert budget.take(500) == 17
    with pytest.raises(ValueError):
        DecodeBudget(0)


def test_a_decode_rate_and_max_cannot_be_combined() -> None:
    with pytest.raises(UserError, match="cannot be combined"):
        AlertStream(ConsumeOptions("localhost:1", "t", max_alerts=5, decode_rate=10))
