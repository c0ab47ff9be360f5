"""The local executors: jobs in this process (each in its own kernel process), or in a process pool."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from . import Executor


class LocalExecutor(Executor):
    """Run jobs here. With ``parallel > 1`` several run at once: each job's notebook executes in its
    own kernel process, and a thread here only drives it (sends cells, waits for replies), so
    ``parallel`` jobs use ``parallel`` processes without paying for a second interpreter's imports."""

    name = "local"

    def run(self, job_ids: list[str], workspace: Any, progress: Any = None) -> Iterator[Any]:
        from ..jobs.execute import execute_job

        if self.parallel == 1 or len(job_ids) == 1:
            for job_id in job_ids:
                yield execute_job(job_id, workspace, progress)
            return
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="aieng-job") as pool:
            pending = {pool.submit(execute_job, job_id, workspace, progress) for job_id in job_ids}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    yield fut.result()


def _execute_in_worker(job_id: str, workspace_root: str) -> dict[str, Any]:
    os.environ["AIENG_WORKSPACE"] = workspace_root
    from .. import config
    from ..jobs.execute import execute_job
    from ..workspace import Workspace

    config.reset()
    return execute_job(job_id, Workspace(__import__("pathlib").Path(workspace_root))).to_dict()


class ProcessExecutor(Executor):
    """Run jobs in a pool of ``parallel`` fresh worker processes (spawned: isolated from this one)."""

    name = "process"

    def run(self, job_ids: list[str], workspace: Any, progress: Any = None) -> Iterator[Any]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from ..jobs.records import JobRecord

        main = sys.modules.get("__main__")
        if main is not None and not hasattr(main, "__spec__"):
            main.__spec__ = None  # IPython's __main__ lacks it, and spawn needs to read it
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.parallel, mp_context=ctx) as pool:
            pending: set[Future[Any]] = {pool.submit(_execute_in_worker, j, str(workspace.root)) for j in job_ids}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    record = JobRecord.from_dict(fut.result())
                    if progress is not None:
                        progress.job_finished(record)
                    yield record
