"""One line under the header: is the producer / consumer connected, connecting, or unreachable (and why)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from ..connection_state import Connection, ConnectionState

MARKS = {
    "off": ("–", "dim"),
    "connecting": ("…", "yellow"),
    "connected": ("●", "green"),
    "unreachable": ("✗", "bold red"),
    "stopped": ("■", "dim"),
}


def _part(name: str, conn: Connection) -> Text:
    mark, style = MARKS.get(conn.state, ("?", ""))
    return Text.assemble((f"{name} ", "bold"), (f"{mark} {conn.state}", style))


class StatusLine(Static):
    def __init__(self, show_producer: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self._show_producer = show_producer
        self._key: tuple | None = None

    def sync(self, connection: ConnectionState) -> None:
        key = (connection.version, self.size.width)
        if key == self._key:
            return
        self._key = key
        shown = [("producer", connection.producer)] if self._show_producer else []
        shown.append(("consumer", connection.consumer))
        line = Text("  ").join(_part(name, conn) for name, conn in shown)
        # Both states first, then the reasons (once when both clients say the same).
        reasons = list(dict.fromkeys(conn.reason for _, conn in shown if conn.reason))
        if reasons:
            line.append("  " + "; ".join(reasons), style="red")
        # One line whatever the width: the reason is elided; the log keeps it whole.
        line.truncate(max(10, self.size.width - 2), overflow="ellipsis")
        line.no_wrap = True
        self.update(line)

    def on_resize(self) -> None:
        self._key = None
