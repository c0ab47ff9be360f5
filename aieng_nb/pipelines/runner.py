"""Running a pipeline: each step a notebook job, skipped when its content-addressed key was seen.

A step's cache key hashes (its notebook without outputs, its parameters, the exact snapshot ids
of its inputs, its declared environment). When a successful execution with that key exists and
its outputs are still stored, the step is CACHED and its outputs are that execution's snapshots;
otherwise it runs as a job (a child run of the pipeline's MLflow run) whose kernel resolves each
input name to the exact version chosen here (``AIENG_SNAPSHOT_PINS``). A rerun step that
produces byte-identical snapshots leaves everything downstream cached. Independent steps run
``parallel`` at a time; a failure blocks what depends on it and lets the rest finish; running
the pipeline again resumes (what succeeded is cached).

>>> import aieng_nb as aieng
>>> run = aieng.run_pipeline("pipeline.yaml", {"features.window": 14})   # doctest: +SKIP
>>> run.steps["train"].state, run.steps["train"].reason                    # doctest: +SKIP
('RAN', 'input train changed (train@1 -> train@2)')
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from .. import audit
from ..exceptions import NotFoundError, ValidationError
from ..records import RecordList, now
from ..tracking.lifecycle import owner
from ..workspace import Workspace, current
from . import records as rec
from .records import PipelineRun, StepResult, StepState
from .spec import Pipeline, Step, environment_digest, load_pipeline, notebook_digest

PINS_TAG = "aieng.pipeline.pins"
PINS_ENV = "AIENG_SNAPSHOT_PINS"
Say = Callable[[str], None]


def run_pipeline(
    path: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    force: Iterable[str] = (),
    executor: str | None = None,
    address: str | None = None,
    parallel: int = 1,
    schedule: str | None = None,
    progress: Say | None = None,
    workspace: Workspace | None = None,
) -> PipelineRun:
    """Run the pipeline file at ``path`` and return the execution's record.

    ``parameters`` are ``{"step.param": value}`` overrides; ``force`` names steps to rerun even
    when cached; ``executor``/``address`` are the job executor (``local``, ``dask``, ...) and
    ``parallel`` how many independent steps run at once.

    >>> run = run_pipeline("pipeline.yaml", force=["train"], parallel=2)   # doctest: +SKIP
    >>> run.status                                                          # doctest: +SKIP
    'COMPLETED'
    """
    from ..executors import get_executor

    ws = workspace or current()
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise ValidationError("parallel must be a whole number >= 1")
    pipeline = load_pipeline(path, parameters, snapshot_exists=lambda n: _exists(n, ws))
    force = _check_force(pipeline, force)
    executor_cls = get_executor(executor or _default_executor())
    requests = {n: _request(pipeline, s, executor, address, schedule) for n, s in pipeline.steps.items()}
    if force or not all(isinstance(v, dict) for v in _plan(pipeline, ws).values()):
        for name, request in requests.items():  # something will run: every step's job is checked first
            _check_request(pipeline, name, request, ws)
    rec.recover_runs(ws)  # an earlier execution whose process died is recorded as ended first
    run = _start(pipeline, parameters, ws)
    say = progress or (lambda _line: None)
    say(f"pipeline {pipeline.name}: run {run.run_id} ({len(pipeline.steps)} steps)")
    try:
        _Execution(pipeline, run, requests, executor_cls, parallel, force, ws, say).go()
    except BaseException:
        _finish(pipeline, run, ws, interrupted=True)
        raise
    _finish(pipeline, run, ws)
    say(f"pipeline {pipeline.name}: {run.status} ({', '.join(f'{n} {k}' for k, n in run.counts().items())})")
    return run


class _Execution:
    """The scheduling loop of one execution (named steps: ready -> cached or submitted -> done)."""

    def __init__(
        self,
        pipeline: Pipeline,
        run: PipelineRun,
        requests: dict[str, Any],
        executor_cls: Any,
        parallel: int,
        force: set[str],
        ws: Workspace,
        say: Say,
    ) -> None:
        self.p, self.run, self.requests, self.executor_cls = pipeline, run, requests, executor_cls
        self.parallel, self.force, self.ws, self.say = parallel, force, ws, say
        self.outputs: dict[str, dict[str, str]] = {}  # step -> {snapshot name: hash}
        self.last = rec.read_last(pipeline.path, ws)
        self.lock = threading.Lock()

    def go(self) -> None:
        pending = list(self.p.order())
        running: dict[Future[Any], tuple[str, dict[str, Any], Any]] = {}
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="aieng-step") as pool:
            while pending or running:
                for name in list(pending):
                    deps = [self.run.steps[d].state for d in self.p.upstream(name)]
                    if any(d in (StepState.FAILED, StepState.BLOCKED) for d in deps):
                        pending.remove(name)
                        failed = [
                            d
                            for d in self.p.upstream(name)
                            if self.run.steps[d].state in (StepState.FAILED, StepState.BLOCKED)
                        ]
                        self._set(name, StepState.BLOCKED, f"not run: upstream step {', '.join(failed)} failed")
                    elif all(d.ok for d in deps) and len(running) < self.parallel:
                        pending.remove(name)
                        submitted = self._start_step(name, pool)
                        if submitted is not None:
                            running[submitted[0]] = (name, submitted[1], submitted[2])
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    name, parts, record = running.pop(fut)
                    self._end_step(name, parts, record, fut)

    def _start_step(self, name: str, pool: ThreadPoolExecutor) -> tuple[Future[Any], dict[str, Any], Any] | None:
        """The step is CACHED now, or its job is created and submitted (returned)."""
        from ..jobs.control import prepare_job

        step = self.p.steps[name]
        inputs = self._inputs(step)
        parts = key_parts(step, inputs)
        key = cache_key(parts)
        result = self.run.steps[name]
        result.inputs, result.cache_key, result.started_at = {k: v[1] for k, v in inputs.items()}, key, now()
        hit = None if name in self.force else _usable(rec.read_cache(key, self.ws), self.ws)
        if hit is not None:
            self.outputs[name] = {k: v["hash"] for k, v in hit["outputs"].items()}
            result.outputs = {k: v["ref"] for k, v in hit["outputs"].items()}
            result.source_run_id = hit["run_id"]
            result.run_id = _cached_run(self.p, self.run, name, hit, self.ws)
            self._set(name, StepState.CACHED, f"unchanged since run {hit['run_id'][:12]}", parts)
            return None
        why = "--force" if name in self.force else why_changed(self.last.get(name), parts)
        pins = {k: v[1] for k, v in inputs.items()}
        request = dataclasses.replace(
            self.requests[name],
            parent_run_id=self.run.run_id,
            tags={**self.requests[name].tags, PINS_TAG: json.dumps(pins, sort_keys=True),
                  "aieng.pipeline.run_id": self.run.run_id},
        )  # fmt: skip
        record = prepare_job(request, workspace=self.ws)
        result.job_id, result.run_id, result.reason = record.job_id, record.run_id, why
        self._set(name, StepState.RUNNING, why)
        return pool.submit(self._execute, record.job_id), parts, record

    def _execute(self, job_id: str) -> Any:
        with self.executor_cls(address=self.requests_address(), parallel=1) as ex:
            (final,) = list(ex.run([job_id], self.ws, progress=None))
        return final

    def requests_address(self) -> str | None:
        first = next(iter(self.requests.values()))
        return first.executor_address()  # type: ignore[no-any-return]

    def _end_step(self, name: str, parts: dict[str, Any], record: Any, fut: Future[Any]) -> None:
        from ..jobs.records import JobStatus

        result = self.run.steps[name]
        try:
            final = fut.result()
        except Exception as exc:  # noqa: BLE001 - the executor lost the job: the step failed
            result.error = f"{type(exc).__name__}: {exc}"
            self._set(name, StepState.FAILED, result.error, parts)
            return
        result.run_id = final.run_id or result.run_id
        if final.status != JobStatus.COMPLETED:
            message = (final.error or {}).get("message") if isinstance(final.error, dict) else None
            result.error = f"job {final.job_id} {final.status}" + (f": {message}" if message else "")
            self._set(name, StepState.FAILED, result.error, parts)
            return
        produced, missing = _produced(self.p.steps[name], result.run_id, self.ws)
        if missing:
            result.error = (
                f"the notebook did not take its declared output snapshot {', '.join(repr(m) for m in missing)} "
                f"(call aieng.snapshot(df, name={missing[0]!r}) in it)"
            )
            self._set(name, StepState.FAILED, result.error, parts)
            return
        self.outputs[name] = {k: v[0] for k, v in produced.items()}
        result.outputs = {k: v[1] for k, v in produced.items()}
        result.source_run_id = result.run_id
        entry = {"key": result.cache_key, "step": name, "pipeline": self.p.name, "run_id": result.run_id,
                 "job_id": result.job_id, "parts": parts, "created": now().isoformat(),
                 "outputs": {k: {"hash": v[0], "ref": v[1]} for k, v in produced.items()}}  # fmt: skip
        rec.write_cache(str(result.cache_key), entry, self.ws)
        self._set(name, StepState.RAN, result.reason, parts)

    def _inputs(self, step: Step) -> dict[str, tuple[str, str]]:
        """Each input's exact snapshot: (hash, name@version) from its producer in this execution,
        else the workspace's latest version of that name."""
        from ..snapshots.catalog import resolve

        out: dict[str, tuple[str, str]] = {}
        producers = self.p.producers
        for name in step.inputs:
            if name in producers:
                digest = self.outputs[producers[name]][name]
                out[name] = (digest, self.run.steps[producers[name]].outputs[name])
            else:
                digest, _, version = resolve(name, workspace=self.ws)
                out[name] = (digest, f"{name}@{version}")
        return out

    def _set(self, name: str, state: StepState, reason: str, parts: dict[str, Any] | None = None) -> None:
        with self.lock:
            result = self.run.steps[name]
            result.state = state
            if state != StepState.RUNNING:
                result.finished_at = now()
            if not result.error:
                result.reason = reason
            if parts is not None and state.ok:
                self.last[name] = parts
                rec.write_last(self.p.path, {name: parts}, self.ws)
            rec.save_run(self.run, self.ws)
        outs = " ".join(result.outputs.values())
        self.say(f"  [{name}] {state.lower()}: {result.error or result.reason}" + (f" -> {outs}" if outs else ""))


def key_parts(step: Step, inputs: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """What a step's result depends on (hashed into its cache key; kept to say what changed)."""
    return {
        "notebook": notebook_digest(step.notebook),
        "params": json.loads(json.dumps(step.params, sort_keys=True, default=str)),
        "inputs": {k: v[0] for k, v in sorted(inputs.items())},
        "input_refs": {k: v[1] for k, v in sorted(inputs.items())},
        "environment": environment_digest(step.environment),
        "outputs": sorted(step.outputs),
    }


def cache_key(parts: Mapping[str, Any]) -> str:
    import hashlib

    keyed = {k: parts[k] for k in ("notebook", "params", "inputs", "environment", "outputs")}
    return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:40]


def why_changed(before: Mapping[str, Any] | None, parts: Mapping[str, Any]) -> str:
    """What differs from the step's last successful key parts, in words.

    >>> why_changed({"notebook": "a", "params": {"w": 7}, "inputs": {}, "environment": None},
    ...             {"notebook": "a", "params": {"w": 14}, "inputs": {}, "environment": None})
    'parameter w changed (7 -> 14)'
    """
    if not before:
        return "never ran"
    reasons = []
    if before.get("notebook") != parts["notebook"]:
        reasons.append("notebook changed")
    old_p, new_p = before.get("params") or {}, parts["params"]
    for k in sorted(set(old_p) | set(new_p)):
        if old_p.get(k) != new_p.get(k):
            reasons.append(f"parameter {k} changed ({old_p.get(k, 'unset')} -> {new_p.get(k, 'unset')})")
    old_i, new_i = before.get("inputs") or {}, parts["inputs"]
    old_r, new_r = before.get("input_refs") or {}, parts.get("input_refs") or {}
    for k in sorted(set(old_i) | set(new_i)):
        if old_i.get(k) != new_i.get(k):
            reasons.append(f"input {k} changed ({old_r.get(k, 'none')} -> {new_r.get(k, 'none')})")
    if before.get("environment") != parts["environment"]:
        reasons.append("environment changed")
    if before.get("outputs", parts.get("outputs")) != parts.get("outputs"):
        reasons.append("declared outputs changed")
    return "; ".join(reasons) or "no successful run with these inputs (the last one failed or its outputs are gone)"


def _usable(hit: dict[str, Any] | None, ws: Workspace) -> dict[str, Any] | None:
    """A cache entry whose output snapshots are all still stored (gc'd or deleted: run again)."""
    from ..snapshots.catalog import resolve

    if hit is None:
        return None
    for out in hit.get("outputs", {}).values():
        try:
            digest, _, _ = resolve(out["ref"], workspace=ws)
        except (NotFoundError, ValidationError):
            return None
        if digest != out["hash"]:
            return None
    return hit


def _produced(step: Step, run_id: str | None, ws: Workspace) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """The step's declared outputs that its run took: {name: (hash, name@version)}, and the missing."""
    from ..snapshots.index import Index
    from ..snapshots.index import open_stores as _open

    _, _, index = _open(ws)
    data = index.read()
    live = Index.live(data)
    found: dict[str, tuple[str, str]] = {}
    for name in step.outputs:
        versions = live.get(name) or []
        if not versions or run_id is None:
            continue
        latest = versions[-1]
        by_this_run = latest.get("run_id") == run_id or run_id in data["used_by"].get(latest["hash"], [])
        if by_this_run:
            found[name] = (latest["hash"], f"{name}@{latest['version']}")
    return found, [n for n in step.outputs if n not in found]


def _cached_run(p: Pipeline, run: PipelineRun, name: str, hit: dict[str, Any], ws: Workspace) -> str:
    """A finished child run that stands for a cached step, linking the run that made its outputs."""
    from ..jobs.execute import open_run, set_status

    run_id = open_run(
        p.experiment,
        ws,
        name=f"{name} (cached)",
        tags={"aieng.pipeline.step": name, "aieng.pipeline.cached": "true",
              "aieng.pipeline.source_run_id": hit["run_id"], "aieng.pipeline.run_id": run.run_id,
              "aieng.pipeline.outputs": json.dumps({k: v["ref"] for k, v in hit["outputs"].items()})},
        parent_run_id=run.run_id,
    )  # fmt: skip
    set_status(run_id, "FINISHED", ws)
    return run_id


def _start(pipeline: Pipeline, parameters: Mapping[str, Any] | None, ws: Workspace) -> PipelineRun:
    from ..jobs.execute import open_run

    run_id = open_run(
        pipeline.experiment,
        ws,
        name=f"pipeline-{pipeline.name}",
        tags={"aieng.pipeline": pipeline.name, "aieng.pipeline.file": str(pipeline.path),
              "aieng.pipeline.steps": ",".join(pipeline.steps)},
        params={f"{k}": v for k, v in (parameters or {}).items()},
    )  # fmt: skip
    run = PipelineRun(
        owner=owner(),
        run_id=run_id,
        pipeline=pipeline.name,
        path=str(pipeline.path),
        experiment=pipeline.experiment,
        steps={n: StepResult(n) for n in pipeline.order()},
        upstream={n: pipeline.upstream(n) for n in pipeline.steps},
        parameters=dict(parameters or {}),
    )
    rec.save_run(run, ws)
    audit.append(
        "pipeline.start", {"run_id": run_id, "pipeline": pipeline.name, "path": str(pipeline.path)}, workspace=ws
    )
    return run


def _finish(pipeline: Pipeline, run: PipelineRun, ws: Workspace, interrupted: bool = False) -> None:
    from ..jobs.execute import set_status, set_tags

    for s in run.steps.values():
        if s.state in (StepState.PENDING, StepState.RUNNING):
            s.state, s.reason, s.finished_at = StepState.BLOCKED, "not run: the pipeline was interrupted", now()
    run.status = "COMPLETED" if run.ok and not interrupted else "FAILED"
    run.finished_at = now()
    rec.save_run(run, ws)
    try:
        set_tags({f"aieng.pipeline.step.{n}": s.state.lower() for n, s in run.steps.items()}, run.run_id, ws)
        set_status(run.run_id, "FINISHED" if run.status == "COMPLETED" else "FAILED", ws)
    finally:
        audit.append(
            "pipeline.finish",
            {"run_id": run.run_id, "pipeline": pipeline.name, "status": run.status, "steps": run.counts()},
            workspace=ws,
        )


def _request(pipeline: Pipeline, step: Step, executor: str | None, address: str | None, schedule: str | None) -> Any:
    from ..jobs.request import JobRequest

    return JobRequest(
        notebook=str(step.notebook),
        parameters=dict(step.params),
        executor=executor,
        address=address,
        timeout=step.timeout,
        retries=step.retries,
        experiment=pipeline.experiment,
        tags={"aieng.pipeline": pipeline.name, "aieng.pipeline.step": step.name},
        contracts=[step.contract] if step.contract else None,
        contract_policy="block" if step.contract else None,
        schedule=schedule,
    )


def _check_request(pipeline: Pipeline, name: str, request: Any, ws: Workspace) -> None:
    from ..jobs.control import prepare_job

    try:
        prepare_job(request, workspace=ws, dry_run=True)
    except ValidationError as exc:
        raise ValidationError(f"{pipeline.path}: step {name!r}: {exc}") from None


def _check_force(pipeline: Pipeline, force: Iterable[str]) -> set[str]:
    names = [force] if isinstance(force, str) else list(force or [])
    for n in names:
        if n not in pipeline.steps:
            raise ValidationError(
                f"--force {n!r}: {pipeline.path} has no such step; steps: {', '.join(pipeline.steps)}"
            )
    return set(names)


def _default_executor() -> str:
    from .. import config

    return str(config.get("job_executor") or "local")


def _exists(name: str, ws: Workspace) -> bool:
    from ..snapshots.catalog import resolve

    try:
        resolve(name, workspace=ws)
    except (NotFoundError, ValidationError):
        return False
    return True


# -- status and listing ---------------------------------------------------------------------------


@dataclasses.dataclass
class StepStatus:
    """Where one step stands now: up to date (would be cached) or would run, and why."""

    step: str
    now: str  # "up to date", "will run", "waits for <step>"
    why: str
    last: str | None  # the last execution's state of this step
    last_run_id: str | None


class PipelineStatus(RecordList[StepStatus]):
    headers = ("step", "now", "why", "last run", "run")
    empty = "no steps"

    def row(self, s: StepStatus) -> list[Any]:
        return [s.step, s.now, s.why, s.last or "never", (s.last_run_id or "")[:12]]

    def bad(self, s: StepStatus) -> bool:
        return s.last in ("failed", "blocked")


def pipeline_status(
    path: str | os.PathLike[str], parameters: Mapping[str, Any] | None = None, *, workspace: Workspace | None = None
) -> PipelineStatus:
    """Each step: would it be cached now or run, and why (which input changed), and how the last
    execution left it. Nothing is run or written.

    >>> print(pipeline_status("pipeline.yaml"))   # doctest: +SKIP
    """
    ws = workspace or current()
    pipeline = load_pipeline(path, parameters, snapshot_exists=lambda n: _exists(n, ws))
    last = rec.read_last(pipeline.path, ws)
    runs = rec.list_runs(ws, pipeline=str(pipeline.path), limit=1)
    prev = runs[0] if runs else None
    rows = PipelineStatus()
    for name, hit in _plan(pipeline, ws, explain=last).items():
        last_step = prev.steps.get(name) if prev else None
        last_state = last_step.state.lower() if last_step else None
        last_run = (last_step.run_id or last_step.source_run_id) if last_step else None
        if isinstance(hit, str):
            rows.append(StepStatus(name, "will run", hit, last_state, last_run))
        else:
            rows.append(StepStatus(name, "up to date", f"cached from run {hit['run_id'][:12]}", last_state, last_run))
    return rows


def _plan(pipeline: Pipeline, ws: Workspace, explain: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Each step's cache entry if it would be CACHED now, else why it would run ('' without
    ``explain``, the last key parts to compare with). Reads only: nothing runs or is written."""
    outputs: dict[str, dict[str, tuple[str, str]]] = {}
    plan: dict[str, Any] = {}
    for name in pipeline.order():
        step = pipeline.steps[name]
        waits = [d for d in pipeline.upstream(name) if d in pipeline.producers.values() and d not in outputs]
        if any(pipeline.producers.get(i) in waits for i in step.inputs):
            plan[name] = f"upstream step {', '.join(waits)} will run"
            continue
        inputs: dict[str, tuple[str, str]] = {}
        for i in step.inputs:
            producer = pipeline.producers.get(i)
            if producer:
                inputs[i] = outputs[producer][i]
            else:
                digest, _, version = _resolve(i, ws)
                inputs[i] = (digest, f"{i}@{version}")
        parts = key_parts(step, inputs)
        hit = _usable(rec.read_cache(cache_key(parts), ws), ws)
        if hit is not None:
            outputs[name] = {k: (v["hash"], v["ref"]) for k, v in hit["outputs"].items()}
            plan[name] = hit
        else:
            plan[name] = why_changed(explain.get(name), parts) if explain is not None else ""
    return plan


def _resolve(name: str, ws: Workspace) -> tuple[str, str | None, int | None]:
    from ..snapshots.catalog import resolve

    return resolve(name, workspace=ws)


def get_pipeline_run(run_id: str, *, workspace: Workspace | None = None) -> PipelineRun:
    """One pipeline execution by its run id (or a unique prefix)."""
    return rec.load_run(run_id, workspace or current())


def list_pipeline_runs(
    pipeline: str | None = None, *, limit: int | None = None, workspace: Workspace | None = None
) -> rec.PipelineRunList:
    """Pipeline executions, newest first (``pipeline``: a name or a file path)."""
    from ..exceptions import check_type

    check_type(pipeline, str, "pipeline", optional=True)
    if pipeline is not None and Path(pipeline).suffix in (".yaml", ".yml"):
        pipeline = str(Path(pipeline).resolve())
    return rec.list_runs(workspace or current(), pipeline, limit)


# -- lineage ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class TraceStep:
    """One step on the way back from a snapshot or run: the step, its run, what it read and wrote."""

    step: str
    pipeline: str
    run_id: str
    inputs: dict[str, str]
    outputs: dict[str, str]


class Trace(RecordList[TraceStep]):
    headers = ("step", "pipeline", "run", "inputs", "outputs")
    empty = "not produced by a pipeline step"

    def row(self, t: TraceStep) -> list[Any]:
        return [t.step, t.pipeline, t.run_id[:12], " ".join(t.inputs.values()), " ".join(t.outputs.values())]


def trace(ref: str, *, workspace: Workspace | None = None) -> Trace:
    """Back from a snapshot (``name@version``, a hash prefix), a step's run id or a model version
    (``churn@champion``, ``churn/3``) through the
    pipeline steps that produced it and their inputs, nearest first.

    >>> print(trace("train@2"))   # doctest: +SKIP
    """
    from ..snapshots.catalog import resolve

    ws = workspace or current()
    entries = _cache_entries(ws)
    by_output = {o["hash"]: e for e in entries for o in e.get("outputs", {}).values()}
    by_run = {e.get("run_id"): e for e in entries}
    if isinstance(ref, str) and len(ref) >= 8 and any(k and str(k).startswith(ref) for k in by_run):
        start = next(e for k, e in by_run.items() if k and str(k).startswith(ref))
    else:
        try:
            digest, _, _ = resolve(ref, workspace=ws)
            start = by_output.get(digest)  # type: ignore[assignment]
        except NotFoundError:  # a model version: back from the run that logged it
            start = by_run.get(_model_run(ref, ws))  # type: ignore[assignment]
    out, seen, frontier = Trace(), set(), [start] if start else []
    while frontier:
        e = frontier.pop(0)
        if e["key"] in seen:
            continue
        seen.add(e["key"])
        refs = (e.get("parts") or {}).get("input_refs") or {}
        out.append(TraceStep(e["step"], e.get("pipeline", ""), e.get("run_id") or "", dict(refs),
                             {k: v["ref"] for k, v in e.get("outputs", {}).items()}))  # fmt: skip
        for digest in ((e.get("parts") or {}).get("inputs") or {}).values():
            if digest in by_output:
                frontier.append(by_output[digest])
    return out


def _model_run(ref: str, ws: Workspace) -> str | None:
    """The run of a registered model version (``churn@champion``, ``churn/3``), or None."""
    from ..registry.client import client, get_version, resolve_version

    try:
        c = client(ws)
        name, version = resolve_version(ref, ws, c)
        return str(get_version(c, name, version).run_id)
    except Exception:  # noqa: BLE001 - not a model reference either
        raise NotFoundError(f"no snapshot, step run or model version {ref!r}") from None


def _cache_entries(ws: Workspace) -> list[dict[str, Any]]:
    folder = ws.root / "pipelines" / "cache"
    entries = []
    for p in sorted(folder.glob("*.json"), key=lambda q: q.stat().st_mtime) if folder.is_dir() else []:
        try:
            entries.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return entries
