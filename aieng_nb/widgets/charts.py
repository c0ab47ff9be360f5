"""Small line charts as SVG text (cheap enough to redraw a few times a second) and as PNG.

>>> s = Series("loss"); s.add(0, 1.0); s.add(1, 0.5)
>>> "<svg" in render_svg([s])
True
"""

from __future__ import annotations

import html
import math

MAX_POINTS = 2000  # kept per series; older points are thinned, so memory stays bounded
# drawn per chart: about one per 1.5 px of a chart's 212-px plot, so the line looks the same as with
# more, and a redraw (two a second, on the monitor's thread, holding the GIL) stays cheap
DRAWN_POINTS = 150


class Series:
    """(step, value) points of one metric, thinned by halving when they pass ``MAX_POINTS``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.points: list[tuple[int, float]] = []
        self.stride = 1
        self._seen = 0
        self.last: tuple[int, float] | None = None

    def add(self, step: int, value: float) -> None:
        if value != value or math.isinf(value):  # NaN/inf are not drawn
            return
        self.last = (step, value)
        self._seen += 1
        if self._seen % self.stride:
            return
        self.points.append((step, value))
        if len(self.points) > MAX_POINTS:
            self.points = self.points[::2]
            self.stride *= 2

    def extend(self, points: list[tuple[int, object]]) -> None:
        """Add many ``(step, value)`` points at once, as :meth:`add` would one by one, but converting
        only the points the current stride keeps (the monitor thread's cost per point is a slice)."""
        for step, value in reversed(points):
            number = _finite(value)
            if number is not None:
                self.last = (int(step), number)  # type: ignore[call-overload]
                break
        start = 0
        while start < len(points):
            stride = self.stride
            chunk = points[start : start + (MAX_POINTS + 1 - len(self.points)) * stride]
            for step, value in chunk[(-self._seen - 1) % stride :: stride]:
                number = _finite(value)
                if number is not None:
                    self.points.append((int(step), number))  # type: ignore[call-overload]
            self._seen += len(chunk)
            start += len(chunk)
            if len(self.points) > MAX_POINTS:
                self.points = self.points[::2]
                self.stride *= 2

    def drawn(self) -> list[tuple[int, float]]:
        pts = self.points
        if self.last is not None and (not pts or pts[-1] != self.last):
            pts = [*pts, self.last]
        if len(pts) > DRAWN_POINTS:
            step = len(pts) / DRAWN_POINTS
            pts = [pts[int(i * step)] for i in range(DRAWN_POINTS)] + [pts[-1]]
        return pts


def _finite(value: object) -> float | None:
    """``value`` as a float when it is a finite number, else None (NaN, inf and non-numbers are not drawn)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number - number == 0.0 else None


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _chart(series: Series, x0: int, y0: int, w: int, h: int) -> str:
    pts = series.drawn()
    title = html.escape(series.key)
    parts = [f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="#fff" stroke="#ddd"/>']
    last = series.last
    label = f"{title} = {_fmt(last[1])}" if last else title
    parts.append(f'<text x="{x0 + 6}" y="{y0 + 14}" font-size="11" fill="#333">{label}</text>')
    if len(pts) >= 1:
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        xmin, xmax = min(xs), max(xs)
        ymin, ymax = min(ys), max(ys)
        if xmax == xmin:
            xmax = xmin + 1
        if ymax == ymin:
            ymin, ymax = ymin - 0.5, ymax + 0.5
        left, top, pw, ph = x0 + 40, y0 + 22, w - 48, h - 36
        sx, sy = pw / (xmax - xmin), ph / (ymax - ymin)
        coords = " ".join([f"{left + (x - xmin) * sx:.1f},{top + (ymax - y) * sy:.1f}" for x, y in pts])
        parts.append(f'<polyline points="{coords}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
        parts.append(f'<text x="{x0 + 4}" y="{top + 8}" font-size="9" fill="#595959">{_fmt(ymax)}</text>')
        parts.append(f'<text x="{x0 + 4}" y="{top + ph}" font-size="9" fill="#595959">{_fmt(ymin)}</text>')
        parts.append(
            f'<text x="{left + pw}" y="{y0 + h - 3}" font-size="9" fill="#595959" text-anchor="end">step {xs[-1]}</text>'
        )
    return "".join(parts)


def render_svg(series: list[Series], columns: int = 3, width: int = 260, height: int = 150) -> str:
    """A grid of charts, one per series, as one SVG document."""
    if not series:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="30"><rect width="300" height="30" fill="#fff"/><text x="6" y="18" font-size="12" fill="#595959">waiting for metrics...</text></svg>'
    rows = math.ceil(len(series) / columns)
    total_w = min(len(series), columns) * (width + 8)
    total_h = rows * (height + 8)
    body = "".join(
        _chart(s, (i % columns) * (width + 8), (i // columns) * (height + 8), width, height)
        for i, s in enumerate(series)
    )
    # a viewBox and max-width: at a notebook narrower than the grid the charts shrink, none is cut off
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}" style="max-width:100%;height:auto" font-family="sans-serif">{body}</svg>'
    )


def render_png(series: list[Series], title: str = "", columns: int = 3) -> bytes:
    """The same charts drawn with matplotlib (for saved notebooks and docs)."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    n = max(1, len(series))
    rows = math.ceil(n / columns)
    cols = min(n, columns)
    fig = Figure(figsize=(3.2 * cols, 2.2 * rows), dpi=100)
    for i, s in enumerate(series):
        ax = fig.add_subplot(rows, cols, i + 1)
        pts = s.drawn()
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color="#1f77b4", linewidth=1.2)
        last = f" = {_fmt(s.last[1])}" if s.last else ""
        ax.set_title(f"{s.key}{last}", fontsize=8)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
