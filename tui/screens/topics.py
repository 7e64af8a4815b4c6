"""Screen 3: the broker's topics (partitions, replicas, in-sync, records, groups, lag) and the partitions
of the highlighted one (leader, replicas, ISR, earliest and end offsets); `n` creates a topic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from ..widgets.status_line import StatusLine
from .admin_base import AdminScreen

if TYPE_CHECKING:
    from ...engine.kafka_admin.cluster import KafkaAdmin, TopicInfo

TOPIC_COLUMNS = ("topic", "parts", "repl", "in-sync", "records", "groups", "lag")
PARTITION_COLUMNS = ("part", "leader", "replicas", "isr", "earliest", "end", "records")


def count(value: int | None) -> Text:
    return Text("–" if value is None else f"{value:,}", justify="right")


def elide_middle(text: str, width: int) -> str:
    """Topic names differ at both ends (a prefix, a run id): keep both."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


class TopicsScreen(AdminScreen):
    BINDINGS = [
        Binding("n", "new_topic", "New topic"),
        Binding("r", "refresh_now", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.topics: list[TopicInfo] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine(show_producer=self.app.replay_config is not None, id="status-line")
        yield DataTable(id="topics-table", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="partitions-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="admin-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"Topics · {self.app.bootstrap or '?'}"
        topics = self.query_one("#topics-table", DataTable)
        topics.border_title = "topics"
        for name in TOPIC_COLUMNS:
            topics.add_column(name, key=name)
        parts = self.query_one("#partitions-table", DataTable)
        parts.border_title = "partitions"
        for name in PARTITION_COLUMNS:
            parts.add_column(name, key=name)
        super().on_mount()

    def fetch(self, admin: KafkaAdmin) -> list[TopicInfo]:
        return admin.topics()

    def action_refresh_now(self) -> None:
        self.refresh_now()

    def show(self, result: list[TopicInfo]) -> None:
        self.topics = result
        table = self.query_one("#topics-table", DataTable)
        current = self.selected_topic()
        table.clear()
        room = max(12, self.size.width - 52)
        for topic in result:
            name = Text(elide_middle(topic.name, room))
            if topic.name == self.app.topic:
                name.stylize("bold")
            table.add_row(name, count(len(topic.partitions)), count(topic.replicas),
                          Text(f"{topic.in_sync}/{topic.replicas}", justify="right"), count(topic.records),
                          count(len(topic.groups)), count(topic.lag), key=topic.name)
        table.border_subtitle = f"{len(result)} topics"
        names = [t.name for t in result]
        wanted = current if current in names else (self.app.topic if self.app.topic in names else None)
        if wanted is not None:
            table.move_cursor(row=names.index(wanted), animate=False)
        self._show_partitions()

    def selected_topic(self) -> str | None:
        table = self.query_one("#topics-table", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "topics-table":
            self._show_partitions()

    def _show_partitions(self) -> None:
        name = self.selected_topic()
        table = self.query_one("#partitions-table", DataTable)
        table.clear()
        topic = next((t for t in self.topics if t.name == name), None)
        if topic is None:
            table.border_title = "partitions"
            return
        table.border_title = f"partitions of {topic.name}"
        for p in topic.partitions:
            table.add_row(count(p.partition), count(p.leader), Text(",".join(map(str, p.replicas))),
                          Text(",".join(map(str, p.isr))), count(p.earliest), count(p.end), count(p.records))

    def action_new_topic(self) -> None:
        from .prompt import PromptScreen

        def answered(text: str | None) -> None:
            if text:
                self._create(text)

        self.app.push_screen(PromptScreen(
            "new topic", "NAME [PARTITIONS [REPLICATION]], e.g. elasticc-test 3", placeholder="name partitions"),
            answered)

    def _create(self, text: str) -> None:
        words = text.split()
        try:
            name = words[0]
            partitions = int(words[1]) if len(words) > 1 else 1
            replication = int(words[2]) if len(words) > 2 else 1
        except ValueError:
            self.notify(f"{text!r}: expected NAME [PARTITIONS [REPLICATION]] (numbers)", severity="error")
            return
        from ...engine.config.values import check_topic
        from ...engine.errors import UserError

        try:
            check_topic(name, "new topic", "name")
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return

        def create() -> None:
            try:
                self.admin().create_topic(name, partitions, replication)
            except Exception as exc:  # noqa: BLE001 - shown, never a crash
                self.app.call_from_thread(self.notify, str(exc), severity="error")
                return
            self.app.call_from_thread(self._created, name, partitions)

        self.run_worker(create, thread=True, group="admin-create", exit_on_error=False)

    def _created(self, name: str, partitions: int) -> None:
        self.app.state.log.add("info", f"created topic {name} with {partitions} partition(s)")
        self.notify(f"created topic {name} ({partitions} partition{'s' if partitions != 1 else ''})")
        self.refresh_now()

