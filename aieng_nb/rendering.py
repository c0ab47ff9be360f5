"""Listings and records for display: rich HTML tables in Jupyter, aligned text elsewhere.

Files (output notebooks, reports) become links that JupyterLab opens in a tab: JupyterLab resolves a
relative ``href`` in HTML output against the notebook's folder, so links are written relative to the
notebook this kernel runs (or the working directory, which Jupyter sets to the notebook's folder).
Plain Python, no IPython: the core's list types render with it.

>>> from aieng_nb.records import RecordList
>>> print(RecordList.table(["job", "status"], [[Link("j1", "/tmp/out.ipynb"), "COMPLETED"]]))
job  status
---  ---------
j1   COMPLETED

Formerly ``textutil.py``: Plain-text output shared by the CLI and text displays: aligned tables and JSON.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

# Text colours follow JupyterLab's theme (the light values outside JupyterLab, where the body has no
# data-jp-theme-light attribute); each passes WCAG AA (4.5:1) on its theme's output backgrounds.
THEME_CSS = (
    ".aieng-bad-text,.aieng-table tr.bad td{color:#b71c1c}.aieng-warn-text{color:#8a4b00}"
    "body[data-jp-theme-light=false] .aieng-bad-text,"
    "body[data-jp-theme-light=false] .aieng-table tr.bad td{color:#ef9a9a}"
    "body[data-jp-theme-light=false] .aieng-warn-text{color:#ffb74d}"
)
CSS = (
    ".aieng-table{border-collapse:collapse;font-size:var(--jp-ui-font-size1,13px)}"
    ".aieng-table th,.aieng-table td{padding:2px 8px;text-align:left;white-space:nowrap;"
    "border-bottom:1px solid var(--jp-border-color2,#ddd)}"
    ".aieng-table td.wrap{white-space:normal;max-width:40em}"
    ".aieng-table tr.differs td{background:rgba(255,152,0,.16);font-weight:bold}" + THEME_CSS
)


@dataclass(frozen=True)
class Link:
    """A table cell that is a link to a local file (text stays plain in text output)."""

    text: str
    path: str | os.PathLike[str] | None

    def __str__(self) -> str:
        return self.text

    def html(self) -> str:
        href = file_href(self.path) if self.path else None
        if href is None:
            return html.escape(self.text)
        return f'<a href="{html.escape(href)}" title="{html.escape(str(self.path))}">{html.escape(self.text)}</a>'


def _base_folder() -> Path:
    """The folder JupyterLab resolves our relative links against: the notebook's folder."""
    import sys

    from .tracking.capture import notebook_path

    main = sys.modules.get("__main__")
    notebook = notebook_path(vars(main) if main is not None else None)
    return notebook.parent if notebook is not None else Path.cwd()


def file_href(path: str | os.PathLike[str]) -> str | None:
    """A URL, relative to the notebook's folder, that opens ``path`` inside JupyterLab.

    >>> file_href(Path.cwd() / "out dir" / "a.ipynb")
    'out%20dir/a.ipynb'
    """
    try:
        target = Path(path).resolve()
        rel = os.path.relpath(target, _base_folder().resolve())
    except (OSError, ValueError):
        return None
    return quote(Path(rel).as_posix())


def cell_text(value: Any) -> str:
    return "" if value is None else str(value)


def cell_html(value: Any) -> str:
    return value.html() if isinstance(value, Link) else html.escape(cell_text(value))


def html_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], bad: Sequence[bool] | None = None, css_class: str = ""
) -> str:
    """An HTML table (cells may be :class:`Link`); ``bad`` rows are shown in the error colour."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="bad"' if bad is not None and bad[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{cell_html(c)}</td>" for c in row) + "</tr>")
    return (
        f"<style>{CSS}</style><table class='aieng-table {css_class}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def html_record(rows: Sequence[tuple[str, Any]], css_class: str = "") -> str:
    """A two-column (field, value) table for one record."""
    body = "".join(f"<tr><th>{html.escape(k)}</th><td class='wrap'>{cell_html(v)}</td></tr>" for k, v in rows)
    return f"<style>{CSS}</style><table class='aieng-table {css_class}'><tbody>{body}</tbody></table>"


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned table.

    >>> print(text_table(["a", "b"], [[1, "x"]]))
    a  b
    -  -
    1  x
    """
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def clip(value: object, limit: int = 120) -> str:
    """``str(value)`` on one printable line: newlines folded, lone surrogates escaped, cut in the
    middle when longer than ``limit`` (error messages quote what the user typed, which may be
    10k characters, hold newlines or not be valid Unicode).

    >>> clip("a" * 200, 20)
    'aaaaaaaaa…aaaaaaaaaa'
    """
    text = str(value)
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def plural(count: int, word: str, words: str | None = None) -> str:
    """``count`` and the word, singular for one: ``plural(1, "run")`` is ``'1 run'``.

    >>> plural(1, "run"), plural(3, "run"), plural(0, "entry", "entries")
    ('1 run', '3 runs', '0 entries')
    """
    return f"{count} {word if count == 1 else (words or word + 's')}"
