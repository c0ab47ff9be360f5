"""``%load_ext aieng_nb``: registers the magic, the config, cell capture and tab completion."""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any

from .. import config
from ..plugins import end_hooks

if TYPE_CHECKING:
    from ..tracking import Run


def _active_run() -> Run | None:
    """The active run, or None. A process that never imported the tracking package has no run:
    looking it up in ``sys.modules`` keeps ``%load_ext`` from importing it (and MLflow's schema)."""
    active = sys.modules.get("aieng_nb.tracking.active")
    return None if active is None else active.active_run(attach=False)


class CellCapture:
    """Records each executed cell (source, count, duration, outcome) while a run is active.

    A capture failure is a warning; the user's cell result and exception are never touched.
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.started = 0.0
        self._files: dict[str, Any] = {}
        self._warned = False
        self._gpu_start: dict[int, int] = {}

    def pre_run_cell(self, info: Any) -> None:
        self.started = time.perf_counter()
        if _active_run() is not None:
            from ..training import cellmem

            self._gpu_start = cellmem.before()

    def post_run_cell(self, result: Any) -> None:
        try:
            run = _active_run()
            if run is None or not config.get("capture_cells"):
                return
            duration = time.perf_counter() - self.started
            error = result.error_in_exec or result.error_before_exec
            record = {
                "execution_count": result.execution_count,
                "source": result.info.raw_cell if result.info is not None else "",
                "duration_s": round(duration, 6),
                "outcome": "error" if error is not None else "ok",
                "error": type(error).__name__ if error is not None else None,
                "ts": time.time(),
            }
            from ..training import cellmem

            record.update(cellmem.after(self._gpu_start))  # GPU memory peak/delta when torch uses a GPU
            fh = self._files.get(run.id)
            if fh is None:
                fh = self._files[run.id] = open(run.cells_path, "a", encoding="utf-8")
            fh.write(json.dumps(record) + "\n")
            fh.flush()
        except Exception as exc:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"aieng: cell capture failed (your cell is unaffected): {exc}", RuntimeWarning, stacklevel=1
                )

    def on_end(self, run: Run) -> None:
        """At end_run: close the cell log and attach the notebook (asking the frontend to save it
        first when one listens; rebuilt from the executed cells when the disk copy is older)."""
        fh = self._files.pop(run.id, None)
        if fh is not None:
            fh.close()
        if not config.get("capture_notebook"):
            return
        from ..tracking.capture import notebook_path
        from ..tracking.notebook_capture import capture_notebook, read_cells

        link = getattr(self.shell, "_aieng_frontend", None)
        result = capture_notebook(
            notebook_path(self.shell.user_ns),
            read_cells(run.cells_path),
            save=link.request_save if link is not None else None,
        )
        try:
            for local, folder in result.files:
                run.store.log_artifact(run.id, local, folder)
            run.store.log_batch(run.id, tags=result.tags)
        finally:
            result.close()
        if result.warning:
            warnings.warn(result.warning, UserWarning, stacklevel=1)


def load(shell: Any) -> None:
    from . import AiengMagics

    settings = config.Aieng(parent=shell)
    shell.configurables.append(settings)
    config.use_settings(settings)
    shell.register_magics(AiengMagics)
    capture = CellCapture(shell)
    shell.events.register("pre_run_cell", capture.pre_run_cell)
    shell.events.register("post_run_cell", capture.post_run_cell)
    end_hooks.append(capture.on_end)
    from .completion import make_matcher

    matcher = make_matcher(shell)
    shell.Completer.custom_matchers.append(matcher)
    shell._aieng_capture = capture
    shell._aieng_matcher = matcher
    from .show_results import ShowMidCellResults

    shell._aieng_show = ShowMidCellResults()  # %aieng lines mid-cell display their result
    shell.ast_transformers.append(shell._aieng_show)
    from .frontend_comm import FrontendLink

    link = FrontendLink()
    if link.register(shell):
        shell._aieng_frontend = link


def unload(shell: Any) -> None:
    capture = getattr(shell, "_aieng_capture", None)
    if capture is None:
        return
    shell.events.unregister("pre_run_cell", capture.pre_run_cell)
    shell.events.unregister("post_run_cell", capture.post_run_cell)
    if capture.on_end in end_hooks:
        end_hooks.remove(capture.on_end)
    link = getattr(shell, "_aieng_frontend", None)
    if link is not None:
        link.unregister(shell)
        del shell._aieng_frontend
    matcher = getattr(shell, "_aieng_matcher", None)
    if matcher in shell.Completer.custom_matchers:
        shell.Completer.custom_matchers.remove(matcher)
    shower = getattr(shell, "_aieng_show", None)
    if shower in shell.ast_transformers:
        shell.ast_transformers.remove(shower)
    del shell._aieng_capture
