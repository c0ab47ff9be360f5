"""What a pipeline execution did, step by step, and where that is kept.

An execution is keyed by its MLflow parent run id and stored as ``pipelines/runs/<run_id>.json``;
the cache (``pipelines/cache/<key>.json``) maps a step's cache key to the successful execution
that produced its outputs; ``pipelines/last/<pipeline>.json`` keeps each step's last key parts,
so ``status`` can say which input changed.

>>> r = StepResult("clean", StepState.CACHED, "inputs, parameters and notebook unchanged")
>>> StepResult.from_dict(r.to_dict()) == r
True
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..exceptions import NotFoundError, ValidationError
from ..fsutil import atomic_write_json
from ..records import Record, RecordList, now
from ..workspace import Workspace


class StepState(enum.StrEnum):
    """A step's state in one execution (the pipeline's own words)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CACHED = "CACHED"
    RAN = "RAN"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"  # an upstream step failed: not run

    @property
    def ok(self) -> bool:
        return self in (StepState.CACHED, StepState.RAN)


@dataclass
class StepResult(Record):
    """One step of one execution: what happened, why, and which job, run and snapshots."""

    step: str
    state: StepState = StepState.PENDING
    reason: str = ""
    cache_key: str | None = None
    job_id: str | None = None
    run_id: str | None = None
    source_run_id: str | None = None  # the run that produced the outputs (itself, or a cached earlier one)
    inputs: dict[str, str] = field(default_factory=dict)  # snapshot name -> ref (name@version)
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass
class PipelineRun(Record):
    """One execution of a pipeline file (``run_id`` is its MLflow parent run)."""

    run_id: str
    pipeline: str
    path: str
    experiment: str
    status: str = "RUNNING"  # RUNNING, COMPLETED, FAILED (MLflow: FINISHED / FAILED)
    steps: dict[str, StepResult] = field(default_factory=dict)
    upstream: dict[str, list[str]] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=now)
    finished_at: datetime | None = None
    owner: dict[str, Any] = field(default_factory=dict)  # the running process: pid, host, process_start

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.state.ok for s in self.steps.values())

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps.values():
            out[s.state.lower()] = out.get(s.state.lower(), 0) + 1
        return out

    def __str__(self) -> str:
        head = f"pipeline {self.pipeline} run {self.run_id[:12]}: {self.status}"
        counts = ", ".join(f"{n} {k}" for k, n in self.counts().items())
        return f"{head} ({counts})\n{StepTable(self.steps.values(), self.upstream)}"

    def _repr_html_(self) -> str:
        import html

        return (
            f"<p><b>{html.escape(self.pipeline)}</b> {html.escape(self.status)}</p>"
            + StepTable(self.steps.values(), self.upstream)._repr_html_()
        )


class StepTable(RecordList[StepResult]):
    """Steps as a table: state, why, the job and run, the snapshots in and out."""

    headers = ("step", "state", "why", "after", "run", "inputs", "outputs")
    empty = "no steps"

    def __init__(self, items: Any = (), upstream: dict[str, list[str]] | None = None) -> None:
        super().__init__(items)
        self.upstream = upstream or {}

    def row(self, s: StepResult) -> list[Any]:
        return [
            s.step,
            s.state.lower(),
            s.error or s.reason,
            ",".join(self.upstream.get(s.step, [])),
            (s.run_id or s.source_run_id or "")[:12],
            " ".join(s.inputs.values()),
            " ".join(s.outputs.values()),
        ]

    def bad(self, s: StepResult) -> bool:
        return s.state in (StepState.FAILED, StepState.BLOCKED)


class PipelineRunList(RecordList[PipelineRun]):
    headers = ("run", "pipeline", "status", "steps", "created")
    empty = "no pipeline runs"

    def row(self, r: PipelineRun) -> list[Any]:
        counts = ", ".join(f"{n} {k}" for k, n in r.counts().items())
        return [r.run_id[:12], r.pipeline, r.status, counts, r.created_at.strftime("%Y-%m-%d %H:%M:%S")]

    def bad(self, r: PipelineRun) -> bool:
        return r.status == "FAILED"


def pipeline_key(path: Path) -> str:
    """A pipeline file's id in the workspace: a hash of its resolved path."""
    return hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:16]


def save_run(run: PipelineRun, ws: Workspace) -> None:
    atomic_write_json(ws.path("pipelines", "runs", f"{_safe_id(run.run_id)}.json"), run.to_dict())


def orphaned(run: PipelineRun) -> bool:
    """True when ``run`` says RUNNING but the process running it is gone (kill -9, a lost machine)."""
    from ..tracking.lifecycle import lease_is_dead

    if run.status != "RUNNING" or not run.owner:
        return False
    try:
        return lease_is_dead(run.owner)
    except ValueError:
        return False


def as_died(run: PipelineRun) -> PipelineRun:
    """``run`` as it truly ended when its process died: FAILED, unfinished steps FAILED with why."""
    if not orphaned(run):
        return run
    why = f"the pipeline process {run.owner.get('pid')} on {run.owner.get('host')} died"
    for s in run.steps.values():
        if s.state == StepState.RUNNING:
            s.state, s.error = StepState.FAILED, f"{why} while this step ran"
        elif s.state == StepState.PENDING:
            s.state, s.reason = StepState.BLOCKED, f"not run: {why}"
    run.status = "FAILED"
    return run


def load_run(run_id: str, ws: Workspace) -> PipelineRun:
    """One execution by its run id (a unique prefix of at least 6 characters works)."""
    if not isinstance(run_id, str) or not run_id or len(run_id) > 64 or not run_id.isalnum():
        raise ValidationError(f"bad pipeline run id {str(run_id)[:40]!r}: give the run id `aieng pipeline run` printed")
    folder = ws.root / "pipelines" / "runs"
    hits = sorted(folder.glob(f"{run_id}*.json")) if folder.is_dir() else []
    if not hits:
        raise NotFoundError(f"no pipeline run {run_id!r} in this workspace")
    if len(hits) > 1:
        raise ValidationError(
            f"pipeline run id prefix {run_id!r} is ambiguous ({len(hits)} runs): give more characters"
        )
    return as_died(PipelineRun.from_dict(json.loads(hits[0].read_text(encoding="utf-8"))))


def list_runs(ws: Workspace, pipeline: str | None = None, limit: int | None = None) -> PipelineRunList:
    """Executions, newest first; one whose process died reads FAILED (see :func:`recover_runs`)."""
    runs = [as_died(r) for r in _stored_runs(ws)]
    runs = [r for r in runs if pipeline is None or r.pipeline == pipeline or r.path == pipeline]
    runs.sort(key=lambda r: r.created_at, reverse=True)
    return PipelineRunList(runs[:limit] if limit else runs)


def _stored_runs(ws: Workspace) -> list[PipelineRun]:
    folder = ws.root / "pipelines" / "runs"
    runs = []
    for p in folder.glob("*.json") if folder.is_dir() else []:
        try:
            runs.append(PipelineRun.from_dict(json.loads(p.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return runs


def recover_runs(ws: Workspace) -> list[str]:
    """Record the end of every execution whose process died: the record FAILED, its MLflow parent
    run KILLED with the reason, an audit entry. Its steps' jobs are recovered as jobs are; running
    the pipeline again resumes from what finished. Returns a line per execution recovered."""
    from .. import audit
    from ..jobs.execute import set_status, set_tags

    done = []
    for run in _stored_runs(ws):
        if not orphaned(run):
            continue
        as_died(run)
        run.finished_at = now()
        save_run(run, ws)
        why = f"pipeline process {run.owner.get('pid')} on {run.owner.get('host')} died"
        try:
            set_tags({"aieng.end_reason": why}, run.run_id, ws)
            set_status(run.run_id, "KILLED", ws)
        finally:
            audit.append(
                "pipeline.recover", {"run_id": run.run_id, "pipeline": run.pipeline, "reason": why}, workspace=ws
            )
        done.append(f"pipeline {run.pipeline} run {run.run_id[:12]}: FAILED ({why})")
    return done


def read_cache(key: str, ws: Workspace) -> dict[str, Any] | None:
    path = ws.root / "pipelines" / "cache" / f"{_safe_id(key)}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def write_cache(key: str, entry: dict[str, Any], ws: Workspace) -> None:
    atomic_write_json(ws.path("pipelines", "cache", f"{_safe_id(key)}.json"), entry)


def read_last(path: Path, ws: Workspace) -> dict[str, Any]:
    try:
        data = json.loads((ws.root / "pipelines" / "last" / f"{pipeline_key(path)}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_last(path: Path, parts: dict[str, Any], ws: Workspace) -> None:
    """Each step's last key parts (merged: a step that did not get to run keeps its older ones)."""
    atomic_write_json(ws.path("pipelines", "last", f"{pipeline_key(path)}.json"), {**read_last(path, ws), **parts})


def _safe_id(text: str) -> str:
    if not text.isalnum():
        raise ValidationError(f"bad id {text[:40]!r}")
    return text
