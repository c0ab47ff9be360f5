"""Controlling jobs: run one (blocking), submit one (non-blocking), stop, list and get them.

Each takes a :class:`~aieng_nb.jobs.request.JobRequest` or ``run_job``'s call style
(``notebook, parameters, **options``), and a keyword-only ``workspace`` (None: the current one).

>>> job = run_job("notebooks/03-train-job.ipynb", {"n_estimators": 10})   # doctest: +SKIP
>>> job.status                                                              # doctest: +SKIP
<JobStatus.COMPLETED: 'COMPLETED'>
>>> submit_job(JobRequest("train.ipynb", {"lr": 0.1})).status               # doctest: +SKIP
<JobStatus.QUEUED: 'QUEUED'>

Formerly ``prepare.py``: Preparing a job: a validated :class:`~aieng_nb.jobs.request.JobRequest` becomes a stored CREATED
record (the notebook copied beside it), nothing runs yet.

>>> job = prepare_job("notebooks/03-train-job.ipynb", {"n_estimators": 5})   # doctest: +SKIP
>>> job.status                                                                 # doctest: +SKIP
<JobStatus.CREATED: 'CREATED'>
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ..exceptions import ConflictError, ValidationError
from ..fsutil import atomic_copy, user_name
from ..records import now
from ..workspace import Workspace, current
from . import remote, store
from .display import JobTable, resolve
from .records import JobError, JobRecord, JobStatus
from .request import JobRequest

EXAMPLE_NOTEBOOK = "03-train-job.ipynb"


def executor_class(name: str) -> Any:
    """The executor registered as ``name`` in :data:`aieng_nb.plugins.executors`."""
    from ..executors import get_executor

    return get_executor(name)


def run_job(
    notebook: JobRequest | str | os.PathLike[str],
    parameters: Any = None,
    *,
    progress: Any = None,
    workspace: Workspace | None = None,
    **options: Any,
) -> JobRecord:
    """Run a notebook as a tracked job and return its final record.

    ``options`` are :class:`JobRequest` fields: ``parameters_file``, ``allow_unknown``, ``timeout``
    (seconds per attempt), ``cell_timeout``, ``retries``, ``retry_backoff``, ``experiment``,
    ``kernel_name``, ``cwd``, ``monitor``, ``tags``, ``contracts``, ``executor`` (a name registered
    in ``aieng_nb.plugins.executors``: ``local``, ``process``, ``dask`` or a plug-in), ``address``.

    >>> job = run_job("notebooks/03-train-job.ipynb", {"n_estimators": 10})   # doctest: +SKIP
    >>> job.status                                                              # doctest: +SKIP
    'COMPLETED'
    """
    pass

    ws = workspace or current()
    store.recover_stale(ws)
    request = JobRequest.of(notebook, parameters, **options)
    executor_cls = executor_class(request.executor_name())  # an unknown executor fails before any job exists
    record = prepare_job(request, workspace=ws)
    with executor_cls(address=record.executor_address, parallel=1) as ex:
        (final,) = list(ex.run([record.job_id], ws, progress=resolve(progress)))
    return final


def submit_job(
    notebook: JobRequest | str | os.PathLike[str],
    parameters: Any = None,
    *,
    progress: Any = None,
    workspace: Workspace | None = None,
    **options: Any,
) -> JobRecord:
    """Start a notebook job in the background and return its record at once (QUEUED or RUNNING).

    Validates exactly as :func:`run_job` before anything is created (a bad parameter raises here,
    and no job exists); the job then runs in a detached process (:mod:`aieng_nb.jobs.execute`), so
    it survives a kernel interrupt or restart. ``progress`` is accepted for symmetry and ignored:
    follow the job with :func:`wait_job` or :func:`get_job`.

    >>> job = submit_job("train.ipynb", {"lr": 0.1}, timeout=600)   # doctest: +SKIP
    >>> wait_job(job.job_id).status                                   # doctest: +SKIP
    'COMPLETED'
    """
    pass
    from .execute import start_detached

    del progress  # the detached process reports through the job record
    ws = workspace or current()
    store.recover_stale(ws)
    request = JobRequest.of(notebook, parameters, **options)
    executor_class(request.executor_name())
    return start_detached(prepare_job(request, workspace=ws), ws)


def rerun_job(
    job_id: str, parameters: Any = None, *, root: str | Path | None = None, workspace: Workspace | None = None
) -> JobRecord:
    """Submit ``job_id``'s notebook again with its options and parameters, ``parameters`` overriding
    some of them (the sidebar's "re-run with edited parameters"); returns the new job at once.
    ``root`` (the Jupyter server's): the recorded notebook must lie inside it, else ValidationError.

    >>> rerun_job("20261202-101500-a1b2c3", {"lr": 0.2}).status   # doctest: +SKIP
    'QUEUED'
    """
    old = get_job(job_id, workspace=workspace)
    if root is not None:
        base = Path(root).resolve()
        inside = [
            Path(p).is_absolute() and Path(p).resolve().is_relative_to(base) for p in (old.notebook, old.cwd or root)
        ]
        if not all(inside):
            raise ValidationError(f"job {old.job_id}'s notebook or folder is not inside the Jupyter root; not re-run")
    request = JobRequest.of(
        old.notebook,
        {**old.parameters, **dict(parameters or {})},
        experiment=old.experiment,
        timeout=old.timeout,
        cell_timeout=old.cell_timeout,
        retries=max(old.max_attempts - 1, 0),
        kernel_name=old.kernel_name,
        cwd=old.cwd,
        monitor=old.monitor,
    )
    return submit_job(request, workspace=workspace)


def wait_job(
    job_id: str, timeout: float | None = None, *, poll: float = 0.2, workspace: Workspace | None = None
) -> JobRecord:
    """Block until a job ends and return its final record (``timeout`` seconds: the record as it is then).

    >>> wait_job("20261201-120000-abc123", timeout=60).status   # doctest: +SKIP
    'COMPLETED'
    """
    ws = workspace or current()
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        record = store.load(job_id, ws)
        if record.finished and record.finished_at:
            return record
        if not record.finished and store.recover_stale(ws):
            continue  # its owner died: the record is FAILED now
        if end is not None and time.monotonic() >= end:
            return record
        time.sleep(poll)


def run_example_job(parameters: Any = None, *, progress: Any = None, workspace: Workspace | None = None) -> JobRecord:
    """Run the example training notebook shipped with aieng_nb (``notebooks/03-train-job.ipynb``) as a
    job on the current workspace; returns the final record (``.run_id``, ``.output_path``).

    >>> job = run_example_job({"n_estimators": 50})   # doctest: +SKIP
    """
    from ..demo import example

    return run_job(example(EXAMPLE_NOTEBOOK), parameters, progress=progress, workspace=workspace)


def stop_job(job_id: str, *, wait: float = 15.0, workspace: Workspace | None = None) -> JobRecord:
    """Stop a job: a queued one never starts, a running one's kernel is killed; returns the record."""
    ws = workspace or current()
    # the rule lives in the core, so the CLI, the magics and REST (409) agree: a compare-and-set
    # that holds only while the job has not ended (racing its finish, exactly one of them wins)
    record = store.request_stop(job_id, ws)  # with its audit entry

    from .execute import HEARTBEAT_S, attempt_lost

    def silent(r: JobRecord) -> bool:
        # a live attempt beats every HEARTBEAT_S and obeys a stop within 0.1 s: once a stop is
        # asked, a heartbeat this old means its worker is gone, whatever worker_timeout says
        return bool(
            r.executor_address and r.heartbeat_at and (now() - r.heartbeat_at).total_seconds() > 2.5 * HEARTBEAT_S
        )

    def stop_idle(r: JobRecord, waited: bool = False) -> bool:
        alive = store.owner_alive(r)
        gone = alive is False or attempt_lost(r) is not None  # a cluster worker lost: nobody else will end it
        gone = gone or (waited and silent(r))
        if r.status == JobStatus.CREATED or (r.status in JobStatus.ACTIVE and gone):
            store.kill_kernel(r)
            r.status, r.finished_at = JobStatus.STOPPED, now()
            r.error = JobError(kind="stopped", message="stopped on request").to_dict()
            ended.append(r.run_id)
            return True
        return False

    ended: list[str | None] = []

    def settle(waited: bool = False) -> JobRecord:
        done = store.mutate(record.job_id, lambda r: stop_idle(r, waited), ws)
        if any(ended):  # nobody else will close the job's run (its process or worker is gone)
            from .display import Progress
            from .finish import finish

            return finish(done, ws, Progress(), 0.0)
        return done

    record = settle()
    end = time.monotonic() + wait
    while not record.finished and time.monotonic() < end and not silent(record):
        time.sleep(0.1)
        record = store.load(record.job_id, ws)
    if not record.finished:
        store.kill_kernel(record)  # the runner will see the dead kernel and the stop request
        record = settle(waited=True)
    return record


def list_jobs(
    status: str | None = None,
    *,
    limit: int | None = None,
    sweep_id: str | None = None,
    schedule: str | None = None,
    workspace: Workspace | None = None,
    recover: bool = True,
) -> JobTable:
    """Job records, newest first (``status`` filters: ``failed``, ``running`` ...), as a
    :class:`~aieng_nb.jobs.display.JobTable` (a RecordList: a table in Jupyter, ``to_dicts()`` for JSON).
    ``recover=False`` only reads (the server's GETs: its changes poll recovers stale jobs).

    >>> list_jobs(status="failed")   # doctest: +SKIP
    no jobs
    """
    ws = workspace or current()
    if recover:
        store.recover_stale(ws)
    found = store.list_records(status, limit=limit, sweep_id=sweep_id, schedule=schedule, workspace=ws)
    return JobTable(found, status=JobStatus.parse(status) if status else None)


def get_job(job_id: str, *, workspace: Workspace | None = None, recover: bool = True) -> JobRecord:
    """One job record by id (a unique prefix works); stale RUNNING jobs are recovered first, and the
    files of a job run by a worker without this disk are fetched from the object store into the job
    folder (``recover=False``: only read, as the server's GETs do).

    >>> get_job("20261201-120000-abc123").status   # doctest: +SKIP
    'COMPLETED'
    """
    ws = workspace or current()
    if recover:
        store.recover_stale(ws)
    record = store.load(job_id, ws)
    if recover:  # files a worker stored only in the object store: into this machine's job folder
        remote.fetch_outputs(record, ws)
    return record


_ENV_PACKAGES = ("numpy", "pandas", "scikit-learn", "papermill", "mlflow", "aieng_nb")


def file_sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_env_cache: tuple[tuple[int, ...], dict[str, str]] | None = None


def environment_summary() -> dict[str, str]:
    """Python and key package versions (what `reproduce` compares). Read again only when a folder
    on ``sys.path`` changed (an install or removal changes its entries); reading the versions
    takes ~10 ms, a job's whole overhead over papermill is a few times that."""
    global _env_cache
    from importlib import metadata

    stamp = tuple(_mtime_ns(folder) for folder in sys.path)
    if _env_cache is not None and _env_cache[0] == stamp:
        return dict(_env_cache[1])
    env = {"python": platform.python_version()}
    for name in _ENV_PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    _env_cache = (stamp, env)
    return dict(env)


def _mtime_ns(folder: str) -> int:
    try:
        return os.stat(folder or ".").st_mtime_ns
    except OSError:
        return -1


def prepare_job(
    notebook: JobRequest | str | os.PathLike[str],
    parameters: Any = None,
    *,
    workspace: Workspace | None = None,
    dry_run: bool = False,
    **options: Any,
) -> JobRecord:
    """Validate a job request and store its CREATED record (nothing runs yet).

    Takes a :class:`JobRequest` or ``run_job``'s call style (``notebook, parameters, **options``).
    Every check runs before anything is written: a refused job leaves no record, folder or audit
    entry. ``dry_run``: only check, and return the record that would be stored (a sweep checks
    every point before its parent run exists).
    """
    request = JobRequest.of(notebook, parameters, **options)
    ok = request.validate(workspace, executor=False)  # run_job and submit_job look it up first
    host, pid, pid_started = store.process_identity()  # the creator: recover_stale fails it if this dies
    record = JobRecord.new(
        str(ok.path.resolve()),
        ok.parameters,
        notebook_sha256=file_sha256(ok.path),
        max_attempts=request.retries + 1,
        retry_backoff=request.retry_backoff,
        timeout=request.timeout,
        cell_timeout=request.cell_timeout,
        executor=request.executor_name(),
        executor_address=request.executor_address(),
        kernel_name=ok.kernel.name,
        kernel_language=ok.kernel.language,
        cwd=ok.cwd,
        experiment=ok.experiment,
        monitor=ok.monitor,
        sweep_id=request.sweep_id,
        parent_run_id=request.parent_run_id,
        schedule=request.schedule,
        tags=ok.tags,
        environment=environment_summary(),
        host=host,
        pid=pid,
        pid_started=pid_started,
        submitted_by=user_name(),
        submitted_from=host,
    )
    json.dumps(record.to_dict(), sort_keys=True)  # the record must be storable before its folder exists
    if dry_run:
        return record
    ws = workspace or current()
    folder = store.job_dir(record.job_id, ws)
    record.input_copy = str(folder / "input.ipynb")
    record.output_path = str(folder / "output.ipynb")
    # the input copy first, then the record and its audit entry in one transaction (one commit): a
    # kill -9 before the commit leaves no job (only a folder no record names), after it a recorded,
    # audited CREATED job whose creator is gone (recover_stale fails it); a refused write (a full
    # disk) removes the folder again, so the error the caller sees is true
    created = {
        "job_id": record.job_id,
        "notebook": record.notebook,
        "sha256": record.notebook_sha256,
        "parameters": ok.parameters,
    }
    try:
        folder.mkdir(parents=True)  # a new id's folder: never another job's
    except FileExistsError:
        raise ConflictError(f"job {record.job_id} already exists") from None
    try:
        atomic_copy(ok.path, folder / "input.ipynb")
        remote.publish(ws, record.job_id, "input.ipynb", folder / "input.ipynb")  # for workers without this disk
        fault("job_create:copied")
        store.create(record, ws, entries=lambda r: [("job.create", created)])
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    fault("job_create:recorded")
    return record


def fault(step: str) -> None:
    """Die here (SIGKILL) when ``$AIENG_FAULT_AT`` names this step: the crash tests' injection point."""
    if os.environ.get("AIENG_FAULT_AT") == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
