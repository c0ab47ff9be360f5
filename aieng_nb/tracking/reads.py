"""Reading runs: one run, listings, comparisons, metric histories, artifacts."""

from __future__ import annotations

from ..exceptions import NotFoundError, ValidationError
from ..workspace import Workspace, current, given
from . import active, lifecycle
from .checks import check_last, check_metric_names, listing_status
from .records import Comparison, RunRecord, RunTable


def _flush_active(run_id: str | None = None) -> None:
    run = active.state.run
    if run is not None and (run_id is None or run.id.startswith(run_id)):
        run.buffer.flush()


def get_run(run_id: str, *, workspace: Workspace | None = None) -> RunRecord:
    """A run by id (or unambiguous id prefix).

    >>> get_run("3f2a").status  # doctest: +SKIP
    <RunStatus.FINISHED: 'FINISHED'>
    """
    if not isinstance(run_id, str):
        from ..exceptions import ValidationError

        raise ValidationError(f"{run_id!r} is not a run id (a string of hex characters)")
    workspace = given(workspace)
    _flush_active(run_id)
    store = active.store(workspace=workspace)
    return store.get_run(store.resolve_run_id(run_id))


def list_runs(
    experiment: str | None = None,
    last: int | None = None,
    status: str | None = None,
    metrics: list[str] | None = None,
    *,
    text: str | None = None,
    workspace: Workspace | None = None,
) -> RunTable:
    """Runs, newest first; filter by experiment and status (MLflow's words, any case) and ``text``
    (the name, an id prefix or the experiment; ``key=value``: a param); ``last`` limits the count; ``metrics`` names the metric columns (default: each run's own metrics first,
    report summaries after).

    >>> list_runs(experiment="churn", last=5).to_dicts()  # doctest: +SKIP
    [{'run_id': '3f2a...', 'status': 'FINISHED', 'start_time': '2026-12-02T10:00:00Z', ...}]
    """
    from ..exceptions import check_type

    check_type(experiment, str, "experiment", optional=True)
    workspace = given(workspace)
    check_last(last)
    status = listing_status(status)
    check_metric_names(metrics)
    if text is not None and (not isinstance(text, str) or "\0" in text or len(text) > 1000):
        raise ValidationError(f"text must be a filter of at most 1,000 characters, got {text!r}"[:200])
    active.flush()
    ws = workspace or current()
    if ws.is_local and not ws.mlflow_db.exists():  # nothing tracked yet: reading creates no store
        if experiment:
            raise NotFoundError(f"no experiment {experiment!r} (nothing has been tracked in this workspace yet)")
        return RunTable([], metric_names=metrics)
    lifecycle.recover(workspace=ws)
    records, _ = active.store(workspace=ws).search_runs(experiment, status, text=text, limit=last)
    return RunTable(records, metric_names=metrics)


def compare(*run_ids: str, workspace: Workspace | None = None) -> Comparison:
    """Params and final metrics of two or more runs side by side, differences marked.

    >>> compare("3f2a", "9bc1").rows[0].differs  # doctest: +SKIP
    True
    """
    if len(run_ids) < 2:
        raise ValidationError("compare needs at least two run ids")
    return Comparison.of([get_run(r, workspace=workspace) for r in run_ids])


def metric_history(run_id: str, key: str, *, workspace: Workspace | None = None) -> list[tuple[int, float]]:
    """(step, value) points of one metric."""
    active.flush()
    store = active.store(workspace=workspace)
    return [(step, value) for _, value, _, step, _ in store.metric_history(store.resolve_run_id(run_id), key)]


def metric_points(run_id: str, key: str, *, workspace: Workspace | None = None) -> list[tuple[int, float, int]]:
    """(step, value, timestamp in epoch milliseconds) points of one metric."""
    active.flush()
    store = active.store(workspace=workspace)
    return [(step, value, ts) for _, value, ts, step, _ in store.metric_history(store.resolve_run_id(run_id), key)]


def list_artifacts(run_id: str, path: str | None = None, *, workspace: Workspace | None = None) -> list[str]:
    """Artifact paths of a run under ``path`` (relative to the run's artifact root)."""
    store = active.store(workspace=workspace)
    return store.list_artifacts(store.resolve_run_id(run_id), path)


def download_artifact(run_id: str, path: str, dst: str, *, workspace: Workspace | None = None) -> str:
    """Copy one artifact of a run into the folder ``dst``; returns the local path."""
    store = active.store(workspace=workspace)
    return store.download_artifact(store.resolve_run_id(run_id), path, dst)
