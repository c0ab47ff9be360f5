"""The models :func:`aieng.explain` accepts: scikit-learn estimators, predict functions, torch modules.

Anything with ``predict`` is used as is; a plain function or a :class:`PredictFunction` is wrapped
in a minimal scikit-learn estimator; a PyTorch module is wrapped with :func:`torch_model`.

>>> PredictFunction(len).task
'auto'
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ValidationError, require


class PredictFunction:
    """A plain predict function (and optional probability function) as a model.

    ``predict(X)`` returns labels or values; a function returning a 2-D array is taken as
    class probabilities (columns in the order of ``classes``, default the sorted labels of y).
    """

    def __init__(
        self, predict: Any = None, predict_proba: Any = None, *, task: str = "auto", classes: Any = None
    ) -> None:
        if predict is None and predict_proba is None:
            raise ValidationError("PredictFunction needs predict= or predict_proba=")
        self._predict, self._proba, self.task, self.classes = predict, predict_proba, task, classes

    def __repr__(self) -> str:
        fn = self._predict or self._proba
        return f"PredictFunction({getattr(fn, '__name__', type(fn).__name__)}, task={self.task})"


class TorchPredictor(PredictFunction):
    """A PyTorch module as a model (built by :func:`torch_model`)."""

    def __init__(self, module: Any, task: str, classes: Any, batch_size: int, device: str | None) -> None:
        self.module, self.batch_size, self.device = module, batch_size, device
        if task == "classification":
            super().__init__(predict_proba=self._run, task=task, classes=classes)
        else:
            super().__init__(predict=self._run, task=task)

    def _run(self, X: Any) -> Any:
        import numpy as np
        import torch

        arr = np.asarray(X.to_numpy(dtype=np.float32) if hasattr(X, "to_numpy") else X, dtype=np.float32)
        was_training = self.module.training
        self.module.eval()
        outs = []
        try:
            with torch.no_grad():
                for start in range(0, len(arr), self.batch_size):
                    batch = torch.from_numpy(arr[start : start + self.batch_size])
                    if self.device:
                        batch = batch.to(self.device)
                    outs.append(self.module(batch).detach().float().cpu().numpy())
        finally:
            self.module.train(was_training)
        out = np.concatenate(outs) if outs else np.empty((0,))
        if self.task != "classification":
            return out.reshape(len(arr), -1)[:, 0] if out.ndim > 1 else out
        out = out.reshape(len(arr), -1)
        if out.shape[1] == 1:  # one logit: sigmoid for the positive class
            p = 1.0 / (1.0 + np.exp(-out[:, 0]))
            return np.column_stack([1 - p, p])
        out = out - out.max(axis=1, keepdims=True)  # logits: softmax
        e = np.exp(out)
        return e / e.sum(axis=1, keepdims=True)


def torch_model(
    module: Any, *, task: str = "classification", classes: Any = None, batch_size: int = 8192, device: str | None = None
) -> TorchPredictor:
    """Wrap a PyTorch module for :func:`explain` (and anything wanting ``predict``/``predict_proba``).

    The module takes a float32 tensor of the feature columns (in ``X``'s column order) and
    returns logits (classification: one logit for binary, one per class otherwise) or values
    (regression). It runs in ``eval()`` mode under ``torch.no_grad()``, in batches.

    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2))               # doctest: +SKIP
    >>> explain(torch_model(net, classes=[0, 1]), X_test, y_test)       # doctest: +SKIP
    """
    require("torch", "torch")
    if task not in ("classification", "regression"):
        raise ValidationError(f"task must be classification or regression, got {task!r}")
    if not callable(module):
        raise ValidationError(f"{type(module).__name__} is not a callable torch module")
    return TorchPredictor(module, task, classes, batch_size, device)


def _is_torch_module(obj: Any) -> bool:
    return any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(obj).__mro__)


def _function_estimator(fn: PredictFunction, y: Any) -> Any:
    """A minimal scikit-learn estimator around a PredictFunction (fit is a no-op)."""
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    probe = fn._predict or fn._proba
    task = fn.task
    if task == "auto":
        if fn._proba is not None and fn._predict is None:
            task = "classification"
        elif y is not None:
            import pandas as pd

            from .quality import infer_task

            task = infer_task(pd.Series(np.asarray(y)))
        else:
            task = "regression"
    if task == "classification":
        classes = fn.classes if fn.classes is not None else (np.unique(np.asarray(y)) if y is not None else None)

        class _FunctionClassifier(ClassifierMixin, BaseEstimator):
            def fit(self, X: Any, y: Any = None) -> Any:
                return self

            def predict_proba(self, X: Any) -> Any:
                if fn._proba is not None:
                    return np.asarray(fn._proba(X))
                out = np.asarray(fn._predict(X))
                if out.ndim == 2:
                    return out
                raise AttributeError("this predict function gives labels, not probabilities")

            def predict(self, X: Any) -> Any:
                if fn._predict is not None:
                    out = np.asarray(fn._predict(X))
                    if out.ndim == 1:
                        return out
                else:
                    out = np.asarray(fn._proba(X))
                if self.classes_ is None:
                    raise ValidationError("a probability function needs classes= (or y) to name its columns")
                return np.asarray(self.classes_)[out.argmax(axis=1)]

        est: Any = _FunctionClassifier()
        est.classes_ = classes
        est.fitted_ = True
        return est

    class _FunctionRegressor(RegressorMixin, BaseEstimator):
        def fit(self, X: Any, y: Any = None) -> Any:
            return self

        def predict(self, X: Any) -> Any:
            return np.asarray(probe(X)).reshape(len(X))

    est = _FunctionRegressor()
    est.fitted_ = True
    return est


def _as_estimator(model: Any, y: Any) -> Any:
    if _is_torch_module(model):
        raise ValidationError("a PyTorch module needs wrapping: explain(aieng.torch_model(module, task=...), X, y)")
    if isinstance(model, PredictFunction):
        return _function_estimator(model, y)
    if callable(getattr(model, "predict", None)):
        return model
    if callable(model) and not isinstance(model, type):
        return _function_estimator(PredictFunction(model), y)
    raise ValidationError(f"model {type(model).__name__} has no predict method and is not a predict function")


def _array_fns(predict: Any, proba: Any) -> tuple[Any, Any]:
    import numpy as np

    def to_array(fn: Any) -> Any:
        return None if fn is None else (lambda frame: fn(np.asarray(frame)))

    return to_array(predict), to_array(proba)


def _array_adapter(model: Any) -> Any:
    """A model (or function) fitted on arrays, fed arrays: a PredictFunction around it."""
    if not callable(getattr(model, "predict", None)):
        return PredictFunction(*_array_fns(model, None)) if callable(model) else model
    proba = getattr(model, "predict_proba", None)
    task = "classification" if _is_classifier(model) else "regression"
    predict, proba_fn = _array_fns(model.predict, proba if callable(proba) and task == "classification" else None)
    return PredictFunction(predict, proba_fn, task=task, classes=getattr(model, "classes_", None))


def _is_classifier(est: Any) -> bool:
    from sklearn.base import is_classifier

    try:
        if is_classifier(est):
            return True
    except Exception:  # non-sklearn objects without tags
        pass
    return hasattr(est, "classes_") and callable(getattr(est, "predict_proba", None))
