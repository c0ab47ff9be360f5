"""The papermill engine and notebook client that jobs run with (imported only when a job runs).

The client puts kernels on unix sockets in a private folder, hands the kernel to the job's
:class:`~aieng_nb.jobs.engine.AttemptContext` (stop, timeouts), and flushes buffered metrics with
a silent request before shutdown; the engine reports each of the user's cells as it completes.
"""

from __future__ import annotations

import os
import time
from typing import Any

from nbclient.util import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine

from .engine import FLUSH_CODE, FLUSH_TIMEOUT_S, AttemptContext, _quiet_logger, is_hidden


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
