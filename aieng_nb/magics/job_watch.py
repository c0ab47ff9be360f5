"""A live status line for a background job (``%aieng job run ... --background``).

A daemon thread polls the job record and updates one display in place (by display id, so the
line keeps changing while the user runs other cells); the last update is the final status line,
naming the failed checks. Outside Jupyter it prints the first and the final line only.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any

from ..jobs import store as job_store
from ..jobs.display import final_line, live_line
from ..rendering import Link
from ..workspace import Workspace

POLL_S = 0.5
WATCHERS: list[JobWatcher] = []  # the live ones (tests join them; at most a handful per kernel)


class StatusLine:
    """One line shown as HTML in Jupyter (progress bar, output link) and as text elsewhere."""

    def __init__(self, record: Any, final: bool) -> None:
        self.record, self.final = record, final

    def text(self) -> str:
        return final_line(self.record) if self.final else live_line(self.record)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        r = self.record
        bar = ""
        if not self.final and r.cells_total:
            bar = f"<progress value='{r.cells_done}' max='{r.cells_total}'></progress> "
        link = ""
        if self.final and r.output_path:
            link = " " + Link("output.ipynb", r.output_path).html()
        from ..rendering import THEME_CSS

        bad = " aieng-bad-text" if self.final and (r.error or r.checks_failed) else ""
        return (
            f"<div class='aieng-job-status{bad}'><style>{THEME_CSS}</style>{bar}"
            f"<code style='color:inherit'>{html.escape(self.text())}</code>{link}</div>"
        )


def _in_jupyter(shell: Any) -> bool:
    return type(shell).__name__ == "ZMQInteractiveShell"


class JobWatcher:
    """Follows one job until it ends; ``thread`` is the polling daemon thread."""

    def __init__(self, record: Any, shell: Any, workspace: Workspace) -> None:
        self.job_id, self.shell, self.workspace = record.job_id, shell, workspace
        self.live = _in_jupyter(shell)
        self.handle: Any = None
        self.last = ""
        self.final: Any = None
        self.thread = threading.Thread(target=self._loop, name=f"aieng-watch-{record.job_id}", daemon=True)
        self._show(record)

    def start(self) -> JobWatcher:
        WATCHERS.append(self)
        self.thread.start()
        return self

    def _show(self, record: Any) -> None:
        final = record.finished and bool(record.finished_at)
        line = StatusLine(record, final)
        text = line.text()
        if text == self.last:
            return
        self.last = text
        if self.live:
            from IPython.display import display

            if self.handle is None:
                self.handle = display(line, display_id=True)
            else:
                self.handle.update(line)
        elif self.handle is None or final:
            self.handle = True
            print(f"aieng: {text}", flush=True)

    def _loop(self) -> None:
        try:
            while True:
                time.sleep(POLL_S)
                try:
                    record = job_store.load(self.job_id, self.workspace)
                    if not record.finished and job_store.recover_stale(self.workspace):
                        record = job_store.load(self.job_id, self.workspace)
                except Exception:  # noqa: BLE001 - a record being replaced, or deleted: try again
                    continue
                self._show(record)
                if record.finished and record.finished_at:
                    self.final = record
                    return
        finally:
            if self in WATCHERS:
                WATCHERS.remove(self)
