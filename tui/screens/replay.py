"""Screen 1: the replay's configuration, one row per observation, overall progress, and the log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from elasticc_stream.tui.widgets.config_panel import ConfigPanel
from elasticc_stream.tui.widgets.event_log import EventLog
from elasticc_stream.tui.widgets.observation_table import ObservationTable
from elasticc_stream.tui.widgets.replay_progress import ReplayProgress
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header

if TYPE_CHECKING:
    from elasticc_stream.tui.state import TuiState


class ReplayScreen(Screen):
    BINDINGS = [
        Binding("s", "app.start_replay", "Start"),
        Binding("p", "app.pause_replay", "Pause/resume"),
        Binding("x", "app.stop_replay", "Stop"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (26, "-medium"), (34, "-tall")]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="replay-top"):
            yield ConfigPanel(self.app.replay_config, id="config-panel")
            yield ObservationTable(id="observations")
        yield ReplayProgress(id="replay-progress")
        yield EventLog(id="event-log")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Replay · {self.app.topic_label}"

    def on_screen_resume(self) -> None:
        self.refresh_view(self.app.state)

    def refresh_view(self, state: TuiState) -> None:
        if not self.is_mounted:
            return
        self.query_one(ConfigPanel).sync(state.replay)
        self.query_one(ObservationTable).sync(state.replay)
        self.query_one(ReplayProgress).sync(state.replay)
        self.query_one(EventLog).sync(state.log)
