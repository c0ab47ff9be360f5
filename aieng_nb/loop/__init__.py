"""The continuous-learning loop, built from schedules, jobs, reports and the registry (no new daemon).

``add("churn", score="score.ipynb", retrain="train.ipynb", cron="0 * * * *")`` creates the
schedule ``loop-churn`` that runs the scoring notebook (parameter ``model`` = ``churn@champion``
when it declares one). When a scoring job finishes, the scheduler calls :func:`on_scoring_finished`:

1. the scoring run's verdict (``aieng.checks``, set by the monitoring reports it attached) and its
   fresh data snapshot (its input snapshot named ``fresh``, default ``<model>-fresh``) are recorded;
2. after a promotion, the new champion and the previous one are scored on that fresh snapshot:
   worse by more than the rollback margin rolls the champion back automatically;
3. a drift or quality breach starts the retraining notebook as a job, with parameter ``data`` =
   the fresh snapshot; its model is registered as ``challenger`` and the gates decide.

Each scoring job is handled once (its id is recorded under the loop's lock); a retraining in
flight is not started twice; each step is persisted before the next, so a crash resumes where it
stopped. ``history("churn")`` tells the story.

>>> add("churn", score="score.ipynb", retrain="train.ipynb", cron="0 * * * *")   # doctest: +SKIP
>>> print(history("churn"))                                                      # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from ..exceptions import AiengError, NotFoundError, ValidationError
from ..pipelines.spec import is_pipeline_file
from ..registry.client import CHAMPION, ConflictError, check_name
from ..workspace import Workspace, current
from . import store as _store
from .records import SCHEDULE_PREFIX, LoopConfig, LoopEvent, LoopHistory, LoopList, LoopState
from .steps import PIPELINE, execute_job, gate_and_promote, handle_scoring, register_once, run_retrain_pipeline
from .store import event as _event
from .store import get
from .store import load_state as _load_state
from .store import locked_loop as _locked
from .store import save_state as _save_state

__all__ = [
    "HOOK", "LoopConfig", "LoopEvent", "LoopHistory", "LoopList", "LoopState", "add", "describe", "get", "history",
    "list_loops", "next_run", "on_scoring_finished", "remove", "resume", "run_now", "update",
]  # fmt: skip

HOOK = "aieng_nb.loop:on_scoring_finished"
MAX_PROCESSED = 500


def add(
    name: str,
    *,
    score: str,
    retrain: str,
    cron: str,
    timezone: str = "UTC",
    score_params: dict[str, Any] | None = None,
    retrain_params: dict[str, Any] | None = None,
    gates: str | None = None,
    target: str | None = None,
    fresh: str | None = None,
    replace: bool = False,
    workspace: Workspace | None = None,
    **schedule_options: Any,
) -> LoopConfig:
    """Create the loop of model ``name``: its scoring schedule and its retraining notebook.

    Notebooks and parameters are checked now (not at 3 a.m.); ``schedule_options`` go to the
    scoring schedule (``monitor``: a spec dict, or its text, JSON or a short form; ``timeout``,
    ``retries`` ...; None values are left out).
    """
    from .. import schedules
    from ..jobs import notebook as _notebook

    ws = workspace or current()
    check_name(name)
    score_params = {_notebook.check_name(k): v for k, v in (score_params or {}).items()}
    schedule_options = {k: v for k, v in schedule_options.items() if v is not None}
    if isinstance(schedule_options.get("monitor"), str):
        from ..jobs.request import parse_monitor

        schedule_options["monitor"] = parse_monitor(schedule_options["monitor"])
    score_nb, retrain_nb = Path(score).expanduser().resolve(), Path(retrain).expanduser().resolve()
    if is_pipeline_file(retrain_nb):  # a retraining pipeline: parameters are STEP.NAME
        retrain_declared = _pipeline_parameters(retrain_nb, retrain_params)
    else:
        retrain_params = {_notebook.check_name(k): v for k, v in (retrain_params or {}).items()}
        retrain_declared = {p.name for p in _notebook.notebook_parameters(retrain_nb)}
        _notebook.resolve_parameters(_notebook.notebook_parameters(retrain_nb), dict(retrain_params or {}))
    if gates is not None:
        from ..registry.gatefile import load

        load(gates)  # a bad gate file fails now
    cfg = LoopConfig(
        name,
        str(score_nb),
        str(retrain_nb),
        cron,
        timezone,
        dict(score_params or {}),
        dict(retrain_params or {}),
        str(Path(gates).resolve()) if gates else None,
        target,
        fresh=fresh,
    )
    if cfg.data_param not in retrain_declared:
        raise ValidationError(
            f"retraining notebook {retrain_nb.name} must declare a parameter {cfg.data_param!r} "
            "(the loop passes it the fresh data snapshot, e.g. 'churn-fresh@7')"
        )
    score_values = dict(cfg.score_params)
    if cfg.model_param in {p.name for p in _notebook.notebook_parameters(score_nb)}:
        score_values.setdefault(cfg.model_param, f"{name}@{CHAMPION}")
    with _locked(name, ws):
        if not replace and _store.exists(name, ws):
            raise ConflictError(_store._taken(name))
        schedules.add(
            cfg.schedule,
            str(score_nb),
            cron,
            timezone=timezone,
            parameters=score_values,
            replace=replace,
            workspace=ws,
            on_finish=HOOK,
            **schedule_options,
        )
        data = {"loop": name, "score": cfg.score, "retrain": cfg.retrain, "cron": cron}
        _store.create(cfg, replace, "loop.add", data, ws)
    return cfg


def _pipeline_parameters(path: Path, overrides: dict[str, Any] | None) -> set[str]:
    """Check a retraining pipeline (and its ``step.param`` overrides); the parameter names its steps declare."""
    from ..jobs import notebook as _notebook
    from ..pipelines.spec import load_pipeline

    pipeline = load_pipeline(path, overrides)
    return {p.name for s in pipeline.steps.values() for p in _notebook.notebook_parameters(s.notebook)}


def update(
    name: str,
    *,
    retrain_params: dict[str, Any] | None = None,
    target: str | None = None,
    workspace: Workspace | None = None,
) -> LoopConfig:
    """Change the retraining parameters or the target of a loop (kept for the next iteration).

    >>> update("churn", retrain_params={"max_depth": 6})   # doctest: +SKIP
    """
    ws = workspace or current()
    with _locked(name, ws):
        cfg = get(name, workspace=ws)
        if retrain_params is not None and is_pipeline_file(cfg.retrain):
            _pipeline_parameters(Path(cfg.retrain), retrain_params)
            cfg.retrain_params = dict(retrain_params)
        elif retrain_params is not None:
            from ..jobs import notebook as _notebook

            _notebook.resolve_parameters(_notebook.notebook_parameters(cfg.retrain), dict(retrain_params))
            cfg.retrain_params = dict(retrain_params)
        if target is not None:
            cfg.target = target
        data = {"loop": name, "retrain_params": retrain_params, "target": target}
        _store.save_config(cfg, "loop.update", data, ws)
    return cfg


def history(name: str, *, workspace: Workspace | None = None) -> LoopHistory:
    """The loop's timeline, oldest first (a table; HTML in notebooks).

    >>> history("churn").kinds()   # doctest: +SKIP
    ['scored', 'breach', 'retrain.start', 'retrain.finish', 'register', 'promote']
    """
    ws = workspace or current()
    get(name, workspace=ws)
    return LoopHistory(LoopEvent.from_dict(e) for e in _load_state(name, ws).events)


def list_loops(*, workspace: Workspace | None = None) -> LoopList:
    """Every loop, with the next scoring run of each (a table; ``to_dicts()`` gives the configurations).

    >>> print(list_loops())   # doctest: +SKIP
    model  cron       scoring       retraining    next run
    churn  0 * * * *  score.ipynb   train.ipynb   2026-12-02T11:00:00
    """
    ws = workspace or current()
    out = LoopList(_store.configs(ws))
    out.next_runs = {c.name: next_run(c.name, workspace=ws) for c in out}
    return out


def describe(name: str, *, workspace: Workspace | None = None) -> str:
    """What ``loop add`` reports: the loop's scoring schedule and its next run.

    >>> print(describe("churn"))   # doctest: +SKIP
    loop churn: scoring /work/score.ipynb on '0 * * * *' (UTC), schedule loop-churn, next run 2026-...
    """
    ws = workspace or current()
    return get(name, workspace=ws).summary(next_run(name, workspace=ws))


def remove(name: str, *, workspace: Workspace | None = None) -> None:
    from .. import schedules

    ws = workspace or current()
    cfg = get(name, workspace=ws)
    with _locked(name, ws):
        try:
            schedules.remove(cfg.schedule, workspace=ws)
        except NotFoundError:
            pass
        _store.delete(name, ws)


# ---- running ------------------------------------------------------------------------------------


def run_now(name: str, *, workspace: Workspace | None = None) -> LoopHistory:
    """Run one iteration now: the scoring job, then what its outcome triggers. Returns the new events.

    >>> run_now("churn")   # doctest: +SKIP
    """
    from .. import schedules
    from ..executors import get_executor
    from ..jobs.control import prepare_job

    ws = workspace or current()
    cfg = get(name, workspace=ws)
    sched = schedules.get(cfg.schedule, ws)
    before = len(_load_state(name, ws).events)
    opts = {k: v for k, v in sched.options.items() if k not in ("executor", "address", "on_finish")}
    job = prepare_job(
        sched.notebook, sched.parameters, schedule=sched.name, workspace=ws, tags={"aieng.loop": name}, **opts
    )
    with get_executor("local")(parallel=1) as ex:
        (final,) = list(ex.run([job.job_id], ws))
    schedules.record_outcome(sched.name, final.job_id, final.status, ws)
    on_scoring_finished(sched.name, final, ws)
    return LoopHistory(LoopEvent.from_dict(e) for e in _load_state(name, ws).events[before:])


def on_scoring_finished(schedule_name: str, job: Any, workspace: Workspace | None = None) -> None:
    """The schedule hook: handle one finished scoring job (exactly once), then resume the iteration."""
    ws = workspace or current()
    if not schedule_name.startswith(SCHEDULE_PREFIX):
        return
    name = schedule_name[len(SCHEDULE_PREFIX) :]
    cfg = get(name, workspace=ws)
    start_retrain = None
    with _locked(name, ws):
        state = _load_state(name, ws)
        if job.job_id in state.processed:
            return
        state.processed = [*state.processed, job.job_id][-MAX_PROCESSED:]
        try:
            start_retrain = handle_scoring(cfg, state, job, ws)
        except Exception as exc:  # noqa: BLE001 - record and keep the loop alive for the next slot
            _event(
                name, state, ws, "error", f"scoring job {job.job_id}: {type(exc).__name__}: {exc}", job_id=job.job_id
            )
        _save_state(name, state, ws)
    if start_retrain == PIPELINE:
        _run_pipeline_iteration(cfg, ws)
    elif start_retrain is not None:
        execute_job(start_retrain, ws)
    resume(name, workspace=ws)


def _run_pipeline_iteration(cfg: LoopConfig, ws: Workspace) -> None:
    """Run the retraining pipeline of the iteration just created, then record its model's run."""
    with _locked(cfg.name, ws):
        it = _load_state(cfg.name, ws).retrain or {}
    pipeline_run: str | None
    model_run: str | None
    error: str | None = None
    try:
        pipeline_run, model_run = run_retrain_pipeline(cfg, it["snapshot"], ws)
    except Exception as exc:  # noqa: BLE001 - recorded; the loop goes on at the next slot
        pipeline_run, model_run, error = None, None, f"{type(exc).__name__}: {exc}"
    with _locked(cfg.name, ws):
        state = _load_state(cfg.name, ws)
        if state.retrain is not None and state.retrain.get("phase") == "pipeline":
            state.retrain.update({"phase": "created", "pipeline_run": pipeline_run, "run_id": model_run,
                                  "error": error})  # fmt: skip
            _save_state(cfg.name, state, ws)


def resume(name: str, *, workspace: Workspace | None = None) -> None:
    """Carry the iteration in flight forward: register the retrained model, gate it, promote it.

    Idempotent and safe to call at any time (each step is persisted before the next)."""
    from ..jobs import store as job_store
    from ..jobs.records import JobStatus

    ws = workspace or current()
    cfg = get(name, workspace=ws)
    with _locked(name, ws):
        state = _load_state(name, ws)
        it = state.retrain
        if it is None:
            return
        if it.get("pipeline"):
            _resume_pipeline(cfg, state, it, ws)
            return
        rec = job_store.load(it["job_id"], ws)
        if not rec.finished:
            if job_store.owner_alive(rec) is False:
                job_store.recover_stale(ws)
                rec = job_store.load(it["job_id"], ws)
            if not rec.finished:
                return
        try:
            if it["phase"] == "created":
                if rec.status != JobStatus.COMPLETED:
                    _event(
                        name,
                        state,
                        ws,
                        "retrain.failed",
                        f"retraining job {rec.job_id} {rec.status}: {rec.error_summary}",
                        job_id=rec.job_id,
                    )
                    state.retrain = None
                    return
                _event(
                    name,
                    state,
                    ws,
                    "retrain.finish",
                    f"retraining job {rec.job_id} finished (run {rec.run_id})",
                    job_id=rec.job_id,
                    run_id=rec.run_id,
                )
                it["version"] = register_once(cfg, rec.run_id or "", ws)
                it["phase"] = "registered"
                _event(
                    name,
                    state,
                    ws,
                    "register",
                    f"registered v{it['version']} as challenger",
                    version=it["version"],
                    run_id=rec.run_id,
                )
                _save_state(name, state, ws)
            if it["phase"] == "registered":
                gate_and_promote(cfg, state, it["version"], ws)
                state.retrain = None
        except AiengError as exc:
            _event(name, state, ws, "error", f"iteration of job {rec.job_id}: {exc}", job_id=rec.job_id)
            state.retrain = None
        finally:
            _save_state(name, state, ws)


def _resume_pipeline(cfg: LoopConfig, state: LoopState, it: dict[str, Any], ws: Workspace) -> None:
    """resume() for a retraining pipeline: its model's run is registered, gated and promoted."""
    if it["phase"] == "pipeline":
        return  # still running (on_scoring_finished records its outcome)
    try:
        if it["phase"] == "created":
            if not it.get("run_id"):
                why = it.get("error") or f"pipeline run {it.get('pipeline_run')} failed or logged no model"
                _event(cfg.name, state, ws, "retrain.failed", f"retraining pipeline: {why}",
                       run_id=it.get("pipeline_run"))  # fmt: skip
                state.retrain = None
                return
            _event(cfg.name, state, ws, "retrain.finish",
                   f"retraining pipeline run {it['pipeline_run']} finished (model run {it['run_id']})",
                   run_id=it["run_id"])  # fmt: skip
            it["version"] = register_once(cfg, it["run_id"], ws)
            it["phase"] = "registered"
            _event(cfg.name, state, ws, "register", f"registered v{it['version']} as challenger",
                   version=it["version"], run_id=it["run_id"])  # fmt: skip
            _save_state(cfg.name, state, ws)
        if it["phase"] == "registered":
            gate_and_promote(cfg, state, it["version"], ws)
            state.retrain = None
    except AiengError as exc:
        _event(cfg.name, state, ws, "error", f"iteration of pipeline run {it.get('pipeline_run')}: {exc}")
        state.retrain = None
    finally:
        _save_state(cfg.name, state, ws)


def next_run(name: str, *, workspace: Workspace | None = None) -> _dt.datetime | None:
    from .. import schedules

    ws = workspace or current()
    return schedules.get(get(name, workspace=ws).schedule, ws).next_run()
