"""Starting a training session: its run, device facts and params, resume, telemetry, input example.

Functions of the :class:`~aieng_nb.training.session.TrainingSession` they set up (``s``), kept
apart from the session's hot path.
"""

from __future__ import annotations

from typing import Any

from .. import tracking
from ..exceptions import NotFoundError, ValidationError
from ..records import iso, now
from . import checkpoints as ckpt
from .distributed import node_id

FLUSH_INTERVAL = 1.0  # seconds between metric writes while a session runs (at least)


def open_run(s: Any) -> None:
    active = tracking.active_run()
    if s.resume is not None:
        run = tracking.resume_run(s.resume) if active is None or not active.id.startswith(s.resume) else active
        s._owns_run = run.owned
    elif active is not None:
        # a job's run (not owned here) decides its experiment; a run the user started must match
        if s.experiment and active.owned and s.experiment != active.experiment:
            raise ValidationError(
                f"run {active.name!r} is active in experiment {active.experiment!r}; end it to train in {s.experiment!r}"
            )
        run = active
    else:
        run = tracking.start_run(name=s.name, experiment=s.experiment)
        s._owns_run = True
    s.run, s.run_id = run, run.id
    s._calls, s._buffer = run.buffer.calls, run.buffer
    # fewer, larger batches while training: the flusher then takes the GIL from the loop less
    # often (the live view reads the session's tap, not the store)
    s._flush_interval = run.buffer.interval
    run.buffer.interval = max(run.buffer.interval, FLUSH_INTERVAL)
    s.name = s.name or run.name


def describe(s: Any) -> None:
    from .devices import as_tags, device_facts

    s.device = device_facts(s.model, s.amp)
    if not s.is_rank0:
        return
    tags = {
        **as_tags(s.device),
        "aieng.training.name": s.name,
        "aieng.training.framework": s.framework,
        "aieng.training.world_size": str(s.world_size),
        **{k: str(v) for k, v in (s.user_tags or {}).items()},
    }
    tracking.set_tags(tags, run_id=s.run_id)
    if s.resume is None:
        params = auto_params(s)
        params.update(s.user_params or {})
        if params:
            tracking.log_params(params, run_id=s.run_id)


def auto_params(s: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if s.framework in ("pytorch", "lightning") and s.model is not None:
        out["model_class"] = type(s.model).__name__
        out["n_parameters"] = sum(p.numel() for p in s.model.parameters())
    if s.optimizer is not None:
        out["optimizer"] = type(s.optimizer).__name__
        groups = getattr(s.optimizer, "param_groups", None) or [{}]
        for key in ("lr", "weight_decay", "momentum"):
            if key in groups[0]:
                out[f"optimizer.{key}"] = groups[0][key]
    if s.scheduler is not None:
        out["scheduler"] = type(s.scheduler).__name__
    if s.policy.enabled:
        out["checkpoint"] = (
            "epoch" if s.policy.on_epoch else "best" if s.policy.best_only else f"every {s.policy.every_steps} steps"
        )
    if s.monitor:
        out["monitor"] = f"{s.monitor} ({s.mode})"
    return out


def resume(s: Any) -> None:
    store = s._store()
    try:
        state = store.load(None)
    except NotFoundError:
        s.notices.append(f"run {s.run_id} has no checkpoint yet: training starts from step 0")
        return
    ckpt.restore(state, s.model, s.optimizer, s.scheduler)
    s.global_step = s.start_step = int(state["step"])
    s.epochs_done = s.start_epoch = int(state["epoch"])
    extra = state.get("extra") or {}
    s.samples = int(extra.get("samples", 0))
    s.best_value = extra.get("best_value")
    s.best_step = extra.get("best_step")
    if s.best_value is not None and s.model is not None:
        try:
            s._best_state = store.load("best")["model"]
        except NotFoundError:
            s._best_state = None
    s.checkpoints = store.index()
    latest = max(s.checkpoints, key=lambda c: (c.step, c.created))
    s.resumed_from = latest.name
    if s.is_rank0:
        tracking.set_tags(
            {"aieng.training.resumed_from": latest.name, "aieng.training.resumed_at": iso(now())}, run_id=s.run_id
        )


def start_telemetry(s: Any) -> None:
    if not s.telemetry_enabled:
        return
    from .devices import used_cuda_indices
    from .telemetry import Telemetry

    node = node_id(s.rank, s.world_size)
    first = 0
    if s.resume is not None:
        from .telemetry import node_prefix

        history = tracking.metric_history(s.run_id, node_prefix(node) + "cpu_utilization_percentage")
        first = max((s for s, _ in history), default=-1) + 1
    if s.is_rank0:
        sink = s._log_system
    else:
        from ..tracking.buffer import MetricBuffer, journal_for
        from ..workspace import current

        store = tracking.store()
        ws = current()
        s._follower_buffer = MetricBuffer(
            s.run_id, store, journal_for(ws.buffers, f"{s.run_id}.rank{s.rank}"), 1.0, journal_first=False
        ).start()
        sink = s._log_follower
    s.telemetry = Telemetry(sink, s.telemetry_interval, used_cuda_indices(s.model), node, first)
    if s.telemetry.notice:
        s.notices.append(s.telemetry.notice)
        if s.is_rank0:
            tracking.set_tags({"aieng.telemetry.notice": s.telemetry.notice}, run_id=s.run_id)
            print(f"aieng: {s.telemetry.notice}")
    s.telemetry.start()


def hook_input_example(s: Any) -> None:
    """Keep the first few rows of the model's first input as the logged model's input example."""
    if s.input_example is not None or not s.log_model_kind or s.framework not in ("pytorch", "lightning"):
        return

    def grab(module: Any, args: tuple) -> None:
        if s.input_example is None and args and hasattr(args[0], "detach"):
            s.input_example = args[0][:5].detach().cpu().clone()
        for handle in s._hooks:
            handle.remove()
        s._hooks.clear()

    s._hooks.append(s.model.register_forward_pre_hook(grab))
