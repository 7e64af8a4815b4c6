"""The TUI's view state without Textual or Kafka: bounds, rates, connection state, age vs latency, graph
series; and the light curve's point modes."""

from __future__ import annotations

import alert_factory as af
import pytest
from elasticc_stream.engine.consume.events import AlertReceived, DecodeFailed
from elasticc_stream.engine.decoder import decode
from elasticc_stream.engine.replay import events as ev
from elasticc_stream.tui import state as tui_state


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
