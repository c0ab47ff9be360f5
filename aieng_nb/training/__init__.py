"""Training-run capture: PyTorch, scikit-learn and Lightning loops, telemetry, checkpoints.

>>> import aieng_nb as aieng
>>> with aieng.training(model, optimizer=opt, name="mlp", checkpoint="epoch", keep=3,
...                     monitor="val_acc", mode="max") as tr:  # doctest: +SKIP
...     for epoch in range(tr.start_epoch, 5):
...         for xb, yb in loader:
...             tr.step(loss=train_step(xb, yb), samples=len(xb))
...         tr.epoch(val_acc=evaluate(model))
>>> best = tr.best_model()  # doctest: +SKIP

Logged models: the best (with ``monitor``) or final model is logged as an MLflow 3 LoggedModel
named after the training (``name="mlp"`` -> LoggedModel ``mlp``), linked to the run. Find it from
the run's tags ``aieng.model_uri`` / ``aieng.model_id`` (or :func:`find_model`), or with
``mlflow.search_logged_models(filter_string="name = 'mlp'")``; the LoggedModel has the tag
``aieng.training = <run_id>``. See :mod:`aieng_nb.training.model_logging`.

Nothing here imports torch, sklearn or mlflow until a session needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..deprecation import callable_module

_LAZY = {
    "training": "session",
    "TrainingSession": "session",
    "TrainingRecord": "records",
    "CheckpointInfo": "records",
    "ModelRecord": "records",
    "log_model": "model_logging",
    "find_model": "model_logging",
    "load_model": "model_logging",
    "load_checkpoint": "session",
    "device_facts": "devices",
    "Telemetry": "telemetry",
    "CheckpointPolicy": "checkpoints",
    "LightningCallback": "lightning",
    "sklearn_capture": "sklearn_capture",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aieng_nb.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"aieng_nb.training.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def _training(model: Any = None, optimizer: Any = None, scheduler: Any = None, **options: Any) -> Any:
    from .session import training

    return training(model, optimizer, scheduler, **options)


# ``aieng.training(model, ...)`` is documented (issue 12) and so is this package
# (``aieng_nb.training.LightningCallback``): ``import aieng_nb.training`` binds the package on
# ``aieng_nb``, so the one name serves both; not a deprecated spelling
callable_module(__name__, _training)
