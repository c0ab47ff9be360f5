"""Explainability reports: permutation importance, partial dependence, SHAP values.

``explain(model, X, y)`` works for any fitted scikit-learn estimator or pipeline, any
``predict``/``predict_proba`` callable, and a PyTorch module wrapped with :func:`torch_model`.
It returns an :class:`ExplainReport` with:

* **permutation importance** (scikit-learn's definition, ``n_repeats=5``: the drop in score when
  one column is shuffled) with its spread across repeats (std and a normal 95% interval). With
  the default scoring (accuracy for classifiers, R^2 for regressors) the repeats of a feature are
  stacked into one prediction call; a ``scoring=`` other than the default goes through
  ``sklearn.inspection.permutation_importance``. It is computed on a seeded random sample of at
  most ``sample`` rows (default 20,000, seed 0), with the same top-10 ranking as all rows in
  ``benchmarks/bench_explain.py`` (Spearman >= 0.9); pass ``sample=None`` for all rows.
* **partial dependence** of the ``top_k`` most important features (default 5): the mean
  prediction (positive-class probability for binary classifiers) over a grid of 20 quantiles
  (or the observed categories), on ``pd_sample`` rows (default 1,000).
* **SHAP values** (mean |SHAP| per feature, tree and linear models, on ``shap_sample`` rows) when
  the optional ``shap`` package is installed (``pip install 'aieng_nb[shap]'``); ``shap=True``
  makes its absence an error naming the extra, the default ``"auto"`` notes it in the report.

Plots are static PNG images, so the HTML renders without JavaScript. ``y=None`` explains the
model's own predictions (importance = loss of agreement with the unpermuted predictions).
The module is callable: ``aieng.explain(model, X, y)``.

>>> from sklearn.linear_model import LogisticRegression
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
>>> y = (X.a > 0).astype(int)
>>> rep = explain(LogisticRegression().fit(X, y), X, y, shap=False, log=False)
>>> rep.ranking[0]
'a'
"""

from __future__ import annotations

import math
import sys
import types
from dataclasses import dataclass
from typing import Any

from .checks import evaluate, parse_rules, require_numeric
from .exceptions import MissingDependencyError, ValidationError, require
from .reports import Report, Section, figure_html, new_figure, table_html

DEFAULT_SAMPLE = 20_000
DEFAULT_PD_SAMPLE = 1_000
DEFAULT_SHAP_SAMPLE = 500
DEFAULT_TOP_K = 5
GRID_RESOLUTION = 20
MAX_FEATURES_SHOWN = 25


@dataclass
class ExplainReport(Report):
    """Feature importances (``importances`` DataFrame, ``ranking``), partial dependence, SHAP."""

    importances: Any = None
    partial_dependence: Any = None
    shap_values: Any = None

    @property
    def ranking(self) -> list[str]:
        """Features, most important first (by mean permutation importance)."""
        return list(self.importances["feature"]) if self.importances is not None else []


# ---------------------------------------------------------------------------- model adapters
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

            from .monitoring import _infer_task

            task = _infer_task(pd.Series(np.asarray(y)))
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
        raise ValidationError(
            "a PyTorch module needs wrapping: explain(aieng.explain.torch_model(module, task=...), X, y)"
        )
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


# ---------------------------------------------------------------------------- computations
def _response(est: Any, X: Any, classifier: bool) -> Any:
    """Mean-able model output: positive-class probability (binary), class probabilities
    (multiclass, 2-D) or the prediction."""
    import numpy as np

    if classifier and callable(getattr(est, "predict_proba", None)):
        try:
            proba = np.asarray(est.predict_proba(X))
        except AttributeError:
            proba = None
        if proba is not None:
            return proba[:, 1] if proba.shape[1] == 2 else proba
    out = np.asarray(est.predict(X))
    if out.dtype.kind not in "biuf":
        classes = np.unique(out)
        return (out == classes[-1]).astype(float)
    return out.astype(float)


def _grid(col: Any) -> list[Any]:
    import numpy as np

    values = col.dropna()
    if values.dtype.kind in "iuf" and values.nunique() > GRID_RESOLUTION:
        return list(np.unique(np.quantile(values.to_numpy(dtype=float), np.linspace(0.05, 0.95, GRID_RESOLUTION))))
    return list(values.value_counts().index[:GRID_RESOLUTION])


def _partial_dependence(est: Any, X: Any, features: list[str], classifier: bool) -> dict[str, dict[str, Any]]:
    import numpy as np
    import pandas as pd

    plans, frames = [], []
    for feat in features:
        grid = _grid(X[feat])
        if not grid:
            continue
        grid_is_numeric = all(isinstance(g, (int, float, np.number)) and not isinstance(g, bool) for g in grid)
        if grid_is_numeric and X[feat].dtype.kind in "iu":
            grid = sorted({int(round(float(g))) for g in grid})
        elif grid_is_numeric:
            grid = sorted(float(g) for g in grid)
        big = pd.concat([X] * len(grid), ignore_index=True)
        big[feat] = pd.Series(np.repeat(np.asarray(grid, dtype=object), len(X))).astype(X[feat].dtype)
        plans.append((feat, grid, grid_is_numeric))
        frames.append(big)
    if not frames:
        return {}
    # one prediction call for every feature and grid value: per-call overheads are paid once
    resp = _response(est, pd.concat(frames, ignore_index=True), classifier)
    out, start = {}, 0
    for feat, grid, numeric in plans:
        part = resp[start : start + len(grid) * len(X)]
        start += len(grid) * len(X)
        values = part.reshape(len(grid), len(X), *part.shape[1:]).mean(axis=1)
        out[feat] = {"grid": grid, "values": values.tolist(), "numeric": numeric}
    return out


def _score(y: Any, pred: Any, classifier: bool) -> float:
    """accuracy (classifiers) or R^2 (regressors): what ``estimator.score`` gives for scikit-learn models."""
    import numpy as np

    if classifier:
        return float(np.mean(pred == y))
    y = y.astype(float)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    ss_res = float(((y - pred.astype(float)) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)


def _batched_importance(
    est: Any, X: Any, y: Any, n_repeats: int, seed: int, classifier: bool, max_rows: int = 100_000
) -> tuple[float, Any]:
    """Permutation importance (scikit-learn's definition: baseline score minus the score with one
    column shuffled, per repeat) with the repeats of a feature stacked into one prediction call.

    Models with a per-call cost (boosted trees' thread start-up, torch, remote endpoints) pay
    it once per feature instead of once per feature and repeat."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    yv = np.asarray(y)
    n = len(X)
    baseline = _score(yv, np.asarray(est.predict(X)), classifier)
    per_call = max(1, min(n_repeats, max_rows // max(n, 1)))
    out = np.empty((X.shape[1], n_repeats))
    for j, col in enumerate(X.columns):
        done = 0
        while done < n_repeats:
            k = min(per_call, n_repeats - done)
            big = pd.concat([X] * k, ignore_index=True)
            shuffled = np.concatenate([rng.permutation(n) for _ in range(k)])
            big[col] = X[col].iloc[shuffled].reset_index(drop=True)
            pred = np.asarray(est.predict(big))
            for r in range(k):
                out[j, done + r] = baseline - _score(yv, pred[r * n : (r + 1) * n], classifier)
            done += k
    return baseline, out


def _tree_like(est: Any) -> bool:
    name = type(est).__name__
    return hasattr(est, "tree_") or any(k in name for k in ("Tree", "Forest", "Boosting", "XGB", "LGBM", "CatBoost"))


def _shap_values(model: Any, X: Any, classifier: bool, as_array: bool = False) -> tuple[list[str], Any] | str:
    """(feature names, mean |SHAP| per feature), or the reason SHAP was not computed."""
    import numpy as np

    shap = require("shap", "shap")
    est, Xt, names = model, (X.to_numpy() if as_array else X), list(map(str, X.columns))
    steps = getattr(model, "steps", None)
    if steps:
        est = steps[-1][1]
        pre = model[:-1]
        Xt = pre.transform(X)
        try:
            names = [str(n) for n in pre.get_feature_names_out()]
        except Exception:  # transformers without feature names
            names = [f"x{i}" for i in range(Xt.shape[1])]
    if hasattr(Xt, "toarray"):
        Xt = Xt.toarray()
    if _tree_like(est):
        values = shap.TreeExplainer(est).shap_values(Xt)
    elif hasattr(est, "coef_"):
        values = shap.LinearExplainer(est, Xt).shap_values(Xt)
    else:
        return f"SHAP skipped: no tree or linear explainer for {type(est).__name__} (permutation importance covers it)"
    if isinstance(values, list):
        arr = np.stack([np.abs(np.asarray(v)) for v in values], axis=-1)
        arr = arr[..., 1] if arr.shape[-1] == 2 else arr.mean(axis=-1)
    else:
        arr = np.abs(np.asarray(values))
        if arr.ndim == 3:
            arr = arr[..., 1] if arr.shape[-1] == 2 else arr.mean(axis=-1)
    return names, arr.mean(axis=0)


# ---------------------------------------------------------------------------- the report
def explain(
    model: Any,
    X: Any,
    y: Any = None,
    *,
    scoring: Any = None,
    n_repeats: int = 5,
    sample: int | None = DEFAULT_SAMPLE,
    top_k: int = DEFAULT_TOP_K,
    pd_sample: int = DEFAULT_PD_SAMPLE,
    shap: bool | str = "auto",
    shap_sample: int = DEFAULT_SHAP_SAMPLE,
    seed: int = 0,
    checks: Any = None,
    log: bool | None = None,
    title: str | None = None,
) -> ExplainReport:
    """Explain a fitted model on ``X`` (and ``y``): see the module docstring for what and how.

    ``scoring`` is any scikit-learn scorer name or callable (default: the model's ``score``,
    accuracy for classifiers and R^2 for regressors). ``checks`` are failure rules over the
    summary metrics (``baseline_score``, ``importance.<feature>``), e.g. ``"baseline_score < 0.8"``.

    >>> ex = aieng.explain(model, X_test, y_test)        # doctest: +SKIP
    >>> ex.ranking[:5], ex.importances                    # doctest: +SKIP
    """
    import numpy as np
    import pandas as pd
    from sklearn.exceptions import NotFittedError
    from sklearn.inspection import permutation_importance

    if shap not in (True, False, "auto"):
        raise ValidationError(f"shap must be True, False or 'auto', got {shap!r}")
    if shap is True:
        require("shap", "shap")
    was_array = isinstance(X, np.ndarray)
    if was_array:
        if X.ndim != 2:
            raise ValidationError(f"X must be 2-dimensional, got shape {X.shape}")
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    if not isinstance(X, pd.DataFrame):
        raise ValidationError(f"X must be a DataFrame or 2-D array, got {type(X).__name__}")
    if len(X) == 0 or X.shape[1] == 0:
        raise ValidationError(f"X is empty ({X.shape[0]} rows, {X.shape[1]} columns)")
    if y is not None:
        y = pd.Series(np.asarray(y)).reset_index(drop=True)
        if len(y) != len(X):
            raise ValidationError(f"X has {len(X)} rows but y has {len(y)}")
    if n_repeats < 1 or top_k < 0:
        raise ValidationError("n_repeats must be >= 1 and top_k >= 0")
    X = X.reset_index(drop=True)
    if was_array and not isinstance(model, PredictFunction) and not _is_torch_module(model):
        model_in = _array_adapter(model)  # the model was fitted on arrays: give it arrays, not frames
    elif isinstance(model, PredictFunction) and was_array:
        model_in = PredictFunction(*_array_fns(model._predict, model._proba), task=model.task, classes=model.classes)
    else:
        model_in = model
    est = _as_estimator(model_in, y)
    classifier = _is_classifier(est)
    if y is not None and not classifier:
        require_numeric(y, "y")
    notes: list[str] = []

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(X), size=sample, replace=False)) if sample and len(X) > sample else None
    Xs = X.iloc[idx].reset_index(drop=True) if idx is not None else X
    try:
        probe = est.predict(Xs.iloc[:5])
    except NotFittedError as exc:
        raise ValidationError(f"model is not fitted: {exc}") from None
    except Exception as exc:  # wrong columns, dtypes, shapes: say so here, not deep inside permutation_importance
        raise ValidationError(f"model could not predict on X: {type(exc).__name__}: {str(exc)[:500]}") from exc
    shape = np.shape(probe)
    if not shape or shape[0] != min(5, len(Xs)):
        raise ValidationError(
            f"the model's predictions for {min(5, len(Xs))} rows have shape {shape}: "
            "predict must return one value per row"
        )
    try:
        if y is None:
            ys = pd.Series(np.asarray(est.predict(Xs)))
            notes.append("no y given: importance measures how much the model's own predictions change")
        else:
            ys = y.iloc[idx].reset_index(drop=True) if idx is not None else y
            if ys.isna().any():
                keep = ys.notna().to_numpy()
                Xs, ys = Xs[keep].reset_index(drop=True), ys[keep].reset_index(drop=True)
                notes.append(f"{int((~keep).sum())} rows with a missing y left out")
        if len(Xs) == 0:
            raise ValidationError("no rows with a known y to explain")
        if scoring is None:
            baseline, importances = _batched_importance(est, Xs, ys, n_repeats, seed, classifier)
        else:
            from sklearn.metrics import check_scoring

            result = permutation_importance(est, Xs, ys, scoring=scoring, n_repeats=n_repeats, random_state=seed)
            importances = result.importances
            baseline = float(check_scoring(est, scoring=scoring)(est, Xs, ys))
    except NotFittedError as exc:
        raise ValidationError(f"model is not fitted: {exc}") from None
    if idx is not None:
        notes.append(
            f"permutation importance on a random sample of {len(Xs):,} of {len(X):,} rows (seed {seed}); "
            "pass sample=None for all rows"
        )
    mean, std = importances.mean(axis=1), importances.std(axis=1)
    half = 1.96 * std / math.sqrt(n_repeats)
    imp = pd.DataFrame(
        {
            "feature": list(map(str, X.columns)),
            "importance": mean,
            "std": std,
            "ci_low": mean - half,
            "ci_high": mean + half,
        }
    )
    imp = imp.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    imp.insert(0, "rank", np.arange(1, len(imp) + 1))
    scorer_name = (
        scoring
        if isinstance(scoring, str)
        else ("accuracy" if classifier and scoring is None else "r2" if scoring is None else "custom")
    )
    metrics: dict[str, float] = {
        "baseline_score": baseline,
        "n_rows_used": float(len(Xs)),
        "n_repeats": float(n_repeats),
    }
    for _, row in imp.head(50).iterrows():
        metrics[f"importance.{row.feature}"] = float(row.importance)

    top = [f for f in imp["feature"][:top_k] if f in X.columns]
    Xpd = X.iloc[np.sort(rng.choice(len(X), size=pd_sample, replace=False))] if len(X) > pd_sample else X
    pdp = _partial_dependence(est, Xpd.reset_index(drop=True), top, classifier) if top else {}

    shap_out = None
    if shap is not False:
        try:
            Xsh = X.iloc[np.sort(rng.choice(len(X), size=shap_sample, replace=False))] if len(X) > shap_sample else X
            Xsh = Xsh.reset_index(drop=True)
            res = _shap_values(
                model if not isinstance(model, PredictFunction) else est, Xsh, classifier, as_array=was_array
            )
        except MissingDependencyError as exc:
            if shap is True:
                raise
            notes.append(f"SHAP values skipped: {exc}")
        except Exception as exc:  # an explainer that does not support this model
            if shap is True:
                raise ValidationError(f"SHAP failed for {type(model).__name__}: {exc}") from exc
            notes.append(f"SHAP values skipped: {type(exc).__name__}: {exc}")
        else:
            if isinstance(res, str):
                notes.append(res)
            else:
                names, values = res
                shap_out = (
                    pd.DataFrame({"feature": names, "mean_abs_shap": values})
                    .sort_values("mean_abs_shap", ascending=False, kind="stable")
                    .reset_index(drop=True)
                )
                notes.append(f"SHAP values on {min(len(X), shap_sample):,} rows")

    rules = parse_rules(checks) if checks is not None else []
    report = ExplainReport(
        kind="explain",
        title=title or f"Explainability report: {type(model).__name__}",
        metrics=metrics,
        checks=evaluate(rules, metrics),
        notes=notes,
        importances=imp,
        partial_dependence=pdp,
        shap_values=shap_out,
    )
    report.details = {
        "model": type(model).__name__,
        "task": "classification" if classifier else "regression",
        "scoring": scorer_name,
        "importances": imp.to_dict(orient="records"),
        "partial_dependence": pdp,
        "shap": shap_out.to_dict(orient="records") if shap_out is not None else None,
        "sample": {"rows": len(Xs), "of": len(X), "seed": seed},
    }
    _render(report, scorer_name)
    if log or (log is None and _has_active_run()):
        report.log()
    return report


def _has_active_run() -> bool:
    from . import tracking

    return tracking.active_run() is not None


def _render(report: ExplainReport, scorer: str) -> None:
    import numpy as np

    imp = report.importances.head(MAX_FEATURES_SHOWN)
    fig = new_figure(6.5, 0.28 * len(imp) + 1.0)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(imp))[::-1]
    ax.barh(y, imp["importance"], xerr=imp["std"], color="#1565c0", ecolor="#555", capsize=2)
    ax.set_yticks(y)
    ax.set_yticklabels([str(f)[:30] for f in imp["feature"]], fontsize=7)
    ax.set_xlabel(f"drop in {scorer} when permuted (mean ± std over repeats)", fontsize=8)
    ax.tick_params(labelsize=7)
    rows = [
        [int(r["rank"]), r["feature"], r["importance"], r["std"], r["ci_low"], r["ci_high"]] for _, r in imp.iterrows()
    ]
    report.sections.append(
        Section(
            f"Permutation importance (baseline {scorer} {report.metrics['baseline_score']:.4g})",
            figure_html(fig, "permutation importance")
            + table_html(["rank", "feature", "importance", "std", "95% low", "95% high"], rows),
        )
    )
    pdp = report.partial_dependence
    if pdp:
        n = len(pdp)
        ncols = min(3, n)
        nrows = math.ceil(n / ncols)
        fig = new_figure(3.2 * ncols, 2.4 * nrows)
        for i, (feat, res) in enumerate(pdp.items()):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            vals = np.asarray(res["values"])
            xs = res["grid"] if res["numeric"] else np.arange(len(res["grid"]))
            if vals.ndim == 1:
                ax.plot(xs, vals, marker="o", ms=3) if res["numeric"] else ax.bar(xs, vals)
            else:
                for k in range(min(vals.shape[1], 5)):
                    ax.plot(xs, vals[:, k], marker="o", ms=2, label=f"class {k}")
                ax.legend(fontsize=6)
            if not res["numeric"]:
                ax.set_xticks(xs)
                ax.set_xticklabels([str(g)[:8] for g in res["grid"]], rotation=45, fontsize=6)
            ax.set_title(str(feat)[:30], fontsize=8)
            ax.tick_params(labelsize=7)
        report.sections.append(
            Section("Partial dependence (top features; mean prediction)", figure_html(fig, "partial dependence"))
        )
    if report.shap_values is not None:
        sv = report.shap_values.head(MAX_FEATURES_SHOWN)
        fig = new_figure(6.5, 0.28 * len(sv) + 1.0)
        ax = fig.add_subplot(1, 1, 1)
        y = np.arange(len(sv))[::-1]
        ax.barh(y, sv["mean_abs_shap"], color="#6a1b9a")
        ax.set_yticks(y)
        ax.set_yticklabels([str(f)[:30] for f in sv["feature"]], fontsize=7)
        ax.set_xlabel("mean |SHAP value|", fontsize=8)
        report.sections.append(Section("SHAP values", figure_html(fig, "mean absolute SHAP values")))


class _CallableModule(types.ModuleType):
    """``aieng.explain(...)`` calls :func:`explain`; ``aieng.explain.torch_model`` stays reachable."""

    def __call__(self, *args: Any, **kwargs: Any) -> ExplainReport:
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
