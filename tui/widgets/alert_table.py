"""The newest alerts received, newest first; the cursor follows the newest one unless the user moved it."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from .. import formatting

if TYPE_CHECKING:
    from ...engine.families import Family
    from ..state import AlertRow, StreamState

COLUMNS = ("diaSourceId", "diaObjectId", "midPointTai", "band", "flux", "part", "offset", "ms")  # the keys
# Labels of the first three columns when the stream mixes alert families (each family names its own).
GENERIC = ("id", "object", "time")
# DataTable appends rows at the bottom and re-measures every row of a rebuilt table, which costs about a
# millisecond per row: new rows are added, the oldest removed and the table re-sorted; a flood rebuilds it, at
# most once per REBUILD_EVERY_S, so that a fast stream cannot starve the UI. A redraw a second (the app's
# ROWS_EVERY_S) at its DECODE_RATE adds ~40 rows and removes as many: patched, with room for a late one.
PATCH_LIMIT = 250
REBUILD_EVERY_S = 1.0


@dataclass(frozen=True)
class ArrivalCell:
    """The diaSourceId cell, carrying the arrival number the rows are sorted by."""

    key: int
    text: Text

    def __rich__(self) -> Text:
        return self.text

    def __str__(self) -> str:
        return self.text.plain


def _right(obj: object) -> Text:
    return Text(formatting.value(obj), justify="right")


class AlertTable(DataTable):
    # DataTable's own Enter binding is hidden from the footer; here it is the way into an alert.
    BINDINGS: ClassVar[list[BindingType]] = [
        # Not in the footer (it would push `q Quit` off an 80-column one); `?` lists it.
        Binding("enter", "select_cursor", "Open", show=False),
        # DataTable's own Home/End scroll the view but leave the cursor, which the next update then follows.
        Binding("home", "newest", "Newest", show=False),
        Binding("end", "oldest", "Oldest", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._keys: deque[int] = deque()  # arrival numbers on screen, oldest first
        self._rebuilt_at = float("-inf")
        self._changed_at = float("-inf")
        self._captioned_at = float("-inf")
        self._labels = COLUMNS

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for key, label in zip(COLUMNS, self._labels, strict=True):
            self.add_column(label, key=key)

    @staticmethod
    def labels_for(families: list[Family]) -> tuple[str, ...]:
        """Column labels: the family's own field names, generic ones for a mix (ELAsTiCC's before any alert)."""
        if len(families) == 1:
            names = families[0].names
            return (names["id"], names["object"], names["time"], *COLUMNS[3:])
        return COLUMNS if not families else (*GENERIC, *COLUMNS[3:])

    @staticmethod
    def _cells(row: AlertRow) -> tuple:
        latency = "" if row.latency_s is None else f"{row.latency_s * 1000:.0f}"
        if row.backlog and row.latency_s is not None:
            latency = f"age {formatting.latency(row.latency_s)}"
        return (ArrivalCell(row.key, _right(row.source_id)), _right(row.object_id), formatting.value(row.time),
                formatting.value(row.band), Text(formatting.flux(row.flux), justify="right"),
                _right(row.partition), _right(row.offset), Text(latency, justify="right"))

    def action_newest(self) -> None:
        """Back to the newest alert; the cursor then follows new arrivals again."""
        if self.row_count:
            self.move_cursor(row=0, animate=False)

    def action_oldest(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def selected_key(self) -> int | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return int(row_key.value) if row_key.value is not None else None

    def reset(self) -> None:
        """Forget what is shown (the filter changed): the next sync starts over."""
        self.clear()
        self._keys.clear()
        self._rebuilt_at = float("-inf")

    def sync(self, state: StreamState, at_most_every: float = 0.0) -> None:
        """Show the newest of `state`'s rows, unless the table changed less than `at_most_every` seconds ago:
        each change repaints every visible row, so a fast stream is shown a batch of rows at a time."""
        rows = state.view_rows
        newest = self._keys[-1] if self._keys else 0
        fresh = [row for row in reversed(rows) if row.key > newest]
        fresh.reverse()
        oldest = rows[0].key if rows else 0
        dropped = 0
        for key in self._keys:
            if key >= oldest:
                break
            dropped += 1
        labels = self.labels_for(list(state.families.values()))
        if not fresh and not dropped and labels == self._labels:
            return
        now = time.monotonic()
        if now - self._changed_at < at_most_every:
            return
        following = self.row_count == 0 or self.cursor_row == 0
        current = None if following else self.selected_key()
        if labels != self._labels:
            # A new family of alerts: rename the columns (a rare event, so a rebuild is fine).
            self._labels = labels
            self.clear(columns=True)
            self._keys.clear()
            self._add_columns()
            fresh = list(rows)
        elif len(fresh) + dropped > PATCH_LIMIT:
            if now - self._rebuilt_at < REBUILD_EVERY_S:
                return
            self._rebuilt_at = now
            self.clear()
            self._keys.clear()
            fresh = list(rows)
        else:
            for _ in range(dropped):
                self.remove_row(str(self._keys.popleft()))
        for row in fresh:
            # Keyed by arrival number: it finds the kept DecodedAlert and the user's row after an update.
            self.add_row(*self._cells(row), key=str(row.key))
            self._keys.append(row.key)
        self.sort("diaSourceId", key=lambda cell: cell.key, reverse=True)
        row_index = 0
        if current is not None and str(current) in self.rows:
            row_index = self.get_row_index(str(current))
        self.move_cursor(row=row_index, animate=False)
        self._changed_at = now
        # DataTable keys its render caches by an update count that every change bumps, so nothing cached
        # before can be drawn again, yet it keeps up to ~10,000 rendered cells (~100,000 objects). Left to
        # age out, they fill the heap that each full garbage collection walks with the UI thread stopped.
        self._clear_caches()  # DataTable's own (private) reset; textual is pinned below 9 in pyproject.toml

    def caption(self, text: str, at_most_every: float = 0.0) -> None:
        """The border's caption (what is shown of how many received). Changing it repaints the whole table like a
        new row does, so a fast stream's count there follows the rows' pace (`at_most_every`), not every batch:
        the exact count is in the partition panel."""
        if text == self.border_subtitle:
            return
        now = time.monotonic()
        if now - self._captioned_at >= at_most_every or self._changed_at >= self._captioned_at:
            self.border_subtitle = text
            self._captioned_at = now
