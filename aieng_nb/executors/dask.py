"""The Dask executor: each job attempt is a task on a Dask distributed cluster.

The workers execute the job exactly as the local executor does (papermill, a kernel per job). A task
carries the workspace's addresses, not a folder (:mod:`aieng_nb.jobs.remote`): a worker that sees the
submitter's folder uses it; one that does not runs in a private folder, fetching the notebook from the
object store and storing the output notebook, its HTML, the record and the run in the shared
database, object store and tracking server (a worker that cannot reach them says which, in one line).

The retry budget is aieng's, not the cluster's: each task is submitted for one attempt number,
and a task the cluster reruns on its own after losing a worker finds its attempt already started
and runs nothing. The running attempt beats a heartbeat into the job record every few seconds;
the submitter watches it. An attempt whose worker process is gone (same host) or whose heartbeat
is older than ``worker_timeout`` (default 60 s, ``$AIENG_WORKER_TIMEOUT``) ends FAILED ("worker
lost: HOST, last heartbeat TIME"); a retry starts if the budget allows, else the job ends FAILED
and the submitting command returns. ``aieng job stop`` from any machine ends a job whose worker is
gone at once, and the submitter cancels its task.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import config
from ..exceptions import AiengError, MissingDependencyError, ValidationError
from . import Executor


def execute_on_worker(job_id: str, spec: dict[str, Any], attempt: int) -> dict[str, Any]:
    """The task a Dask worker runs for attempt ``attempt`` of a job (plain data in and out).
    ``spec`` is :func:`aieng_nb.jobs.remote.workspace_spec`: the workspace's database URL, tracking
    URI and object store, so the worker needs no shared folder (it uses the folder when it has it)."""
    from ..jobs.execute import execute_job
    from ..jobs.remote import open_worker_workspace

    return execute_job(job_id, open_worker_workspace(spec, job_id), attempt=attempt).to_dict()


def dask_setup(worker: Any = None) -> None:
    """``dask worker --preload aieng_nb.executors.dask``: import what a job needs (papermill, nbclient,
    the job store, MLflow's store, the signer, the kernel spec) and render one notebook to HTML
    when the worker starts, not in its first job (3.3 s of the worker's CPU here: a fresh worker's
    first trivial job took 4.3 s, 2.4 s with the preload)."""
    import tempfile
    from pathlib import Path

    import ipykernel.kernelspec  # noqa: F401 - how jupyter_client finds the python3 kernel
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 - the tracking store a job writes to
    import nbformat
    import sqlalchemy.dialects.sqlite  # noqa: F401 - the job store's dialect (SQLite by default)
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: F401 - signing audit entries

    from ..jobs import remote  # noqa: F401 - the job store, the object store
    from ..jobs.execute import render_html  # papermill, nbclient (the engine)
    from ..storage import tables  # noqa: F401 - SQLAlchemy

    cell = nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")])
    with tempfile.TemporaryDirectory(prefix="aieng-warm-") as tmp:
        nb = Path(tmp) / "warm.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(nb))
        render_html(nb, nb.with_suffix(".html"))  # nbconvert's templates compiled, bleach and pygments loaded


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
        from ..jobs import store
        from ..jobs.execute import create_run, fail_job
        from ..jobs.records import JobStatus
        from ..records import now

        host, pid, started = store.process_identity()
        tasks: dict[str, Any] = {}  # job id -> its attempt's future (None: the task returned, the job goes on)
        waiting: list[str] = []  # queued, not sent yet: at most ``parallel`` jobs are on the cluster at once
        ended: list[tuple[str, Any]] = []

        def queue(r: Any) -> None:
            if r.status == JobStatus.CREATED:
                r.status, r.queued_at = JobStatus.QUEUED, now()
                r.host, r.pid, r.pid_started = host, pid, started
                r.executor_address = self.address

        def send(record: Any) -> None:
            if record.finished:  # stopped while it waited: nothing to send, no run to make
                ended.append((record.job_id, record))
                return
            if record.run_id is None:  # made here: the submitter, not the worker's account, is mlflow.user
                record = create_run(record, workspace)
            if record.stop_requested_at is not None:
                why = "stopped before it started"
                ended.append((record.job_id, fail_job(record.job_id, workspace, "stopped", why, JobStatus.STOPPED)))
            else:
                tasks[record.job_id] = self._submit(record, workspace)

        # a job's run is made when the job is sent, as the local executor makes it when the job starts:
        # the first ``parallel`` jobs start at once, and the next runs' environment capture (a thread
        # here) does not compete with their kernels for the CPU
        for job_id in job_ids:
            record = store.mutate(job_id, queue, workspace)
            if len(tasks) < self.parallel:
                send(record)
            else:
                waiting.append(job_id)
        while tasks or waiting or ended:
            with self.client.as_current():
                if not ended:
                    self._wait([f for f in tasks.values() if f is not None])
                ended += [(job_id, self._check(job_id, tasks, workspace)) for job_id in list(tasks)]
            done = [record for _, record in ended if record is not None]
            ended.clear()
            for record in done:
                tasks.pop(record.job_id, None)
            while waiting and len(tasks) < self.parallel:  # the next jobs go out before the ended ones are reported
                send(store.load(waiting.pop(0), workspace))
            for record in done:
                if progress is not None:
                    progress.job_finished(record)
                yield record

    def _submit(self, record: Any, workspace: Any) -> Any:
        from ..jobs.remote import workspace_spec

        attempt = record.attempts + 1
        return self.client.submit(
            execute_on_worker,
            record.job_id,
            workspace_spec(workspace),
            attempt,
            pure=False,
            key=f"aieng-job-{record.job_id}-{attempt}",
        )

    def _wait(self, futures: list[Any]) -> None:
        import time

        if not futures:
            time.sleep(POLL_S)
            return
        from distributed import wait

        try:
            wait(futures, timeout=POLL_S, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass

    def _check(self, job_id: str, tasks: dict[str, Any], workspace: Any) -> Any:
        """The job's final record once it ended, else None (resubmitting a lost attempt if the budget allows)."""
        from ..jobs import store
        from ..jobs.display import Progress
        from ..jobs.execute import attempt_lost, fail_job, finish
        from ..jobs.records import JobRecord, JobStatus

        fut = tasks[job_id]
        if fut is not None and fut.done():
            tasks[job_id] = None
            try:
                done = JobRecord.from_dict(fut.result())
            except AiengError as exc:  # the worker said why it could not run the job (its stores out of reach)
                return fail_job(job_id, workspace, "worker_setup", f"the worker could not run the job: {exc}")
            except Exception as exc:  # noqa: BLE001 - the scheduler is gone, or cancelled the task
                return fail_job(job_id, workspace, "worker_lost", f"the Dask cluster lost the job: {exc!r}")
            if done.finished and done.finished_at:
                return store.localized(done, workspace)
        record = store.load(job_id, workspace)
        if record.finished and record.finished_at:  # finished_at: the worker's finish (HTML, run, audit) is done
            self._cancel(tasks[job_id])
            return record
        if record.finished:  # ended, its finish under way on the worker, or its worker died in it
            if tasks[job_id] is None or attempt_lost(record, finishing=True):
                self._cancel(tasks[job_id])
                return finish(record, workspace, Progress(), 0.0)
            return None
        stop = store.stop_requested(job_id, workspace)
        if record.status == JobStatus.QUEUED and stop:
            self._cancel(tasks[job_id])
            return fail_job(job_id, workspace, "stopped", "stopped before it started", JobStatus.STOPPED)
        lost = attempt_lost(record)
        if lost is None:
            return None
        self._cancel(tasks[job_id])
        if stop:
            return fail_job(job_id, workspace, "stopped", f"stopped on request; {lost}", JobStatus.STOPPED)
        record = _end_lost_attempt(job_id, workspace, lost)
        if record.status != JobStatus.QUEUED:
            return fail_job(job_id, workspace, "worker_lost", lost)
        tasks[job_id] = self._submit(record, workspace)
        return None

    @staticmethod
    def _cancel(fut: Any) -> None:
        if fut is not None:
            try:
                fut.cancel()
            except Exception:  # noqa: BLE001 - the cluster may be gone
                pass

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass


POLL_S = 0.5  # how often the submitter looks at its jobs' records


def _end_lost_attempt(job_id: str, workspace: Any, why: str) -> Any:
    """Record the lost attempt as FAILED; QUEUED for a retry when the budget allows."""
    from ..jobs import store
    from ..jobs.execute import close_attempt_run
    from ..jobs.records import JobError, JobStatus

    lost_run: list[str] = []

    def end(r: Any) -> None:
        if r.status != JobStatus.RUNNING:
            return
        error = JobError(kind="worker_lost", message=why).to_dict()
        entry = {"attempt": r.attempts, "status": JobStatus.FAILED, "error": error}
        if r.attempt_run_id:
            entry["run_id"] = r.attempt_run_id
            lost_run[:] = [r.attempt_run_id]
        r.history.append(entry)
        r.error, r.kernel_pid = error, None
        r.status = JobStatus.QUEUED if r.attempts < r.max_attempts else JobStatus.FAILED

    record = store.mutate(job_id, end, workspace)
    for run_id in lost_run:  # the lost attempt's own run: its worker will never close it
        close_attempt_run(run_id, JobStatus.FAILED, workspace)
    return record
