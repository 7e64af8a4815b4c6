"""Alerts received per partition: count, rate and last offset, with the totals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from .. import formatting

if TYPE_CHECKING:
    from ..state import StreamState

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
        partitions = sorted(state.partitions.items())
        # The header and the totals take two lines; more partitions than fit go side by side (without
        # their offsets), and only beyond twice that is the rest counted (the Topics screen lists them all).
        room = max(1, (self.content_size.height or 6) - 2)
        groups = 1 if len(partitions) <= room else 2
        table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
        for _ in range(groups):
            table.add_column("part", justify="right", no_wrap=True)
            table.add_column("alerts", justify="right", no_wrap=True)
            table.add_column("rate", justify="right", no_wrap=True)
            if groups == 1:
                table.add_column("offset", justify="right", no_wrap=True)
        capacity = room * groups
        if len(partitions) > capacity:
            capacity -= 1
        shown = partitions[:capacity]
        rows = -(-len(shown) // groups) if shown else 0
        for r in range(rows):
            cells: list[str | Text] = []
            for g in range(groups):
                i = r + g * rows
                if i < len(shown):
                    partition, stats = shown[i]
                    cells += [str(partition), f"{stats.count:,}", formatting.rate(stats.rate)]
                    if groups == 1:
                        cells.append("" if stats.last_offset is None else f"{stats.last_offset:,}")
                else:
                    cells += ["", "", ""]
            table.add_row(*cells)
        if len(partitions) > capacity:
            table.add_row("…", f"+{len(partitions) - capacity} more", *[""] * (len(table.columns) - 2))
        totals: list[str | Text] = [Text("all", style="bold"), Text(f"{state.total:,}", style="bold"),
                                    Text(formatting.rate(state.rate), style="bold")]
        table.add_row(*totals, *[""] * (len(table.columns) - 3))
        self.border_subtitle = Text(f"{self._source} · {state.status}", style=STATUS_STYLE.get(state.status, ""))
        self.update(table)
