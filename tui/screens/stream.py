"""Screen 2: the alerts arriving on the topic, per-partition figures and end-to-end latency."""

from __future__ import annotations

from typing import TYPE_CHECKING

from elasticc_stream.tui.screens.alert import AlertScreen
from elasticc_stream.tui.widgets.alert_table import AlertTable
from elasticc_stream.tui.widgets.latency_panel import LatencyPanel
from elasticc_stream.tui.widgets.partition_stats import PartitionStats
from elasticc_stream.tui.widgets.status_line import StatusLine
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

if TYPE_CHECKING:
    from elasticc_stream.tui.state import TuiState


class StreamScreen(Screen):

    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine(show_producer=self.app.replay_config is not None, id="status-line")
        with Horizontal(id="stream-stats"):
            yield PartitionStats(self.app.topic_label, id="partition-stats")
            yield LatencyPanel(id="latency")
        yield AlertTable(id="alerts")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Stream · {self.app.topic_label}"
        self.query_one(AlertTable).border_title = f"alerts on {self.app.topic_label}, newest first"

    def on_screen_resume(self) -> None:
        self.refresh_view(self.app.state)

    def refresh_view(self, state: TuiState) -> None:
        if not self.is_mounted:
            return
        self.query_one(StatusLine).sync(state.connection)
        self.query_one(PartitionStats).sync(state.stream)
        self.query_one(LatencyPanel).sync(state.stream)
        table = self.query_one(AlertTable)
        table.sync(state.stream)
        table.border_subtitle = f"{len(state.stream.rows)} shown of {state.stream.total:,} received"

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_alert()

    def action_open_alert(self) -> None:
        key = self.query_one(AlertTable).selected_key()
        kept = None if key is None else self.app.state.stream.alert(key)
        if kept is None:
            self.notify("No alert selected yet.", severity="warning")
            return
        alert, row = kept
        self.app.push_screen(AlertScreen(alert, row))
