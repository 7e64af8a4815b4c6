"""Screen 1: the replay's configuration, one row per observation, overall progress, and the log.

Without a replay configuration (watch only) the replay keys are hidden and the screen says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header

from ..widgets.config_panel import ConfigPanel
from ..widgets.event_log import EventLog
from ..widgets.graphs import Graphs
from ..widgets.observation_table import ObservationTable
from ..widgets.replay_progress import ReplayProgress
from ..widgets.status_line import StatusLine

if TYPE_CHECKING:
    from ..state import TuiState


class ReplayScreen(Screen):
    BINDINGS = [
        Binding("s", "start_replay", "Start"),
        Binding("p", "pause_replay", "Pause"),
        Binding("x", "stop_replay", "Stop"),
        Binding("g", "toggle_graphs", "Graph"),
    ]
    # The configuration goes above the observations below 120 columns, so that every column fits.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (26, "-medium"), (34, "-tall")]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("start_replay", "pause_replay", "stop_replay"):
            return self.app.replay_config is not None
        return True

    def action_start_replay(self) -> None:
        self.app.action_start_replay()

    def action_pause_replay(self) -> None:
        self.app.action_pause_replay()

    def action_stop_replay(self) -> None:
        self.app.action_stop_replay()

    def action_toggle_graphs(self) -> None:
        """The graphs take the observations' place (their panel is where the eye already is)."""
        self.toggle_class("-graphs")
        self.refresh_view(self.app.state)

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine(show_producer=self.app.replay_config is not None, id="status-line")
        with Horizontal(id="replay-top"):
            yield ConfigPanel(self.app.replay_config, id="config-panel")
            yield ObservationTable(id="observations")
            yield Graphs(id="replay-graphs")
        yield ReplayProgress(id="replay-progress")
        yield EventLog(id="event-log")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"Replay · {self.app.topic_label}"
        if self.app.replay_config is None:
            # Nothing to start, pause or follow: the log gets the room.
            self.add_class("-watch-only")

    def on_resize(self) -> None:
        panel = self.query_one(ConfigPanel)
        panel.compact = self.size.width < 120

    def on_screen_resume(self) -> None:
        self.refresh_view(self.app.state)

    def refresh_view(self, state: TuiState) -> None:
        if not self.is_mounted:
            return
        self.query_one(StatusLine).sync(state.connection)
        self.query_one(ConfigPanel).sync(state.replay)
        self.query_one(ObservationTable).sync(state.replay)
        self.query_one(ReplayProgress).sync(state.replay, watch_only=self.app.replay_config is None)
        self.query_one(EventLog).sync(state.log)
        self.query_one(Graphs).sync(state, color=self.app.color)
