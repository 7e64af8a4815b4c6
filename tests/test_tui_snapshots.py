"""Snapshots of the three screens with fixed content: events are applied directly (no broker, no workers,
a fixed clock), so the pictures only change when the TUI's looks change. Update with --snapshot-update."""

from __future__ import annotations

from pathlib import Path

import alert_factory as af
import pytest
from elasticc_stream.engine.consume.events import AlertReceived
from elasticc_stream.engine.decoder import decode
from elasticc_stream.engine.replay import events as ev
from elasticc_stream.engine.replay.config import ReplayConfig
from elasticc_stream.tui.app import ElasticcStreamApp
from elasticc_stream.tui.state import ConnectionChanged

BANDS = "ugrizY"
CONFIG = ReplayConfig(bootstrap="127.0.0.1:9092", topic="elasticc",
                      data=Path("/data/LSST_ALERTS_BATCH/ALERTS/gathered"), per_obs=5, observations=6, interval=1.0,
                      partitions=2)


def replay_events() -> list[object]:
    """The reference note's run, with six observations of which four are delivered."""
    out: list[object] = [
        ev.ReplayPlanned("/data/LSST_ALERTS_BATCH/ALERTS/gathered", 5693, 30, 5, 6, 1.0, "elasticc",
                         "127.0.0.1:9092", 2, "diaSource,midPointTai", []),
        ev.ReplayStarted(1646209314.7304435),
    ]
    ranges = [(59582.0513, 59583.0511), (59583.0511, 59588.1079), (59588.1079, 59590.0349),
              (59590.0349, 59591.0402), (59591.0402, 59592.2213)]
    for number, (first, last) in enumerate(ranges[:4], start=1):
        out.append(ev.ObservationStarted(number, 0.27 + number - 1, 5))
        out.append(ev.ObservationDelivered(number, 5, first, last, 0.31 + number - 1, 5 * number, 30))
    out.append(ev.ObservationStarted(5, 4.27, 5))
    out.append(ev.Note("topic elasticc exists with 2 partitions"))
    return out


def stream_events() -> list[object]:
    schema = af.shipped("elasticc.v0_9_1")
    out: list[object] = []
    for i in range(24):
        record = af.elasticc_record(schema, source_id=2_260_000 + 1000 * i, object_id=1161 + i % 5,
                                    mjd=round(59582.0513 + 0.25 * i, 4), band=BANDS[i % 6],
                                    flux=80.0 + 7.5 * (i % 9), n_prv=8)
        alert = decode(af.schemaless(record, schema), schema=schema)[0]
        out.append(AlertReceived(alert, "elasticc", i % 3, i // 3, 1646209315000 + 40 * i,
                                 0.004 + 0.0015 * (i % 7), str(1161 + i % 5).encode(), (("origin", b"snapshot"),)))
    return out


def long_alert() -> AlertReceived:
    """An alert whose values do not fit an 80-column tree: long floats, many forced points, a long key."""
    schema = af.shipped("elasticc.v0_9_1")
    record = af.elasticc_record(schema, source_id=246_813_579_246, object_id=123_456_789_012, mjd=59582.05130001,
                                band="r", flux=419.95861816406, flux_err=12.345678901234, n_prv=12, n_forced=90)
    record["diaSource"]["ra"] = 150.25000123456789
    alert = decode(af.schemaless(record, schema), schema=schema)[0]
    return AlertReceived(alert, "elasticc-with-a-rather-long-topic-name", 2, 1_234_567, 1646209315000, 0.0123,
                         b"diaObjectId=123456789012 schema=elasticc.v0_9_1", (("content-type", b"avro/binary"),))


class FixedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fed_app() -> ElasticcStreamApp:
    clock = FixedClock()
    app = ElasticcStreamApp(CONFIG, workers=False, clock=clock, color=True)

    async def feed(pilot) -> None:
        await pilot.pause()
        events = replay_events() + stream_events()
        app.apply_events(events[:12])
        clock.now += 2.0
        app.apply_events(events[12:])
        await pilot.pause()

    app.feed = feed  # type: ignore[attr-defined]
    return app


SIZES = [(80, 24), (100, 30), (120, 35)]


@pytest.mark.parametrize("size", SIZES)
def test_replay_screen(snap_compare, size):
    app = fed_app()
    assert snap_compare(app, terminal_size=size, run_before=app.feed)


def test_replay_screen_watch_only(snap_compare):
    clock = FixedClock()
    app = ElasticcStreamApp(None, "127.0.0.1:9092", "elasticc", workers=False, clock=clock)

    async def feed(pilot) -> None:
        await pilot.pause()
        app.apply_events([ConnectionChanged("stream", "unreachable", "Connection refused")])
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=feed, press=["1"])


@pytest.mark.parametrize("size", SIZES)
def test_stream_screen(snap_compare, size):
    app = fed_app()
    assert snap_compare(app, terminal_size=size, run_before=app.feed, press=["2", "down", "down"])


@pytest.mark.parametrize("size", SIZES)
def test_alert_screen(snap_compare, size):
    app = fed_app()
    assert snap_compare(app, terminal_size=size, run_before=app.feed, press=["2", "enter", "_"])


def test_alert_screen_long_values(snap_compare):
    """At 80x24 a cut value is shown whole below the tree when the cursor is on it."""
    clock = FixedClock()
    app = ElasticcStreamApp(CONFIG, workers=False, clock=clock, color=True)

    async def feed(pilot) -> None:
        await pilot.pause()
        app.apply_events([long_alert()])
        await pilot.pause()

    # Down to diaSource.ra: past the root, message, alertId, diaSource and four of its fields.
    keys = ["2", "enter", *["down"] * 8, "_"]
    assert snap_compare(app, terminal_size=(80, 24), run_before=feed, press=keys)


def test_help_screen(snap_compare):
    app = fed_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=app.feed, press=["question_mark"])


def cluster_topics() -> list:
    from elasticc_stream.engine.kafka_admin.cluster import PartitionInfo, TopicInfo

    def parts(n: int, records: int) -> tuple:
        return tuple(PartitionInfo(p, 1, (1, 2, 3), (1, 2, 3) if p else (1, 3), 0, records + p) for p in range(n))

    return [TopicInfo("elasticc", parts(3, 1130), ("elasticc-stream-root-vm-03a620", "fink"), 212),
            TopicInfo("elasticc-2023-schemaless-replay-with-a-long-name-for-tests", parts(12, 40), (), None),
            TopicInfo("ztf-public", parts(1, 0), (), None)]


def cluster_groups() -> list:
    from elasticc_stream.engine.kafka_admin.cluster import GroupInfo, GroupMember, GroupPartition

    member = GroupMember("m-1", "elasticc-stream", "/127.0.0.1", (("elasticc", 0), ("elasticc", 1), ("elasticc", 2)))
    partitions = tuple(GroupPartition("elasticc", p, 1000 + 30 * p, 1130 + p) for p in range(3))
    return [GroupInfo("elasticc-stream-root-vm-03a620", "stable", (member,), partitions),
            GroupInfo("fink-broker-elasticc-ingest-with-a-long-group-id", "empty", (),
                      (GroupPartition("elasticc", 0, None, 1130),))]


@pytest.mark.parametrize("screen", ["topics", "groups"])
def test_admin_screens(snap_compare, screen):
    app = fed_app()

    async def feed(pilot) -> None:
        await app.feed(pilot)
        await pilot.press("3" if screen == "topics" else "4")
        await pilot.pause()
        app.screen.show(cluster_topics() if screen == "topics" else cluster_groups())
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=feed)


def test_records_screen(snap_compare):
    from elasticc_stream.tui.screens.records import RecordsScreen, Seek

    app = fed_app()

    async def feed(pilot) -> None:
        await app.feed(pilot)
        await pilot.press("2")
        app.push_screen(RecordsScreen(Seek(0, offset=4)))
        await pilot.pause()
        app.screen._show([e for e in stream_events() if e.partition == 0])
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=feed)


def test_stream_graphs(snap_compare):
    """`g`: alerts/s sent and received, lag and latency over time, in place of the alerts (80x24)."""
    app = fed_app()

    async def feed(pilot) -> None:
        await app.feed(pilot)
        stream, replay = app.state.stream, app.state.replay
        for t in range(60):
            stream.rate_series.add(float(t), 50.0 + (t % 10))
            replay.rate_series.append((float(t), 50.0 + (t % 7)))
            stream.lag_series.add(float(t), float((t * 7) % 40))
            stream.latency_series.add(float(t), 0.02 + 0.001 * (t % 13))
        stream.version += 1
        await pilot.press("2", "g")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=feed)
