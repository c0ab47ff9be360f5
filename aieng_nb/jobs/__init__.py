"""Notebook jobs: papermill-powered, tracked, reproducible runs of a notebook.

``aieng.run_job(nb, params)`` runs one (blocking), ``aieng.submit_job(...)`` starts one and returns
at once, ``aieng.sweep(nb, grid)`` runs many, ``aieng.list_jobs()`` lists them and
``aieng.get_job(job_id)`` gives one. Each takes a :class:`JobRequest` or ``notebook, parameters,
**options``. ``aieng.jobs(...)`` (this package called) is the old spelling of ``list_jobs`` and
warns for one release.

>>> import aieng_nb as aieng
>>> aieng.list_jobs(status="failed")   # doctest: +SKIP
no jobs with status FAILED
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..deprecation import callable_module, deprecated_function
from ..workspace import Workspace
from .records import JobError, JobRecord, JobStatus

if TYPE_CHECKING:
    from .request import JobRequest

__all__ = [
    "JobError",
    "JobRecord",
    "JobRequest",
    "JobStatus",
    "run_job",
    "submit_job",
    "wait_job",
    "run_example_job",
    "list_jobs",
    "get_job",
    "stop_job",
    "sweep",
    "notebook_parameters",
]


def run_job(
    notebook: JobRequest | str | os.PathLike[str],
    parameters: Any = None,
    *,
    progress: Any = None,
    workspace: Workspace | None = None,
    **options: Any,
) -> JobRecord:
    """Run a notebook as a tracked job and return its final record; see aieng_nb.jobs.control.run_job.

    >>> aieng.run_job("train.ipynb", {"lr": 0.1}, timeout=600)   # doctest: +SKIP
    """
    from .control import run_job as _run_job

    return _run_job(notebook, parameters, progress=progress, workspace=workspace, **options)


def submit_job(
    notebook: JobRequest | str | os.PathLike[str],
    parameters: Any = None,
    *,
    progress: Any = None,
    workspace: Workspace | None = None,
    **options: Any,
) -> JobRecord:
    """Start a notebook job in the background; returns the QUEUED/RUNNING record at once
    (see aieng_nb.jobs.control.submit_job).

    >>> aieng.submit_job(aieng.jobs.JobRequest("train.ipynb", {"lr": 0.1})).status   # doctest: +SKIP
    'QUEUED'
    """
    from .control import submit_job as _submit_job

    return _submit_job(notebook, parameters, progress=progress, workspace=workspace, **options)


def wait_job(
    job_id: str, timeout: float | None = None, *, poll: float = 0.2, workspace: Workspace | None = None
) -> JobRecord:
    """Block until a job ends; see aieng_nb.jobs.control.wait_job."""
    from .control import wait_job as _wait_job

    return _wait_job(job_id, timeout, poll=poll, workspace=workspace)


def list_jobs(
    status: str | None = None,
    *,
    limit: int | None = None,
    sweep_id: str | None = None,
    schedule: str | None = None,
    workspace: Workspace | None = None,
    recover: bool = True,
) -> Any:
    """Job records, newest first, as a :class:`~aieng_nb.jobs.display.JobTable` (stale ones recovered
    first; ``recover=False`` only reads).

    >>> aieng.list_jobs(status="failed", limit=5)   # doctest: +SKIP
    """
    from .control import list_jobs as _list_jobs

    return _list_jobs(status, limit=limit, sweep_id=sweep_id, schedule=schedule, workspace=workspace, recover=recover)


def get_job(job_id: str, *, workspace: Workspace | None = None, recover: bool = True) -> JobRecord:
    """One job by id (a unique prefix works).

    >>> aieng.get_job("20261201-120000-abc123").status   # doctest: +SKIP
    """
    from .control import get_job as _get_job

    return _get_job(job_id, workspace=workspace, recover=recover)


def stop_job(job_id: str, *, wait: float = 15.0, workspace: Workspace | None = None) -> JobRecord:
    """Stop a queued or running job; see aieng_nb.jobs.control.stop_job."""
    from .control import stop_job as _stop

    return _stop(job_id, wait=wait, workspace=workspace)


def run_example_job(parameters: Any = None, *, progress: Any = None, workspace: Workspace | None = None) -> JobRecord:
    """Run the shipped example notebook 03-train-job.ipynb as a job (what ``aieng demo`` shows)."""
    from .control import run_example_job as _run

    return _run(parameters, progress=progress, workspace=workspace)


def sweep(*args: Any, **kwargs: Any) -> Any:
    """Run a notebook over a grid (or random sample) of parameters; see aieng_nb.jobs.sweeps.sweep."""
    from .sweeps import sweep as _sweep

    return _sweep(*args, **kwargs)


def notebook_parameters(notebook: Any) -> list[Any]:
    """The parameters a notebook's ``parameters`` cell declares."""
    from .notebook import notebook_parameters as _np

    return _np(notebook)


def __getattr__(name: str) -> Any:
    # JobRequest on first use: its checks import the parameter parser, which `aieng --help` skips
    if name == "JobRequest":
        from .request import JobRequest

        return JobRequest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# the old spellings: aieng.jobs(...) (this package called) and aieng_nb.jobs.jobs(...)
jobs = deprecated_function("jobs", "list_jobs", list_jobs)
callable_module(__name__, list_jobs, new="list_jobs")
