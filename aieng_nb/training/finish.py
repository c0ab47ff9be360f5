"""Ending a training session: its final or best model, its record on the run, the run's end.

Functions of the :class:`~aieng_nb.training.session.TrainingSession` they finish (``s``), kept
apart from the session's hot path (like :mod:`~aieng_nb.training.startup`).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from .. import tracking
from ..records import now
from .distributed import barrier
from .records import TrainingRecord


def stop_capture(s: Any) -> None:
    """Stop what feeds the run: forward hooks, sklearn capture, telemetry, the follower buffer."""
    for handle in s._hooks:
        handle.remove()
    s._hooks.clear()
    if s._sklearn is not None:
        s._sklearn.stop(log=s.status == "FINISHED")
    if s.telemetry is not None:
        s.telemetry.stop()
    if s._follower_buffer is not None:
        s._follower_buffer.close()


def log_final_model(s: Any) -> None:
    """Log the best (with ``monitor``) or final model as an MLflow LoggedModel on the run."""
    from .model_logging import log_model

    kind = s.log_model_kind
    model = s.model
    example = s.input_example
    if s._sklearn is not None:
        fitted = s._sklearn.last_fit()
        if fitted is not None:
            model = model if model is not None else fitted.estimator
            if example is None:
                example = fitted.example()
    if model is None:
        return
    use_best = kind == "best" or (kind is True and s.monitor is not None and s._best_state is not None)
    if use_best and s._best_state is not None:
        model, kind, step = s.best_model(), "best", s.best_step if s.best_step is not None else s.last_step
    else:
        kind, step = "final", s.last_step
    s.model_record = log_model(model, s.run_id, s.name or "model", input_example=example, step=step, kind=kind)


def store_outcome(s: Any, status: str) -> None:
    """On rank 0: the model (a failure to log it is a notice, not an error), the record, the tags."""
    if status == "FINISHED" and s.log_model_kind:
        try:
            log_final_model(s)
        except Exception as exc:  # the training itself is done and stored: say so, keep it
            notice = f"model not logged: {type(exc).__name__}: {exc}"[:500]
            s.notices.append(notice)
            tracking.set_tags({"aieng.model_error": notice}, run_id=s.run_id)
            warnings.warn(f"aieng: {notice}", RuntimeWarning, stacklevel=4)
    record = build_record(s)
    tracking.log_text(json.dumps(record.to_dict(), indent=2), "aieng/training/record.json", run_id=s.run_id)
    tracking.set_tags({"aieng.training.steps": str(s.global_step), "aieng.training.status": status}, run_id=s.run_id)


def release(s: Any, status: str) -> None:
    """Close the live view, give the run its own flush interval back, end the run if this session owns it."""
    if s.view is not None:
        try:
            s.view.close()
        except Exception:
            pass
    if s.run is not None:
        s.run.buffer.interval = s._flush_interval
    barrier()  # other ranks stop logging before rank 0 ends the run
    if s._owns_run and tracking.active_run() is s.run:
        tracking.end_run(status)


def build_record(s: Any) -> TrainingRecord:
    """The session as a :class:`TrainingRecord`."""
    ended = s.status in ("FINISHED", "FAILED")
    if ended and s.ended is None:
        s.ended = now()
    return TrainingRecord(
        run_id=s.run_id,
        name=s.name or "",
        framework=s.framework,
        status=s.status,
        started=s.started,
        ended=s.ended if ended else None,
        steps=s.global_step,
        epochs=s.epochs_done,
        samples=s.samples,
        monitor=s.monitor,
        mode=s.mode,
        best_value=s.best_value,
        best_step=s.best_step,
        resumed_from=s.resumed_from,
        rank=s.rank,
        world_size=s.world_size,
        device=dict(s.device),
        checkpoints=list(s.checkpoints),
        model=s.model_record,
        notices=list(s.notices),
    )
