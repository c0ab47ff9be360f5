"""Lineage of a model version: back to its run, notebook, parameters and data snapshots (MLflow
dataset inputs), forward to the jobs that scored with it (runs tagged by ``load_model``).

>>> lin = lineage("churn@champion")   # doctest: +SKIP
>>> print(lin)                        # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from typing import Any

from ..exceptions import ValidationError
from ..reports import _CSS, esc, table_html
from ..workspace import Workspace, current
from .client import dataset_inputs, get_version, resolve_version, store_client


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Lineage:
    """Where a version came from and where it was used."""

    name: str
    version: str
    aliases: list[str]
    source: str
    run_id: str | None
    run_name: str | None = None
    experiment_id: str | None = None
    run_status: str | None = None
    notebook: str | None = None
    notebook_sha256: str | None = None
    job_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    scored_by: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lineage:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    def __str__(self) -> str:
        lines = [
            f"{self.name} v{self.version} ({', '.join(self.aliases) or 'no alias'})  source {self.source}",
            f"  <- run {self.run_id or '-'} ({self.run_name or '-'}, {self.run_status or '-'}, experiment {self.experiment_id or '-'})",
            f"  <- notebook {self.notebook or '-'}"
            + (f" (sha256 {self.notebook_sha256[:12]})" if self.notebook_sha256 else "")
            + (f", job {self.job_id}" if self.job_id else ""),
            "  <- parameters " + (", ".join(f"{k}={v}" for k, v in sorted(self.params.items())) or "-"),
        ]
        for d in self.datasets:
            lines.append(f"  <- data {d['name']} {d['source']} (digest {str(d['digest'])[:12]})")
        for s in self.scored_by:
            lines.append(
                f"  -> scored by run {s['run_id']} job {s.get('job_id') or '-'} ({s.get('status')}, {s.get('start_time')})"
            )
        if not self.scored_by:
            lines.append("  -> not used by any scoring job yet")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>{esc(self.name)} v{esc(self.version)}</b> ({esc(', '.join(self.aliases) or 'no alias')})"
            f" &larr; run <code>{esc(self.run_id)}</code> &larr; notebook {esc(self.notebook or '-')}</p>"
        )
        params = table_html(["parameter", "value"], [[k, v] for k, v in sorted(self.params.items())])
        data = table_html(
            ["dataset", "source", "digest"], [[d["name"], d["source"], str(d["digest"])[:12]] for d in self.datasets]
        )
        fwd = table_html(
            ["run", "job", "status", "started"],
            [[s["run_id"], s.get("job_id") or "", s.get("status"), s.get("start_time")] for s in self.scored_by],
        )
        return (
            f'<div class="aieng-rep"><style>{_CSS}</style><h2>Lineage: {esc(self.name)} v{esc(self.version)}</h2>{head}'
            f"<h3>Parameters</h3>{params}<h3>Data snapshots</h3>{data}<h3>Scored by</h3>{fwd}</div>"
        )


def lineage(ref: str, *, workspace: Workspace | None = None) -> Lineage:
    """The lineage of ``ref`` (``churn@champion``, ``churn/3``; a bare name means the champion)."""
    if not isinstance(ref, str):
        raise ValidationError(f"model reference must be a string like 'churn@champion' or 'churn/3', got {ref!r}")
    ws = workspace or current()
    c = store_client(ws)  # the embedded store is read without importing MLflow
    name, version = resolve_version(ref, ws, c)
    mv = get_version(c, name, version)
    lin = Lineage(name, version, sorted(mv.aliases or []), mv.source, mv.run_id)
    if mv.run_id:
        try:
            run = c.get_run(mv.run_id)
        except Exception:  # noqa: BLE001 - the run was deleted; the version still exists
            run = None
        if run is not None:
            tags = dict(run.data.tags)
            lin.run_name = run.info.run_name
            lin.experiment_id = run.info.experiment_id
            lin.run_status = run.info.status
            lin.notebook = tags.get("aieng.job.notebook") or tags.get("mlflow.source.name")
            lin.notebook_sha256 = tags.get("aieng.job.notebook_sha256")
            lin.job_id = tags.get("aieng.job_id")
            lin.params = dict(run.data.params)
            lin.metrics = dict(run.data.metrics)
            lin.datasets = dataset_inputs(run)
    lin.scored_by = scored_by(c, name, version)
    return lin


def scored_by(c: Any, name: str, version: str, limit: int = 200) -> list[dict[str, Any]]:
    """Runs (scoring jobs) that loaded this version through ``load_model``, newest first."""
    exps = [e.experiment_id for e in c.search_experiments()]
    if not exps:
        return []
    runs = c.search_runs(
        exps,
        filter_string=f"tags.`aieng.model.used` = '{name}/{version}'",
        max_results=limit,
        order_by=["attributes.start_time DESC"],
    )
    return [
        {
            "run_id": r.info.run_id,
            "job_id": r.data.tags.get("aieng.job_id"),
            "status": r.info.status,
            "start_time": _iso(r.info.start_time),
            "checks": r.data.tags.get("aieng.checks"),
        }
        for r in runs
    ]
