"""Time series as a text plot (plotext): the TUI's live graphs of rates, lag and latency.

Each series is a bounded list of (seconds, value) points; the plot is `width` x `height` cells with one line
of key below it saying which marker is which series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .lightcurve import PLOTEXT_LOCK


@dataclass(frozen=True)
class Line:
    label: str
    color: str  # a plotext colour name
    points: Sequence[tuple[float, float]]
    marker: str = "•"


def render_series(lines: Sequence[Line], width: int, height: int, title: str, color: bool = True) -> str:
    """The plot, then its key; "(no data yet)" when no series has a point."""
    drawn = [line for line in lines if line.points]
    if not drawn:
        return f"{title}: no data yet"
    width, height = max(int(width), 20), max(int(height), 5)
    with PLOTEXT_LOCK:
        import plotext as plt
        from plotext import pixel

        fig = plt.figure
        fig.clear()
        plt.terminal.limit(False, False)
        try:
            fig.theme("simple")
            fig.plot_size(width, height)
            for line in drawn:
                xs = [t for t, _ in line.points]
                ys = [v for _, v in line.points]
                paint = pixel(foreground=line.color) if color else pixel()
                fig.draw(fig.signal(xs, ys, marker=plt.marker(line.marker, paint)))
            fig.title(title)
            text = fig.build().string(colorless=not color)
        finally:
            fig.clear()
            plt.terminal.limit()
    key = "  ".join(f"{line.marker} {line.label}" for line in drawn)
    return text.rstrip("\n") + "\n" + key
