"""Screen 3: one decoded alert as a tree beside its object's light curve, with the message's metadata.

The summary is one line whatever the width (least useful parts dropped first); a tree label cut by the
panel's width is shown whole on the line below the tree when the cursor is on it (`m` widens the tree).
`c` copies the alert as JSON (terminal clipboard, OSC 52) and writes it to a file, since not every terminal
honours OSC 52.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, Tree

from .. import formatting
from ..widgets.alert_tree import AlertTree, Leaf, node_path
from ..widgets.light_curve import LightCurve

if TYPE_CHECKING:
    from ...engine.decoder import DecodedAlert
    from ..state import AlertRow


def timestamp_text(ms: int | None) -> str:
    if ms is None:
        return "none"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + f" UTC ({ms})"


def bytes_text(raw: bytes | None) -> str:
    if raw is None:
        return "null"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(raw)} bytes> {raw[:16].hex()}{'…' if len(raw) > 16 else ''}"
    return text if text.isprintable() else repr(text)


def summary_line(row: AlertRow, width: int) -> Text:
    """Identity first; the flux, band, time and message position are dropped, in that order, to fit."""
    names = row.family.names if row.family is not None else {"id": "diaSourceId", "object": "diaObjectId"}
    parts = [(names["id"], formatting.value(row.source_id)), (names["object"], formatting.value(row.object_id)),
             ("t", formatting.value(row.time)), ("band", formatting.value(row.band)),
             ("flux", formatting.flux(row.flux)), ("", f"{row.topic}[{row.partition}]@{row.offset}")]
    for drop in (None, 5, 4, 3, 2):
        kept = parts if drop is None else parts[:drop]
        line = Text()
        for label, value in kept:
            if line:
                line.append("  ")
            if label:
                line.append(f"{label} ")
            line.append(value, style="bold" if label else "dim")
        if line.cell_len <= width:
            return line
    line.truncate(width, overflow="ellipsis")
    return line


class AlertScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("m", "toggle_maximize", "Max"),
        Binding("c", "copy_json", "Copy"),
        Binding("f", "cycle_points", "Points"),
    ]
    # Side by side down to 80 columns, where height is the scarce dimension (a stacked plot at 80x24 has
    # only a few rows); stacked on narrower terminals.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (70, "-medium"), (110, "-wide")]

    def __init__(self, alert: DecodedAlert, row: AlertRow) -> None:
        super().__init__()
        self.alert = alert
        self.row = row

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="alert-summary")
        with Container(id="alert-body"):
            with Vertical(id="alert-left"):
                tree = AlertTree(self.alert.record, id="alert-tree")
                tree.border_title = "decoded alert"
                tree.border_subtitle = (f"schema {self.alert.schema_label}" if self.alert.schema_id is None else
                                        f"schema id {self.alert.schema_id} ({self.alert.schema_label})")
                yield tree
                yield Static(id="alert-value")
            yield LightCurve(self.alert.record, color=self.app.color, id="light-curve")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"Alert {formatting.value(self.row.source_id)}"
        tree = self.query_one(AlertTree)
        self._add_message_node(tree)
        tree.focus()

    def on_resize(self) -> None:
        self.query_one("#alert-summary", Static).update(summary_line(self.row, max(20, self.size.width - 2)))

    def _add_message_node(self, tree: AlertTree) -> None:
        """Where the alert came from, before the alert itself: topic, partition, offset, timestamp, key."""
        row = self.row
        node = tree.root.add(Text("message", style="bold"), data=None, before=0)
        fields = [("topic", row.topic), ("partition", str(row.partition)), ("offset", str(row.offset)),
                  ("timestamp", timestamp_text(row.timestamp_ms)), ("key", bytes_text(row.message_key))]
        age = "age" if row.backlog else "latency"
        if row.latency_s is not None:
            fields.append((age, f"{row.latency_s:.3f} s"))
        for name, shown in fields:
            node.add_leaf(Text.assemble((name, "bold"), ": ", shown), data=Leaf(name, shown))
        headers = node.add(Text.assemble(("headers", "bold"), (f" [{len(row.headers)}]", "dim")), data=None)
        for name, value in row.headers:
            shown = bytes_text(value)
            headers.add_leaf(Text.assemble((name, "bold"), ": ", shown), data=Leaf(name, shown))

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[object]) -> None:
        data = event.node.data
        value = self.query_one("#alert-value", Static)
        if isinstance(data, Leaf):
            value.update(Text.assemble((node_path(event.node), "bold"), " = ", data.shown))
        else:
            value.update(Text(node_path(event.node) or "alert", style="dim"))

    def action_cycle_points(self) -> None:
        self.query_one(LightCurve).action_cycle_points()

    def action_toggle_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
        elif self.focused is not None:
            self.maximize(self.focused)

    def alert_json(self) -> str:
        from ...engine.alert_fields import to_json

        row = self.row
        return to_json({"topic": row.topic, "partition": row.partition, "offset": row.offset,
                        "timestamp_ms": row.timestamp_ms, "key": row.message_key,
                        "headers": [[name, value] for name, value in row.headers],
                        "schema": self.alert.schema_label, "alert": self.alert.record}, indent=2)

    def action_copy_json(self) -> None:
        text = self.alert_json()
        self.app.copy_to_clipboard(text)
        folder = Path(tempfile.gettempdir()) / "elasticc-stream"
        path = folder / f"alert_{formatting.value(self.row.source_id)}_{self.row.partition}_{self.row.offset}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            self.notify(f"copied to the terminal clipboard; could not write {path}: {exc.strerror}",
                        severity="warning")
            return
        self.notify(f"alert JSON copied to the terminal clipboard and written to {path}")
