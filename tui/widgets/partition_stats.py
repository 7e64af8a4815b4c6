"""Alerts received per partition: count, rate and last offset, with the totals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from elasticc_stream.tui import formatting
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from elasticc_stream.tui.state import StreamState

STATUS_STYLE = {"running": "green", "failed": "bold red", "stopped": "yellow", "idle": "dim"}


class PartitionStats(Static):
    def __init__(self, source: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._source = source
        self._version = -1
        self.border_title = "partitions"

    def sync(self, state: StreamState) -> None:
        if state.version == self._version:
            return
        self._version = state.version
        table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
        table.add_column("part", justify="right", no_wrap=True)
        table.add_column("alerts", justify="right", no_wrap=True)
        table.add_column("rate", justify="right", no_wrap=True)
        table.add_column("offset", justify="right", no_wrap=True)
        # Leave room for the totals line within the panel's height.
        room = max(1, (self.content_size.height or 6) - 3)
        partitions = sorted(state.partitions.items())
        for partition, stats in partitions[:room]:
            offset = "" if stats.last_offset is None else f"{stats.last_offset:,}"
            table.add_row(str(partition), f"{stats.count:,}", formatting.rate(stats.rate), offset)
        if len(partitions) > room:
            table.add_row("…", f"+{len(partitions) - room} more", "", "")
        table.add_row(Text("all", style="bold"), Text(f"{state.total:,}", style="bold"),
                      Text(formatting.rate(state.rate), style="bold"), "")
        self.border_subtitle = Text(f"{self._source} · {state.status}", style=STATUS_STYLE.get(state.status, ""))
        self.update(table)
