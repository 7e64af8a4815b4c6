"""Screen 3: one decoded alert as a tree, beside its object's light curve."""

from __future__ import annotations

from typing import TYPE_CHECKING

from elasticc_stream.tui import formatting
from elasticc_stream.tui.widgets.alert_tree import AlertTree
from elasticc_stream.tui.widgets.light_curve import LightCurve
from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

if TYPE_CHECKING:
    from elasticc_stream.engine.decoder import DecodedAlert
    from elasticc_stream.tui.state import AlertRow


class AlertScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("m", "toggle_maximize", "Maximize"),
    ]
    # Side by side down to 80 columns, where height is the scarce dimension (a stacked plot at 80x24 has
    # only a few rows); stacked on narrower terminals.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (70, "-wide")]

    def __init__(self, alert: DecodedAlert, row: AlertRow) -> None:
        super().__init__()
        self.alert = alert
        self.row = row

    def compose(self) -> ComposeResult:
        row = self.row

        def shown(obj: object) -> str:
            return escape(formatting.value(obj))

        yield Header()
        yield Static(
            f"diaSourceId [b]{shown(row.source_id)}[/]  diaObjectId [b]{shown(row.object_id)}[/]"
            f"  t [b]{shown(row.time)}[/]  band [b]{shown(row.band)}[/]"
            f"  flux [b]{escape(formatting.flux(row.flux))}[/]  [dim]partition {row.partition} offset {row.offset}[/]",
            id="alert-summary",
            markup=True,
        )
        with Container(id="alert-body"):
            tree = AlertTree(self.alert.record, id="alert-tree")
            tree.border_title = "decoded alert"
            tree.border_subtitle = f"schema {self.alert.schema_label}"
            yield tree
            yield LightCurve(self.alert.record, color=self.app.color, id="light-curve")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Alert {formatting.value(self.row.source_id)}"
        self.query_one(AlertTree).focus()

    def action_toggle_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
        elif self.focused is not None:
            self.maximize(self.focused)
