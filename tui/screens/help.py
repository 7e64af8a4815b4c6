"""Every key of every screen in one place (`?`)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Everywhere", (("1 2 3 4", "Replay, Stream, Topics, Groups screens"), ("?", "this list of keys"),
                    ("q", "quit: stops the replay and the consumer"), ("Ctrl-C", "the same, exit status 130"),
                    ("Tab", "next panel"))),
    ("Replay", (("s", "start the replay (asks before sending again)"), ("p", "pause / resume it"),
                ("x", "stop it"), ("g", "live graphs in place of the observations"))),
    ("Stream", (("↑ ↓ PgUp PgDn", "move in the alerts"), ("Home", "newest alert, then follow"),
                ("End", "oldest alert kept"), ("Enter", "open the alert"),
                ("/", "filter: obj=… band=… t=A..B or any field path"),
                ("o", "seek: a partition from an offset or a time"),
                ("g", "live graphs: alerts/s, lag, latency"))),
    ("Alert", (("↑ ↓ Enter", "browse, expand the tree; a cut value shows below"),
               ("m", "maximize the focused panel"), ("c", "copy as JSON (clipboard + file)"),
               ("f", "light curve: all points, detections only, forced only"),
               ("Escape", "back"))),
    ("Topics, Groups", (("↑ ↓", "pick one: its partitions / offsets below"), ("n", "new topic (Topics)"),
                        ("r", "refresh now (else every 3 s)"))),
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
