"""Paged, filtered listings of every kind of record, for front ends that show long lists.

Each function returns a :class:`Page` of the records' own dict forms (``RunRecord.to_dict()``,
``JobRecord.to_dict()``, ...), newest first. The panel's REST API serves these as they are; the
CLI and magics may use them too.

>>> page = jobs_page(limit=20)          # doctest: +SKIP
>>> page.total, len(page.items), page.next_offset   # doctest: +SKIP
(57, 20, 20)
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import NotFoundError, ValidationError
from ..tracking.records import RUN_STATUSES

if TYPE_CHECKING:
    from ..workspace import Workspace

MAX_LIMIT = 1000


@dataclass
class Page:
    """One page of a listing: ``items`` from ``offset``, of ``total`` matching."""

    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    offset: int = 0
    limit: int = 50

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.items)
        return end if end < self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "next_offset": self.next_offset,
        }


def check_page(offset: Any = 0, limit: Any = 50) -> tuple[int, int]:
    """Offsets are whole numbers >= 0, limits 1 to 1000.

    >>> check_page(0, 10)
    (0, 10)
    """
    for name, value, low, high in (("offset", offset, 0, 10**9), ("limit", limit, 1, MAX_LIMIT)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(f"{name} must be a whole number from {low} to {high:,}, got {value!r}")
    return offset, limit


def _slice(rows: list[dict[str, Any]], offset: int, limit: int) -> Page:
    offset, limit = check_page(offset, limit)
    return Page(rows[offset : offset + limit], len(rows), offset, limit)


def _text_match(text: str | None, *values: Any) -> bool:
    if not text:
        return True
    needle = text.lower()
    return any(needle in str(v).lower() for v in values if v is not None)


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such floats become None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


# ---- runs ------------------------------------------------------------------------------------


def _nothing_tracked(workspace: Workspace | None) -> bool:
    """True when the workspace's MLflow SQLite file does not exist yet: a read creates no store."""
    if workspace is None:
        return False
    uri = workspace.tracking_uri
    return uri.startswith("sqlite:///") and not os.path.exists(uri[len("sqlite:///") :])


def runs_page(
    *,
    experiment: str | None = None,
    status: str | None = None,
    text: str | None = None,
    offset: int = 0,
    limit: int = 50,
    workspace: Workspace | None = None,
) -> Page:
    """Runs newest first; ``text`` matches the name, an id prefix or the experiment; ``key=value`` a param.

    One query of the store (:meth:`~aieng_nb.stores.base.TrackingStore.search_runs`); it writes
    nothing: recovery runs at the server's start and on the changes poll."""
    from .. import tracking

    offset, limit = check_page(offset, limit)
    if status is not None:
        status = status.upper()
        if status not in RUN_STATUSES:
            raise ValidationError(f"unknown status {status!r}; use one of {', '.join(RUN_STATUSES)}")
    tracking.flush()
    if _nothing_tracked(workspace):
        if experiment:
            raise NotFoundError(f"no experiment {experiment!r} (nothing has been tracked in this workspace yet)")
        return Page([], 0, offset, limit)
    store = tracking.store(workspace=workspace)
    records, total = store.search_runs(experiment or None, status, text=text, offset=offset, limit=limit)
    return Page([r.to_dict() for r in records], total, offset, limit)


def experiments_page(
    *, text: str | None = None, offset: int = 0, limit: int = 200, workspace: Workspace | None = None
) -> Page:
    """Experiments by name with their run counts."""
    from .. import tracking

    if _nothing_tracked(workspace):
        return _slice([], offset, limit)
    rows = [e for e in tracking.store(workspace=workspace).experiment_counts() if _text_match(text, e["name"])]
    return _slice(rows, offset, limit)


def metric_history(run_id: str, key: str, *, workspace: Workspace | None = None) -> dict[str, Any]:
    """All points of one metric of a run: ``{"run_id", "key", "points": [{"step", "value", "timestamp"}]}``
    (``timestamp``: epoch milliseconds, MLflow's)."""
    from .. import tracking
    from ..tracking.reads import metric_points

    if not key or len(key) > 250:
        raise ValidationError("a metric key is 1 to 250 characters")
    full_id = tracking.get_run(run_id, workspace=workspace).run_id
    found = metric_points(full_id, key, workspace=workspace)
    points = [{"step": s, "value": finite(v), "timestamp": t} for s, v, t in found]
    return {"run_id": full_id, "key": key, "points": points}


def metric_histories(
    run_ids: list[str], key: str, max_points: int = 200, *, workspace: Workspace | None = None
) -> dict[str, Any]:
    """One metric of several runs, each down-sampled to at most ``max_points`` (the last point kept)."""
    if not run_ids or len(run_ids) > 200:
        raise ValidationError("give 1 to 200 run ids")
    if isinstance(max_points, bool) or not isinstance(max_points, int) or not 2 <= max_points <= 10_000:
        raise ValidationError(f"max_points must be a whole number from 2 to 10,000, got {max_points!r}")
    out = []
    for rid in run_ids:
        history = metric_history(rid, key, workspace=workspace)
        points = history["points"]
        if len(points) > max_points:
            stride = len(points) / (max_points - 1)
            points = [points[int(i * stride)] for i in range(max_points - 1)] + [points[-1]]
        out.append({**history, "points": points})
    return {"key": key, "histories": out}


# ---- snapshots, jobs, schedules, reports, audit ------------------------------------------------


def snapshots_page(
    *,
    name: str | None = None,
    text: str | None = None,
    offset: int = 0,
    limit: int = 50,
    workspace: Workspace | None = None,
) -> Page:
    """Named snapshot versions, newest first."""
    from ..snapshots import list_snapshots

    rows = [
        r for r in list_snapshots(name or None, workspace=workspace) if _text_match(text, r.name, r.snapshot_id, r.kind)
    ]
    rows.sort(key=lambda r: (r.created.timestamp() if r.created else 0.0, r.name, r.version), reverse=True)
    return _slice([finite(r.to_dict()) for r in rows], offset, limit)


def jobs_page(
    *,
    status: str | None = None,
    text: str | None = None,
    offset: int = 0,
    limit: int = 50,
    workspace: Workspace | None = None,
) -> Page:
    """Jobs newest first; ``text`` matches id, notebook or schedule."""
    from ..jobs import list_jobs as jobs

    check_page(offset, limit)
    rows = [
        j.to_dict()
        for j in jobs(status or None, recover=False, workspace=workspace)
        if _text_match(text, j.job_id, j.notebook, j.schedule)
    ]
    return _slice([finite(r) for r in rows], offset, limit)


def pipelines_page(
    *, text: str | None = None, offset: int = 0, limit: int = 50, workspace: Workspace | None = None
) -> Page:
    """Pipeline executions newest first, each with its steps' states and the DAG (``upstream``);
    ``text`` matches the run id, the pipeline's name or its file."""
    from ..pipelines import list_pipeline_runs

    check_page(offset, limit)
    rows = [
        r.to_dict() for r in list_pipeline_runs(workspace=workspace) if _text_match(text, r.run_id, r.pipeline, r.path)
    ]
    return _slice(rows, offset, limit)


def schedule_dict(schedule: Any) -> dict[str, Any]:
    """A schedule's dict form plus its next fire time (ISO 8601 UTC, None when paused)."""
    nxt = schedule.next_run()
    return {**schedule.to_dict(), "next_run": nxt.astimezone(_dt.timezone.utc).isoformat() if nxt else None}


def schedules_page(
    *, text: str | None = None, offset: int = 0, limit: int = 50, workspace: Workspace | None = None
) -> Page:
    """Schedules by name, each with ``next_run``."""
    from ..schedules import list_schedules

    if workspace is not None and not workspace.root.is_dir():  # a read creates no workspace
        return _slice([], offset, limit)
    rows = [schedule_dict(s) for s in list_schedules(workspace=workspace) if _text_match(text, s.name, s.notebook)]
    return _slice(rows, offset, limit)


def reports_page(
    *,
    run_id: str | None = None,
    job_id: str | None = None,
    kind: str | None = None,
    offset: int = 0,
    limit: int = 50,
    workspace: Workspace | None = None,
) -> Page:
    """Reports of a run or a job (default: the recent runs), newest first."""
    from ..reports import list_reports

    check_page(offset, limit)
    if _nothing_tracked(workspace):
        return _slice([], offset, limit)
    rows = [
        e.to_dict() for e in list_reports(run_id or None, job_id=job_id or None, kind=kind or None, workspace=workspace)
    ]
    rows.reverse()
    return _slice(rows, offset, limit)


def audit_page(
    *,
    event: str | None = None,
    run_id: str | None = None,
    text: str | None = None,
    offset: int = 0,
    limit: int = 50,
    workspace: Workspace | None = None,
) -> Page:
    """Audit entries newest first; ``event`` is a prefix (``job.``), ``text`` matches the event or data."""
    import json

    from .. import audit

    check_page(offset, limit)
    found = audit.entries(event or None, run_id=run_id or None, workspace=workspace)
    rows = [e.to_dict() for e in reversed(found) if _text_match(text, e.event, json.dumps(e.data, default=str))]
    return _slice(rows, offset, limit)


def models_page(
    *, text: str | None = None, offset: int = 0, limit: int = 50, workspace: Workspace | None = None
) -> Page:
    """Registered models by name (``text`` matches the name), each with its champion and challenger.

    >>> [m["name"] for m in models_page(text="churn").items]   # doctest: +SKIP
    ['churn']
    """
    from ..registry.status_view import list_models

    check_page(offset, limit)
    if _nothing_tracked(workspace):
        return _slice([], offset, limit)
    return _slice([m.to_dict() for m in list_models(workspace=workspace) if _text_match(text, m.name)], offset, limit)
