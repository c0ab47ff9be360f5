"""Reproduce a job's run: re-execute the recorded notebook copy with the recorded parameters, then
compare metrics against the original with a tolerance, and list what could make it differ.

>>> report = reproduce("5f0c1e...")      # doctest: +SKIP
>>> report.matches, report.differences   # doctest: +SKIP
(True, [])
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import NotFoundError, ValidationError
from ..workspace import Workspace, current
from . import store
from .records import JobRecord, JobStatus
from .request import JobRequest


@dataclass
class MetricDiff:
    name: str
    original: float | None
    reproduced: float | None
    ok: bool

    @property
    def delta(self) -> float | None:
        if self.original is None or self.reproduced is None:
            return None
        return self.reproduced - self.original


@dataclass
class ReproduceReport:
    """The original and reproduced runs, metric differences and non-reproducible inputs."""

    original_run_id: str
    original_job_id: str
    job: JobRecord
    metrics: list[MetricDiff] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    rtol: float = 1e-9
    atol: float = 0.0

    @property
    def differences(self) -> list[MetricDiff]:
        return [m for m in self.metrics if not m.ok]

    @property
    def matches(self) -> bool:
        return self.job.status == JobStatus.COMPLETED and not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "original_run_id": self.original_run_id,
            "original_job_id": self.original_job_id,
            "reproduced_run_id": self.job.run_id,
            "reproduced_job_id": self.job.job_id,
            "status": self.job.status,
            "matches": self.matches,
            "rtol": self.rtol,
            "atol": self.atol,
            "metrics": [
                {"name": m.name, "original": m.original, "reproduced": m.reproduced, "delta": m.delta, "ok": m.ok}
                for m in self.metrics
            ],
            "non_reproducible_inputs": self.issues,
        }

    def __str__(self) -> str:
        from ..rendering import text_table

        verdict = "REPRODUCED" if self.matches else "DIFFERENT"
        lines = [
            f"{verdict}: run {self.original_run_id} (job {self.original_job_id})",
            f"re-run: job {self.job.job_id} {self.job.status}, run {self.job.run_id}",
        ]
        if self.job.error:
            lines.append(f"error: {self.job.error_summary}")
        if self.metrics:
            from ..tracking.records import headline_metrics

            # the run's own metrics and every difference; the report summaries that agree are counted
            shown = set(headline_metrics(m.name for m in self.metrics)) | {m.name for m in self.differences}
            rows = [
                ["" if m.ok else "!", m.name, _fmt(m.original), _fmt(m.reproduced), _fmt(m.delta)]
                for m in self.metrics
                if m.name in shown
            ]
            lines += ["", text_table(["", "metric", "original", "reproduced", "delta"], rows)]
            hidden = len(self.metrics) - len(rows)
            more = f"; {hidden} more metrics (reports, system) agree, --json lists them" if hidden else ""
            lines.append(f"(tolerance: rtol={self.rtol:g}, atol={self.atol:g}{more})")
        if self.issues:
            lines += ["", "non-reproducible inputs:"] + [f"  - {i}" for i in self.issues]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def find_job_for_run(run_id: str, workspace: Workspace | None = None) -> JobRecord:
    """The job whose run is ``run_id`` (or whose job id is ``run_id``); prefixes work."""
    candidates = store.list_records(workspace=workspace)
    exact = [r for r in candidates if r.run_id == run_id or r.job_id == run_id]
    if exact:
        return exact[0]
    prefixed = [r for r in candidates if (r.run_id or "").startswith(run_id) or r.job_id.startswith(run_id)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise ValidationError(f"{run_id!r} matches several jobs; give more of the id")
    raise NotFoundError(f"no job produced run {run_id!r}: only runs of notebook jobs can be reproduced")


def input_issues(
    job: JobRecord, original_params: dict[str, str], original_tags: dict[str, str], workspace: Workspace
) -> list[str]:
    """What the recorded job does not pin down, or what changed since."""
    from .control import environment_summary, file_sha256

    issues: list[str] = []
    nb = Path(job.notebook)
    if not nb.is_file():
        issues.append(f"notebook {nb} no longer exists (the recorded copy is used)")
    elif file_sha256(nb) != job.notebook_sha256:
        issues.append(f"notebook {nb} changed since the run (the recorded copy is used)")
    now = environment_summary()
    for name, version in sorted(job.environment.items()):
        if now.get(name) != version:
            issues.append(f"package {name}: {version} at the run, {now.get(name) or 'not installed'} now")
    if "seed" not in original_params and not original_tags.get("aieng.seeded"):
        issues.append("no seed was recorded (call aieng.seed(N) in the notebook for random results to repeat)")
    issues += snapshot_issues(job.run_id or "", workspace)
    started = job.started_at
    if job.cwd and started is not None and Path(job.cwd).is_dir():
        changed = []
        for entry in sorted(os.scandir(job.cwd), key=lambda e: e.name)[:500]:
            if entry.name.startswith(".") or not entry.is_file() or entry.name.endswith(".ipynb"):
                continue
            if entry.stat().st_mtime > started.timestamp():
                changed.append(entry.name)
        if changed:
            issues.append(
                "untracked files in the job's folder changed since the run: "
                + ", ".join(changed[:10])
                + (" ..." if len(changed) > 10 else "")
            )
    return issues


def snapshot_issues(run_id: str, workspace: Workspace) -> list[str]:
    """Data snapshots the run used (per the snapshot index): missing or corrupted objects, and
    names that point at a newer version now (the notebook would load that one)."""
    try:
        from ..snapshots.index import Index
        from ..snapshots.objects import ObjectStore
    except ImportError:  # pragma: no cover - snapshots are part of the package
        return []
    root = workspace.path("snapshots")
    if not run_id or not root.exists():
        return []
    store = ObjectStore(root)
    try:
        data = Index(store).read()
    except Exception as exc:  # noqa: BLE001 - an unreadable index is itself worth reporting
        return [f"the snapshot index cannot be read: {exc}"]
    issues = []
    used = [digest for digest, runs in (data.get("used_by") or {}).items() if run_id in runs]
    for digest in used:
        names = [
            (name, v["version"], versions[-1])
            for name, versions in (data.get("names") or {}).items()
            for v in versions
            if v["hash"] == digest
        ]
        label = f"{names[0][0]}@{names[0][1]}" if names else digest[:12]
        if not store.exists(digest):
            issues.append(f"data snapshot {label} used by the run is missing from the workspace")
            continue
        try:
            store.verify_files(digest)
        except Exception as exc:  # noqa: BLE001
            issues.append(f"data snapshot {label} fails verification: {exc}")
        for name, version, latest in names:
            if latest["hash"] != digest:
                issues.append(
                    f"snapshot name {name!r} now points at version {latest['version']}, the run used "
                    f"version {version}: load {name}@{version} for the exact data"
                )
    return issues


def compare_metrics(
    original: dict[str, float], reproduced: dict[str, float], *, rtol: float, atol: float
) -> list[MetricDiff]:
    out = []
    for name in sorted(set(original) | set(reproduced)):
        a, b = original.get(name), reproduced.get(name)
        ok = a is not None and b is not None and (a == b or math.isclose(a, b, rel_tol=rtol, abs_tol=atol))
        out.append(MetricDiff(name, a, b, ok))
    return out


def rerun_request(job: JobRecord, *, executor: str | None = None, address: str | None = None) -> JobRequest:
    """The request that re-runs ``job`` exactly: its recorded notebook copy, parameters and options."""
    return JobRequest(
        job.input_copy or job.notebook,
        dict(job.parameters),
        allow_unknown=True,
        timeout=job.timeout,
        cell_timeout=job.cell_timeout,
        experiment=job.experiment,
        kernel_name=job.kernel_name,
        cwd=job.cwd,
        monitor=job.monitor,
        executor=executor or "local",
        address=address,
        tags={"aieng.reproduces": job.run_id or "", "aieng.reproduces_job": job.job_id},
    )


def reproduce(
    run_id: str,
    *,
    rtol: float = 1e-9,
    atol: float = 0.0,
    executor: str | None = None,
    address: str | None = None,
    progress: Any = None,
    workspace: Workspace | None = None,
) -> ReproduceReport:
    """Re-run the job that produced ``run_id`` and compare its metrics (see module doc)."""
    from .control import run_job
    from .finish import get_run

    ws = workspace or current()
    job = find_job_for_run(run_id, ws)
    if not job.run_id:
        raise ValidationError(f"job {job.job_id} has no run to compare against")
    if job.input_copy and not Path(job.input_copy).is_file():
        from .remote import materialize

        materialize(ws, job.job_id, "input.ipynb")  # stored by another machine: fetched into the job folder
    if not job.input_copy or not Path(job.input_copy).is_file():
        raise NotFoundError(f"the recorded notebook of job {job.job_id} is missing ({job.input_copy})")
    original = get_run(job.run_id, ws)
    issues = input_issues(job, dict(original.params or {}), dict(original.tags or {}), ws)
    request = rerun_request(job, executor=executor, address=address)
    final = run_job(request, progress=progress, workspace=ws)
    reproduced = get_run(final.run_id, ws).metrics if final.run_id else {}
    report = ReproduceReport(job.run_id, job.job_id, final, rtol=rtol, atol=atol, issues=issues)
    report.metrics = compare_metrics(dict(original.metrics or {}), dict(reproduced or {}), rtol=rtol, atol=atol)
    from .. import audit

    audit.append(
        "job.reproduce",
        {"run_id": job.run_id, "new_run_id": final.run_id, "matches": report.matches, "issues": len(issues)},
        workspace=ws,
    )
    return report
