"""End-to-end latency (Kafka timestamp to receipt): p50, p99, max and a sparkline over time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from .. import formatting
from ..state import LATENCY_WINDOW

if TYPE_CHECKING:
    from ..state import StreamState


class LatencyPanel(Vertical):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._version = -1
        self.border_title = "latency"

    def compose(self) -> ComposeResult:
        yield Static(id="latency-figures")
        yield Sparkline([], id="latency-sparkline")

    def sync(self, state: StreamState) -> None:
        if state.version == self._version:
            return
        self._version = state.version
        p50, p99 = state.percentiles()
        figures = (
            f"p50 [b]{formatting.latency(p50)}[/]  p99 [b]{formatting.latency(p99)}[/]  "
            f"max [b]{formatting.latency(state.latency_max)}[/]\n"
            f"[dim]of {min(len(state.latencies), LATENCY_WINDOW):,} alerts sent after the join[/]"
        )
        if state.backlog:
            # Produced before the consumer held its partitions: how long they waited, not stream latency.
            figures += (f"\n[yellow]backlog {state.backlog:,}[/] [dim]age up to[/] "
                        f"{formatting.latency(state.backlog_age_max)}")
        if state.errors:
            figures += f"\n[b red]{state.errors:,} undecodable[/]"
        self.query_one("#latency-figures", Static).update(figures)
        # Only the newest batches fit the panel's width; Sparkline would average older ones into them.
        width = max(1, self.query_one(Sparkline).content_size.width or 60)
        points = list(state.sparkline)[-width:]
        self.query_one(Sparkline).data = points
