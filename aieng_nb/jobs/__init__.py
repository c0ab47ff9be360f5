"""Notebook jobs: papermill-powered, tracked, reproducible runs of a notebook.

``aieng.run_job(nb, params)`` runs one, ``aieng.sweep(nb, grid)`` many, ``aieng.jobs()`` lists them
(this package is itself callable, so ``aieng.jobs(status="failed")`` works).

>>> import aieng_nb as aieng
>>> aieng.jobs(status="failed")   # doctest: +SKIP
[]
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .records import JobRecord, JobStatus

__all__ = [
    "JobRecord",
    "JobStatus",
    "run_job",
    "submit_job",
    "wait_job",
    "run_example_job",
    "jobs",
    "get_job",
    "stop_job",
    "sweep",
    "notebook_parameters",
]


def run_job(*args: Any, **kwargs: Any) -> JobRecord:
    from .runner import run_job as _run_job

    return _run_job(*args, **kwargs)


run_job.__doc__ = "Run a notebook as a tracked job; see aieng_nb.jobs.runner.run_job."


def submit_job(*args: Any, **kwargs: Any) -> JobRecord:
    from .submit import submit_job as _submit_job

    return _submit_job(*args, **kwargs)


submit_job.__doc__ = "Start a notebook job in the background; see aieng_nb.jobs.submit.submit_job."


def wait_job(*args: Any, **kwargs: Any) -> JobRecord:
    from .submit import wait_job as _wait_job

    return _wait_job(*args, **kwargs)


wait_job.__doc__ = "Block until a job ends; see aieng_nb.jobs.submit.wait_job."


def jobs(status: str | None = None, *, limit: int | None = None) -> list[JobRecord]:
    """Job records, newest first."""
    from .runner import jobs as _jobs

    return _jobs(status, limit=limit)


def get_job(job_id: str) -> JobRecord:
    from .records import load

    return load(job_id)


def stop_job(job_id: str, **kwargs: Any) -> JobRecord:
    from .runner import stop_job as _stop

    return _stop(job_id, **kwargs)


def run_example_job(*args: Any, **kwargs: Any) -> JobRecord:
    """Run the shipped example notebook 03-train-job.ipynb as a job (what ``aieng demo`` shows)."""
    from .runner import run_example_job as _run

    return _run(*args, **kwargs)


def sweep(*args: Any, **kwargs: Any) -> Any:
    """Run a notebook over a grid (or random sample) of parameters; see aieng_nb.jobs.sweeps.sweep."""
    from .sweeps import sweep as _sweep

    return _sweep(*args, **kwargs)


def notebook_parameters(notebook: Any) -> list[Any]:
    from .params import notebook_parameters as _np

    return _np(notebook)


class _CallableJobsModule(types.ModuleType):
    """``aieng.jobs`` is both this package and the listing function ``aieng.jobs(status=...)``."""

    def __call__(self, status: str | None = None, *, limit: int | None = None) -> list[JobRecord]:
        return jobs(status, limit=limit)


sys.modules[__name__].__class__ = _CallableJobsModule
