"""The TUI following a burst larger than all its buffers, on a real broker: counts exact, rows bounded, the
newest alerts decoded and openable (the rest only counted: see engine/consume/tally.py)."""

from __future__ import annotations

import time

import alert_factory as af
from elasticc_stream.tui.app import DECODE_RATE, ElasticcStreamApp
from elasticc_stream.tui.bridge import QUEUE_SIZE
from elasticc_stream.tui.screens.alert import AlertScreen
from elasticc_stream.tui.state import MAX_ALERT_ROWS
from elasticc_stream.tui.widgets.alert_table import AlertTable
from elasticc_stream.tui.widgets.alert_tree import AlertTree

WAIT_S = 90.0
BURST = 3 * QUEUE_SIZE  # more than the bridge queue, the kept rows and the decode budget


async def _wait_until(pilot, condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await pilot.pause(0.1)


async def test_a_burst_larger_than_every_buffer_is_counted_exactly(kafka_bootstrap: str, make_topic) -> None:
    from confluent_kafka import Producer

    assert max(QUEUE_SIZE, MAX_ALERT_ROWS, DECODE_RATE) < BURST
    schema = af.shipped("elasticc.v0_9_1")
    template = [af.schemaless(af.elasticc_record(schema, source_id=5_000_000 + i, object_id=77), schema)
                for i in range(50)]
    name = make_topic(2)
    app = ElasticcStreamApp(None, kafka_bootstrap, name, {})
    async with app.run_test(size=(80, 24)) as pilot:
        await _wait_until(pilot, lambda: app.bridge.stream_assigned, "the consumer to join")
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 20})
        for i in range(BURST):
            producer.produce(name, template[i % len(template)], partition=i % 2)
            if i % 500 == 0:
                producer.poll(0)
        assert producer.flush(60) == 0
        stream = app.state.stream
        await _wait_until(pilot, lambda: stream.total >= BURST, f"{BURST} alerts counted")
        await pilot.pause(1.0)  # later batches would show a count past the burst
        assert stream.total == BURST
        assert {p: s.count for p, s in stream.partitions.items()} == {0: BURST // 2, 1: BURST // 2}
        assert {p: s.last_offset for p, s in stream.partitions.items()} == {0: BURST // 2 - 1, 1: BURST // 2 - 1}
        assert stream.errors == 0
        assert 0 < len(stream.rows) <= MAX_ALERT_ROWS
        assert len(stream.alerts) == len(stream.rows)
        table = app.screen.query_one(AlertTable)
        assert 0 < table.row_count <= MAX_ALERT_ROWS
        assert f"of {BURST:,} received" in table.border_subtitle
        # The newest decoded alert is the one the cursor follows, and it opens with its tree.
        await pilot.press("enter")
        await _wait_until(pilot, lambda: isinstance(app.screen, AlertScreen), "the alert screen")
        assert app.screen.query_one(AlertTree) is not None
        await pilot.press("escape")
        await pilot.press("q")
        await _wait_until(pilot, lambda: not app.is_running, "the app to exit")
