"""The TUI: a real replay into the session broker watched through the app (Pilot), errors shown and survived,
the view state's bounds, and the `tui` command's arguments."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import alert_factory as af
import pytest
from elasticc_stream.engine.consume.events import AlertReceived
from elasticc_stream.engine.decoder import decode
from elasticc_stream.engine.errors import UserError
from elasticc_stream.engine.prepare import AlertIndex, prepare
from elasticc_stream.engine.replay.config import ReplayConfig
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


async def test_home_and_end_after_page_down_and_watch_only_has_no_replay_keys():
    from test_tui_snapshots import stream_events

    app = ElasticcStreamApp(None, "127.0.0.1:9092", "elasticc", workers=False, color=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply_events(stream_events())
        await pilot.pause()
        await pilot.press("1")
        replay = app.screen
        assert isinstance(replay, ReplayScreen)
        assert replay.check_action("start_replay", ()) is False  # watch only: nothing to start
        assert not [b for b in app.active_bindings.values() if b.binding.key in ("s", "p", "x")]
        await pilot.press("2")
        table = app.screen.query_one(AlertTable)
        assert table.row_count == 24 and table.cursor_row == 0
        await pilot.press("pagedown")
        assert table.cursor_row > 0
        await pilot.press("home")
        assert table.cursor_row == 0  # the newest, and the cursor follows new arrivals again
        await pilot.press("pagedown", "end")
        assert table.cursor_row == 23
        await pilot.press("home")
        assert table.cursor_row == 0
