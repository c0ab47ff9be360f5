"""The Dask executor: each job is a task on a Dask distributed cluster.

The workers execute the job exactly as the local executor does (papermill, a kernel per job) and
write the job record and run into the workspace, so the workspace folder must be reachable from
the workers at the same path (one machine, or a shared filesystem).

A worker that dies mid-job: the scheduler reruns the task elsewhere; the rerun notices the previous
attempt's dead process, records the attempt as lost and runs again. If the cluster gives up
(``KilledWorker``) or the connection is lost, the job is marked FAILED here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import config
from ..exceptions import MissingDependencyError, ValidationError
from . import Executor


def execute_on_worker(job_id: str, workspace_root: str, tracking_uri: str | None) -> dict[str, Any]:
    """The task a Dask worker runs (plain data in and out)."""
    import os
    from pathlib import Path

    from .. import config
    from ..jobs.execute import execute_job
    from ..workspace import Workspace

    os.environ["AIENG_WORKSPACE"] = workspace_root
    if tracking_uri:
        os.environ["AIENG_TRACKING_URI"] = tracking_uri
    else:
        os.environ.pop("AIENG_TRACKING_URI", None)
    config.reset()
    return execute_job(job_id, Workspace(Path(workspace_root))).to_dict()


class DaskExecutor(Executor):
    """``--executor dask --address tcp://HOST:8786`` (or ``$AIENG_DASK_ADDRESS``)."""

    name = "dask"

    def __init__(self, address: str | None = None, parallel: int | None = None, **options: Any) -> None:

        super().__init__(address or (str(config.get("dask_address")) or None), parallel, **options)
        if not self.address:
            raise ValidationError("the dask executor needs a scheduler address: --address tcp://HOST:8786")
        try:
            from distributed import Client
        except ImportError as exc:
            raise MissingDependencyError("distributed", "dask") from exc
        self.client = Client(self.address, timeout=options.get("connect_timeout", 10), set_as_default=False)

    def run(self, job_ids: list[str], workspace: Any, progress: Any = None) -> Iterator[Any]:
        from distributed import as_completed

        from ..jobs import store
        from ..jobs.finish import fail_job
        from ..jobs.records import JobRecord, JobStatus
        from ..records import now

        tracking_uri = None if workspace.is_local else workspace.tracking_uri
        host, pid, started = store.process_identity()
        futures = {}
        for job_id in job_ids:

            def queue(r: Any) -> None:
                if r.status == JobStatus.CREATED:
                    r.status, r.queued_at = JobStatus.QUEUED, now()
                    r.host, r.pid, r.pid_started = host, pid, started
                    r.executor_address = self.address

            store.mutate(job_id, queue, workspace)
            fut = self.client.submit(
                execute_on_worker, job_id, str(workspace.root), tracking_uri, pure=False, key=f"aieng-job-{job_id}"
            )
            futures[fut] = job_id
        with self.client.as_current():
            for fut in as_completed(list(futures)):
                job_id = futures[fut]
                try:
                    record = JobRecord.from_dict(fut.result())
                except Exception as exc:  # noqa: BLE001 - KilledWorker, lost connection, cancelled
                    record = fail_job(job_id, workspace, "worker_lost", f"the Dask cluster lost the job: {exc!r}")
                if progress is not None:
                    progress.job_finished(record)
                yield record

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass
