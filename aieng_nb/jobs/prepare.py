"""Preparing a job: a validated :class:`~aieng_nb.jobs.request.JobRequest` becomes a stored CREATED
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
from pathlib import Path
from typing import Any

from .. import audit
from ..fsutil import atomic_copy
from ..workspace import Workspace, current
from . import store
from .records import JobRecord
from .request import JobRequest

_ENV_PACKAGES = ("numpy", "pandas", "scikit-learn", "papermill", "mlflow", "aieng_nb")


def file_sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def environment_summary() -> dict[str, str]:
    """Python and key package versions (what `reproduce` compares)."""
    from importlib import metadata

    env = {"python": platform.python_version()}
    for name in _ENV_PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return env


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
    )
    json.dumps(record.to_dict(), sort_keys=True)  # the record must be storable before its folder exists
    if dry_run:
        return record
    ws = workspace or current()
    folder = store.job_dir(record.job_id, ws)
    record.input_copy = str(folder / "input.ipynb")
    record.output_path = str(folder / "output.ipynb")
    # the record first (one transaction), then its files and audit entry: a kill -9 at any point
    # leaves nothing or a recorded CREATED job whose creator is gone (recover_stale fails it); a
    # refused write (a full disk) takes the record back, so the error the caller sees is true
    store.create(record, ws)
    fault("job_create:recorded")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_copy(ok.path, folder / "input.ipynb")
        fault("job_create:copied")
        audit.append(
            "job.create",
            {
                "job_id": record.job_id,
                "notebook": record.notebook,
                "sha256": record.notebook_sha256,
                "parameters": ok.parameters,
            },
            workspace=ws,
        )
    except BaseException:
        try:
            store.delete(record.job_id, ws)
            shutil.rmtree(folder, ignore_errors=True)
        except Exception:  # noqa: BLE001 - the record stays, CREATED by this process: recovery fails it
            pass
        raise
    return record


def fault(step: str) -> None:
    """Die here (SIGKILL) when ``$AIENG_FAULT_AT`` names this step: the crash tests' injection point."""
    if os.environ.get("AIENG_FAULT_AT") == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
