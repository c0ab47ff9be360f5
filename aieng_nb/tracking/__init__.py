"""Experiment tracking: a thin fluent API over a store, like MLflow's fluent module.

>>> import aieng_nb as aieng
>>> with aieng.start_run(experiment="churn", name="baseline") as run:  # doctest: +SKIP
...     aieng.log_params({"lr": 0.05})
...     for step in range(100):
...         aieng.log(loss=1 / (step + 1), step=step)
>>> aieng.list_runs(experiment="churn", last=1)[0].status  # doctest: +SKIP
<RunStatus.FINISHED: 'FINISHED'>

``aieng.log`` only appends to an in-process buffer; a background thread writes batches to the
store (see :mod:`aieng_nb.tracking.buffer`). In a job's kernel (env ``AIENG_RUN_ID``), the
functions attach to the job's run instead of creating one. Every function that reads or writes a
stored run takes ``workspace=`` (keyword-only; default: the current workspace), so one process can
serve one workspace without global state.

The package, by job: :mod:`.active` (the active run, ``log``, the store cache), :mod:`.runs`
(start, end, resume, create), :mod:`.writes` (params, tags, artifacts), :mod:`.reads` (get, list,
compare), :mod:`.checks` (argument validation).
"""

from __future__ import annotations

from typing import Any

from ..deprecation import deprecated_function
from ..plugins import end_hooks
from ..stores.base import TrackingStore
from ..stores.names import mlflow_key
from ..workspace import Workspace, current
from . import active
from .active import RUN_ID_ENV, Run, active_run, flush, log, store
from .checks import MAX_TAG_VALUE
from .reads import compare, download_artifact, get_run, list_artifacts, list_runs, metric_history
from .records import Comparison, RunRecord, RunStatus, RunTable
from .runs import DEFAULT_EXPERIMENT, create_run, end_run, resume_run, set_run_status, start_run
from .writes import (
    log_artifact,
    log_dataset_input,
    log_metrics,
    log_param,
    log_params,
    log_text,
    seed,
    seeded_message,
    set_tags,
)

__all__ = [
    "DEFAULT_EXPERIMENT",
    "MAX_TAG_VALUE",
    "RUN_ID_ENV",
    "Comparison",
    "Run",
    "RunRecord",
    "RunStatus",
    "RunTable",
    "TrackingStore",
    "Workspace",
    "active_run",
    "compare",
    "create_run",
    "current",
    "download_artifact",
    "end_hooks",
    "end_run",
    "flush",
    "get_run",
    "list_artifacts",
    "list_runs",
    "log",
    "log_artifact",
    "log_dataset_input",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "metric_history",
    "mlflow_key",
    "resume_run",
    "seed",
    "seeded_message",
    "set_run_status",
    "set_tags",
    "start_run",
    "store",
]

# the old listing name: works for one release, warning that it is aieng.list_runs() now
runs = deprecated_function("runs", "list_runs", list_runs)

# process state, for tests that simulate a process forgetting its run (and modules not yet moved to
# the public ``store(workspace=...)``)
_state = active.state
_set_active = active.set_active
_reset = active.reset


def _store(ws: Workspace | None = None) -> TrackingStore:
    """Deprecated private spelling of :func:`store` (kept while other modules move to it)."""
    return store(workspace=ws)


def __getattr__(name: str) -> Any:
    # module globals of the hot path live in .active
    if name in ("_calls", "_buffer"):
        return getattr(active, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
