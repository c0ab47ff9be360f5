"""A PyTorch Lightning callback that drives the same capture as ``aieng.training``.

>>> trainer = lightning.pytorch.Trainer(callbacks=[LightningCallback(name="lit", monitor="val_loss")])  # doctest: +SKIP
>>> trainer.fit(module, train_loader, val_loader)  # doctest: +SKIP

Needs the ``lightning`` extra (``pip install 'aieng_nb[lightning]'``).
"""

from __future__ import annotations

from typing import Any

from ..exceptions import MissingDependencyError

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the standalone package
    try:
        from pytorch_lightning.callbacks import Callback  # type: ignore[no-redef,assignment]
    except ImportError as exc:
        raise MissingDependencyError("lightning", "lightning") from exc


def _scalar(value: Any) -> float | None:
    try:
        if hasattr(value, "numel") and value.numel() != 1:
            return None
        return float(value)
    except (TypeError, ValueError):
        return None


def _batch_size(batch: Any) -> int | None:
    first = batch[0] if isinstance(batch, (list, tuple)) and batch else batch
    if isinstance(first, dict) and first:
        first = next(iter(first.values()))
    try:
        return len(first)
    except TypeError:
        return None


class LightningCallback(Callback):
    """Steps (loss, samples/s), epochs (``trainer.callback_metrics``: validation included),
    telemetry, device facts and the final/best model of a ``Trainer.fit`` into an aieng run.

    Options are those of :func:`aieng_nb.training.training` (``name``, ``monitor``, ``mode``,
    ``checkpoint``, ``keep``, ``log_model``, ``telemetry_interval``, ``live``, ...).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options
        self.session: Any = None

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        from .session import TrainingSession

        optimizers = list(getattr(trainer, "optimizers", []) or [])
        schedulers = [c.scheduler for c in getattr(trainer, "lr_scheduler_configs", []) or []]
        self.session = TrainingSession(
            pl_module,
            optimizers[0] if optimizers else None,
            schedulers[0] if schedulers else None,
            framework="lightning",
            **self.options,
        ).start()

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        session = self.session
        if session is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        metrics = {}
        value = _scalar(loss) if loss is not None else None
        if value is not None:
            metrics["loss"] = value
        if session.input_example is None and isinstance(batch, (list, tuple)) and batch and hasattr(batch[0], "detach"):
            session.input_example = batch[0][:5].detach().cpu().clone()
        session.step(samples=_batch_size(batch), **metrics)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.session is None:
            return
        metrics = {}
        for key, value in trainer.callback_metrics.items():
            number = _scalar(value)
            if number is not None and not key.endswith("_step"):
                metrics[key.removesuffix("_epoch")] = number
        metrics.pop("loss", None)  # the step loss has its own epoch mean (loss_epoch)
        self.session.epoch(**metrics)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.session is not None:
            self.session.close("FINISHED")

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.session is not None:
            self.session.close("FAILED")
