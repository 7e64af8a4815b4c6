"""An alert's light curve: the points (per band), and a text plot of them drawn with plotext.

The alert's family (`engine.families`) says where the points are. ELAsTiCC: psFlux ± psFluxErr against
midPointTai, for diaSource (the current detection), prvDiaSources and, when present, prvDiaForcedSources
(drawn with their own marker). Rubin: the same with psfFlux ± psfFluxErr against midpointMjdTai, per band.
ZTF: magpsf ± sigmapsf against jd for candidate and prv_candidates, per fid, magnitudes growing downwards;
non-detections (no magpsf) appear as their diffmaglim upper limit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from .families import Family, LightPoint, family_of

ELASTICC_BANDS = ("u", "g", "r", "i", "z", "Y")
# plotext colour names; ZTF g/r/i reuse the same colours as the ELAsTiCC bands of the same letter.
BAND_COLORS = {
    "u": "magenta",
    "g": "green",
    "r": "red",
    "i": "orange",
    "z": "cyan",
    "Y": "blue+",
    "y": "blue+",
}
OTHER_COLORS = ("magenta+", "green+", "red+", "cyan+", "gray")

MARKERS = {"detection": "•", "forced": "○", "limit": "▽", "current": "◆"}

# plotext draws on one module-level figure; anyone else in this process drawing with plotext should hold it.
PLOTEXT_LOCK = threading.Lock()


@dataclass(frozen=True)
class LightCurve:
    kind: str  # the family's kind: "elasticc" | "rubin" | "ztf" | "other"
    x_label: str
    y_label: str
    invert_y: bool  # magnitudes: brighter is up
    bands: dict[str, list[LightPoint]] = field(default_factory=dict)  # detections (current one included)
    secondary: dict[str, list[LightPoint]] = field(default_factory=dict)  # forced photometry or upper limits
    secondary_label: str = "forced"
    current: LightPoint | None = None

    @property
    def empty(self) -> bool:
        return self.current is None and not any(self.bands.values()) and not any(self.secondary.values())

    def band_order(self) -> list[str]:
        names = set(self.bands) | set(self.secondary)
        if self.current is not None:
            names.add(self.current.band)
        known = [b for b in (*ELASTICC_BANDS, "y") if b in names]
        return known + sorted(names - set(known))


def light_curve(record: dict, family: Family | None = None) -> LightCurve:
    """Points of the alert's light curve, grouped by band and sorted by time, as its family finds them."""
    family = family or family_of(record)
    current, detections, secondary = family.points(record)
    return LightCurve(family.kind, family.time_label, family.names["flux"], family.invert_y, _group(detections),
                      _group(secondary), family.secondary_label, current)


def _group(points: list[LightPoint]) -> dict[str, list[LightPoint]]:
    out: dict[str, list[LightPoint]] = {}
    for p in sorted(points, key=lambda p: p.time):
        out.setdefault(p.band, []).append(p)
    return out


POINTS = ("all", "detections", "secondary")


def render_light_curve(record: dict, width: int, height: int, color: bool = True,
                       family: Family | None = None, points: str = "all") -> str:
    """The light curve as text, `width` columns by about `height` rows, then one line of key.

    With color=False the text holds no ANSI escape codes (for tests, pipes and files). `points`: "all", or
    only the "detections", or only the "secondary" points (forced photometry, ZTF upper limits): forced
    photometry is measured at the detections' epochs too, so under "all" most of it sits behind them.
    """
    curve = light_curve(record, family)
    if points == "detections":
        curve = replace(curve, secondary={})
    elif points == "secondary":
        curve = replace(curve, bands={})
    if curve.empty:
        return "(no light curve: this alert carries no photometry)"
    colors = _band_colors(curve.band_order())
    width, height = max(int(width), 30), max(int(height), 8)
    with PLOTEXT_LOCK:
        import plotext as plt
        from plotext import pixel

        fig = plt.figure
        fig.clear()
        # The caller decides the size (a TUI pane, a pipe): do not clip it to plotext's idea of the terminal.
        plt.terminal.limit(False, False)
        try:
            fig.theme("simple")  # no painted background: readable on dark and light terminals alike
            fig.plot_size(width, height)
            # Layers, bottom first: every error bar, then forced photometry, then detections, then the
            # current detection; drawing a band's bars after another band's markers would hide them.
            layers = [(group, band, marker) for group, marker in ((curve.secondary, None),
                                                                  (curve.bands, MARKERS["detection"]))
                      for band in curve.band_order()]
            min_error = _visible_error(curve, height)
            for group, band, _ in layers:
                shown = [p for p in group.get(band, []) if p.source != "current" and (p.error or 0) >= min_error]
                if shown:
                    fig.draw(fig.error([p.time for p in shown], [p.value for p in shown],
                                       [p.error or 0.0 for p in shown], pixel=pixel(foreground=colors[band])))
            c = curve.current
            if c is not None and c.error and c.error >= min_error:
                fig.draw(fig.error([c.time], [c.value], [c.error], pixel=pixel(foreground=colors[c.band])))
            for group, band, marker in layers:
                shown = [p for p in group.get(band, []) if p.source != "current"]
                if shown:
                    symbol = marker or MARKERS[shown[0].source]
                    fig.draw(fig.signal([p.time for p in shown], [p.value for p in shown],
                                        marker=plt.marker(symbol, pixel(foreground=colors[band]))))
            if c is not None:
                cur = plt.marker(MARKERS["current"], pixel(foreground=colors[c.band], style="bold"))
                fig.draw(fig.signal([c.time], [c.value], marker=cur))
            if curve.invert_y:
                fig.ruler("y").direction(-1)
            fig.label(curve.x_label, axis="x")
            fig.title(f"{curve.y_label} vs {curve.x_label}")
            text = fig.build().string(colorless=not color)
        finally:
            fig.clear()
            plt.terminal.limit()
    return text.rstrip("\n") + "\n" + _key(curve, colors, color, hidden=_hidden(curve) if points == "all" else 0)


def _visible_error(curve: LightCurve, height: int) -> float:
    """Error bars shorter than about one text row are drawn as a lone `│` that reads as a stray glyph."""
    points = [p for group in (curve.bands, curve.secondary) for band in group.values() for p in band]
    if curve.current is not None:
        points.append(curve.current)
    lows = [p.value - (p.error or 0.0) for p in points]
    highs = [p.value + (p.error or 0.0) for p in points]
    if not lows:
        return 0.0
    rows = max(1, height - 5)  # title, axis and labels take about five rows
    return (max(highs) - min(lows)) / rows


def _band_colors(bands: list[str]) -> dict[str, str]:
    out = {}
    spare = iter(OTHER_COLORS * (len(bands) // len(OTHER_COLORS) + 1))
    for band in bands:
        out[band] = BAND_COLORS.get(band) or next(spare)
    return out


def _hidden(curve: LightCurve) -> int:
    """Secondary points drawn under a detection of the same band and epoch (the same exposure)."""
    seen = {(band, round(p.time, 4)) for band, points in curve.bands.items() for p in points}
    return sum((band, round(p.time, 4)) in seen for band, points in curve.secondary.items() for p in points)


def _key(curve: LightCurve, colors: dict[str, str], color: bool, hidden: int = 0) -> str:
    """One line saying which colour is which band and what each marker means."""
    paint = _painter(color)
    parts = [paint(f"{MARKERS['detection']} {band}", colors[band]) for band in curve.band_order()]
    secondary = next((p for points in curve.secondary.values() for p in points), None)
    if secondary is not None:
        total = sum(len(points) for points in curve.secondary.values())
        under = f" ({hidden} of {total} under detections)" if hidden else ""
        parts.append(f"{MARKERS[secondary.source]} {curve.secondary_label}{under}")
    c = curve.current
    if c is not None:
        parts.append(paint(f"{MARKERS['current']} current detection ({c.band} at {c.time})", colors[c.band]))
    return "  ".join(parts)


def _painter(color: bool):
    if not color:
        return lambda text, _color: text
    from plotext import colorize, pixel

    return lambda text, name: colorize(text, pixel(foreground=name)).string()
