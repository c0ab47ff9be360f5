"""One run with what surrounds it, for a run page (the panel's run view, like MLflow's run page):
its record, artifacts, the snapshots it used, its reports, the notebook it ran, the model versions
registered from it, and its page in MLflow's UI when one is configured (``Aieng.mlflow_ui_url`` or
``$AIENG_MLFLOW_UI_URL``, e.g. ``http://127.0.0.1:5000``).

Each part is read on its own; a part that cannot be read (no snapshots yet, no registry) is empty,
so the page still shows the rest.

>>> ov = run_overview("3f2a")   # doctest: +SKIP
>>> ov.run.name, [s.ref for s in ov.snapshots]   # doctest: +SKIP
('train', ['train@1'])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..records import Record
from ..registry.records import VersionInfo
from ..reports import ReportEntry
from ..workspace import Workspace, current
from .records import RunRecord

log = logging.getLogger(__name__)

NOTEBOOK_ARTIFACTS = "aieng/notebook/"


@dataclass
class SnapshotUse(Record):
    """A snapshot version a run took or loaded (``ref``: ``name@version``)."""

    snapshot_id: str
    name: str
    version: int
    ref: str


@dataclass
class RunOverview(Record):
    """A run and what surrounds it (``mlflow_url``: the run's page in MLflow's UI, when configured)."""

    run: RunRecord
    artifacts: list[str] = field(default_factory=list)
    snapshots: list[SnapshotUse] = field(default_factory=list)
    reports: list[ReportEntry] = field(default_factory=list)
    notebook: str | None = None
    notebook_artifacts: list[str] = field(default_factory=list)
    model_versions: list[VersionInfo] = field(default_factory=list)
    mlflow_url: str | None = None


def mlflow_run_url(run: RunRecord) -> str | None:
    """The run's page in MLflow's UI (``Aieng.mlflow_ui_url``), None when no UI is configured."""
    from .. import config

    base = str(config.get("mlflow_ui_url") or "").rstrip("/")
    if not base:
        return None
    return f"{base}/#/experiments/{run.experiment_id}/runs/{run.run_id}"


def _part(what: str, fn: Any, default: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one unreadable part must not hide the run
        log.debug("run overview: %s unavailable: %s", what, exc)
        return default


def _snapshots(run_id: str, ws: Workspace) -> list[SnapshotUse]:
    from ..snapshots import list_snapshots

    return [
        SnapshotUse(r.snapshot_id, r.name, r.version, f"{r.name}@{r.version}")
        for r in list_snapshots(workspace=ws)
        if run_id in r.used_by
    ]


def run_overview(run_id: str, *, workspace: Workspace | None = None) -> RunOverview:
    """Everything the run page shows about one run (an id prefix is enough; NotFoundError otherwise)."""
    from ..registry.versions import versions_of_run
    from ..reports import list_reports
    from .reads import get_run, list_artifacts

    ws = workspace or current()
    run = get_run(run_id, workspace=ws)
    rid = run.run_id
    artifacts = _part("artifacts", lambda: list_artifacts(rid, workspace=ws), [])
    notebook = run.tags.get("aieng.notebook")
    return RunOverview(
        run=run,
        artifacts=artifacts,
        snapshots=_part("snapshots", lambda: _snapshots(rid, ws), []),
        reports=_part("reports", lambda: list(list_reports(rid, workspace=ws)), []),
        notebook=notebook if notebook and notebook != "unknown" else None,
        notebook_artifacts=[a for a in artifacts if a.startswith(NOTEBOOK_ARTIFACTS) and a.endswith(".ipynb")],
        model_versions=_part("model versions", lambda: list(versions_of_run(rid, workspace=ws)), []),
        mlflow_url=mlflow_run_url(run),
    )
