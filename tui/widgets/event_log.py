"""Notes and errors from the workers, newest at the bottom, bounded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import RichLog

from ..state import MAX_LOG_LINES

if TYPE_CHECKING:
    from ..state import LogState

STYLES = {"error": "red", "note": "yellow", "info": ""}


class EventLog(RichLog):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=MAX_LOG_LINES, wrap=True, markup=False, min_width=20, **kwargs)
        self._last = 0
        self.border_title = "log"

    def sync(self, log: LogState) -> None:
        for seq, severity, text in log.lines:
            if seq > self._last:
                self.write(Text(text, style=STYLES.get(severity, "")))
                self._last = seq
