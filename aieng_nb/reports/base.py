"""The shared shape of monitoring, explainability and fairness reports, and their storage on runs.

A report function (``aieng.monitor``, ``aieng.explain``, ``aieng.fairness``) computes a
:class:`Report`: plain data (``summary()``, ``to_dict()``, ``json()``), pass/fail ``checks``,
and a self-contained HTML rendering (``_repr_html_``, ``save_html``) with static images and no
JavaScript, so it shows in JupyterLab, in papermill outputs and in a sandboxed iframe alike.

Attached to a run (``report.log()``, automatic when a run is active), a report is stored as run
artifacts under ``reports/<kind>-<UTC timestamp>/`` (``report.html``, ``summary.json`` and any
extra files such as ``evidently.html``), its summary metrics are logged as MLflow metrics
``<kind>.<metric>``, and a tag ``aieng.report.<name>`` indexes it for :func:`list_reports`.
The run's tag ``aieng.checks`` becomes ``failed`` once any attached report failed a check
(else ``passed``); the audit trail gets ``report.create``, and ``checks.fail`` for a failure.

>>> rep = Report("demo", "Demo", metrics={"score": 0.5})
>>> rep.passed, rep.summary()["score"]
(True, 0.5)
>>> "<img" in rep.html() or "Demo" in rep.html()
True
"""

from __future__ import annotations

import base64
import html as _html
import io
import json
import math
import os
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import report_tasks
from .checks import CheckResult
from .exceptions import NoActiveRunError, NotFoundError, ValidationError
from .rendering import Link
from .report_tasks import Attachments

REPORT_TAG_PREFIX = "aieng.report."
CHECKS_TAG = "aieng.checks"
ARTIFACT_ROOT = "reports"

_CSS = """
.aieng-rep{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:13px;color:#222;max-width:1100px}
.aieng-rep h2{font-size:17px;margin:4px 0 6px}.aieng-rep h3{font-size:14px;margin:14px 0 6px;border-bottom:1px solid #ddd}
.aieng-rep table{border-collapse:collapse;margin:4px 0}.aieng-rep th,.aieng-rep td{border:1px solid #ddd;padding:2px 8px;text-align:left}
.aieng-rep th{background:#f4f4f4}.aieng-rep td.num{text-align:right;font-variant-numeric:tabular-nums}
.aieng-rep .badge{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-weight:600;font-size:12px}
.aieng-rep .pass{background:#2e7d32}.aieng-rep .fail{background:#c62828}.aieng-rep .warn{background:#ef6c00}
.aieng-rep .muted{color:#666}.aieng-rep tr.bad td{background:#fdecea}.aieng-rep img{max-width:100%}
.aieng-rep ul{margin:4px 0 4px 18px;padding:0}
"""


# ---------------------------------------------------------------------------- HTML helpers
def esc(value: Any) -> str:
    """HTML-escape any value's string form."""
    return _html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A short display form for numbers (4 significant digits), booleans and text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4g}"
    return str(value)


def table_html(headers: Sequence[str], rows: Sequence[Sequence[Any]], bad_rows: Sequence[bool] | None = None) -> str:
    """A plain HTML table; numbers right-aligned; rows flagged in ``bad_rows`` highlighted."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f'<td class="num">{esc(fmt(v))}</td>'
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            else f"<td>{esc(fmt(v))}</td>"
            for v in row
        )
        cls = ' class="bad"' if bad_rows is not None and bad_rows[i] else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def new_figure(width: float = 6.0, height: float = 3.0) -> Any:
    """A matplotlib Figure bound to the Agg canvas (no pyplot, no global backend state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(fig)
    return fig


def figure_html(fig: Any, alt: str = "plot", tight: bool = True) -> str:
    """Render a Figure as an inline PNG ``<img>`` (static, works without JavaScript);
    ``tight=False`` skips ``tight_layout`` (a second text-layout pass) for figures laid out by hand."""
    buf = io.BytesIO()
    if tight:
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}"/>'


def _jsonable(obj: Any) -> Any:
    """Numpy scalars/arrays, NaN and other values made JSON-safe (NaN and inf become None)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return _jsonable(obj.tolist())
    if isinstance(obj, CheckResult):
        return _jsonable(obj.to_dict())
    return str(obj)


# ---------------------------------------------------------------------------- the report object
@dataclass
class Section:
    """One titled block of the HTML rendering."""

    title: str
    html: str


@dataclass
class Report:
    """A computed report: summary metrics, checks, details, and an HTML rendering.

    Subclasses (``MonitoringReport``, ``ExplainReport``, ``FairnessReport``) add typed accessors.
    """

    kind: str
    title: str
    metrics: dict[str, float] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    attachments: Attachments = field(default_factory=Attachments)
    created: float = field(default_factory=time.time)
    run_id: str | None = None
    name: str | None = None
    # sections drawn on first display (plots cost more than the verdict): see ``defer``
    _deferred: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _render_lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    def defer(self, render: Callable[[], None]) -> None:
        """Run ``render`` (which appends sections) the first time the report is rendered."""
        self._deferred.append(render)

    def _ensure_rendered(self) -> None:
        with self._render_lock:  # the report worker may be storing the page at the same time
            while self._deferred:
                self._deferred.pop(0)()

    def wait(self, timeout: float | None = None) -> Report:
        """Wait for the attachments still computed in the background (Evidently's); returns self."""
        self.attachments.wait(timeout)
        return self

    # -- plain data
    @property
    def passed(self) -> bool:
        """True when every check passed (a report without checks passes)."""
        return all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> dict[str, Any]:
        """Headline numbers and the verdict, as a flat dict (with the report's ``notes``: what was
        skipped or could not be computed)."""
        out: dict[str, Any] = {"kind": self.kind, "passed": self.passed}
        out.update(self.metrics)
        out["failed_checks"] = [c.rule for c in self.failed_checks]
        out["notes"] = list(self.notes)
        return out

    def to_dict(self, wait: bool = True) -> dict[str, Any]:
        """Everything but the HTML, JSON-safe (after waiting for background attachments unless
        ``wait=False``)."""
        if wait:
            self.wait()
        return _jsonable(
            {
                "kind": self.kind,
                "title": self.title,
                "name": self.name,
                "run_id": self.run_id,
                "created": self.created,
                "passed": self.passed,
                "metrics": self.metrics,
                "checks": [c.to_dict() for c in self.checks],
                "notes": self.notes,
                "details": self.details,
                "attachments": sorted(self.attachments.ready()),
            }
        )

    dict = to_dict  # Evidently-style alias

    def json(self, indent: int | None = 2, wait: bool = True) -> str:
        return json.dumps(self.to_dict(wait=wait), indent=indent, sort_keys=True, allow_nan=False)

    def save_json(self, path: str | os.PathLike[str], wait: bool = True) -> Path:
        from .fsutil import atomic_write_text

        return atomic_write_text(path, self.json(wait=wait) + "\n")

    # -- rendering
    def _badge(self) -> str:
        if not self.checks:
            return '<span class="badge warn">no checks</span>'
        if self.passed:
            return f'<span class="badge pass">PASSED {len(self.checks)}/{len(self.checks)} checks</span>'
        return f'<span class="badge fail">FAILED {len(self.failed_checks)}/{len(self.checks)} checks</span>'

    def _checks_html(self) -> str:
        if not self.checks:
            return ""
        rows = [
            [("passed" if c.passed else "FAILED"), c.rule, c.value if c.value is not None else "n/a", c.message]
            for c in self.checks
        ]
        return "<h3>Checks</h3>" + table_html(
            ["result", "rule", "value", "detail"], rows, [not c.passed for c in self.checks]
        )

    def html(self) -> str:
        """The report as an HTML fragment (inline CSS, static images, no scripts)."""
        self._ensure_rendered()
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.created))
        where = f" &middot; run {esc(self.run_id)}" if self.run_id else ""
        parts = [
            f'<div class="aieng-rep"><style>{_CSS}</style>',
            f"<h2>{esc(self.title)} {self._badge()}</h2>",
            f'<div class="muted">{esc(self.kind)} report &middot; {when}{where}</div>',
            self._checks_html(),
        ]
        for sec in self.sections:
            parts.append(f"<h3>{esc(sec.title)}</h3>{sec.html}")
        notes = list(self.notes)
        if self.attachments.pending:
            notes.append("Evidently's report is being computed in the background (report.wait() waits for it)")
        if notes:
            parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        verdict = (
            ("passed" if self.checks else "no checks")
            if self.passed
            else f"FAILED ({', '.join(c.rule for c in self.failed_checks)})"
        )
        return f"<{type(self).__name__} {self.kind}: {verdict}>"

    def save_html(self, path: str | os.PathLike[str]) -> Path:
        """Write a standalone HTML page (self-contained: images are inlined)."""
        from .fsutil import atomic_write_text

        page = (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            f"<title>{esc(self.title)}</title></head><body>{self.html()}</body></html>"
        )
        return atomic_write_text(path, page)

    # -- storage
    def log(self, run_id: str | None = None) -> str:
        """Attach to a run (default: the active run); returns the artifact folder ``reports/<name>``.

        Metrics, tags and the audit entry are written at once; while Evidently's attachment is
        still being computed in the background, the files follow it (ending the run, a job's end,
        :meth:`wait` and :func:`load_report_html` wait for them)."""
        return attach(self, run_id=run_id)


# ---------------------------------------------------------------------------- attach and list
def _metric_key(kind: str, name: str) -> str:
    import re

    key = re.sub(r"[^A-Za-z0-9_\-./ ]", "_", f"{kind}.{name}")
    return key[:250]


def _resolve_run_id(run_id: str | None) -> str:
    from . import tracking

    if run_id:
        return run_id
    run = tracking.active_run()
    if run is None:
        raise NoActiveRunError("attaching a report")
    return run.id


def attach(report: Report, run_id: str | None = None) -> str:
    """Store ``report`` on a run: artifacts, metrics, an index tag and an audit entry.

    Idempotent per run: a report already attached to that run (e.g. ``monitor(...)`` inside an
    active run attaches itself, then ``.log()``) is not stored again; its folder is returned."""
    from . import audit, tracking

    rid = _resolve_run_id(run_id)
    if report.name and report.run_id == rid:
        return f"{ARTIFACT_ROOT}/{report.name}"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(report.created)) + f"-{int((report.created % 1) * 1e6):06d}"
    name = report.name or f"{report.kind}-{stamp}"
    report.name, report.run_id = name, rid
    folder = f"{ARTIFACT_ROOT}/{name}"
    if report.attachments.pending:
        # Evidently's attachment is still being computed: the files are stored after it, by the
        # report worker, so attaching does not wait (ending the run or a job waits for them)
        report.attachments.add_pending(report_tasks.submit(_store_files_later, report, rid, folder))
    else:
        _store_files(report, rid, folder)
    metrics = {
        _metric_key(report.kind, k): float(v)
        for k, v in report.metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
    }
    metrics[_metric_key(report.kind, "passed")] = 1.0 if report.passed else 0.0
    if metrics:
        tracking.log_metrics(metrics, run_id=rid)
    index = {
        "kind": report.kind,
        "passed": report.passed,
        "created": round(report.created, 3),
        "title": report.title,
        "failed": [c.rule for c in report.failed_checks],
        "checks": len(report.checks),
    }
    tags = {REPORT_TAG_PREFIX + name: json.dumps(index, sort_keys=True)[:5000]}
    # the run's overall verdict: failed once any attached report failed a check
    if not report.passed:
        tags[CHECKS_TAG] = "failed"
    elif report.checks and (tracking.get_run(rid).tags or {}).get(CHECKS_TAG) != "failed":
        tags[CHECKS_TAG] = "passed"
    tracking.set_tags(tags, run_id=rid)
    data = {
        "run_id": rid,
        "report": name,
        "kind": report.kind,
        "passed": report.passed,
        "failed_checks": index["failed"],
    }
    audit.append("report.create", data)
    if not report.passed:
        audit.append("checks.fail", data)
    return folder


def _store_files(report: Report, run_id: str, folder: str) -> None:
    """Write ``report.html``, ``summary.json`` and the attachments to the run's ``folder``."""
    from . import tracking

    ready = report.attachments.ready()
    with tempfile.TemporaryDirectory(prefix="aieng-report-") as tmp:
        tmp_path = Path(tmp)
        report.save_html(tmp_path / "report.html")
        report.save_json(tmp_path / "summary.json", wait=False)
        for fname, content in ready.items():
            target = tmp_path / fname
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        for file in sorted(tmp_path.iterdir()):
            tracking.log_artifact(str(file), artifact_path=folder, run_id=run_id)


def _store_files_later(report: Report, run_id: str, folder: str) -> None:
    try:
        _store_files(report, run_id, folder)
    except Exception as exc:  # no caller to raise to: keep it visible on the report
        report.notes.append(f"storing the report's files on run {run_id} failed: {type(exc).__name__}: {exc}")


class HTMLView:
    """A piece of HTML for notebook display (``_repr_html_``)."""

    def __init__(self, html: str, label: str) -> None:
        self.html, self.label = html, label

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<{self.label}>"


@dataclass
class ReportEntry:
    """One stored report, as listed from its run's tags."""

    run_id: str
    name: str
    kind: str
    passed: bool
    created: float
    title: str
    failed: list[str]
    path: str
    checks: int | None = None  # how many checks it ran (None: stored before this was recorded)
    html_file: str | None = None  # the local report.html when the run's artifacts are on this machine

    @property
    def result(self) -> str:
        """``passed``, ``FAILED`` or ``no checks`` (what the report's own heading says)."""
        if not self.passed:
            return "FAILED"
        return "no checks" if self.checks == 0 else "passed"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ReportList(list):
    """A list of :class:`ReportEntry` that renders as a table in notebooks."""

    COLUMNS = ("run", "report", "kind", "result", "failed checks", "created (UTC)", "artifacts")

    def rows(self) -> list[list[Any]]:
        return [
            [
                e.run_id[:12],
                Link(e.name, e.html_file) if e.html_file else e.name,
                e.kind,
                e.result,
                ", ".join(e.failed),
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.created)),
                e.path,
            ]
            for e in self
        ]

    def __str__(self) -> str:
        from .textutil import text_table

        return text_table(self.COLUMNS, [[str(c) for c in row] for row in self.rows()]) if self else "no reports"

    def _repr_html_(self) -> str:
        if not self:
            return '<div class="aieng-rep muted">no reports</div>'
        from .rendering import html_table

        return (
            '<div class="aieng-rep">'
            + html_table(list(self.COLUMNS), self.rows(), [not e.passed for e in self], css_class="aieng-reports")
            + "</div>"
        )

    def to_dicts(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self]


def _entries_from_tags(run_id: str, tags: dict[str, str]) -> list[ReportEntry]:
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
                run_id,
                name,
                str(info.get("kind", "?")),
                bool(info.get("passed", False)),
                float(info.get("created", 0.0)),
                str(info.get("title", "")),
                list(info.get("failed", [])),
                f"{ARTIFACT_ROOT}/{name}",
                int(info["checks"]) if isinstance(info.get("checks"), int) else None,
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


def list_reports(run_id: str | None = None, *, kind: str | None = None, last: int = 50) -> ReportList:
    """Reports stored on a run (default: the active run, else the ``last`` most recent runs), oldest first.

    >>> list_reports(kind="monitor")  # doctest: +SKIP
    """
    from . import tracking

    if run_id is None:
        run = tracking.active_run()
        run_ids = [run.id] if run is not None else [r.run_id for r in tracking.runs(last=last)]
    else:
        run_ids = [run_id]
    entries: list[ReportEntry] = []
    for rid in run_ids:
        try:
            record = tracking.get_run(rid)
        except NotFoundError:
            if run_id is not None:
                raise
            continue
        found = _entries_from_tags(record.run_id, dict(record.tags or {}))
        local = _local_artifacts(record.artifact_uri)
        for entry in found:
            html_file = local / entry.path / "report.html" if local is not None else None
            entry.html_file = str(html_file) if html_file is not None and html_file.is_file() else None
        entries.extend(found)
    if kind:
        entries = [e for e in entries if e.kind == kind]
    return ReportList(sorted(entries, key=lambda e: (e.created, e.name)))


def run_for_job(job_id: str) -> str:
    """The run id of a job (its reports live on that run)."""
    from .jobs.records import load

    record = load(job_id)
    if not record.run_id:
        raise NotFoundError(f"job {job_id} has no run yet (status {record.status})")
    return record.run_id


def reports(run: str | None = None, kind: str | None = None, *, job: str | None = None) -> ReportList:
    """``aieng.reports()``: the reports of a run or a job (default: the active run or the recent runs)."""
    if job is not None:
        if run is not None:
            raise ValidationError("pass run or job, not both")
        run = run_for_job(job)
    return list_reports(run, kind=kind)


def load_report_html(run_id: str, name: str) -> str:
    """The stored ``report.html`` of one report (read from the run's artifacts)."""
    from . import tracking

    report_tasks.wait_all()  # a report attached in this process may still be storing its files

    if "/" in name or "\\" in name or name.startswith(".") or not name:
        raise ValidationError(f"bad report name {name!r}")
    store = tracking._store()
    rid = store.resolve_run_id(run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = store.download_artifact(rid, f"{ARTIFACT_ROOT}/{name}/report.html", tmp)
        except Exception as exc:  # stores raise their own types for a missing artifact
            raise NotFoundError(f"no report {name!r} on run {rid}: {exc}") from None
        return Path(local).read_text(encoding="utf-8")


class _CallableModule(types.ModuleType):
    """``aieng.reports(run=None, kind=None)`` lists reports; the module's other names stay reachable."""

    def __call__(self, run: str | None = None, kind: str | None = None, *, job: str | None = None) -> ReportList:
        return reports(run, kind, job=job)


sys.modules[__name__].__class__ = _CallableModule
