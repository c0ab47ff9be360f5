"""Sweeps: one notebook over a grid (or a seeded random sample) of parameters.

Every point is a job (a child run in MLflow under one parent run); the result is a table of
parameters against metrics with the best run marked.

>>> import aieng_nb as aieng
>>> result = aieng.sweep("notebooks/03-train-job.ipynb",              # doctest: +SKIP
...                      {"n_estimators": [10, 50], "max_depth": [2, 4]}, parallel=2, metric="accuracy")
>>> print(result.table())                                              # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import audit
from ..exceptions import ValidationError
from ..fsutil import atomic_write_json
from ..records import now
from ..workspace import Workspace, current, locate
from . import notebook as _notebook
from . import store
from .display import Progress, resolve
from .records import JobError, JobRecord, JobStatus
from .request import JobRequest


def expand_grid(
    grid: Mapping[str, Sequence[Any]], *, samples: int | None = None, seed: int | None = 0
) -> list[dict[str, Any]]:
    """All combinations (grid order), or ``samples`` of them drawn without replacement with ``seed``.

    >>> expand_grid({"a": [1, 2], "b": ["x"]})
    [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}]
    >>> len(expand_grid({"a": range(10), "b": range(10)}, samples=5, seed=1))
    5
    """
    if not grid:
        return [{}]
    names = list(grid)
    for name in names:
        _notebook.check_name(name)
        if isinstance(grid[name], (str, bytes)) or not isinstance(grid[name], Sequence | range):
            raise ValidationError(f"sweep values of {name!r} must be a list, got {grid[name]!r}")
        if len(grid[name]) == 0:
            raise ValidationError(f"sweep values of {name!r} are empty")
    values = [list(grid[n]) for n in names]
    if samples is None:
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValidationError("samples must be a whole number >= 1")
    total = math.prod(len(v) for v in values)
    # draw grid positions, never the grid: 5 samples of a 10^12-point grid cost 5 points
    picked = sorted(random.Random(seed).sample(range(total), min(samples, total)))
    return [_grid_point(names, values, i) for i in picked]


def _grid_point(names: list[str], values: list[list[Any]], index: int) -> dict[str, Any]:
    """The ``index``-th combination in itertools.product order (the last name varies fastest)."""
    point: dict[str, Any] = {}
    for name, vals in zip(reversed(names), reversed(values), strict=True):
        index, pos = divmod(index, len(vals))
        point[name] = vals[pos]
    return {name: point[name] for name in names}


def parse_sweep_values(raw: str) -> list[Any]:
    """``0.1,0.01`` -> ['0.1', '0.01'] (coerced later against the notebook's defaults); ``[...]`` is JSON."""
    text = raw.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"sweep values {raw!r} do not parse as a JSON list: {exc}") from None
        if not isinstance(values, list):
            raise ValidationError(f"sweep values {raw!r} must be a list")
        return values
    return [part.strip() for part in text.split(",") if part.strip() != ""]


@dataclass
class SweepResult:
    """The jobs of a sweep, their parameters and metrics, and the best one."""

    sweep_id: str
    notebook: str
    parent_run_id: str | None
    jobs: list[JobRecord]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # job_id -> metrics
    metric: str | None = None
    goal: str = "max"
    best_job_id: str | None = None

    @property
    def ok(self) -> bool:
        return all(j.status == JobStatus.COMPLETED for j in self.jobs)

    @property
    def best(self) -> JobRecord | None:
        return next((j for j in self.jobs if j.job_id == self.best_job_id), None)

    def _columns(self) -> tuple[list[str], list[str]]:
        pnames: list[str] = []
        for j in self.jobs:
            pnames += [k for k in j.parameters if k not in pnames]
        from ..tracking.records import headline_metrics

        # the runs' own metrics (accuracy, f1...), not every report summary and system metric
        mnames = headline_metrics(k for m in self.metrics.values() for k in m)
        if self.metric and self.metric in mnames:
            mnames.remove(self.metric)
            mnames.insert(0, self.metric)
        return pnames, mnames[:6]

    def rows(self) -> list[dict[str, Any]]:
        pnames, mnames = self._columns()
        out = []
        for j in self.jobs:
            row: dict[str, Any] = {"best": j.job_id == self.best_job_id, "job_id": j.job_id, "status": j.status}
            row.update({p: j.parameters.get(p) for p in pnames})
            row.update({m: self.metrics.get(j.job_id, {}).get(m) for m in mnames})
            row["run_id"] = j.run_id
            out.append(row)
        return out

    def table(self) -> str:
        from ..rendering import text_table

        pnames, mnames = self._columns()
        headers = ["", "job", "status", *pnames, *mnames]
        body = []
        for r in self.rows():
            vals = [f"{r[m]:.6g}" if isinstance(r[m], float) else r[m] for m in mnames]
            body.append(["*" if r["best"] else "", r["job_id"], r["status"], *[r[p] for p in pnames], *vals])
        footer = ""
        if self.best_job_id:
            footer = f"\n* best by {self.metric} ({self.goal}): job {self.best_job_id}"
        return text_table(headers, body) + footer

    def to_dict(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "notebook": self.notebook,
            "parent_run_id": self.parent_run_id,
            "metric": self.metric,
            "goal": self.goal,
            "best_job_id": self.best_job_id,
            "rows": self.rows(),
        }

    def _repr_html_(self) -> str:
        from ..rendering import Link, html_table

        pnames, mnames = self._columns()
        by_id = {j.job_id: j for j in self.jobs}
        body, bad = [], []
        for r in self.rows():
            job = by_id[r["job_id"]]
            vals = [f"{r[m]:.6g}" if isinstance(r[m], float) else r[m] for m in mnames]
            body.append(
                [
                    "*" if r["best"] else "",
                    Link(r["job_id"], job.output_path),
                    r["status"],
                    *[r[p] for p in pnames],
                    *vals,
                ]
            )
            bad.append(r["status"] != JobStatus.COMPLETED)
        return html_table(["", "job", "status", *pnames, *mnames], body, bad, css_class="aieng-sweep")

    def __str__(self) -> str:
        return self.table()


def sweep(
    notebook: JobRequest | str | os.PathLike[str],
    grid: Mapping[str, Sequence[Any]],
    *,
    samples: int | None = None,
    seed: int | None = 0,
    parallel: int = 1,
    metric: str | None = None,
    goal: str = "max",
    fixed: Mapping[str, Any] | None = None,
    progress: Any = None,
    workspace: Workspace | None = None,
    **job_options: Any,
) -> SweepResult:
    """Run ``notebook`` for every point of ``grid`` (or ``samples`` random points); returns a SweepResult.

    ``notebook`` is a path or a :class:`JobRequest` (its parameters, and ``fixed``, apply to every
    point); ``job_options`` are JobRequest fields (``executor``, ``experiment``, ``timeout``...).
    Points run ``parallel`` at a time on the executor. ``metric``/``goal`` choose the best run
    (default: the first metric the runs logged, maximized).

    >>> result = sweep("train.ipynb", {"lr": [0.1, 0.01]}, parallel=2)   # doctest: +SKIP
    >>> result.best_job_id                                                # doctest: +SKIP
    """
    from ..executors import get_executor
    from .control import prepare_job
    from .execute import open_run

    if goal not in ("max", "min"):
        raise ValidationError(f"goal must be 'max' or 'min', got {goal!r}")
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise ValidationError("parallel must be >= 1")
    base = JobRequest.of(notebook, fixed, **job_options)
    points = expand_grid(grid, samples=samples, seed=seed)
    requests = [dataclasses.replace(base, parameters={**base.parameters, **point}) for point in points]
    executor_cls = get_executor(base.executor_name())  # an unknown executor fails before the parent run exists
    checking = workspace or Workspace(locate())  # bad input creates no workspace
    for request in requests:  # every point, with every job option, before anything is created
        prepare_job(request, workspace=checking, dry_run=True)
    ws = workspace or current()
    store.recover_stale(ws)
    sweep_id = "s" + JobRecord.new("x").job_id
    nb_path = Path(base.notebook)
    experiment = base.experiment or nb_path.stem
    parent = open_run(
        experiment,
        ws,
        name=f"sweep-{nb_path.stem}-{sweep_id[-6:]}",
        tags={"aieng.sweep_id": sweep_id, "aieng.sweep.size": str(len(points)), "aieng.sweep.notebook": str(nb_path)},
        params={"sweep.grid": json.dumps({k: list(v) for k, v in grid.items()}, default=str)[:5000]},
    )
    jobs_: list[JobRecord] = []
    try:
        for request in requests:
            point = dataclasses.replace(request, experiment=experiment, sweep_id=sweep_id, parent_run_id=parent)
            jobs_.append(prepare_job(point, workspace=ws))
        audit.append(
            "sweep.start", {"sweep_id": sweep_id, "jobs": [j.job_id for j in jobs_], "run_id": parent}, workspace=ws
        )
        finished = _run_points(executor_cls, base.executor_address(), parallel, jobs_, ws, resolve(progress))
        result = _result(sweep_id, str(nb_path), parent, finished, metric, goal, ws)
        atomic_write_json(ws.path("sweeps", f"{sweep_id}.json"), result.to_dict())
        audit.append(
            "sweep.finish", {"sweep_id": sweep_id, "ok": result.ok, "best_job_id": result.best_job_id}, workspace=ws
        )
    except BaseException as exc:
        _abandon(sweep_id, parent, jobs_, ws, type(exc))
        raise
    return result


def _run_points(
    executor_cls: Any, address: str | None, parallel: int, jobs_: list[JobRecord], ws: Workspace, reporter: Progress
) -> list[JobRecord]:
    done: dict[str, JobRecord] = {}
    with executor_cls(address=address, parallel=parallel) as ex:
        for record in ex.run([j.job_id for j in jobs_], ws, progress=_Quiet(reporter) if parallel > 1 else reporter):
            done[record.job_id] = record
            reporter.sweep(len(done), len(jobs_), record)
    return [done.get(j.job_id) or store.load(j.job_id, ws) for j in jobs_]


def _result(
    sweep_id: str, notebook: str, parent: str, finished: list[JobRecord], metric: str | None, goal: str, ws: Workspace
) -> SweepResult:
    """The sweep's result, with the best job picked and its parent run tagged and closed."""
    from .execute import set_status, set_tags

    result = SweepResult(sweep_id, notebook, parent, finished, goal=goal)
    result.metrics = _collect_metrics(finished, ws)
    result.metric = metric or _default_metric(result.metrics)
    result.best_job_id = _best(result)
    tags = {"aieng.sweep.completed": str(sum(j.status == JobStatus.COMPLETED for j in finished))}
    if result.best is not None and result.metric:
        tags.update(
            {"aieng.sweep.best_job_id": result.best.job_id, "aieng.sweep.best_run_id": result.best.run_id or ""}
        )
        tags["aieng.sweep.best_metric"] = f"{result.metric}={result.metrics[result.best.job_id][result.metric]}"
    set_tags(tags, parent, ws)
    set_status(parent, "FINISHED" if result.ok else "FAILED", ws)
    return result


def _abandon(sweep_id: str, parent: str, jobs_: list[JobRecord], ws: Workspace, exc_type: Any) -> None:
    """A sweep interrupted or broken half way: its unstarted jobs fail, its parent run ends."""
    from .execute import set_status

    interrupted = exc_type is not None and not issubclass(exc_type, Exception)
    reason = (
        "the sweep was interrupted before this job started"
        if interrupted
        else "the sweep failed before this job started"
    )

    def fail(r: JobRecord) -> bool:
        if r.status != JobStatus.CREATED:
            return False
        r.status, r.finished_at = JobStatus.FAILED, now()
        r.error = JobError(kind="sweep_aborted", message=reason).to_dict()
        return True

    for j in jobs_:
        try:
            store.mutate(j.job_id, fail, ws)
        except Exception:  # noqa: BLE001 - best effort while unwinding
            pass
    try:
        set_status(parent, "KILLED" if interrupted else "FAILED", ws)
    except Exception:  # noqa: BLE001
        pass
    try:
        audit.append("sweep.abort", {"sweep_id": sweep_id, "run_id": parent, "reason": reason}, workspace=ws)
    except Exception:  # noqa: BLE001
        pass


class _Quiet(Progress):
    """With jobs in parallel, per-cell lines would interleave: report only finished jobs."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner


def _collect_metrics(jobs_: list[JobRecord], ws: Workspace) -> dict[str, dict[str, float]]:
    from .execute import get_run

    out: dict[str, dict[str, float]] = {}
    for j in jobs_:
        if j.run_id:
            try:
                out[j.job_id] = dict(get_run(j.run_id, ws).metrics or {})
            except Exception:  # noqa: BLE001 - a missing run just has no metrics
                out[j.job_id] = {}
    return out


def _default_metric(metrics: dict[str, dict[str, float]]) -> str | None:
    from ..tracking.records import headline_metrics

    names = headline_metrics(k for m in metrics.values() for k in m)
    return names[0] if names else None


def _best(result: SweepResult) -> str | None:
    if not result.metric:
        return None
    scored = [
        (result.metrics[j.job_id][result.metric], j.job_id)
        for j in result.jobs
        if j.status == JobStatus.COMPLETED and result.metric in result.metrics.get(j.job_id, {})
    ]
    if not scored:
        return None
    pick = max if result.goal == "max" else min
    return pick(scored, key=lambda t: t[0])[1]


def load_sweep(sweep_id: str, workspace: Workspace | None = None) -> dict[str, Any]:
    path = (workspace or current()).path("sweeps", f"{sweep_id}.json")
    if not path.is_file():
        raise ValidationError(f"no sweep {sweep_id!r}")
    return json.loads(path.read_text())


def new_sweep_id() -> str:
    return "s" + secrets.token_hex(4)
