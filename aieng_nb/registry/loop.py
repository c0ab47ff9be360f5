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
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .. import audit
from ..exceptions import AiengError, NotFoundError, ValidationError
from ..fsutil import atomic_write_json, locked
from ..reports import _CSS, table_html
from ..workspace import Workspace, current
from .client import CHAMPION, check_name
from .records import now_iso

SCHEDULE_PREFIX = "loop-"
HOOK = "aieng_nb.registry.loop:on_scoring_finished"
MAX_PROCESSED = 500


@dataclass
class LoopConfig:
    name: str  # the registered model
    score: str
    retrain: str
    cron: str
    timezone: str = "UTC"
    score_params: dict[str, Any] = field(default_factory=dict)
    retrain_params: dict[str, Any] = field(default_factory=dict)
    gates: str | None = None
    target: str | None = None  # target column of the fresh data, for the post-promotion check
    data_param: str = "data"
    model_param: str = "model"
    fresh: str | None = None  # snapshot name of the scored fresh data (default NAME-fresh)
    created_at: str = field(default_factory=now_iso)

    @property
    def fresh_snapshot(self) -> str:
        return self.fresh or f"{self.name}-fresh"

    @property
    def schedule(self) -> str:
        return SCHEDULE_PREFIX + self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class LoopEvent:
    """One step of the loop's timeline."""

    at: str
    kind: str  # scored | breach | retrain.start | retrain.skip | retrain.finish | retrain.failed | register | gates.refused | promote | check.ok | check.skip | rollback.auto | error
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopEvent:
        return cls(data["at"], data["kind"], data.get("message", ""), data.get("data") or {})


@dataclass
class LoopState:
    processed: list[str] = field(default_factory=list)
    retrain: dict[str, Any] | None = None  # the iteration in flight: scoring_job, job_id, snapshot, phase, version
    pending_check: dict[str, Any] | None = None  # after a promotion: version, previous
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopState:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class LoopHistory(list):  # list[LoopEvent]
    """The timeline of a loop; a table in notebooks and terminals."""

    COLUMNS = ("at (UTC)", "step", "what")

    def rows(self) -> list[list[str]]:
        return [[e.at[:19], e.kind, e.message] for e in self]

    def kinds(self) -> list[str]:
        return [e.kind for e in self]

    def __str__(self) -> str:
        from ..textutil import text_table

        return text_table(self.COLUMNS, self.rows()) if self else "no loop events yet"

    def _repr_html_(self) -> str:
        bad = [e.kind in ("gates.refused", "rollback.auto", "retrain.failed", "error", "breach") for e in self]
        return (
            f'<div class="aieng-rep"><style>{_CSS}</style><h2>Loop history</h2>'
            + table_html(list(self.COLUMNS), self.rows(), bad)
            + "</div>"
        )

    def to_dicts(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self]


# ---- storage ------------------------------------------------------------------------------------


def _dir(ws: Workspace) -> Path:
    folder = ws.path("loops")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _config_path(name: str, ws: Workspace) -> Path:
    return _dir(ws) / f"{check_name(name)}.json"


def _state_path(name: str, ws: Workspace) -> Path:
    return _dir(ws) / f"{name}.state.json"


@contextmanager
def _locked(name: str, ws: Workspace) -> Iterator[None]:
    with locked(_dir(ws) / f".{name}.lock"):
        yield


def get(name: str, *, workspace: Workspace | None = None) -> LoopConfig:
    ws = workspace or current()
    path = _config_path(name, ws)
    if not path.is_file():
        raise NotFoundError(f"no loop for model {name!r} (aieng loop add {name} --score NB --retrain NB --cron CRON)")
    return LoopConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _load_state(name: str, ws: Workspace) -> LoopState:
    path = _state_path(name, ws)
    if not path.is_file():
        return LoopState()
    return LoopState.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _save_state(name: str, state: LoopState, ws: Workspace) -> None:
    atomic_write_json(_state_path(name, ws), asdict(state))


def _event(name: str, state: LoopState, ws: Workspace, kind: str, message: str, **data: Any) -> None:
    state.events.append(LoopEvent(now_iso(), kind, message, data).to_dict())
    audit.append(f"loop.{kind}", {"loop": name, "message": message, **data}, workspace=ws)


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
    scoring schedule (``monitor``, ``timeout``, ``retries`` ...).
    """
    from .. import schedules
    from ..jobs import params as _params

    ws = workspace or current()
    check_name(name)
    score_nb, retrain_nb = Path(score).expanduser().resolve(), Path(retrain).expanduser().resolve()
    retrain_declared = {p.name for p in _params.notebook_parameters(retrain_nb)}
    _params.resolve_parameters(_params.notebook_parameters(retrain_nb), dict(retrain_params or {}))
    if gates is not None:
        from .gatefile import load

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
    if cfg.model_param in {p.name for p in _params.notebook_parameters(score_nb)}:
        score_values.setdefault(cfg.model_param, f"{name}@{CHAMPION}")
    with _locked(name, ws):
        path = _config_path(name, ws)
        if path.exists() and not replace:
            raise ValidationError(f"model {name!r} already has a loop; pass replace=True (--replace) to redefine it")
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
        atomic_write_json(path, cfg.to_dict())
    audit.append("loop.add", {"loop": name, "score": cfg.score, "retrain": cfg.retrain, "cron": cron}, workspace=ws)
    return cfg


def update(
    name: str,
    *,
    retrain_params: dict[str, Any] | None = None,
    target: str | None = None,
    workspace: Workspace | None = None,
) -> LoopConfig:
    """Change the retraining parameters or the target of a loop (kept for the next iteration)."""
    ws = workspace or current()
    with _locked(name, ws):
        cfg = get(name, workspace=ws)
        if retrain_params is not None:
            from ..jobs import params as _params

            _params.resolve_parameters(_params.notebook_parameters(cfg.retrain), dict(retrain_params))
            cfg.retrain_params = dict(retrain_params)
        if target is not None:
            cfg.target = target
        atomic_write_json(_config_path(name, ws), cfg.to_dict())
    audit.append("loop.update", {"loop": name, "retrain_params": retrain_params, "target": target}, workspace=ws)
    return cfg


def history(name: str, *, workspace: Workspace | None = None) -> LoopHistory:
    """The loop's timeline, oldest first."""
    ws = workspace or current()
    get(name, workspace=ws)
    return LoopHistory(LoopEvent.from_dict(e) for e in _load_state(name, ws).events)


def list_loops(*, workspace: Workspace | None = None) -> list[LoopConfig]:
    ws = workspace or current()
    out = []
    for path in sorted(_dir(ws).glob("*.json")):
        if path.name.endswith(".state.json"):
            continue
        try:
            out.append(LoopConfig.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    return out


def remove(name: str, *, workspace: Workspace | None = None) -> None:
    from .. import schedules

    ws = workspace or current()
    cfg = get(name, workspace=ws)
    with _locked(name, ws):
        try:
            schedules.remove(cfg.schedule, workspace=ws)
        except NotFoundError:
            pass
        _config_path(name, ws).unlink()
    audit.append("loop.remove", {"loop": name}, workspace=ws)


# ---- running ------------------------------------------------------------------------------------


def run_now(name: str, *, workspace: Workspace | None = None) -> LoopHistory:
    """Run one iteration now: the scoring job, then what its outcome triggers. Returns the new events."""
    from .. import schedules
    from ..executors import get_executor
    from ..jobs.runner import prepare_job

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
            start_retrain = _handle_scoring(cfg, state, job, ws)
        except Exception as exc:  # noqa: BLE001 - record and keep the loop alive for the next slot
            _event(
                name, state, ws, "error", f"scoring job {job.job_id}: {type(exc).__name__}: {exc}", job_id=job.job_id
            )
        _save_state(name, state, ws)
    if start_retrain is not None:
        _execute(start_retrain, ws)
    resume(name, workspace=ws)


def _scoring_outcome(job: Any, fresh: str) -> tuple[str | None, str | None, list[str]]:
    """(checks verdict, fresh snapshot ref, failed checks) of a scoring job's run."""
    from .. import tracking
    from ..reports import list_reports

    if not job.run_id:
        return None, None, []
    rec = tracking.get_run(job.run_id)
    verdict = (rec.tags or {}).get("aieng.checks")
    failed = [f"{e.kind}: {rule}" for e in list_reports(job.run_id) for rule in e.failed]
    from .client import client

    run = client().get_run(job.run_id)
    from .client import dataset_inputs

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


def _handle_scoring(cfg: LoopConfig, state: LoopState, job: Any, ws: Workspace) -> str | None:
    from ..jobs.records import JobStatus

    name = cfg.name
    if job.status != JobStatus.COMPLETED:
        _event(
            name, state, ws, "error", f"scoring job {job.job_id} {job.status}: {job.error_summary}", job_id=job.job_id
        )
        return None
    verdict, snapshot, failed = _scoring_outcome(job, cfg.fresh_snapshot)
    _event(
        name, state, ws, "scored",
        f"scoring job {job.job_id}: checks {verdict or 'none'} on {snapshot or 'no snapshot'}",
        job_id=job.job_id, run_id=job.run_id, checks=verdict, snapshot=snapshot, failed=failed,
    )  # fmt: skip
    if state.pending_check is not None:
        _post_promotion_check(cfg, state, snapshot, ws)
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
    return _create_retrain(cfg, state, snapshot, job.job_id, ws)


def _create_retrain(cfg: LoopConfig, state: LoopState, snapshot: str, scoring_job: str, ws: Workspace) -> str:
    from ..jobs.runner import prepare_job

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


def _execute(job_id: str, ws: Workspace) -> None:
    from ..executors import get_executor

    with get_executor("local")(parallel=1) as ex:
        list(ex.run([job_id], ws))


def resume(name: str, *, workspace: Workspace | None = None) -> None:
    """Carry the iteration in flight forward: register the retrained model, gate it, promote it.

    Idempotent and safe to call at any time (each step is persisted before the next)."""
    from ..jobs import records
    from ..jobs.records import JobStatus

    ws = workspace or current()
    cfg = get(name, workspace=ws)
    with _locked(name, ws):
        state = _load_state(name, ws)
        it = state.retrain
        if it is None:
            return
        rec = records.load(it["job_id"], ws)
        if not rec.finished:
            if records.owner_alive(rec) is False:
                records.recover_stale(ws)
                rec = records.load(it["job_id"], ws)
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
                it["version"] = _register_once(cfg, rec.run_id or "", ws)
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
                _gate_and_promote(cfg, state, it["version"], ws)
                state.retrain = None
        except AiengError as exc:
            _event(name, state, ws, "error", f"iteration of job {rec.job_id}: {exc}", job_id=rec.job_id)
            state.retrain = None
        finally:
            _save_state(name, state, ws)


def _register_once(cfg: LoopConfig, run_id: str, ws: Workspace) -> str:
    """The version registered from ``run_id`` (registered now unless a crash left one already)."""
    from mlflow.exceptions import MlflowException

    from .client import CHALLENGER, client
    from .promotion import set_alias
    from .versions import register

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


def _gate_and_promote(cfg: LoopConfig, state: LoopState, version: str, ws: Workspace) -> None:
    from .promotion import promote

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


def _post_promotion_check(cfg: LoopConfig, state: LoopState, snapshot: str | None, ws: Workspace) -> None:
    from . import scoring
    from .client import alias_version, client
    from .gatefile import direction
    from .promotion import load_spec, rollback

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


def next_run(name: str, *, workspace: Workspace | None = None) -> _dt.datetime | None:
    from .. import schedules

    ws = workspace or current()
    return schedules.get(get(name, workspace=ws).schedule, ws).next_run()
