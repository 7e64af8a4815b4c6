"""The TUI names each alert family's fields: Rubin sample alerts in the stream table and the alert screen."""

from __future__ import annotations

import alert_factory as af
from confluent_kafka import Producer
from elasticc_stream.engine import decoder
from elasticc_stream.tui.app import ElasticcStreamApp
from elasticc_stream.tui.screens.alert import AlertScreen
from elasticc_stream.tui.screens.stream import StreamScreen
from elasticc_stream.tui.widgets.alert_table import AlertTable
from elasticc_stream.tui.widgets.light_curve import LightCurve
from test_tui import wait_until


async def test_rubin_then_ztf_alerts_in_the_stream_table_and_alert_screen(kafka_bootstrap: str, make_topic):
    name = make_topic(1)
    record, schema = af.rubin_with_forced("11.1", n_forced=4)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(name, af.container([record], schema), partition=0)
    assert producer.flush(30) == 0
    app = ElasticcStreamApp(None, kafka_bootstrap, name, {}, color=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.state.stream.total == 1, "the Rubin alert")
        await pilot.press("2")
        assert isinstance(app.screen, StreamScreen)
        table = app.screen.query_one(AlertTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the table to fill")
        assert [str(c.label) for c in table.columns.values()][:4] == ["diaSourceId", "diaObjectId",
                                                                      "midpointMjdTai", "band"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AlertScreen), "the alert screen")
        summary = str(app.screen.query_one("#alert-summary").render())
        assert f"diaObjectId {record['diaObject']['diaObjectId']}" in summary
        curve = app.screen.query_one(LightCurve)
        await wait_until(pilot, lambda: curve.plot_text != "", "the light curve")
        assert "psfFlux vs midpointMjdTai" in curve.plot_text and "○ forced" in curve.plot_text
        await pilot.press("escape")

        producer.produce(name, af.container([af.ztf_record()], af.ZTF_SCHEMA), partition=0)
        assert producer.flush(30) == 0
        await wait_until(pilot, lambda: app.state.stream.total == 2, "the ZTF alert")
        await wait_until(pilot, lambda: table.row_count == 2, "the second row")
        # Two families in one stream: the columns take neutral names.
        assert [str(c.label) for c in table.columns.values()][:3] == ["id", "object", "time"]
        assert [a.family.name for a, _ in app.state.stream.alerts.values()] == ["rubin", "ztf"]
        assert decoder.schema_name(next(iter(app.state.stream.alerts.values()))[0].schema) == "lsst.v11_1.alert"
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, "the app to exit")
