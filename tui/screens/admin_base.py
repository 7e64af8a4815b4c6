"""What the Topics and Groups screens share: a live refresh of admin queries in a thread worker.

The query runs off the UI thread (a slow broker must not freeze the keys) every REFRESH_S while the screen
is shown, never two at once; a failure is shown as one line in the status line, and the last figures stay.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static

from ..widgets.status_line import StatusLine

if TYPE_CHECKING:
    from ...engine.kafka_admin.cluster import KafkaAdmin

REFRESH_S = 3.0


class AdminScreen(Screen):
    """Subclasses implement `fetch(admin)` (worker thread) and `show(result)` (UI thread)."""

    def __init__(self) -> None:
        super().__init__()
        self._admin: KafkaAdmin | None = None
        self._busy = False
        self.refreshed_at: float | None = None
        self.refreshes = 0
        self.error: str | None = None
        self.tansu: bool | None = None  # the embedded broker's watermarks undercount: figures are lower bounds

    def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self.refresh_now, name="admin-refresh")
        self.refresh_now()

    def on_screen_resume(self) -> None:
        self.refresh_now()
        self.refresh_view(self.app.state)

    def refresh_view(self, state) -> None:
        if self.is_mounted:
            self.query_one(StatusLine).sync(state.connection)

    def refresh_now(self) -> None:
        # Without workers (snapshot tests) the figures are fed by `show`.
        if (self._busy or not self.app.bootstrap or not self.app.use_workers or not self.is_attached
                or self.app.screen is not self):
            return
        self._busy = True
        self.run_worker(self._run_query, thread=True, group="admin", exit_on_error=False)

    def admin(self) -> KafkaAdmin:
        if self._admin is None:
            from ...engine.kafka_admin.cluster import KafkaAdmin

            self._admin = KafkaAdmin(self.app.bootstrap, self.app.kafka, timeout=5.0)
        return self._admin

    def _run_query(self) -> None:
        try:
            if self.tansu is None:
                from ...engine.broker.identify import is_tansu

                self.tansu = is_tansu(self.app.bootstrap, self.app.kafka, timeout=5.0)
            result = self.fetch(self.admin())
        except Exception as exc:  # noqa: BLE001 - a broker error is shown, never a crash
            from ..bridge import _one_line

            text = self.app._scrub(_one_line(exc))
            self.app.call_from_thread(self._failed, text)
        else:
            self.app.call_from_thread(self._succeeded, result)

    def _failed(self, text: str) -> None:
        self._busy = False
        self.error = text
        self.query_one("#admin-note", Static).update(Text(text, style="red"))

    def _succeeded(self, result: Any) -> None:
        self._busy = False
        self.error = None
        self.refreshed_at = time.monotonic()
        self.refreshes += 1
        note = f"refreshed every {REFRESH_S:g} s"
        if self.tansu:
            note += "; embedded Tansu broker: its end offsets undercount, so records and lag are lower bounds"
        self.query_one("#admin-note", Static).update(Text(note, style="dim", overflow="ellipsis", no_wrap=True))
        self.show(result)

    def fetch(self, admin: KafkaAdmin) -> Any:
        raise NotImplementedError

    def show(self, result: Any) -> None:
        raise NotImplementedError

    def on_unmount(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            admin.close()
