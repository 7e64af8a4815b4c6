"""A page of one partition read from an offset or a time (a seek), newest first like the Stream screen.

The page is read without a consumer group: looking back never moves the app's own consumer or anyone's
committed offsets. `Enter` opens a record, `/` filters the page, `Escape` goes back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from ..stream_state import StreamState
from ..widgets.alert_table import AlertTable
from ..widgets.status_line import StatusLine
from .alert import AlertScreen

PAGE = 200


@dataclass(frozen=True)
class Seek:
    partition: int
    offset: int | None = None
    timestamp_ms: int | None = None

    def describe(self) -> str:
        if self.offset is not None:
            return f"partition {self.partition} from offset {self.offset:,}"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((self.timestamp_ms or 0) / 1000))
        return f"partition {self.partition} from {when} UTC"


def parse_seek(text: str) -> Seek:
    """`P OFFSET`, `P @TIME` (ISO 8601, UTC unless it says otherwise) or `P @UNIX_SECONDS`."""
    from datetime import UTC, datetime

    words = text.split(None, 1)
    if len(words) != 2 or not words[0].isdigit():
        raise ValueError("expected PARTITION OFFSET or PARTITION @TIME, e.g. `0 1200` or `1 @2026-03-01T12:00`")
    partition, where = int(words[0]), words[1].strip()
    if not where.startswith("@"):
        if not where.isdigit():
            raise ValueError(f"{where!r}: an offset is a whole number (or @TIME for a time)")
        return Seek(partition, offset=int(where))
    when = where[1:].strip()
    try:
        seconds = float(when)
    except ValueError:
        try:
            stamp = datetime.fromisoformat(when)
        except ValueError:
            raise ValueError(f"{when!r}: a time is ISO 8601 (2026-03-01T12:00) or unix seconds") from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        seconds = stamp.timestamp()
    return Seek(partition, timestamp_ms=int(seconds * 1000))


class RecordsScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("slash", "filter", "Filter", key_display="/"),
    ]

    def __init__(self, seek: Seek) -> None:
        super().__init__()
        self.seek = seek
        self.state = StreamState(time.monotonic)
        self.done = False
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine(show_producer=self.app.replay_config is not None, id="status-line")
        yield AlertTable(id="records")
        yield Static(Text(f"reading {self.seek.describe()}…", style="dim"), id="admin-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"Seek · {self.app.topic} {self.seek.describe()}"
        self.query_one(AlertTable).border_title = f"{self.app.topic}: {self.seek.describe()}"
        self.query_one(StatusLine).sync(self.app.state.connection)
        if self.app.use_workers:
            self.run_worker(self._read, thread=True, group="seek", exit_on_error=False)

    def _read(self) -> None:
        from ...engine.kafka_admin.cluster import KafkaAdmin
        from ...engine.kafka_admin.records import read_partition

        app = self.app
        try:
            offset = self.seek.offset
            if offset is None:
                admin = KafkaAdmin(app.bootstrap, app.kafka)
                try:
                    offset = admin.offset_for_time(app.topic, self.seek.partition, self.seek.timestamp_ms)
                finally:
                    admin.close()
                if offset is None:
                    app.call_from_thread(self._finished, "no message at or after that time")
                    return
            events = list(read_partition(app.bootstrap, app.topic, self.seek.partition, offset, count=PAGE,
                                         extra=app.kafka))
        except Exception as exc:  # noqa: BLE001 - shown, never a crash
            from ..bridge import _one_line

            app.call_from_thread(self._finished, app._scrub(_one_line(exc)), True)
            return
        app.call_from_thread(self._show, events)

    def _show(self, events: list[object]) -> None:
        self.state.apply_batch(events)
        table = self.query_one(AlertTable)
        table.sync(self.state)
        first = min((r.offset for r in self.state.rows), default=None)
        last = max((r.offset for r in self.state.rows), default=None)
        span = f"offsets {first:,}..{last:,}" if first is not None else "nothing there"
        errors = f", {self.state.errors} undecodable" if self.state.errors else ""
        self._finished(f"{self.state.total} records ({span}){errors}; at most {PAGE} per seek")

    def _finished(self, text: str, failed: bool = False) -> None:
        self.done = True
        self.error = text if failed else None
        self.query_one("#admin-note", Static).update(Text(text, style="red" if failed else "dim"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = self.query_one(AlertTable).selected_key()
        kept = None if key is None else self.state.alert(key)
        if kept is not None:
            self.app.push_screen(AlertScreen(*kept))

    def action_filter(self) -> None:
        from .stream import ask_filter

        ask_filter(self, self.state, self.query_one(AlertTable))
