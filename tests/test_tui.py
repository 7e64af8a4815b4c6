"""The TUI: a real replay into the session broker watched through the app (Pilot), errors shown and survived,
the view state's bounds, and the `tui` command's arguments."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import alert_factory as af
import pytest
from elasticc_stream.engine.consume.events import AlertReceived, DecodeFailed
from elasticc_stream.engine.decoder import decode
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.prepare import AlertIndex, prepare
from elasticc_stream.engine.replay import events as ev
from elasticc_stream.engine.replay.config import ReplayConfig
from elasticc_stream.tui import state as tui_state
from elasticc_stream.tui.app import ElasticcStreamApp
from elasticc_stream.tui.screens.alert import AlertScreen
from elasticc_stream.tui.screens.confirm import ConfirmScreen
from elasticc_stream.tui.screens.help import HelpScreen
from elasticc_stream.tui.screens.replay import ReplayScreen
from elasticc_stream.tui.screens.stream import StreamScreen
from elasticc_stream.tui.widgets.alert_table import AlertTable
from elasticc_stream.tui.widgets.alert_tree import AlertTree
from elasticc_stream.tui.widgets.event_log import EventLog
from elasticc_stream.tui.widgets.light_curve import LightCurve
from elasticc_stream.tui.widgets.observation_table import ObservationTable

from elasticc_stream.cli import tui as tui_cli

BANDS = "ugrizY"
# Generous bounds on waits for the broker (group join ~3 s); they only end a hung test, never judge speed.
WAIT_S = 90.0


def make_batch(folder: Path, n: int) -> Path:
    """`n` 2022-format alerts (containers, embedded schema) with distinct times, prepared in place."""
    schema = af.shipped("stream2022")
    folder.mkdir(parents=True)
    for i in range(n):
        source_id = 7_000_000 + 13 * i
        record = af.elasticc_record(schema, source_id=source_id, object_id=300 + i % 4,
                                    mjd=round(60100.0 + i * 0.0211, 4), band=BANDS[i % 6], flux=50.0 + i, n_prv=5)
        af.write(folder / f"alert_obj{300 + i % 4}_src{source_id}.avro.gz", af.gz(af.container([record], schema)))
    prepare(folder)
    return folder


async def wait_until(pilot, condition, what: str, limit: float = WAIT_S) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await pilot.pause(0.1)


def cells(table, key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


@pytest.mark.broker
async def test_replay_fills_observations_then_alert_opens_with_tree_and_curve(
        kafka_bootstrap: str, topic: str, tmp_path: Path):
    data = make_batch(tmp_path / "gathered", 20)
    times = [entry.mid_point_tai for entry in AlertIndex.load(data).entries]
    sources = [entry.dia_source_id for entry in AlertIndex.load(data).entries]
    config = ReplayConfig(bootstrap=kafka_bootstrap, topic=topic, data=data, per_obs=5, observations=3,
                          interval=0.2)
    app = ElasticcStreamApp(config, start=True, color=False)
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, ReplayScreen)
        await wait_until(pilot, lambda: app.state.replay.finished is not None, "the replay to finish")
        await pilot.pause(0.5)  # one more UI batch
        table = app.screen.query_one(ObservationTable)
        assert table.row_count == 3
        for number in (1, 2, 3):
            row = cells(table, str(number))
            first, last = times[(number - 1) * 5], times[number * 5 - 1]
            assert row[0] == f"{number} ✓"
            assert row[2] == "5"
            assert (row[3], row[4]) == (str(first), str(last))
            assert row[5].endswith("/s")  # this observation's own alerts/s
        assert cells(table, "3")[6] == "0:00"  # nothing left once the last one is delivered
        assert app.state.replay.finished.delivered == 15

        # A finished replay is not re-sent by a stray `s`: it asks first, and `n` keeps the topic as it is.
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert isinstance(app.screen, ReplayScreen)
        assert not app.bridge.replay_running and app.state.replay.runs == 1

        await pilot.press("2")
        assert isinstance(app.screen, StreamScreen)
        await wait_until(pilot, lambda: app.state.stream.total >= 15, "15 alerts consumed")
        alerts = app.screen.query_one(AlertTable)
        await wait_until(pilot, lambda: alerts.row_count == 15, "the alert table to fill")
        assert alerts.cursor_row == 0
        # Newest first: the last alert replayed (one partition keeps the order) is on top.
        assert cells(alerts, alerts.coordinate_to_cell_key(alerts.cursor_coordinate).row_key.value)[0] == \
            str(sources[14])
        assert app.state.stream.percentiles()[0] is not None

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AlertScreen), "the alert screen")
        screen = app.screen
        assert screen.row.source_id == sources[14]
        tree = screen.query_one(AlertTree)
        labels = [str(node.label) for node in tree.root.children]
        assert "diaSource" in labels
        assert any(label.startswith("prvDiaSources") for label in labels)
        curve = screen.query_one(LightCurve)
        await wait_until(pilot, lambda: curve.plot_text != "", "the light curve")
        assert "midPointTai" in curve.plot_text and "┤" in curve.plot_text

        await pilot.press("escape")
        assert isinstance(app.screen, StreamScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_code == 0
    assert not app.bridge.replay_running and not app.bridge.stream_running


@pytest.mark.broker
async def test_pause_resume_stop_keys(kafka_bootstrap: str, topic: str, tmp_path: Path):
    data = make_batch(tmp_path / "gathered", 20)
    config = ReplayConfig(bootstrap=kafka_bootstrap, topic=topic, data=data, per_obs=2, observations=10,
                          interval=0.5)
    app = ElasticcStreamApp(config, color=False)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.state.replay.status == "idle"
        await pilot.press("s")
        await wait_until(pilot, lambda: app.state.replay.delivered_total >= 2, "the first observation")
        await pilot.press("p")
        await wait_until(pilot, lambda: app.state.replay.status == "paused", "paused")
        await pilot.press("p")
        await wait_until(pilot, lambda: app.state.replay.status == "running", "resumed")
        await pilot.press("x")
        await wait_until(pilot, lambda: app.state.replay.finished is not None, "the stop")
        assert app.state.replay.finished.interrupted
        assert app.state.replay.status == "stopped"
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, "the app to exit")
    assert not app.bridge.replay_running and not app.bridge.stream_running


@pytest.mark.broker
async def test_undecodable_message_is_notified_and_logged(kafka_bootstrap: str, make_topic):
    from confluent_kafka import Producer

    name = make_topic(1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(name, b"this is not an alert")
    schema = af.shipped("elasticc.v0_9_1")
    producer.produce(name, af.schemaless(af.elasticc_record(schema, source_id=42), schema))
    assert producer.flush(30) == 0
    app = ElasticcStreamApp(None, kafka_bootstrap, name, {})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.stream.total == 1 and app.state.stream.errors == 1,
                         "one alert and one error")
        await pilot.pause(0.5)
        messages = [n.message for n in app._notifications]
        assert any("undecodable" in m and f"{name}[0]@0" in m for m in messages), messages
        log_text = [text for _, _, text in app.state.log.lines]
        assert any(f"{name}[0]@0" in text for text in log_text)
        await pilot.press("1")
        assert app.screen.query_one(EventLog).lines  # shown in the log panel
        await pilot.press("2")
        assert app.screen.query_one(AlertTable).row_count == 1
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, "the app to exit")


async def test_unreachable_broker_is_a_state_on_screen_not_log_text():
    app = ElasticcStreamApp(None, "127.0.0.1:1", "nowhere", {"socket.connection.setup.timeout.ms": "1000"})
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, StreamScreen)  # watch only: the stream is what there is to see
        await wait_until(pilot, lambda: app.state.connection.consumer.state == "unreachable",
                         "the consumer to be shown unreachable", 60)
        await pilot.pause(0.5)
        text = screen_text(app)
        assert "consumer ✗ unreachable" in text
        assert "refused" in text
        # librdkafka's own lines go to the event log, never over the panels.
        assert "rdkafka" not in text and "FAIL" not in text
        assert any("refused" in line for _, _, line in app.state.log.lines)
        assert app.state.stream.status != "failed"  # it keeps trying: a broker may come up later
        await pilot.press("s")  # watch only: no replay key, nothing happens
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_code == 0


async def test_ctrl_c_quits_cleanly_with_exit_status_130():
    app = ElasticcStreamApp(None, "127.0.0.1:9092", "t", workers=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_code == 130  # as every command stopped by Ctrl-C


def screen_text(app) -> str:
    """What the terminal shows, as plain text (from the app's own screenshot)."""
    import html
    import re

    svg = app.export_screenshot()
    body = svg[svg.index("<g class=\"terminal"):] if "<g class=\"terminal" in svg else svg
    rows: dict[float, str] = {}
    for y, content in re.findall(r"<text[^>]*\by=\"([\d.]+)\"[^>]*>(.*?)</text>", body):
        rows[float(y)] = rows.get(float(y), "") + html.unescape(re.sub(r"<[^>]+>", "", content))
    return "\n".join(rows[y].replace("\xa0", " ") for y in sorted(rows))


# -- the view state, without Textual or Kafka --------------------------------------------------------------

def test_replay_rate_does_not_fall_while_paused():
    clock = [100.0]
    state = tui_state.TuiState(lambda: clock[0])
    state.apply([ev.ReplayPlanned("d", 100, 40, 10, 4, 1.0, "t", "b", 1, "diaSource,midPointTai", []),
                 ev.ReplayStarted(1.0), ev.ObservationStarted(1, 0.0, 10)])
    clock[0] += 2.0
    state.apply([ev.ObservationDelivered(1, 10, 1.0, 2.0, 0.5, 10, 40)])
    assert state.replay.rate() == pytest.approx(5.0)
    assert state.replay.rows[1].rate == pytest.approx(20.0)  # 10 alerts in 0.5 s
    state.apply([tui_state.WorkerStatus("replay", "paused")])
    clock[0] += 30.0
    assert state.replay.rate() == pytest.approx(5.0)
    assert state.replay.eta() is not None
    state.apply([tui_state.WorkerStatus("replay", "running")])
    clock[0] += 2.0
    assert state.replay.rate() == pytest.approx(10 / 4.0)


def test_graph_series_are_bounded_and_sent_rate_counts_deliveries():
    from elasticc_stream.tui.stream_state import SERIES_POINTS

    clock = [0.0]
    state = tui_state.TuiState(lambda: clock[0])
    state.apply([ev.ReplayPlanned("d", 10**6, 10**6, 10, 10**5, 1.0, "t", "b", 1, "None", []),
                 ev.ReplayStarted(1.0)])
    delivered = 0
    for second in range(SERIES_POINTS + 60):
        delivered += 10
        state.apply([ev.ObservationDelivered(second + 1, 10, None, None, second + 0.5, delivered, 10**6),
                     tui_state.LagSample(second)])
        state.tick()  # what the app does after each batch
        clock[0] += 1.0
    assert len(state.replay.rate_series) == SERIES_POINTS
    assert state.replay.rate_series[-1][1] == pytest.approx(10.0)
    assert len(state.stream.rate_series.points) <= SERIES_POINTS
    assert len(state.stream.lag_series.points) == SERIES_POINTS
    assert state.stream.lag == SERIES_POINTS + 59


def test_connection_state_follows_the_clients():
    state = tui_state.TuiState(lambda: 0.0)
    assert state.connection.consumer.state == "off"
    state.apply([tui_state.ConnectionChanged("stream", "connecting")])
    assert state.connection.consumer.state == "connecting"
    state.apply([tui_state.KafkaTrouble("stream", "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: "
                                                  "Connection refused (after 0ms in state CONNECT)")])
    assert (state.connection.consumer.state, state.connection.consumer.reason) == \
        ("unreachable", "Connection refused")
    state.apply([tui_state.KafkaTrouble("stream", "Group rebalance in progress")])
    assert state.connection.consumer.state == "unreachable"  # not a connection complaint: no change
    state.apply([tui_state.ConsumerAssigned(1000.0)])
    assert state.connection.consumer.state == "connected"
    assert any("refused" in text for _, _, text in state.log.lines)


def test_messages_produced_before_the_consumer_joined_are_age_not_latency():
    schema = af.shipped("elasticc.v0_9_1")
    alert = decode(af.schemaless(af.elasticc_record(schema), schema), schema=schema)[0]
    state = tui_state.TuiState(lambda: 0.0)
    state.apply([tui_state.ConsumerAssigned(1000.0),
                 AlertReceived(alert, "t", 0, 0, 900_000, 100.0),     # waiting in the topic for 100 s
                 AlertReceived(alert, "t", 0, 1, 1_000_500, 0.004)])  # produced after the join
    stream = state.stream
    assert stream.backlog == 1 and stream.backlog_age_max == pytest.approx(100.0)
    assert list(stream.latencies) == [pytest.approx(0.004)]
    assert [row.backlog for row in stream.rows] == [True, False]


def _received(i: int, alert) -> AlertReceived:
    return AlertReceived(alert, "t", i % 3, i, 1_000, 0.001 * (i % 50))


def test_stream_state_stays_bounded_and_keeps_the_newest():
    schema = af.shipped("elasticc.v0_9_1")
    alert = decode(af.schemaless(af.elasticc_record(schema), schema), schema=schema)[0]
    clock = [0.0]
    state = tui_state.TuiState(lambda: clock[0])
    for start in range(0, 3000, 700):
        state.apply([_received(i, alert) for i in range(start, min(start + 700, 3000))])
        clock[0] += 1
    state.apply([_received(i, alert) for i in range(3000, 3000 + tui_state.LATENCY_WINDOW)])
    stream = state.stream
    total = 3000 + tui_state.LATENCY_WINDOW
    assert stream.total == total
    assert len(stream.rows) == tui_state.MAX_ALERT_ROWS
    assert len(stream.alerts) == tui_state.MAX_ALERT_ROWS
    assert stream.rows[-1].key == total and stream.alert(total) is not None
    assert stream.alert(stream.rows[0].key - 1) is None
    assert len(stream.latencies) == tui_state.LATENCY_WINDOW
    assert sum(p.count for p in stream.partitions.values()) == total
    assert stream.latency_max == pytest.approx(0.049)
    assert len(stream.sparkline) <= tui_state.SPARKLINE_POINTS


def test_replay_state_rows_log_and_notices_are_bounded():
    state = tui_state.TuiState(lambda: 0.0)
    n = tui_state.MAX_OBSERVATION_ROWS + 50
    batch: list[object] = [ev.ReplayPlanned("p", n, n, 1, n, 0.0, "t", "h:1", 1, "diaSource,midPointTai", [])]
    for k in range(1, n + 1):
        batch += [ev.ObservationStarted(k, k * 0.1, 1), ev.ObservationDelivered(k, 1, k, k, k * 0.1, k, n)]
    batch += [ev.AlertFailed(f"f{k}", "broker said no") for k in range(tui_state.MAX_LOG_LINES + 10)]
    batch += [DecodeFailed("t", 0, k, "garbage") for k in range(3)]
    notices = state.apply(batch)
    assert len(state.replay.rows) == tui_state.MAX_OBSERVATION_ROWS
    assert next(iter(state.replay.rows)) == 51
    assert len(state.log.lines) == tui_state.MAX_LOG_LINES
    # One notification per kind and batch, however many errors it held.
    texts = [notice.text for notice in notices]
    assert len(texts) == 2
    assert any("+2 more" in t and "t[0]@2" in t for t in texts)
    assert state.stream.errors == 3


def test_kafka_trouble_is_logged_once_a_minute_and_never_a_popup():
    clock = [0.0]
    state = tui_state.TuiState(lambda: clock[0])
    trouble = tui_state.KafkaTrouble("stream", "Connection refused")

    def logged() -> int:
        return sum("Connection refused" in text for _, _, text in state.log.lines)

    assert state.apply([trouble, trouble]) == []  # the status line says it; no toast over the panels
    assert logged() == 1
    clock[0] = 30
    state.apply([trouble])
    assert logged() == 1
    clock[0] = 61
    state.apply([trouble])
    assert logged() == 2


# -- the command ----------------------------------------------------------------------------------------------

def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    tui_cli.register(parser.add_subparsers())
    return parser.parse_args(["tui", *argv])


def test_cli_needs_something_to_watch():
    with pytest.raises(UserError, match="--bootstrap"):
        tui_cli._run(_parse())
    with pytest.raises(UserError, match="--start needs"):
        tui_cli._run(_parse("--start", "--bootstrap", "h:1", "--topic", "t"))
    with pytest.raises(UserError, match="host:port"):
        tui_cli._run(_parse("--bootstrap", "nope", "--topic", "t"))
    with pytest.raises(UserError, match="expected property=value"):
        tui_cli._run(_parse("--bootstrap", "h:1", "--topic", "t", "-X", "oops"))


def test_light_curve_points_modes_show_forced_photometry_hidden_under_detections():
    from elasticc_stream.engine.lightcurve import render_light_curve

    schema = af.shipped("elasticc.v0_9_1")
    record = af.elasticc_record(schema, n_prv=6, n_forced=6)
    # Forced photometry measured at the detections' own epochs, as in the real stream.
    for forced, source in zip(record["prvDiaForcedSources"], record["prvDiaSources"], strict=True):
        forced["midPointTai"], forced["filterName"] = source["midPointTai"], source["filterName"]
    alert = decode(af.schemaless(record, schema), schema=schema)[0]

    def plot(points: str) -> tuple[str, str]:
        text = render_light_curve(alert.record, 60, 14, color=False, points=points)
        body, key = text.rsplit("\n", 1)
        return body, key

    body, key = plot("all")
    assert "○ forced (6 of 6 under detections)" in key
    body, key = plot("secondary")
    assert "○" in body and "•" not in body  # the forced points, no detection drawn over them
    body, key = plot("detections")
    assert "○" not in body and "•" in body and "forced" not in key


async def test_f_cycles_the_light_curve_points():
    app = ElasticcStreamApp(None, "127.0.0.1:9092", "t", workers=False, color=False)
    schema = af.shipped("elasticc.v0_9_1")
    record = af.elasticc_record(schema, n_prv=6, n_forced=6)
    alert = decode(af.schemaless(record, schema), schema=schema)[0]
    async with app.run_test(size=(100, 30)) as pilot:
        app.apply_events([AlertReceived(alert, "t", 0, 0, 1_000, 0.001)])
        await pilot.pause()
        await pilot.press("2", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AlertScreen), "the alert screen")
        curve = app.screen.query_one(LightCurve)
        await wait_until(pilot, lambda: curve.plot_text != "", "the light curve")
        await pilot.press("f")
        assert curve.points == "detections" and "○" not in curve.plot_text.rsplit("\n", 1)[0]
        await pilot.press("f")
        assert curve.points == "secondary" and "•" not in curve.plot_text.rsplit("\n", 1)[0]
        await pilot.press("f")
        assert curve.points == "all"
        await pilot.press("q")
