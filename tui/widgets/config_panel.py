"""The replay configuration, as the user would check it before pressing start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from elasticc_stream.engine.replay.config import ReplayConfig
    from elasticc_stream.tui.state import ReplayState

STATUS_STYLE = {
    "running": "bold green",
    "paused": "bold yellow",
    "stopping": "yellow",
    "finished": "bold cyan",
    "stopped": "yellow",
    "failed": "bold red",
}


def _tail(text: str, width: int) -> str:
    """Paths are most telling at their end."""
    return text if len(text) <= width else "…" + text[-(width - 1):]


class ConfigPanel(Static):
    """Address, topic, data folder, alerts per observation, observations, interval and partitions."""

    def __init__(self, config: ReplayConfig | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._config = config
        self._key: tuple | None = None
        self.border_title = "configuration"

    def sync(self, state: ReplayState) -> None:
        width = max(8, self.content_size.width - 13) if self.content_size.width else 40
        key = (state.version, state.status, width)
        if key == self._key:
            return
        self._key = key
        self.update(self._render_table(state, width))

    def on_resize(self) -> None:
        self._key = None

    def _render_table(self, state: ReplayState, width: int) -> Table | Text:
        config = self._config
        if config is None:
            return Text("No replay configured.\nRun `elasticc-stream tui -c FILE.conf` to replay from here; "
                        "this app only watches the topic.", style="dim")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True, min_width=len("observations"))
        grid.add_column(no_wrap=True, overflow="ellipsis")
        planned = state.planned
        observations = "all" if config.observations == -1 else str(config.observations)
        if planned is not None:
            observations += f" → {planned.observations}"
        grid.add_row("address", config.bootstrap)
        grid.add_row("topic", config.topic)
        grid.add_row("data", _tail(str(config.data), width))
        grid.add_row("alerts/obs", str(config.per_obs))
        grid.add_row("observations", observations)
        grid.add_row("interval", f"{config.interval:g} s")
        partitions = str(config.partitions)
        if planned is not None and planned.partitions != config.partitions:
            partitions += f" (topic has {planned.partitions})"
        grid.add_row("partitions", partitions)
        grid.add_row("field", str(config.display_field))
        if planned is not None:
            grid.add_row("to send", f"{planned.to_send:,} of {planned.available:,}")
        grid.add_row("status", Text(state.status, style=STATUS_STYLE.get(state.status, "")))
        return grid
