"""Listing stored reports: :class:`ReportEntry` records read from their runs' index tags.

A report's id is ``<run_id>/<name>`` (the run it is stored on and its folder under ``reports/``).

>>> e = ReportEntry.from_dict({"report_id": "r1/monitor-1", "run_id": "r1", "name": "monitor-1",
...     "kind": "monitor", "passed": False, "created_at": "2026-12-02T10:00:00Z", "title": "t",
...     "failed": ["drift_share >= 0.5"], "path": "reports/monitor-1"})
>>> e.result, e.created_at.hour, ReportEntry.from_dict(e.to_dict()) == e
('FAILED', 10, True)
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import NotFoundError, ValidationError, check_type
from ..records import Record, RecordList, utc
from ..rendering import Link
from .storage import ARTIFACT_ROOT, REPORT_TAG_PREFIX, check_name, run_for_job, tracking_store

if TYPE_CHECKING:
    from ..workspace import Workspace


@dataclass
class ReportEntry(Record):
    """One stored report, as listed from its run's tags (``passed`` is the report's own verdict)."""

    report_id: str
    run_id: str
    name: str
    kind: str
    passed: bool
    created_at: datetime
    title: str = ""
    failed: list[str] = field(default_factory=list)
    path: str = ""
    checks: int | None = None  # how many checks it ran (None: stored before this was recorded)
    html_file: str | None = None  # the local report.html when the run's artifacts are on this machine
    items: int | None = None  # per-column / per-feature numbers in its table (None: stored before tables)

    @property
    def result(self) -> str:
        """``passed``, ``FAILED`` or ``no checks`` (what the report's own heading says)."""
        if not self.passed:
            return "FAILED"
        return "no checks" if self.checks == 0 else "passed"

    @property
    def created(self) -> float:
        """``created_at`` in epoch seconds."""
        return self.created_at.timestamp()


class ReportList(RecordList[ReportEntry]):
    """Stored reports: a table in notebooks and text, ``to_dicts()`` for ``--json``."""

    headers = ("run", "report", "kind", "result", "failed checks", "created (UTC)", "artifacts")
    empty = "no reports"
    css_class = "aieng-reports"

    def row(self, item: ReportEntry) -> list[Any]:
        return [
            item.run_id[:12],
            Link(item.name, item.html_file) if item.html_file else item.name,
            item.kind,
            item.result,
            ", ".join(item.failed),
            item.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            item.path,
        ]

    def bad(self, item: ReportEntry) -> bool:
        return not item.passed

    def _repr_html_(self) -> str:
        if not self:
            return f'<div class="aieng-rep muted">{html.escape(self.empty)}</div>'
        return f'<div class="aieng-rep">{super()._repr_html_()}</div>'


def entries_from_tags(run_id: str, tags: dict[str, str]) -> list[ReportEntry]:
    """The reports indexed in one run's tags (``aieng.report.<name>``)."""
    out = []
    for key, value in tags.items():
        if not key.startswith(REPORT_TAG_PREFIX):
            continue
        name = key[len(REPORT_TAG_PREFIX) :]
        try:
            info = json.loads(value)
        except ValueError:
            continue
        out.append(
            ReportEntry(
                report_id=f"{run_id}/{name}",
                run_id=run_id,
                name=name,
                kind=str(info.get("kind", "?")),
                passed=bool(info.get("passed", False)),
                created_at=utc(float(info.get("created", 0.0))),  # type: ignore[arg-type]
                title=str(info.get("title", "")),
                failed=list(info.get("failed", [])),
                path=f"{ARTIFACT_ROOT}/{name}",
                checks=int(info["checks"]) if isinstance(info.get("checks"), int) else None,
                items=int(info["items"]) if isinstance(info.get("items"), int) else None,
            )
        )
    return out


def _local_artifacts(artifact_uri: str) -> Path | None:
    """The run's artifact folder when it is on this machine (a ``file:`` URI)."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(artifact_uri or "")
    if parsed.scheme not in ("file", ""):
        return None
    return Path(unquote(parsed.path)) if parsed.path else None


def _run_entries(record: Any) -> list[ReportEntry]:
    found = entries_from_tags(record.run_id, dict(record.tags or {}))
    local = _local_artifacts(record.artifact_uri)
    for entry in found:
        html_file = local / entry.path / "report.html" if local is not None else None
        entry.html_file = str(html_file) if html_file is not None and html_file.is_file() else None
    return found


def _runs_to_scan(run_id: str | None, last: int, workspace: Workspace | None) -> list[Any]:
    from .. import tracking
    from ..workspace import current

    store = tracking_store(workspace)
    if run_id is not None:
        return [store.get_run(store.resolve_run_id(run_id))]
    run = tracking.active_run() if workspace is None else None
    if run is not None:
        return [store.get_run(run.id)]
    ws = workspace or current()
    if ws.is_local and not ws.mlflow_db.exists():  # nothing tracked yet: reading creates no store
        return []
    return store.search_runs(limit=last)[0]


def list_reports(
    run_id: str | None = None,
    *,
    job_id: str | None = None,
    kind: str | None = None,
    failed: bool = False,
    last: int = 50,
    workspace: Workspace | None = None,
) -> ReportList:
    """Reports stored on a run or a job's run (default: the active run, else the ``last`` most
    recent runs), oldest first; ``kind`` keeps one kind, ``failed=True`` only reports with a
    failed check.

    >>> list_reports(kind="monitor", failed=True)  # doctest: +SKIP
    """
    if isinstance(last, bool) or not isinstance(last, int) or last < 1:
        raise ValidationError(f"last must be an integer >= 1, got {last!r}")
    for what, value in (("run", run_id), ("job_id", job_id), ("kind", kind)):
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{what} must be a string id, got {value!r}")
    check_type(failed, bool, "failed")
    from ..workspace import given

    workspace = given(workspace)
    if job_id is not None:
        if run_id is not None:
            raise ValidationError("pass run or job, not both")
        run_id = run_for_job(job_id, workspace=workspace)
    entries = [e for record in _runs_to_scan(run_id, last, workspace) for e in _run_entries(record)]
    entries = [e for e in entries if (not kind or e.kind == kind) and not (failed and e.passed)]
    return ReportList(sorted(entries, key=lambda e: (e.created_at, e.name)))


def split_report_id(report_id: str) -> tuple[str, str]:
    """``"<run_id>/<name>"`` as (run_id, name); a ValidationError for anything else."""
    run_id, sep, name = str(report_id).partition("/")
    if not sep or not run_id:
        raise ValidationError(f"a report id is RUN_ID/NAME (aieng.list_reports() lists them), got {report_id!r}")
    return run_id, check_name(name)


def get_report(report_id: str, *, workspace: Workspace | None = None) -> ReportEntry:
    """One stored report by id, ``<run_id>/<name>`` (the run id may be a unique prefix).

    >>> aieng.get_report("3f2a.../monitor-20261202-100000-000000").passed  # doctest: +SKIP
    """
    run_id, name = split_report_id(report_id)
    for entry in list_reports(run_id, workspace=workspace):
        if entry.name == name:
            return entry
    raise NotFoundError(f"no report {name!r} on run {run_id} (aieng.list_reports(run_id) lists them)")
