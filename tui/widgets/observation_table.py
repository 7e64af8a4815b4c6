"""One row per observation of the replay: when it started, how many alerts, their DISPLAY_FIELD range, its
alerts/s and the replay's time left once it was done. The delivery mark leads the row so that no width can
push it off screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from .. import formatting

if TYPE_CHECKING:
    from ..state import ObservationRow, ReplayState

COLUMNS = (("#", "number"), ("t0+s", "start"), ("alerts", "alerts"), ("first", "first"), ("last", "last"),
           ("alerts/s", "rate"), ("left", "left"))


class ObservationTable(DataTable):
    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._version = -1
        self._rendered: dict[int, int] = {}  # observation number -> row version on screen
        self.border_title = "observations"

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def _cells(self, row: ObservationRow) -> tuple:
        start = "" if row.offset_s is None else f"{row.offset_s:.2f}"
        alerts = row.count if row.delivered else row.size
        number = Text(f"{row.number} ", justify="right")
        number.append("✓", style="bold green") if row.delivered else number.append("…", style="yellow")
        rate = formatting.rate(row.rate) if row.delivered else ""
        left = formatting.duration(row.left_s) if row.delivered else ""
        return (number, Text(start, justify="right"), Text(str(alerts), justify="right"),
                formatting.value(row.first), formatting.value(row.last), Text(rate, justify="right"),
                Text(left, justify="right"))

    def sync(self, state: ReplayState) -> None:
        if state.version == self._version:
            return
        self._version = state.version
        rows = state.rows
        gone = [n for n in self._rendered if n not in rows]
        if len(gone) == len(self._rendered) and gone:
            # A new run (or a huge jump): start over rather than removing rows one by one.
            self.clear()
            self._rendered.clear()
        else:
            for number in gone:
                self.remove_row(str(number))
                del self._rendered[number]
        following = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        added = False
        for number, row in rows.items():
            seen = self._rendered.get(number)
            if seen == row.version:
                continue
            cells = self._cells(row)
            if seen is None:
                self.add_row(*cells, key=str(number))
                added = True
            else:
                for (_, column), cell in zip(COLUMNS, cells, strict=True):
                    self.update_cell(str(number), column, cell, update_width=True)
            self._rendered[number] = row.version
        if added and following:
            self.move_cursor(row=self.row_count - 1, animate=False)
