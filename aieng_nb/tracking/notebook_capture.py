"""The notebook a run attaches at ``end``: the copy on disk when it is current, else what was executed.

The file on disk lacks whatever the user has not saved yet. So at ``end``: ask the frontend to save
(``save``: a callable the IPython extension passes when a frontend extension listens, see
:mod:`aieng_nb.magics.frontend_comm`) and wait briefly for the file to change; if the disk copy is still
older than the last executed cell, attach it anyway *and* a notebook rebuilt from the captured cells
(``executed.ipynb``, in execution order), and say so in a warning. Plain Python: no IPython here.

>>> nb = rebuild_notebook([{"source": "x = 1", "execution_count": 1, "outcome": "ok", "ts": 0}])
>>> [c["source"] for c in nb["cells"]]
['x = 1']
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ARTIFACT_DIR = "aieng/notebook"
REBUILT_NAME = "executed.ipynb"
SAVE_WAIT_S = 3.0


@dataclass
class NotebookCapture:
    """What to attach: (local file, artifact folder) pairs, tags, and a warning for the user."""

    files: list[tuple[str, str]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    warning: str | None = None
    tmp: Any = None  # keeps a rebuilt notebook's folder alive until the caller is done

    def close(self) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None


def read_cells(path: Path) -> list[dict[str, Any]]:
    """The captured cell records of a run (``cells.jsonl``), skipping a torn last line."""
    out = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def rebuild_notebook(cells: list[dict[str, Any]], kernel_name: str = "python3") -> dict[str, Any]:
    """An nbformat 4.5 notebook of the executed cells, in the order they ran (no outputs)."""
    nb_cells = []
    for i, cell in enumerate(cells):
        meta: dict[str, Any] = {"aieng": {"outcome": cell.get("outcome"), "duration_s": cell.get("duration_s")}}
        if cell.get("error"):
            meta["aieng"]["error"] = cell["error"]
        nb_cells.append(
            {
                "cell_type": "code",
                "execution_count": cell.get("execution_count"),
                "id": f"aieng-exec-{i}",
                "metadata": meta,
                "outputs": [],
                "source": cell.get("source", ""),
            }
        )
    return {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"name": kernel_name, "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "aieng": {"rebuilt_from": "executed cells", "cells": len(nb_cells)},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


# File mtimes come from the kernel's coarse clock, which can trail time.time() by a tick (up to ~10 ms):
# a save right after the last cell must not read as older than it.
MTIME_SLACK_S = 0.05


def _complete(path: Path) -> bool:
    """The file holds a whole JSON document (Jupyter's save truncates the file, then writes it)."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def wait_for_save(path: Path, newer_than: float, timeout: float) -> bool:
    """Poll until the file's mtime passes ``newer_than`` (the frontend saved it) and the write is
    finished, up to ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        mtime = _mtime(path)
        if mtime is not None and mtime >= newer_than and _complete(path):
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)


def _when(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def capture_notebook(
    path: Path | None,
    cells: list[dict[str, Any]],
    *,
    save: Callable[[Path], bool] | None = None,
    wait: float = SAVE_WAIT_S,
) -> NotebookCapture:
    """Decide what to attach for the notebook at ``path`` given the run's executed ``cells``.

    >>> capture_notebook(None, []).tags
    {'aieng.notebook': 'unknown'}
    """
    result = NotebookCapture()
    last_ts = max((float(c.get("ts") or 0) for c in cells), default=0.0)
    stale = False
    if path is not None:
        before = _mtime(path)
        if save is not None and (before is None or before < last_ts) and save(path):
            wait_for_save(path, max(last_ts - MTIME_SLACK_S, (before or 0.0) + 1e-6), wait)
        saved = _mtime(path)
        stale = saved is not None and bool(cells) and saved < last_ts - MTIME_SLACK_S
        result.files.append((str(path), ARTIFACT_DIR))
        result.tags["aieng.notebook"] = str(path)
        if stale:
            result.tags["aieng.notebook.stale"] = "true"
            result.warning = (
                f"aieng: the notebook on disk (saved {_when(saved or 0)}) is older than the last executed cell "
                f"({_when(last_ts)}): unsaved cells are missing from it. Attached it as saved and "
                f"{ARTIFACT_DIR}/{REBUILT_NAME} rebuilt from the {len(cells)} executed cells "
                "(save the notebook before %aieng end to attach the current copy)."
            )
    else:
        result.tags["aieng.notebook"] = "unknown"
    if cells and (stale or path is None):
        result.tmp = tempfile.TemporaryDirectory(prefix="aieng-nb-")
        rebuilt = Path(result.tmp.name) / REBUILT_NAME
        rebuilt.write_text(json.dumps(rebuild_notebook(cells), indent=1) + "\n", encoding="utf-8")
        result.files.append((str(rebuilt), ARTIFACT_DIR))
        result.tags["aieng.notebook.rebuilt"] = f"{ARTIFACT_DIR}/{REBUILT_NAME}"
    return result
