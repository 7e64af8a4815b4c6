"""The replay configuration, as the user would check it before pressing start.

Beside the observations on a wide terminal (one `label value` per line); above them on a narrow one, where
the pairs are packed into as few lines as fit, each value elided only if it alone is wider than the line
(the log holds the full data path, `?` the keys).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from ...engine.replay.config import ReplayConfig
    from ..state import ReplayState

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
        self.compact = False
        self.border_title = "configuration"

    def sync(self, state: ReplayState) -> None:
        width = self.content_size.width or 40
        key = (state.version, state.status, width, self.compact)
        if key == self._key:
            return
        self._key = key
        self.update(self._render_config(state, width))

    def on_resize(self) -> None:
        self._key = None

    def pairs(self, state: ReplayState) -> list[tuple[str, str | Text]]:
        config = self._config
        assert config is not None
        planned = state.planned
        observations = "all" if config.observations == -1 else str(config.observations)
        if planned is not None:
            observations += f" → {planned.observations}"
        partitions = str(config.partitions)
        if planned is not None and planned.partitions != config.partitions:
            partitions += f" (topic has {planned.partitions})"
        out: list[tuple[str, str | Text]] = [
            ("address", config.bootstrap), ("topic", config.topic), ("partitions", partitions),
            ("data", str(config.data)), ("field", str(config.display_field)),
            ("alerts/obs", str(config.per_obs)), ("observations", observations),
            ("interval", f"{config.interval:g} s"),
        ]
        if planned is not None:
            out.append(("to send", f"{planned.to_send:,} of {planned.available:,}"))
        out.append(("status", Text(state.status, style=STATUS_STYLE.get(state.status, ""))))
        return out

    def _render_config(self, state: ReplayState, width: int) -> Table | Text:
        if self._config is None:
            return Text("watch only: no replay from here (`elasticc-stream tui -c FILE.conf` replays); "
                        "the Stream screen (2) shows the topic.", style="dim")
        if self.compact:
            return _packed(self.pairs(state), width)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True, min_width=len("observations"))
        # Values wrap rather than lose their end: a DISPLAY_FIELD path is read whole.
        grid.add_column(overflow="fold")
        value_width = max(8, width - len("observations") - 1)
        for label, value in self.pairs(state):
            if label == "data" and isinstance(value, str):
                value = _tail(value, value_width)
            grid.add_row(label, value)
        return grid


def _packed(pairs: list[tuple[str, str | Text]], width: int) -> Text:
    """`label value` pairs, two spaces apart, wrapped only between pairs."""
    out = Text()
    line = 0
    for label, value in pairs:
        shown = value if isinstance(value, Text) else Text(value)
        room = width - len(label) - 1
        if shown.cell_len > room:
            shown = Text(_tail(shown.plain, max(4, room)), style=shown.style)
        size = len(label) + 1 + shown.cell_len
        if line and line + 2 + size > width:
            out.append("\n")
            line = 0
        elif line:
            out.append("  ")
            line += 2
        out.append(label + " ", style="bold")
        out.append(shown)
        line += size
    return out
