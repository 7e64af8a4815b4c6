"""The object's light curve drawn by the engine (plotext), sized to the panel and redrawn on resize."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

MIN_WIDTH, MIN_HEIGHT = 20, 6


class LightCurve(Static, can_focus=True):

    def __init__(self, record: dict, color: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self._record = record
        self._color = color
        self._drawn_size: tuple[int, int] | None = None
        self._pending: Timer | None = None
        self.plot_text = ""
        self.points = "all"
        self.border_title = "light curve"

    def action_cycle_points(self) -> None:
        """All points, detections only, forced photometry (or upper limits) only: most forced points share
        a detection's epoch and sit under it."""
        from ...engine.lightcurve import POINTS

        self.points = POINTS[(POINTS.index(self.points) + 1) % len(POINTS)]
        self.border_subtitle = {"all": "", "detections": "detections only", "secondary": "forced only"}[self.points]
        self._drawn_size = None
        self.redraw()

    def on_resize(self) -> None:
        if self._drawn_size is None:
            self.redraw()
            return
        # Resizing a terminal sends a burst of events; plotting once at the end is enough.
        if self._pending is not None:
            self._pending.stop()
        self._pending = self.set_timer(0.05, self.redraw)

    def redraw(self) -> None:
        from ...engine.lightcurve import render_light_curve

        width, height = self.content_size.width, self.content_size.height
        if (width, height) == self._drawn_size:
            return
        self._drawn_size = (width, height)
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            self.plot_text = ""
            self.update(Text("(panel too small for the light curve)", style="dim"))
            return
        try:
            # The engine adds a key below the plot: one line, more once wrapped in a narrow panel.
            text = render_light_curve(self._record, width, height - 1, color=self._color, points=self.points)
            key_lines = -(-cell_len(Text.from_ansi(text.rsplit("\n", 1)[-1]).plain) // width)
            if key_lines > 1:
                text = render_light_curve(self._record, width, height - key_lines, color=self._color,
                                          points=self.points)
        except Exception as exc:  # noqa: BLE001 - a record without a light curve must not close the screen
            self.plot_text = ""
            self.update(Text(f"no light curve: {exc}", style="dim"))
            return
        self.plot_text = text
        self.update(Text.from_ansi(text) if self._color else Text(text))
