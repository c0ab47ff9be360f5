"""``aieng.training(...)``: a training session that captures a loop into a run.

>>> with training(model, optimizer=opt, name="mlp", checkpoint="epoch", keep=2,
...               monitor="val_loss") as tr:  # doctest: +SKIP
...     for epoch in range(tr.start_epoch, 3):
...         for xb, yb in loader:
...             tr.step(loss=fit_batch(xb, yb), samples=len(xb))
...         tr.epoch(val_loss=evaluate(model))

``step`` costs a few microseconds: one append to the run's metric buffer (written in batches by
a background thread) plus counters; rates (samples/s, tokens/s, step time) are logged about once
a second, telemetry by its own thread. See :mod:`aieng_nb.training` for where models are logged.
"""

from __future__ import annotations

import copy
import json
import sys
import time
import warnings
from collections import deque
from datetime import datetime, timezone
from typing import Any

from .. import tracking
from ..exceptions import NotFoundError, ValidationError
from ..tracking import HIGH_WATER
from . import checkpoints as ckpt
from . import startup
from .distributed import barrier, rank_info, share_run_id
from .live import open_view
from .records import CheckpointInfo, ModelRecord, TrainingRecord

_perf = time.perf_counter
_time = time.time
RATE_INTERVAL = 1.0  # seconds between logged samples/s, tokens/s and step time


def _iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _framework(model: Any) -> str:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "pytorch"
    if model is not None and hasattr(model, "get_params") and hasattr(model, "fit"):
        return "sklearn"
    return "custom"


class TrainingSession:
    """Captures one training: steps, epochs, telemetry, checkpoints and the final model.

    Use :func:`training` to make one. Inside the ``with`` block call :meth:`step` per batch and
    :meth:`epoch` per epoch; ``start_epoch``/``start_step`` say where a resumed session continues.
    """

    def __init__(
        self,
        model: Any = None,
        optimizer: Any = None,
        scheduler: Any = None,
        *,
        name: str | None = None,
        experiment: str | None = None,
        checkpoint: Any = None,
        keep: int | None = None,
        monitor: str | None = None,
        mode: str = "min",
        resume: str | None = None,
        log_model: bool | str = True,
        input_example: Any = None,
        telemetry: bool = True,
        telemetry_interval: float = 10.0,
        live: bool | None = None,
        amp: bool | str | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        framework: str | None = None,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValidationError(f"mode must be 'min' or 'max', got {mode!r}")
        if monitor is not None and (not isinstance(monitor, str) or not monitor):
            raise ValidationError(f"monitor must be a metric name, got {monitor!r}")
        if log_model not in (True, False, "best", "final"):
            raise ValidationError(f"log_model must be True, False, 'best' or 'final', got {log_model!r}")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValidationError(f"name must be a non-empty string, got {name!r}")
        self.policy = ckpt.CheckpointPolicy.parse(checkpoint, keep)
        if self.policy.enabled and model is not None and not hasattr(model, "state_dict"):
            raise ValidationError(
                "checkpoints need a torch model (state_dict); scikit-learn models are logged at the end"
            )
        if resume is not None and (model is None or not hasattr(model, "load_state_dict")):
            raise ValidationError("resume needs the torch model (and optimizer) to load the checkpoint into")
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.name = name
        self.experiment = experiment
        self.monitor, self.mode = monitor, mode
        self.resume = resume
        self.log_model_kind = log_model
        self.input_example = input_example
        self.telemetry_enabled = telemetry
        self.telemetry_interval = float(telemetry_interval)
        self.live = live
        self.amp = amp
        self.user_params = params
        self.user_tags = tags
        self.framework = framework or _framework(model)
        # progress
        self.global_step = 0
        self.epochs_done = 0
        self.samples = 0
        self.start_step = 0
        self.start_epoch = 0
        self.best_value: float | None = None
        self.best_step: int | None = None
        self._best_state: dict[str, Any] | None = None
        self.rates: dict[str, float] = {}
        self.notices: list[str] = []
        self.model_record: ModelRecord | None = None
        self.checkpoints: list[CheckpointInfo] = []
        self.tap: deque | None = None  # a live view's copy of each logged call
        self.view: Any = None
        self.telemetry: Any = None
        self.run: tracking.Run | None = None
        self.run_id = ""
        self.status = "CREATED"
        self._owns_run = False
        self._flush_interval = 0.0  # the run's own flush interval, restored at close
        self._calls: deque | None = None
        self._hooks: list[Any] = []
        self._sklearn: Any = None
        self._follower_buffer: Any = None
        self.rank, self.world_size = 0, 1
        # counters of step() calls, samples and tokens; windows (rates) and epochs keep their start values
        self.calls = self.tokens = 0
        self._win_t = self._epoch_t = _perf()
        self._win0 = (0, 0, 0)
        self._epoch0 = (0, 0)
        self._every = self.policy.every_steps or 0
        self._sums: dict[str, float] = {}

    # ---- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> TrainingSession:
        self.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close("FAILED" if exc_type else "FINISHED")

    @property
    def is_rank0(self) -> bool:
        return self.rank == 0

    def start(self) -> TrainingSession:
        """Attach to (or start) the run, record device facts, resume, start telemetry and the view."""
        self.rank, self.world_size = rank_info()
        self.started = _iso()
        if self.is_rank0:
            try:
                startup.open_run(self)
            except BaseException:
                share_run_id(None, self.rank, self.world_size)
                raise
            share_run_id(self.run_id, self.rank, self.world_size)
        else:
            self.run_id = share_run_id(None, self.rank, self.world_size)
        try:
            startup.describe(self)
            if self.resume is not None:
                startup.resume(self)
            startup.start_telemetry(self)
            if self.is_rank0:
                startup.hook_input_example(self)
                if self.framework == "sklearn":
                    from .sklearn_capture import SklearnCapture

                    self._sklearn = SklearnCapture(self.run_id).start()
                self.view = open_view(self, self.live)
        except BaseException:
            self.close("FAILED")
            raise
        self._win_t = self._epoch_t = _perf()
        self._win0 = (self.calls, self.samples, self.tokens)
        self._epoch0 = (self.calls, self.samples)
        self._sums = {}
        self.status = "RUNNING"
        return self

    def _store(self) -> ckpt.CheckpointStore:
        from ..workspace import current

        store = self.run.store if self.run is not None else tracking._store()
        return ckpt.CheckpointStore(self.run_id, store, current().path("training", "scratch"))

    def _log_system(self, metrics: dict[str, float], step: int) -> None:
        if self._calls is not None:
            entry = (_time(), step, metrics)
            self._calls.append(entry)
            if self.tap is not None:
                self.tap.append(entry)

    def _log_follower(self, metrics: dict[str, float], step: int) -> None:
        self._follower_buffer.calls.append((_time(), step, metrics))

    # ---- the hot path -------------------------------------------------------------------
    def step(
        self, step: int | None = None, samples: int | None = None, tokens: int | None = None, **metrics: float
    ) -> None:
        """Record one training step: metrics (floats: pass ``loss.item()``), and the number of
        samples (and tokens) in it for samples/s (tokens/s). ``step`` defaults to one more than before."""
        s = self.global_step = self.global_step + 1 if step is None else int(step)
        calls = self._calls
        if calls is not None:
            entry = (_time(), s, metrics)
            calls.append(entry)
            if self.tap is not None:
                self.tap.append(entry)
            if len(calls) > HIGH_WATER:
                tracking.flush()
        sums = self._sums
        for key, value in metrics.items():
            if type(value) is float or type(value) is int:
                sums[key] = sums.get(key, 0.0) + value
        self.calls += 1
        if samples:
            self.samples += samples
        if tokens:
            self.tokens += tokens
        now = _perf()
        if now - self._win_t >= RATE_INTERVAL:
            self._log_rates(now, s)
        if self.monitor is not None and self.monitor in metrics:
            self._track_best(float(metrics[self.monitor]), s)
        if self._every and s % self._every == 0:
            self.save_checkpoint(f"step-{s}")

    def _log_rates(self, now: float, step: int) -> None:
        elapsed = now - self._win_t
        calls0, samples0, tokens0 = self._win0
        n = self.calls - calls0
        if elapsed <= 0 or not n:
            return
        rates = {"step_time_ms": elapsed / n * 1000}
        if self.samples > samples0:
            rates["samples_per_second"] = (self.samples - samples0) / elapsed
        if self.tokens > tokens0:
            rates["tokens_per_second"] = (self.tokens - tokens0) / elapsed
        self.rates = rates
        if self._calls is not None:
            entry = (_time(), step, rates)
            self._calls.append(entry)
            if self.tap is not None:
                self.tap.append(entry)
        self._win_t = now
        self._win0 = (self.calls, self.samples, self.tokens)

    def epoch(self, **metrics: float) -> None:
        """End an epoch: log its metrics (e.g. validation), epoch means of the step metrics,
        epoch time and samples/s; update best-so-far; checkpoint per the policy."""
        now = _perf()
        self.epochs_done += 1
        s = self.global_step
        calls0, samples0 = self._epoch0
        n, epoch_samples = self.calls - calls0, self.samples - samples0
        summary: dict[str, float] = {f"{k}_epoch": v / n for k, v in self._sums.items()} if n else {}
        elapsed = now - self._epoch_t
        summary["epoch"] = float(self.epochs_done)
        summary["epoch_time_s"] = elapsed
        if epoch_samples and elapsed > 0:
            summary["epoch_samples_per_second"] = epoch_samples / elapsed
        values = {k: float(v) for k, v in metrics.items()}
        if self._calls is not None:
            entry = (_time(), s, {**summary, **values})
            self._calls.append(entry)
            if self.tap is not None:
                self.tap.append(entry)
        self._sums = {}
        self._epoch0 = (self.calls, self.samples)
        self._epoch_t = _perf()
        improved = False
        if self.monitor is not None:
            if self.monitor in values:
                improved = self._track_best(values[self.monitor], s)
            elif self.monitor not in summary and f"{self.monitor}_epoch" in summary:
                improved = self._track_best(summary[f"{self.monitor}_epoch"], s)
        if self.policy.on_epoch:
            self.save_checkpoint(f"epoch-{self.epochs_done}")
        elif self.policy.best_only and improved:
            self.save_checkpoint("best")

    def _track_best(self, value: float, step: int) -> bool:
        best = self.best_value
        if best is not None and not (value < best if self.mode == "min" else value > best):
            return False
        self.best_value, self.best_step = value, step
        if self._calls is not None:
            self._calls.append((_time(), step, {f"best_{self.monitor}": value}))
        if self.model is not None and hasattr(self.model, "state_dict"):
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            if self.policy.enabled and not self.policy.best_only and self.is_rank0:
                self.save_checkpoint("best")
        return True

    # ---- checkpoints and models ---------------------------------------------------------
    def save_checkpoint(self, name: str | None = None) -> CheckpointInfo | None:
        """Write a checkpoint now (rank 0 only; other ranks return None)."""
        if not self.is_rank0 or self.model is None:
            return None
        name = name or f"step-{self.global_step}"
        extra = {"samples": self.samples, "best_value": self.best_value, "best_step": self.best_step}
        state = ckpt.capture(self.model, self.optimizer, self.scheduler, self.global_step, self.epochs_done, extra)
        metric = self.best_value if name == "best" else None
        store = self._store()
        info = store.save(name, state, metric=metric, keep=self.policy.keep, protect=("best",))
        self.checkpoints = store.entries
        return info

    def load_checkpoint(self, name: str | None = None) -> Any:
        """A copy of the model with checkpoint ``name`` (default: the latest) loaded."""
        state = self._store().load(name)
        model = copy.deepcopy(self.model)
        model.load_state_dict(state["model"])
        return model

    def best_model(self) -> Any:
        """A copy of the model with the best weights seen on ``monitor`` (the model itself for sklearn)."""
        if self.framework == "sklearn":
            return self.model
        if self.monitor is None:
            raise ValidationError("best_model needs monitor= (the metric to judge by); use load_checkpoint() instead")
        if self._best_state is None:
            try:
                return self.load_checkpoint("best")
            except NotFoundError:
                raise NotFoundError(f"no value of {self.monitor!r} was logged, so there is no best model") from None
        model = copy.deepcopy(self.model)
        model.load_state_dict(self._best_state)
        return model

    def _log_final_model(self) -> None:
        from .model_logging import log_model

        kind = self.log_model_kind
        model = self.model
        example = self.input_example
        if self._sklearn is not None:
            fitted = self._sklearn.last_fit()
            if fitted is not None:
                model = model if model is not None else fitted.estimator
                if example is None:
                    example = fitted.example()
        if model is None:
            return
        use_best = kind == "best" or (kind is True and self.monitor is not None and self._best_state is not None)
        if use_best and self._best_state is not None:
            model, kind, step = self.best_model(), "best", self.best_step or self.global_step
        else:
            kind, step = "final", self.global_step
        self.model_record = log_model(
            model, self.run_id, self.name or "model", input_example=example, step=step, kind=kind
        )

    def close(self, status: str = "FINISHED") -> TrainingRecord | None:
        """Stop telemetry, log the model, write the training record, end the run if this session started it."""
        if self.status in ("FINISHED", "FAILED"):
            return self.record()
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()
        if self._sklearn is not None:
            self._sklearn.stop(log=status == "FINISHED")
        if self.telemetry is not None:
            self.telemetry.stop()
        if self._follower_buffer is not None:
            self._follower_buffer.close()
        if self.status == "RUNNING" and self.calls > self._win0[0]:
            self._log_rates(_perf(), self.global_step)
        self.status = status
        try:
            if self.is_rank0 and self.run_id:
                if status == "FINISHED" and self.log_model_kind:
                    try:
                        self._log_final_model()
                    except Exception as exc:  # the training itself is done and stored: say so, keep it
                        notice = f"model not logged: {type(exc).__name__}: {exc}"[:500]
                        self.notices.append(notice)
                        tracking.set_tags({"aieng.model_error": notice}, run_id=self.run_id)
                        warnings.warn(f"aieng: {notice}", RuntimeWarning, stacklevel=2)
                record = self.record()
                tracking.log_text(
                    json.dumps(record.to_dict(), indent=2), "aieng/training/record.json", run_id=self.run_id
                )
                tracking.set_tags(
                    {"aieng.training.steps": str(self.global_step), "aieng.training.status": status}, run_id=self.run_id
                )
        finally:
            if self.view is not None:
                try:
                    self.view.close()
                except Exception:
                    pass
            if self.run is not None:
                self.run.buffer.interval = self._flush_interval
            barrier()  # other ranks stop logging before rank 0 ends the run
            if self._owns_run and tracking.active_run() is self.run:
                tracking.end_run(status)
        return self.record()

    def record(self) -> TrainingRecord:
        """This session as a :class:`TrainingRecord`."""
        return TrainingRecord(
            run_id=self.run_id,
            name=self.name or "",
            framework=self.framework,
            status=self.status,
            started=getattr(self, "started", None),
            ended=_iso() if self.status in ("FINISHED", "FAILED") else None,
            steps=self.global_step,
            epochs=self.epochs_done,
            samples=self.samples,
            monitor=self.monitor,
            mode=self.mode,
            best_value=self.best_value,
            best_step=self.best_step,
            resumed_from=getattr(self, "resumed_from", None),
            rank=self.rank,
            world_size=self.world_size,
            device=dict(getattr(self, "device", {})),
            checkpoints=list(self.checkpoints),
            model=self.model_record,
            notices=list(self.notices),
        )

    def __repr__(self) -> str:
        return f"<aieng TrainingSession {self.name!r} run={self.run_id} step={self.global_step} {self.status}>"


def training(model: Any = None, optimizer: Any = None, scheduler: Any = None, **options: Any) -> TrainingSession:
    """A training session over the active run (or a new one named ``name``), used as ``with``.

    Options: ``name``, ``experiment``, ``checkpoint`` ("epoch", "best" or every N steps), ``keep``
    (last K checkpoints), ``monitor`` and ``mode`` ("min"/"max") for best-so-far, ``resume=RUN_ID``,
    ``log_model`` (True, False, "best", "final"), ``input_example``, ``telemetry``,
    ``telemetry_interval`` (seconds), ``live`` (the widget: None = in a notebook), ``amp``,
    ``params``, ``tags``.

    >>> with training(net, optimizer=opt, name="mlp") as tr:  # doctest: +SKIP
    ...     tr.step(loss=0.5, samples=32)
    """
    return TrainingSession(model, optimizer, scheduler, **options)


def load_checkpoint(
    run_id: str, name: str | None = None, model: Any = None, optimizer: Any = None, scheduler: Any = None
) -> dict[str, Any]:
    """Checkpoint ``name`` (default: latest) of run ``run_id``, loaded into the objects given.

    >>> state = load_checkpoint(run_id, "epoch-3", model=net)  # doctest: +SKIP
    """
    from ..workspace import current

    store = tracking._store()
    state = ckpt.CheckpointStore(store.resolve_run_id(run_id), store, current().path("training", "scratch")).load(name)
    ckpt.restore(state, model, optimizer, scheduler, rng=False)
    return state
