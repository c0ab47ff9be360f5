"""The pieces every report's HTML is made of: escaping, number formats, tables, static plots.

Reports render without JavaScript (tables and inline PNG images), so they show in JupyterLab, in
papermill outputs and in a sandboxed iframe alike.

>>> table_html(["a"], [[1.5]])
'<table><thead><tr><th>a</th></tr></thead><tbody><tr><td class="num">1.5</td></tr></tbody></table>'
"""

from __future__ import annotations

import base64
import html as _html
import io
import math
from collections.abc import Sequence
from typing import Any

CSS = """
.aieng-rep{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:13px;color:#222;max-width:1100px}
.aieng-rep h2{font-size:17px;margin:4px 0 6px;color:inherit}.aieng-rep h3{font-size:14px;margin:14px 0 6px;border-bottom:1px solid #ddd;color:inherit}
div.aieng-rep table{border-collapse:collapse;margin:4px 0;color:inherit}.aieng-rep th,.aieng-rep td{border:1px solid #ddd;padding:2px 8px;text-align:left;color:inherit}
.aieng-rep th{background:#f4f4f4}.aieng-rep td.num{text-align:right;font-variant-numeric:tabular-nums}
.aieng-rep .badge{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-weight:600;font-size:12px}
.aieng-rep .pass{background:#2e7d32}.aieng-rep .fail{background:#c62828}.aieng-rep .warn{background:#a15c00}
.aieng-rep .muted{color:#595959}.aieng-rep tr.bad td{background:#fdecea}.aieng-rep img{max-width:100%}
.aieng-rep ul{margin:4px 0 4px 18px;padding:0}
body[data-jp-theme-light=false] .aieng-rep{color:#e8e8e8}
body[data-jp-theme-light=false] .aieng-rep th{background:#333}
body[data-jp-theme-light=false] .aieng-rep th,body[data-jp-theme-light=false] .aieng-rep td,
body[data-jp-theme-light=false] .aieng-rep h3{border-color:#555}
body[data-jp-theme-light=false] .aieng-rep .muted{color:#b8b8b8}
body[data-jp-theme-light=false] .aieng-rep tr.bad td{background:#4a1f1f}
body[data-jp-theme-light=false] .aieng-rep img{background:#fff}
"""


def esc(value: Any) -> str:
    """HTML-escape any value's string form."""
    return _html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A short display form for numbers (4 significant digits), booleans and text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4g}"
    return str(value)


def table_html(headers: Sequence[str], rows: Sequence[Sequence[Any]], bad_rows: Sequence[bool] | None = None) -> str:
    """A plain HTML table; numbers right-aligned; rows flagged in ``bad_rows`` highlighted."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f'<td class="num">{esc(fmt(v))}</td>'
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            else f"<td>{esc(fmt(v))}</td>"
            for v in row
        )
        cls = ' class="bad"' if bad_rows is not None and bad_rows[i] else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def new_figure(width: float = 6.0, height: float = 3.0) -> Any:
    """A matplotlib Figure bound to the Agg canvas (no pyplot, no global backend state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(fig)
    return fig


def figure_html(fig: Any, alt: str = "plot", tight: bool = True) -> str:
    """Render a Figure as an inline PNG ``<img>`` (static, works without JavaScript);
    ``tight=False`` skips ``tight_layout`` (a second text-layout pass) for figures laid out by hand."""
    buf = io.BytesIO()
    if tight:
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}"/>'


class HTMLView:
    """A piece of HTML for notebook display (``_repr_html_``)."""

    def __init__(self, html: str, label: str) -> None:
        self.html, self.label = html, label

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<{self.label}>"
