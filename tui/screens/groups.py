"""Screen 4: consumer groups (state, members, topics, lag) and, for the highlighted one, its committed
offset, end offset and lag per partition, then its members and their assignment; refreshed live."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from ..widgets.status_line import StatusLine
from .admin_base import AdminScreen
from .topics import count, elide_middle

if TYPE_CHECKING:
    from ...engine.kafka_admin.cluster import GroupInfo, KafkaAdmin

GROUP_COLUMNS = ("group", "state", "members", "topics", "lag")
DETAIL_COLUMNS = ("topic", "part", "committed", "end", "lag", "member")


class GroupsScreen(AdminScreen):
    BINDINGS = [Binding("r", "refresh_now", "Refresh")]

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[GroupInfo] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine(show_producer=self.app.replay_config is not None, id="status-line")
        yield DataTable(id="groups-table", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="group-detail", cursor_type="row", zebra_stripes=True)
        yield Static(id="admin-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"Groups · {self.app.bootstrap or '?'}"
        groups = self.query_one("#groups-table", DataTable)
        groups.border_title = "consumer groups"
        for name in GROUP_COLUMNS:
            groups.add_column(name, key=name)
        detail = self.query_one("#group-detail", DataTable)
        detail.border_title = "offsets"
        for name in DETAIL_COLUMNS:
            detail.add_column(name, key=name)
        super().on_mount()

    def fetch(self, admin: KafkaAdmin) -> list[GroupInfo]:
        return admin.groups()

    def action_refresh_now(self) -> None:
        self.refresh_now()

    def show(self, result: list[GroupInfo]) -> None:
        self.groups = result
        table = self.query_one("#groups-table", DataTable)
        current = self.selected_group()
        table.clear()
        room = max(12, self.size.width - 42)
        for group in result:
            table.add_row(Text(elide_middle(group.group_id, room)), Text(group.state),
                          count(len(group.members)), count(len(group.topics)), count(group.lag), key=group.group_id)
        table.border_subtitle = f"{len(result)} groups"
        ids = [g.group_id for g in result]
        if current in ids:
            table.move_cursor(row=ids.index(current), animate=False)
        self._show_detail()

    def selected_group(self) -> str | None:
        table = self.query_one("#groups-table", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "groups-table":
            self._show_detail()

    def _show_detail(self) -> None:
        gid = self.selected_group()
        table = self.query_one("#group-detail", DataTable)
        table.clear()
        group = next((g for g in self.groups if g.group_id == gid), None)
        if group is None:
            table.border_title = "offsets"
            return
        owner = {tp: m.client_id or m.member_id for m in group.members for tp in m.assignment}
        table.border_title = f"offsets of {group.group_id}"
        for p in group.partitions:
            table.add_row(Text(elide_middle(p.topic, 24)), count(p.partition), count(p.committed), count(p.end),
                          count(p.lag), Text(owner.get((p.topic, p.partition), "–")))
        members = ", ".join(f"{m.client_id}@{m.host}" for m in group.members) or "none"
        table.border_subtitle = f"members: {members}"
