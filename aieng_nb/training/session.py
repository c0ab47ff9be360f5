"""``aieng.training(...)``: a training session that captures a loop into a run.

>>> with training(model, optimizer=opt, name="mlp", checkpoint="epoch", keep=2,
...               monitor="val_loss") as tr:  # doctest: +SKIP
...     for epoch in range(tr.start_epoch, 3):
...         for xb, yb in loader:
...             tr.step(loss=fit_batch(xb, yb), samples=len(xb))
...         tr.epoch(val_loss=evaluate(model))

``step`` costs about a microsecond (see :mod:`~aieng_nb.training.steps`, the hot path); setting up
and ending a session are in :mod:`~aieng_nb.training.startup` and :mod:`~aieng_nb.training.finish`.
See :mod:`aieng_nb.training` for where models are logged.
"""

from __future__ import annotations

import copy
import sys
import time
from collections import deque
from datetime import datetime
from typing import Any

from .. import tracking
from ..exceptions import NotFoundError, ValidationError
from ..records import now
from . import checkpoints as ckpt
from . import finish, startup
from .distributed import rank_info, share_run_id
from .live import open_view
from .records import CheckpointInfo, ModelRecord, TrainingRecord
from .steps import StepCapture


def _framework(model: Any) -> str:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "pytorch"
    if model is not None and hasattr(model, "get_params") and hasattr(model, "fit"):
        return "sklearn"
    return "custom"


class TrainingSession(StepCapture):
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
        _validate(model, monitor=monitor, mode=mode, log_model=log_model, name=name, resume=resume)
        self.policy = ckpt.CheckpointPolicy.parse(checkpoint, keep)
        if self.policy.enabled and model is not None and not hasattr(model, "state_dict"):
            raise ValidationError(
                "checkpoints need a torch model (state_dict); scikit-learn models are logged at the end"
            )
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
        self.started: datetime | None = None
        self.ended: datetime | None = None
        self.resumed_from: str | None = None
        self.device: dict[str, Any] = {}
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
        self._buffer: Any = None  # the run's MetricBuffer (rank 0)
        self._hooks: list[Any] = []
        self._sklearn: Any = None
        self._follower_buffer: Any = None
        self.rank, self.world_size = 0, 1
        # counters of step() calls, samples and tokens; windows (rates) and epochs keep their start values
        self.calls = self.tokens = 0
        self._every = self.policy.every_steps or 0
        self._restart_clocks()

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
        self.started = now()
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
        self._restart_clocks()
        self.status = "RUNNING"
        return self

    def _store(self) -> ckpt.CheckpointStore:
        from ..workspace import current

        store = self.run.store if self.run is not None else tracking.store()
        return ckpt.CheckpointStore(self.run_id, store, current().path("training", "scratch"))

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

    def close(self, status: str = "FINISHED") -> TrainingRecord | None:
        """Stop telemetry, log the model, write the training record, end the run if this session started it."""
        if self.status in ("FINISHED", "FAILED"):
            return self.record()
        running = self.status == "RUNNING"
        self.status = status
        finish.stop_capture(self)
        if running and self.calls > self._win0[0]:
            self._log_rates(time.perf_counter(), self.last_step)
        try:
            if self.is_rank0 and self.run_id:
                finish.store_outcome(self, status)
        finally:
            finish.release(self, status)
        return self.record()

    def record(self) -> TrainingRecord:
        """This session as a :class:`TrainingRecord`."""
        return finish.build_record(self)

    def __repr__(self) -> str:
        return f"<aieng TrainingSession {self.name!r} run={self.run_id} step={self.global_step} {self.status}>"


def _validate(model: Any, *, monitor: Any, mode: str, log_model: Any, name: Any, resume: Any) -> None:
    if mode not in ("min", "max"):
        raise ValidationError(f"mode must be 'min' or 'max', got {mode!r}")
    if monitor is not None and (not isinstance(monitor, str) or not monitor):
        raise ValidationError(f"monitor must be a metric name, got {monitor!r}")
    if log_model not in (True, False, "best", "final"):
        raise ValidationError(f"log_model must be True, False, 'best' or 'final', got {log_model!r}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValidationError(f"name must be a non-empty string, got {name!r}")
    if resume is not None and (model is None or not hasattr(model, "load_state_dict")):
        raise ValidationError("resume needs the torch model (and optimizer) to load the checkpoint into")


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

    store = tracking.store()
    state = ckpt.CheckpointStore(store.resolve_run_id(run_id), store, current().path("training", "scratch")).load(name)
    ckpt.restore(state, model, optimizer, scheduler, rng=False)
    return state
