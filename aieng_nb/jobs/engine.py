"""One attempt of a notebook job, executed by papermill through the ``aieng`` papermill engine.

The engine is papermill's nbclient engine plus four things the runner needs: the kernel gets the
job's environment (``AIENG_RUN_ID`` ...) and working folder, the kernel's pid is reported as soon
as it starts (so ``stop``, timeouts and crash recovery can kill it), progress is reported after
every cell, and the output notebook is saved atomically (papermill writes with a plain ``open``).

Formerly ``papermill_client.py``: The papermill engine and notebook client that jobs run with (imported only when a job runs).

The client puts kernels on unix sockets in a private folder, hands the kernel to the job's
:class:`~aieng_nb.jobs.engine.AttemptContext` (stop, timeouts), and flushes buffered metrics with
a silent request before shutdown; the engine reports each of the user's cells as it completes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbclient.util import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine

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
    "if 'aieng_nb.reports.tasks' in _aieng_sys.modules:\n"
    "    _aieng_sys.modules['aieng_nb.reports.tasks'].wait_all()\n"
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

    pass

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


pass


class AiengNotebookClient(PapermillNotebookClient):
    def __init__(self, nb_man: Any, aieng_ctx: AttemptContext, **kw: Any) -> None:
        super().__init__(nb_man, **kw)
        self._aieng_ctx = aieng_ctx

    def create_kernel_manager(self) -> Any:
        km = super().create_kernel_manager()
        # unix sockets in a private short-path folder: no TCP port races between kernels
        # started at the same moment (parallel sweeps, other processes), no open ports
        import tempfile

        self._aieng_ipc_dir = tempfile.mkdtemp(prefix="aieng-k-")
        km.transport = "ipc"
        km.ip = os.path.join(self._aieng_ipc_dir, "k")
        return km

    def _cleanup_kernel(self) -> None:
        try:
            super()._cleanup_kernel()
        finally:
            ipc_dir = getattr(self, "_aieng_ipc_dir", None)
            if ipc_dir:
                import shutil

                shutil.rmtree(ipc_dir, ignore_errors=True)

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        ctx = self._aieng_ctx
        kwargs.setdefault("env", ctx.env)
        if ctx.cwd:
            kwargs.setdefault("cwd", ctx.cwd)
        await super().async_start_new_kernel(**kwargs)
        ctx.kernel_manager = self.km
        if ctx.abort_reason:  # stopped or timed out while the kernel was starting
            ctx.kill_kernel()
        if ctx.on_kernel_start is not None:
            proc = getattr(self.km.provisioner, "process", None)
            ctx.on_kernel_start(getattr(proc, "pid", None))

    # nbclient binds the sync wrapper to its own coroutine: rebind it to ours
    start_new_kernel = run_sync(async_start_new_kernel)

    def papermill_execute_cells(self) -> None:
        super().papermill_execute_cells()
        if self._aieng_ctx.python and not self._aieng_ctx.abort_reason:
            run_sync(self._aieng_flush)()

    async def _aieng_flush(self) -> None:
        """Write buffered metrics before the kernel is asked to shut down: a silent request,
        not a cell (nothing added to the user's notebook, nothing counted or reported)."""
        import queue
        from inspect import isawaitable

        if self.kc is None:
            return
        msg_id = self.kc.execute(FLUSH_CODE, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                reply = self.kc.get_shell_msg(timeout=remaining)
                msg = await reply if isawaitable(reply) else reply
            except (queue.Empty, TimeoutError):
                return
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return


class AiengEngine(NBClientEngine):
    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: float | None = None,
        aieng_ctx: AttemptContext | None = None,
        **kwargs: Any,
    ) -> Any:
        assert aieng_ctx is not None, "the aieng engine is driven by aieng_nb.jobs"
        ctx = aieng_ctx
        ctx.nb = nb_man.nb
        # papermill.execute_notebook records the notebook object we passed as the input path
        nb_man.nb.metadata.papermill.update(ctx.papermill_metadata)
        own = [not is_hidden(cell) for cell in nb_man.nb.cells]
        total = sum(own)

        def save(**_: Any) -> None:
            ctx.save(nb_man.nb, final=False)
            nb_man.last_save_time = nb_man.now()

        original_complete = nb_man.cell_complete
        original_start = nb_man.cell_start

        def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> None:
            ctx.current_cell = cell_index
            original_start(cell, cell_index=cell_index, **kw)

        def cell_complete(cell: Any, cell_index: int | None = None, **kw: Any) -> None:
            original_complete(cell, cell_index=cell_index, **kw)
            if ctx.on_cell is not None and cell_index is not None and own[cell_index]:
                ctx.on_cell(sum(own[: cell_index + 1]), total)

        nb_man.save = save
        nb_man.cell_complete = cell_complete
        nb_man.cell_start = cell_start
        save()
        kwargs.pop("input_path", None)
        client = AiengNotebookClient(
            nb_man,
            aieng_ctx=ctx,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            # IPython kernels only: another language's kernel may not take IPKernelApp options
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"] if ctx.python else [],
            log=_quiet_logger(),
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            **kwargs,
        )
        return client.execute(env=ctx.env)
