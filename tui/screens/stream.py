"""Screen 2: the alerts arriving on the topic, per-partition figures and end-to-end latency."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from ..widgets.alert_table import AlertTable
from ..widgets.graphs import Graphs
from ..widgets.latency_panel import LatencyPanel
from ..widgets.partition_stats import PartitionStats
from ..widgets.status_line import StatusLine
from .alert import AlertScreen

if TYPE_CHECKING:
    from ..state import TuiState
    from ..stream_state import StreamState


def ask_filter(screen: Screen, state: StreamState, table: AlertTable) -> None:
    """The `/` box: a filter over the kept alerts and every new one (see engine/alert_filter.py)."""
    from ...engine.alert_filter import FilterError, parse_filter
    from .prompt import PromptScreen

    def answered(text: str | None) -> None:
        if text is None:
            return
        try:
            alert_filter = parse_filter(text)
        except FilterError as exc:
            screen.notify(str(exc), severity="error")
            return
        state.set_filter(alert_filter)
        table.reset()
        table.sync(state)
        refresh = getattr(screen, "refresh_view", None)
        if refresh is not None and screen is screen.app.screen:
            refresh(screen.app.state)

    hint = ("obj=1164  band=r  band=g,r  t=59582..59583  t>59582  src=2283000\n"
            "any field path: diaSource.psFlux>100  diaSource.filterName~r  (empty: no filter)")
    current = state.filter.text if state.filter is not None else ""
    screen.app.push_screen(PromptScreen("filter", hint, value=current, placeholder="obj=1164 band=r"), answered)


class StreamScreen(Screen):
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("o", "seek", "Seek"),
        Binding("g", "toggle_graphs", "Graph"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine(show_producer=self.app.replay_config is not None, id="status-line")
        with Horizontal(id="stream-stats"):
            yield PartitionStats(self.app.topic_label, id="partition-stats")
            yield LatencyPanel(id="latency")
        yield AlertTable(id="alerts")
        yield Graphs(id="stream-graphs")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"Stream · {self.app.topic_label}"
        self.query_one(AlertTable).border_title = f"alerts on {self.app.topic_label}, newest first"

    def on_screen_resume(self) -> None:
        self.refresh_view(self.app.state)

    def refresh_view(self, state: TuiState, rows_every: float = 0.0) -> None:
        """Sync every widget with `state`, the alert table only if it changed `rows_every` seconds ago or more
        (see ROWS_EVERY_S in app.py)."""
        if not self.is_mounted:
            return
        self.query_one(StatusLine).sync(state.connection)
        self.query_one(PartitionStats).sync(state.stream)
        self.query_one(LatencyPanel).sync(state.stream)
        self.query_one(Graphs).sync(state, color=self.app.color)
        table = self.query_one(AlertTable)
        table.sync(state.stream, at_most_every=rows_every)
        stream = state.stream
        if stream.filter is not None:
            caption = f"filter {stream.filter.text}: {len(stream.matched)} of {stream.total:,} received"
        else:
            caption = f"{len(stream.rows)} shown of {stream.total:,} received"
        table.caption(caption, at_most_every=rows_every)

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

    def action_toggle_graphs(self) -> None:
        self.toggle_class("-graphs")
        self.refresh_view(self.app.state)

    def action_filter(self) -> None:
        ask_filter(self, self.app.state.stream, self.query_one(AlertTable))

    def action_seek(self) -> None:
        from .prompt import PromptScreen
        from .records import RecordsScreen, parse_seek

        def answered(text: str | None) -> None:
            if not text:
                return
            try:
                seek = parse_seek(text)
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
            self.app.push_screen(RecordsScreen(seek))

        self.app.push_screen(PromptScreen(
            "seek", "PARTITION OFFSET, or PARTITION @TIME (ISO 8601 UTC, or unix seconds)\n"
                    "e.g. `0 1200`, `1 @2026-03-01T12:00`; read without a group, nothing committed",
            placeholder="0 0"), answered)
