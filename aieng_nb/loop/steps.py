"""The steps of one loop iteration: read a scoring run, check a fresh promotion, start a retraining,
register its model, gate and promote it. Each step records an event and leaves the state so that
the next step can resume after a crash."""

from __future__ import annotations

from typing import Any

from ..registry.client import CHAMPION
from ..registry.records import now_iso
from ..workspace import Workspace
from .records import LoopConfig, LoopState
from .store import event as _event


def scoring_outcome(job: Any, fresh: str) -> tuple[str | None, str | None, list[str]]:
    """(checks verdict, fresh snapshot ref, failed checks) of a scoring job's run."""
    from .. import tracking
    from ..reports import list_reports

    if not job.run_id:
        return None, None, []
    rec = tracking.get_run(job.run_id)
    verdict = (rec.tags or {}).get("aieng.checks")
    failed = [f"{e.kind}: {rule}" for e in list_reports(job.run_id) for rule in e.failed]
    from ..registry.client import client

    run = client().get_run(job.run_id)
    from ..registry.client import dataset_inputs

    refs = [
        d["source"].replace("aieng-snapshot://", "")
        for d in dataset_inputs(run)
        if d["source"].startswith("aieng-snapshot://")
    ]
    # the fresh snapshot by name (its newest version); else the run's only snapshot input
    named = [r for r in refs if r.split("@", 1)[0] == fresh]
    snaps = sorted(named, key=lambda r: int(r.rsplit("@", 1)[1]) if r.rsplit("@", 1)[-1].isdigit() else 0)
    if not snaps and len(refs) == 1:
        snaps = refs
    return verdict, (snaps[-1] if snaps else None), failed


def handle_scoring(cfg: LoopConfig, state: LoopState, job: Any, ws: Workspace) -> str | None:
    from ..jobs.records import JobStatus

    name = cfg.name
    if job.status != JobStatus.COMPLETED:
        _event(
            name, state, ws, "error", f"scoring job {job.job_id} {job.status}: {job.error_summary}", job_id=job.job_id
        )
        return None
    verdict, snapshot, failed = scoring_outcome(job, cfg.fresh_snapshot)
    _event(
        name, state, ws, "scored",
        f"scoring job {job.job_id}: checks {verdict or 'none'} on {snapshot or 'no snapshot'}",
        job_id=job.job_id, run_id=job.run_id, checks=verdict, snapshot=snapshot, failed=failed,
    )  # fmt: skip
    if state.pending_check is not None:
        post_promotion_check(cfg, state, snapshot, ws)
    if verdict != "failed":
        return None
    _event(
        name,
        state,
        ws,
        "breach",
        "drift/quality breach: " + ("; ".join(failed) or "checks failed"),
        job_id=job.job_id,
        failed=failed,
    )
    if snapshot is None:
        _event(name, state, ws, "retrain.skip", "no fresh data snapshot on the scoring run: nothing to retrain on")
        return None
    if state.retrain is not None:
        _event(
            name,
            state,
            ws,
            "retrain.skip",
            f"retraining already in flight (job {state.retrain.get('job_id')}): not started twice",
        )
        return None
    return create_retrain(cfg, state, snapshot, job.job_id, ws)


def create_retrain(cfg: LoopConfig, state: LoopState, snapshot: str, scoring_job: str, ws: Workspace) -> str:
    from ..jobs.control import prepare_job
    from ..pipelines.spec import is_pipeline_file

    if is_pipeline_file(cfg.retrain):  # run by on_scoring_finished, outside the loop's lock
        state.retrain = {"scoring_job": scoring_job, "job_id": None, "pipeline": cfg.retrain, "snapshot": snapshot,
                         "phase": "pipeline", "at": now_iso()}  # fmt: skip
        _event(cfg.name, state, ws, "retrain.start", f"retraining pipeline {cfg.retrain} on {snapshot}",
               snapshot=snapshot)  # fmt: skip
        return PIPELINE
    params = {**cfg.retrain_params, cfg.data_param: snapshot}
    rec = prepare_job(
        cfg.retrain, params, workspace=ws, tags={"aieng.loop": cfg.name, "aieng.loop.trigger": scoring_job}
    )
    state.retrain = {
        "scoring_job": scoring_job,
        "job_id": rec.job_id,
        "snapshot": snapshot,
        "phase": "created",
        "at": now_iso(),
    }
    _event(
        cfg.name,
        state,
        ws,
        "retrain.start",
        f"retraining job {rec.job_id} on {snapshot}",
        job_id=rec.job_id,
        snapshot=snapshot,
    )
    return rec.job_id


def execute_job(job_id: str, ws: Workspace) -> None:
    from ..executors import get_executor

    with get_executor("local")(parallel=1) as ex:
        list(ex.run([job_id], ws))


def register_once(cfg: LoopConfig, run_id: str, ws: Workspace) -> str:
    """The version registered from ``run_id`` (registered now unless a crash left one already)."""
    from mlflow.exceptions import MlflowException

    from ..registry.client import CHALLENGER, client
    from ..registry.promotion import set_alias
    from ..registry.versions import register

    c = client(ws)
    try:
        existing = [m for m in c.search_model_versions(f"name = '{cfg.name}'") if m.run_id == run_id]
    except MlflowException:
        existing = []
    if existing:
        version = str(existing[0].version)
        set_alias(cfg.name, version, CHALLENGER, workspace=ws)
        return version
    return register(run_id, cfg.name, alias=CHALLENGER, workspace=ws).version


def gate_and_promote(cfg: LoopConfig, state: LoopState, version: str, ws: Workspace) -> None:
    from ..registry.promotion import promote

    res = promote(cfg.name, version, gates=cfg.gates, raise_on_refusal=False, workspace=ws)
    gates = res.gates
    if not res.promoted:
        assert gates is not None
        failed = "; ".join(
            f"{r.gate} (champion {_f(r.champion)}, challenger {_f(r.challenger)}{', ' + r.detail if r.detail else ''})"
            for r in gates.failed
        )
        _event(
            cfg.name,
            state,
            ws,
            "gates.refused",
            f"v{version} refused: {failed}",
            version=version,
            gates=gates.to_dict(),
        )
        return
    previous = res.move.previous if res.move else None
    _event(
        cfg.name,
        state,
        ws,
        "promote",
        f"v{version} promoted to champion (was v{previous or '-'})",
        version=version,
        previous=previous,
    )
    if previous:
        state.pending_check = {"version": version, "previous": previous, "at": now_iso()}


def _f(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value if value is not None else "-")


def post_promotion_check(cfg: LoopConfig, state: LoopState, snapshot: str | None, ws: Workspace) -> None:
    from ..registry import scoring
    from ..registry.client import alias_version, client
    from ..registry.gatefile import direction
    from ..registry.promotion import load_spec, rollback

    pending = state.pending_check or {}
    name, new, prev = cfg.name, str(pending.get("version")), str(pending.get("previous"))
    state.pending_check = None
    now = alias_version(client(ws), name, CHAMPION)
    if now != new:
        _event(name, state, ws, "check.skip", f"champion is v{now}, not v{new}: post-promotion check dropped")
        return
    spec = load_spec(name, cfg.gates, ws)
    target = cfg.target or spec.target
    if snapshot is None or target is None:
        _event(
            name,
            state,
            ws,
            "check.skip",
            "post-promotion check needs a fresh snapshot and a target column (loop --target)",
        )
        return
    data = scoring.evaluation_data(snapshot, target, spec.task, spec.pos_label)
    metric = spec.rollback_metric or ("accuracy" if data.task == "classification" else "rmse")
    higher = bool(direction(metric))
    values = {}
    for v in (new, prev):
        s = scoring.score(name, v, data, spec.features, ws)
        values[v] = float(
            scoring.metric_value(metric, scoring.row_stats(metric, data.y, s.y_pred, data.task, data.pos_label))
        )
    delta = values[new] - values[prev] if higher else values[prev] - values[new]
    detail = (
        f"{metric} on {data.ref}: champion v{new} {values[new]:.4g} vs previous v{prev} {values[prev]:.4g} "
        f"(margin {spec.rollback_margin:g})"
    )
    if delta < -spec.rollback_margin:
        move = rollback(name, auto=True, expected=new, reason=f"post-promotion check: {detail}", workspace=ws)
        _event(
            name,
            state,
            ws,
            "rollback.auto",
            f"rolled back to v{move.version}: {detail}",
            version=new,
            to=move.version,
            delta=delta,
        )
    else:
        _event(name, state, ws, "check.ok", f"post-promotion check passed: {detail}", version=new, delta=delta)


PIPELINE = "pipeline"  # create_retrain's answer for a retraining pipeline (not a job id)


def pipeline_overrides(cfg: LoopConfig, snapshot: str | None) -> dict[str, Any]:
    """A retraining pipeline's parameters: the loop's (``step.param``), and the fresh snapshot as
    ``data_param`` of every step whose notebook declares it."""
    from ..jobs import notebook as _notebook
    from ..pipelines.spec import load_pipeline

    pipeline = load_pipeline(cfg.retrain, cfg.retrain_params)
    out: dict[str, Any] = dict(cfg.retrain_params)
    for step in pipeline.steps.values():
        declared = {p.name for p in _notebook.notebook_parameters(step.notebook)}
        if cfg.data_param in declared and snapshot is not None:
            out[f"{step.name}.{cfg.data_param}"] = snapshot
    return out


def run_retrain_pipeline(cfg: LoopConfig, snapshot: str, ws: Workspace) -> tuple[str, str | None]:
    """Run the retraining pipeline on ``snapshot``; returns (its run id, the run of the last step
    that logged a model: a cached step's producing run, or None)."""
    from ..pipelines import run_pipeline
    from ..registry.client import client
    from ..registry.versions import _artifact_models, logged_models

    run = run_pipeline(cfg.retrain, pipeline_overrides(cfg, snapshot), workspace=ws)
    if run.status != "COMPLETED":
        return run.run_id, None
    c = client(ws)
    for step in reversed(list(run.steps.values())):
        candidate = step.source_run_id or step.run_id
        if candidate and (logged_models(candidate, c) or _artifact_models(candidate, c)):
            return run.run_id, candidate
    return run.run_id, None
