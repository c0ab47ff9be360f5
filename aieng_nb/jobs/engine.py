"""One attempt of a notebook job, executed by papermill through the ``aieng`` papermill engine.

The engine is papermill's nbclient engine plus four things the runner needs: the kernel gets the
job's environment (``AIENG_RUN_ID`` ...) and working folder, the kernel's pid is reported as soon
as it starts (so ``stop``, timeouts and crash recovery can kill it), progress is reported after
every cell, and the output notebook is saved atomically (papermill writes with a plain ``open``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_bytes
from .records import JobError

ENGINE_NAME = "aieng"


@dataclass
class AttemptContext:
    """What one attempt needs and what it reports back."""

    output_path: Path
    env: dict[str, str]
    cwd: str | None = None
    on_kernel_start: Callable[[int | None], None] | None = None
    on_cell: Callable[[int, int], None] | None = None
    python: bool = True  # a Python kernel: the job may run its own (silent) flush code in it
    nb: Any = None
    kernel_manager: Any = None
    current_cell: int | None = None  # index (in the executed notebook) of the last cell started
    abort_reason: str | None = None  # "stopped" or "job_timeout": set by the watchdog before it kills
    papermill_metadata: dict[str, Any] = field(default_factory=dict)
    user_cells: dict[str, int] = field(default_factory=dict)  # cell id -> index in the user's notebook
    _save_lock: threading.Lock = field(default_factory=threading.Lock)
    _last_save: float = 0.0

    def save(self, nb: Any, *, final: bool = True) -> None:
        """Write the output notebook atomically; intermediate saves (during execution) are
        throttled to one a second and not fsynced, the final one is."""
        import nbformat

        now = time.monotonic()
        if not final and now - self._last_save < 1.0:
            return
        with self._save_lock:
            self._last_save = now
            data = nbformat.writes(nb).encode("utf-8")
            if final:
                atomic_write_bytes(self.output_path, data)
            else:
                _replace_without_fsync(self.output_path, data)

    def kill_kernel(self) -> None:
        """SIGKILL the kernel and whatever it started (nbclient then raises DeadKernelError)."""
        km = self.kernel_manager
        proc = getattr(getattr(km, "provisioner", None), "process", None) if km is not None else None
        if proc is None:
            return
        try:
            import psutil

            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
        except Exception:  # noqa: BLE001 - the kernel may already be gone
            pass
        try:
            proc.kill()
        except Exception:  # noqa: BLE001
            pass


def _replace_without_fsync(path: Path, data: bytes) -> None:
    """temp file + rename: never a half-written notebook, but no fsync (an intermediate save)."""
    from ..fsutil import atomic_write_bytes

    atomic_write_bytes(path, data, fsync=False)


_registered = False
FLUSH_TIMEOUT_S = 600.0  # the flush also waits for reports' background files (Evidently's: tens of seconds)
FLUSH_CODE = (
    "import sys as _aieng_sys\n"
    "if 'aieng_nb.report_tasks' in _aieng_sys.modules:\n"
    "    _aieng_sys.modules['aieng_nb.report_tasks'].wait_all()\n"
    "if 'aieng_nb.tracking' in _aieng_sys.modules:\n"
    "    _aieng_sys.modules['aieng_nb.tracking'].flush()\n"
    "del _aieng_sys\n"
)
HIDDEN_TAGS = ("aieng-monitor",)


def is_hidden(cell: Any) -> bool:
    """A cell the job added (monitoring), not the user's: never counted or reported as theirs."""
    return bool(set(cell.get("metadata", {}).get("tags") or ()) & set(HIDDEN_TAGS))


def register_engine() -> None:
    """Register the ``aieng`` engine with papermill (once; papermill is imported here, not before)."""
    global _registered
    if _registered:
        return
    from papermill.engines import papermill_engines

    from .papermill_client import AiengEngine

    papermill_engines.register(ENGINE_NAME, AiengEngine)
    _registered = True


def _quiet_logger() -> Any:
    import logging

    # nbclient logs "Kernel died ..." even when we killed it on purpose (stop, timeout); the job
    # record carries the real outcome, so its messages go to this logger and stay quiet by default
    log = logging.getLogger("aieng_nb.jobs.kernel")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
        log.propagate = False
    return log


def execute_attempt(
    nb: Any,
    ctx: AttemptContext,
    *,
    kernel_name: str,
    cell_timeout: float | None = None,
    start_timeout: float = 60,
) -> JobError | None:
    """Run the (already parameterized) notebook once; None on success, else what went wrong.

    The output notebook (complete or partial) is at ``ctx.output_path`` either way.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    register_engine()
    error: JobError | None = None
    try:
        papermill.execute_notebook(
            nb,
            None,
            engine_name=ENGINE_NAME,
            kernel_name=kernel_name,
            progress_bar=False,
            start_timeout=int(start_timeout),
            execution_timeout=cell_timeout,
            aieng_ctx=ctx,
        )
    except PapermillExecutionError as exc:
        error = _cell_error(ctx, exc)
    except CellTimeoutError as exc:
        error = JobError(
            kind="cell_timeout",
            message=f"a cell ran longer than the cell timeout ({cell_timeout}s)",
            cell_index=_running_cell(ctx),
            ename="CellTimeoutError",
            evalue=str(exc).splitlines()[0] if str(exc) else "",
        )
    except DeadKernelError as exc:
        error = JobError(kind="dead_kernel", message=f"the kernel died: {exc}", cell_index=_running_cell(ctx))
    except Exception as exc:  # noqa: BLE001 - e.g. the kernel failed to start
        from jupyter_client.kernelspec import NoSuchKernel

        message = f"{type(exc).__name__}: {exc}"
        # NoSuchKernel's str() is just the kernel name: say what it means
        text = f"no kernel named {str(exc)!r} is installed" if isinstance(exc, NoSuchKernel) else str(exc)
        error = JobError(
            kind="no_kernel" if isinstance(exc, NoSuchKernel) else "error",
            message=message if not isinstance(exc, NoSuchKernel) else f"NoSuchKernel: {text}",
            ename=type(exc).__name__,
            evalue=text or message,
        )
    if ctx.abort_reason and error is not None:
        # the watchdog killed the kernel on purpose
        label = "stopped on request" if ctx.abort_reason == "stopped" else "the job ran longer than its timeout"
        error = JobError(kind=ctx.abort_reason, message=label, cell_index=_running_cell(ctx))
    if ctx.nb is not None:
        ctx.save(ctx.nb)
    return error


def _cell_error(ctx: AttemptContext, exc: Any) -> JobError:
    """The raising cell: where it is in the notebook the user gave (papermill's stale error banners
    included, the cells this run adds not: for papermill's broken1.ipynb, cell 6, where the output
    notebook has it too) and its execution count (the ``In [n]`` papermill's banner names)."""
    cells = ctx.nb.cells if ctx.nb is not None else []
    failing = next((c for c in cells if c.get("metadata", {}).get("papermill", {}).get("exception")), None)
    if failing is not None and is_hidden(failing):  # the job's monitoring cell: not the user's
        return JobError(
            kind="monitor_error",
            message=f"monitoring failed: {exc.ename}: {exc.evalue}",
            ename=exc.ename,
            evalue=exc.evalue if exc.evalue is not None else "",
        )
    return JobError(
        kind="cell_error",
        message=f"{exc.ename}: {exc.evalue}",
        cell_index=ctx.user_cells.get(failing.get("id")) if failing is not None else None,
        execution_count=exc.exec_count,
        ename=exc.ename,
        evalue=exc.evalue if exc.evalue is not None else "",
    )


def _running_cell(ctx: AttemptContext) -> int | None:
    """Index (in the user's notebook) of the cell that was running when execution stopped; None
    when it was a cell the job added (the injected parameters, monitoring)."""
    if ctx.nb is None or ctx.current_cell is None or ctx.current_cell >= len(ctx.nb.cells):
        return None
    return ctx.user_cells.get(ctx.nb.cells[ctx.current_cell].get("id"))


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
