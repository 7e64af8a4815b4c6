"""Overall replay progress: a bar, delivered alerts, alerts/s and ETA."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from .. import formatting

if TYPE_CHECKING:
    from ..state import ReplayState


class ReplayProgress(Horizontal):
    def compose(self) -> ComposeResult:
        yield ProgressBar(show_eta=False, id="replay-bar")
        yield Static(id="replay-figures")

    def sync(self, state: ReplayState, watch_only: bool = False) -> None:
        bar = self.query_one(ProgressBar)
        figures = self.query_one("#replay-figures", Static)
        to_send = state.to_send
        if to_send is None:
            bar.update(total=None, progress=0)
            if watch_only:
                figures.update("watch only: no replay from here")
            else:
                figures.update("press s to start" if state.status == "idle" else state.status)
            return
        bar.update(total=max(1, to_send), progress=min(state.delivered_total, to_send))
        parts = [f"{state.delivered_total:,}/{to_send:,} alerts", formatting.rate(state.rate())]
        if state.status == "paused":
            parts.append("paused")
        if state.finished is not None:
            parts.append(f"in {formatting.duration(state.finished.seconds)}")
        else:
            parts.append(f"ETA {formatting.duration(state.eta())}")
        if state.failed:
            parts.append(f"[b red]{state.failed} failed[/]")
        figures.update(" · ".join(parts))
