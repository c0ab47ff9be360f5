"""The job runner, split by step (this module keeps the names code written before the split imports):

- :mod:`~aieng_nb.jobs.request`: :class:`JobRequest` and every check, in one place;
- :mod:`~aieng_nb.jobs.prepare`: a request becomes a stored CREATED record;
- :mod:`~aieng_nb.jobs.build` and :mod:`~aieng_nb.jobs.execute`: the notebook and its attempts;
- :mod:`~aieng_nb.jobs.finish` and :mod:`~aieng_nb.jobs.render`: the run, the HTML, the verdict;
- :mod:`~aieng_nb.jobs.control`: run, submit, wait, stop, list and get jobs.

>>> from aieng_nb.jobs.runner import run_job, prepare_job   # the names stay importable from here
"""

from __future__ import annotations

from .build import MONITOR_TAG, build_notebook, kernel_env
from .control import (
    EXAMPLE_NOTEBOOK,
    get_job,
    list_jobs,
    run_example_job,
    run_job,
    stop_job,
    submit_job,
    wait_job,
)
from .execute import execute_job
from .finish import PERMANENT_ERRORS, fail_job
from .prepare import environment_summary, file_sha256, prepare_job
from .render import render_html, warm_html_exporter
from .request import (
    MAX_EXPERIMENT_NAME,
    JobRequest,
    check_cwd,
    check_experiment,
    check_job_options,
    check_kernel,
    check_monitor,
    monitor_spec_from_notebook,
)

__all__ = [
    "EXAMPLE_NOTEBOOK",
    "MAX_EXPERIMENT_NAME",
    "MONITOR_TAG",
    "PERMANENT_ERRORS",
    "JobRequest",
    "build_notebook",
    "check_cwd",
    "check_experiment",
    "check_job_options",
    "check_kernel",
    "check_monitor",
    "environment_summary",
    "execute_job",
    "fail_job",
    "file_sha256",
    "get_job",
    "kernel_env",
    "list_jobs",
    "monitor_spec_from_notebook",
    "prepare_job",
    "render_html",
    "run_example_job",
    "run_job",
    "stop_job",
    "submit_job",
    "wait_job",
    "warm_html_exporter",
]
