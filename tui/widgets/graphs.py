"""Live graphs: alerts/s sent (by this app's replay) and received, consumer lag, end-to-end latency.

Latency is plotted only for alerts produced after the consumer joined; older ones are backlog, whose age
says how long they waited, not how fast the stream is (see stream_state.py). Each plot redraws only when
its series changed and its panel is visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Static

if TYPE_CHECKING:
    from ..state import TuiState


class Plot(Static):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._key: tuple | None = None

    def draw(self, key: tuple, lines: list, title: str, color: bool) -> None:
        from ...engine.series_plot import render_series

        width, height = self.content_size.width, self.content_size.height
        full_key = (key, width, height)
        if full_key == self._key or width < 20 or height < 5:
            return
        self._key = full_key
        text = render_series(lines, width, height - 1, title, color=color)
        self.update(Text.from_ansi(text) if color else Text(text))


class Graphs(Container):
    def compose(self) -> ComposeResult:
        yield Plot(id="graph-rate")
        yield Plot(id="graph-lag")
        yield Plot(id="graph-latency")

    def on_mount(self) -> None:
        self.border_title = "graphs (last 4 minutes)"

    def sync(self, state: TuiState, color: bool = True) -> None:
        if not self.display:
            return
        from ...engine.series_plot import Line

        stream, replay = state.stream, state.replay
        sent, received = list(replay.rate_series), list(stream.rate_series.points)
        rate_key = (len(sent), sent[-1] if sent else None, len(received), received[-1] if received else None)
        self.query_one("#graph-rate", Plot).draw(rate_key, [
            Line("sent/s", "cyan+", sent, "+"), Line("received/s", "green+", received, "•")], "alerts/s", color)
        lag = list(stream.lag_series.points)
        self.query_one("#graph-lag", Plot).draw((len(lag), lag[-1] if lag else None), [
            Line("lag (messages not yet read)", "yellow+", lag)], "consumer lag", color)
        latency = list(stream.latency_series.points)
        self.query_one("#graph-latency", Plot).draw((len(latency), latency[-1] if latency else None), [
            Line("median latency, alerts sent after the join", "magenta+", latency)], "latency (s)", color)
