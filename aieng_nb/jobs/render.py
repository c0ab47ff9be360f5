"""The HTML rendering of a job's output notebook (nbconvert's lab template; the exporter and its
compiled templates are kept for the next job, and warmed while the first job's kernel runs).

>>> warm_html_exporter   # doctest: +ELLIPSIS
<function warm_html_exporter at ...>
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_text

_exporter_lock = threading.Lock()
_exporter: Any = None
_warm_thread: threading.Thread | None = None


def _get_exporter() -> Any:
    global _exporter
    with _exporter_lock:
        if _exporter is None:
            import nbformat
            from nbconvert import HTMLExporter

            exporter = HTMLExporter()
            exporter.from_notebook_node(nbformat.v4.new_notebook())  # loads and compiles the templates
            _exporter = exporter
        return _exporter


def warm_html_exporter() -> None:
    """Import nbconvert and compile its templates in a background thread while the first job's
    kernel runs (the runner thread is idle then, waiting on the kernel)."""
    global _warm_thread
    if _exporter is None and _warm_thread is None:
        _warm_thread = threading.Thread(target=_get_exporter, name="aieng-html-warmup", daemon=True)
        _warm_thread.start()


def render_html(nb_path: Path, html_path: Path) -> Path:
    """An HTML rendering of the output notebook (nbconvert's lab template; the exporter and its
    compiled templates are kept for the next job)."""
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    exporter = _get_exporter()
    with _exporter_lock:
        body, _ = exporter.from_notebook_node(nb)
    atomic_write_text(html_path, body)
    return html_path
