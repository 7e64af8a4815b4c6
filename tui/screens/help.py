"""Every key of every screen in one place (`?`)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Everywhere", (("1", "Replay screen"), ("2", "Stream screen"), ("?", "this list of keys"),
                    ("q", "quit: stops the replay and the consumer"), ("Tab", "next panel"))),
    ("Replay", (("s", "start the replay"), ("p", "pause / resume it"), ("x", "stop it"))),
    ("Stream", (("↑ ↓ PgUp PgDn", "move in the alerts"), ("Home", "newest alert, then follow"),
                ("Enter", "open the alert"))),
    ("Alert", (("↑ ↓ Enter", "browse, expand the tree"), ("m", "maximize the focused panel"),
               ("Escape", "back to the stream"))),
)


def keys_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for section, keys in KEYS:
        table.add_row(f"[b underline]{section}[/]", "")
        for key, what in keys:
            table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,enter", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "keys"
            box.border_subtitle = "Escape closes"
            yield Static(keys_table())
