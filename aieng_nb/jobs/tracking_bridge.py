"""The few tracking calls the job runner makes, in one place (``aieng_nb.tracking`` does the work).

Each takes the job's workspace: a job run in workspace B keeps its MLflow run in B even when the
process's current workspace is A.
"""

from __future__ import annotations

from typing import Any

from ..workspace import Workspace


def _tracking():  # type: ignore[no-untyped-def]
    from .. import tracking

    return tracking


def open_run(
    experiment: str,
    ws: Workspace,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> str:
    return _tracking().create_run(
        experiment, name=name, tags=tags, params=params, parent_run_id=parent_run_id, workspace=ws
    )


def record_environment(run_id: str, cwd: str) -> None:
    """The run's ``aieng/environment.json`` and git state, as an interactive run records them."""
    from .. import config
    from ..tracking.runs import record_environment as record

    if config.get("capture_environment"):
        record(run_id, cwd)


def log_artifact(path: str, artifact_path: str | None, run_id: str, ws: Workspace) -> None:
    _tracking().log_artifact(path, artifact_path, run_id=run_id, workspace=ws)


def set_tags(tags: dict[str, str], run_id: str, ws: Workspace) -> None:
    _tracking().set_tags(tags, run_id=run_id, workspace=ws)


def log_metrics(metrics: dict[str, float], run_id: str, ws: Workspace) -> None:
    _tracking().log_metrics(metrics, run_id=run_id, workspace=ws)


def set_status(run_id: str, status: str, ws: Workspace) -> None:
    _tracking().set_run_status(run_id, status, workspace=ws)


def get_run(run_id: str, ws: Workspace):  # type: ignore[no-untyped-def]
    return _tracking().get_run(run_id, workspace=ws)


def tracking_uri(ws: Workspace) -> str:
    return ws.tracking_uri
