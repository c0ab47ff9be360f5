"""Reports stored on runs: artifacts, metrics, an index tag and audit entries.

Attached to a run (``report.log()``, automatic when a run is active), a report is stored as run
artifacts under ``reports/<kind>-<UTC timestamp>/`` (``report.html``, ``summary.json`` and any
extra files such as ``evidently.html``), its headline metrics are logged as MLflow metrics
``<kind>.<metric>`` while per-column / per-feature numbers go to the table ``by_item.json`` (the
shape of ``mlflow.log_table``, listed in the run's ``mlflow.loggedArtifacts``), and a tag ``aieng.report.<name>`` indexes it for
:func:`aieng_nb.reports.list_reports`. The run's tag ``aieng.checks`` becomes ``failed`` once any
attached report failed a check (else ``passed``); the audit trail gets ``report.create``, and
``checks.fail`` for a failure.

>>> attach_if_wanted(Report("demo", "Demo"), log=False) is None
True
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import NoActiveRunError, NotFoundError, ValidationError
from . import tasks as report_tasks
from .base import Report

if TYPE_CHECKING:
    from ..workspace import Workspace

REPORT_TAG_PREFIX = "aieng.report."
CHECKS_TAG = "aieng.checks"
ARTIFACT_ROOT = "reports"
TABLE_FILE = "by_item.json"  # per-column / per-feature numbers, as mlflow.log_table writes a table
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"  # MLflow's UI lists the run's tables from it


def tracking_store(workspace: Workspace | None = None) -> Any:
    """The tracking store of ``workspace`` (default: the current one)."""
    from .. import tracking

    return tracking.store(workspace=workspace)


def _metric_key(kind: str, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", f"{kind}.{name}")[:250]


def _resolve_run_id(run_id: str | None) -> str:
    from .. import tracking

    if run_id:
        return run_id
    run = tracking.active_run()
    if run is None:
        raise NoActiveRunError("attaching a report")
    return run.id


def has_active_run() -> bool:
    from .. import tracking

    return tracking.active_run() is not None


def attach_if_wanted(report: Report, log: bool | None, *, workspace: Workspace | None = None) -> str | None:
    """The one "attach to the active run" step of every report kind: ``log=True`` attaches (to the
    active run; an error without one), ``None`` attaches when a run is active, ``False`` never.
    Returns the artifact folder, or None when not attached."""
    if log or (log is None and has_active_run()):
        return attach(report, workspace=workspace)
    return None


def report_name(report: Report) -> str:
    """``<kind>-<UTC timestamp with microseconds>``: the report's folder under ``reports/``."""
    created = report.created_at
    return f"{report.kind}-{created.strftime('%Y%m%d-%H%M%S')}-{created.microsecond:06d}"


def _index_tag(report: Report) -> dict[str, Any]:
    return {
        "items": len(split_metrics(report.metrics)[1]),  # rows of its by_item.json table
        "kind": report.kind,
        "passed": report.passed,
        "created": round(report.created, 3),
        "title": report.title,
        "failed": [c.rule for c in report.failed_checks],
        "checks": len(report.checks),
    }


def attach(report: Report, run_id: str | None = None, *, workspace: Workspace | None = None) -> str:
    """Store ``report`` on a run: artifacts, metrics, an index tag and an audit entry.

    Idempotent per run: a report already attached to that run (e.g. ``monitor(...)`` inside an
    active run attaches itself, then ``.log()``) is not stored again; its folder is returned.
    The run, its files and the audit entry are written to ``workspace`` (default: the current one)."""
    from .. import audit, tracking

    rid = _resolve_run_id(run_id)
    if report.name and report.run_id == rid:
        return f"{ARTIFACT_ROOT}/{report.name}"
    name = report.name or report_name(report)
    report.name, report.run_id = name, rid
    folder = f"{ARTIFACT_ROOT}/{name}"
    if report.attachments.pending:
        # Evidently's attachment is still being computed: the files are stored after it, by the
        # report worker, so attaching does not wait (ending the run or a job waits for them)
        report.attachments.add_pending(report_tasks.submit(_store_files_later, report, rid, folder, workspace))
    else:
        _store_files(report, rid, folder, workspace)
    headline, by_item = split_metrics(report.metrics)
    metrics = {_metric_key(report.kind, k): v for k, v in headline.items()}
    metrics[_metric_key(report.kind, "passed")] = 1.0 if report.passed else 0.0
    tracking.log_metrics(metrics, run_id=rid, workspace=workspace)
    index = _index_tag(report)
    tags = {REPORT_TAG_PREFIX + name: json.dumps(index, sort_keys=True)[:5000]}
    if by_item:
        tags[LOGGED_ARTIFACTS_TAG] = _logged_tables(rid, f"{folder}/{TABLE_FILE}", workspace)
    # the run's overall verdict: failed once any attached report failed a check
    if not report.passed:
        tags[CHECKS_TAG] = "failed"
    elif report.checks and (tracking.get_run(rid, workspace=workspace).tags or {}).get(CHECKS_TAG) != "failed":
        tags[CHECKS_TAG] = "passed"
    tracking.set_tags(tags, run_id=rid, workspace=workspace)
    data = {
        "run_id": rid,
        "report": name,
        "kind": report.kind,
        "passed": report.passed,
        "failed_checks": index["failed"],
    }
    audit.append("report.create", data, workspace=workspace)
    if not report.passed:
        audit.append("checks.fail", data, workspace=workspace)
    return folder


def split_metrics(metrics: dict[str, Any]) -> tuple[dict[str, float], list[list[Any]]]:
    """A report's headline numbers (``drift_share``, ``accuracy``, the fairness gaps...: logged as
    run metrics ``<kind>.<name>``) and its per-column / per-feature ones (``drift_score.<column>``,
    ``importance.<feature>``: rows ``[metric, item, value]`` of the report's table, so they do not
    fill MLflow's chart grid and the panel's metric menu).

    >>> split_metrics({"drift_share": 0.5, "drift_score.age": 0.1, "bad": float("nan")})
    ({'drift_share': 0.5}, [['drift_score', 'age', 0.1]])
    """
    headline: dict[str, float] = {}
    rows: list[list[Any]] = []
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(float(value)):
            continue
        metric, dot, item = key.partition(".")
        if dot:
            rows.append([metric, item, float(value)])
        else:
            headline[key] = float(value)
    return headline, rows


def table_json(rows: list[list[Any]]) -> str:
    """Rows in the JSON shape of ``mlflow.log_table`` (MLflow's UI shows it as a table)."""
    return json.dumps({"columns": ["metric", "item", "value"], "data": rows})


def _logged_tables(run_id: str, path: str, workspace: Workspace | None) -> str:
    """The run's ``mlflow.loggedArtifacts`` tag with ``path`` added as a table, as ``log_table`` does."""
    from .. import tracking

    try:
        listed = json.loads((tracking.get_run(run_id, workspace=workspace).tags or {}).get(LOGGED_ARTIFACTS_TAG, "[]"))
    except ValueError:
        listed = []
    listed = [e for e in listed if isinstance(e, dict) and e.get("path") != path] + [{"path": path, "type": "table"}]
    return json.dumps(listed)[:5000]


def _store_files(report: Report, run_id: str, folder: str, workspace: Workspace | None = None) -> None:
    """Write ``report.html``, ``summary.json``, the per-item table and the attachments to the run's
    ``folder``."""
    from .. import tracking

    ready = report.attachments.ready()
    with tempfile.TemporaryDirectory(prefix="aieng-report-") as tmp:
        tmp_path = Path(tmp)
        report.save_html(tmp_path / "report.html")
        report.save_json(tmp_path / "summary.json", wait=False)
        rows = split_metrics(report.metrics)[1]
        if rows:
            (tmp_path / TABLE_FILE).write_text(table_json(rows), encoding="utf-8")
        for fname, content in ready.items():
            target = tmp_path / fname
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        for file in sorted(tmp_path.iterdir()):
            tracking.log_artifact(str(file), artifact_path=folder, run_id=run_id, workspace=workspace)


def _store_files_later(report: Report, run_id: str, folder: str, workspace: Workspace | None = None) -> None:
    try:
        _store_files(report, run_id, folder, workspace)
    except Exception as exc:  # no caller to raise to: keep it visible on the report
        report.notes.append(f"storing the report's files on run {run_id} failed: {type(exc).__name__}: {exc}")


def check_name(name: str) -> str:
    """A stored report's name: one path segment (no ``/``, ``\\``, leading dot)."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValidationError(f"bad report name {name!r}")
    return name


def read_artifact(run_id: str, name: str, file: str, *, workspace: Workspace | None = None) -> str:
    """The text of ``reports/<name>/<file>`` on run ``run_id`` (id or unique prefix)."""
    report_tasks.wait_all()  # a report attached in this process may still be storing its files
    check_name(name)
    store = tracking_store(workspace)
    rid = store.resolve_run_id(run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = store.download_artifact(rid, f"{ARTIFACT_ROOT}/{name}/{file}", tmp)
        except Exception as exc:  # stores raise their own types for a missing artifact
            raise NotFoundError(f"no report {name!r} on run {rid}: {exc}") from None
        return Path(local).read_text(encoding="utf-8")


def load_report_html(run_id: str, name: str, *, workspace: Workspace | None = None) -> str:
    """The stored ``report.html`` of one report (read from the run's artifacts)."""
    return read_artifact(run_id, name, "report.html", workspace=workspace)


def run_for_job(job_id: str, *, workspace: Workspace | None = None) -> str:
    """The run id of a job (its reports live on that run)."""
    from ..jobs.store import load

    record = load(job_id, workspace)
    if not record.run_id:
        raise NotFoundError(f"job {job_id} has no run yet (status {record.status})")
    return record.run_id
