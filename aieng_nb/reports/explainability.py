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
``aieng.explain(model, X, y)`` is this function; ``aieng.torch_model`` wraps a torch module.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import MissingDependencyError, ValidationError, require
from .base import Report
from .checks import evaluate, parse_rules, require_numeric
from .explain_compute import _batched_importance, _partial_dependence, _shap_values
from .explain_models import (
    PredictFunction,
    TorchPredictor,
    _array_adapter,
    _array_fns,
    _as_estimator,
    _is_classifier,
    _is_torch_module,
    torch_model,
)
from .explain_render import render
from .storage import attach_if_wanted

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = ["ExplainReport", "PredictFunction", "TorchPredictor", "explain", "torch_model"]

DEFAULT_SAMPLE = 20_000
DEFAULT_PD_SAMPLE = 1_000
DEFAULT_SHAP_SAMPLE = 500
DEFAULT_TOP_K = 5


@dataclass(repr=False)  # the report's one-line repr, not a dump of its fields
class ExplainReport(Report):
    """Feature importances (``importances`` DataFrame, ``ranking``), partial dependence, SHAP."""

    importances: Any = None
    partial_dependence: Any = None
    shap_values: Any = None

    @property
    def ranking(self) -> list[str]:
        """Features, most important first (by mean permutation importance)."""
        return list(self.importances["feature"]) if self.importances is not None else []


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
    workspace: Workspace | None = None,
) -> ExplainReport:
    """Explain a fitted model on ``X`` (and ``y``): see the module docstring for what and how.

    ``scoring`` is any scikit-learn scorer name or callable (default: the model's ``score``,
    accuracy for classifiers and R^2 for regressors). ``checks`` are failure rules over the
    summary metrics (``baseline_score``, ``importance.<feature>``), e.g. ``"baseline_score < 0.8"``.
    The steps: check the inputs, adapt the model, importance on a sample, partial dependence of
    the top features, SHAP, build and render the report, attach to the run.

    >>> ex = aieng.explain(model, X_test, y_test)        # doctest: +SKIP
    >>> ex.ranking[:5], ex.importances                    # doctest: +SKIP
    """
    import numpy as np

    X, y, was_array = _check_inputs(X, y, shap, n_repeats, top_k)
    est = _as_estimator(_model_for(model, was_array), y)
    classifier = _is_classifier(est)
    if y is not None and not classifier:
        require_numeric(y, "y")
    notes: list[str] = []
    rng = np.random.default_rng(seed)
    imp, baseline, n_used = _importance(est, X, y, scoring, n_repeats, sample, seed, rng, classifier, notes)
    scorer_name = (
        scoring
        if isinstance(scoring, str)
        else ("accuracy" if classifier and scoring is None else "r2" if scoring is None else "custom")
    )
    metrics: dict[str, float] = {
        "baseline_score": baseline,
        "n_rows_used": float(n_used),
        "n_repeats": float(n_repeats),
    }
    for _, row in imp.head(50).iterrows():
        metrics[f"importance.{row.feature}"] = float(row.importance)
    top = [f for f in imp["feature"][:top_k] if f in X.columns]
    Xpd = X.iloc[np.sort(rng.choice(len(X), size=pd_sample, replace=False))] if len(X) > pd_sample else X
    pdp = _partial_dependence(est, Xpd.reset_index(drop=True), top, classifier) if top else {}
    shap_out = None
    if shap is not False:
        shap_source = model if not isinstance(model, PredictFunction) else est
        shap_out = _shap_step(shap_source, X, classifier, was_array, shap, shap_sample, rng, notes)
    report = ExplainReport(
        kind="explain",
        title=title or f"Explainability report: {type(model).__name__}",
        metrics=metrics,
        checks=evaluate(parse_rules(checks) if checks is not None else [], metrics),
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
        "sample": {"rows": n_used, "of": len(X), "seed": seed},
    }
    render(report, scorer_name)
    attach_if_wanted(report, log, workspace=workspace)
    return report


def _check_inputs(X: Any, y: Any, shap: Any, n_repeats: int, top_k: int) -> tuple[Any, Any, bool]:
    """X as a DataFrame (a 2-D array gets columns x0, x1...), y as a Series; whether X was an array."""
    import numpy as np
    import pandas as pd

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
    return X.reset_index(drop=True), y, was_array


def _model_for(model: Any, was_array: bool) -> Any:
    """The model fed what it was fitted on: a model fitted on arrays gets arrays, not frames."""
    if was_array and not isinstance(model, PredictFunction) and not _is_torch_module(model):
        return _array_adapter(model)
    if isinstance(model, PredictFunction) and was_array:
        return PredictFunction(*_array_fns(model._predict, model._proba), task=model.task, classes=model.classes)
    return model


def _probe(est: Any, Xs: Any) -> None:
    """Predict on 5 rows first: a wrong model or input fails here with a readable message."""
    import numpy as np
    from sklearn.exceptions import NotFittedError

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


def _importance(
    est: Any, X: Any, y: Any, scoring: Any, n_repeats: int, sample: int | None, seed: int, rng: Any,
    classifier: bool, notes: list[str],
) -> tuple[Any, float, int]:  # fmt: skip
    """Permutation importance on the seeded sample: (the ranked table, the baseline score, rows used)."""
    import numpy as np
    import pandas as pd
    from sklearn.exceptions import NotFittedError

    idx = np.sort(rng.choice(len(X), size=sample, replace=False)) if sample and len(X) > sample else None
    Xs = X.iloc[idx].reset_index(drop=True) if idx is not None else X
    _probe(est, Xs)
    try:
        Xs, ys = _targets(est, Xs, y, idx, notes)
        if scoring is None:
            baseline, importances = _batched_importance(est, Xs, ys, n_repeats, seed, classifier)
        else:
            from sklearn.inspection import permutation_importance
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
    return imp, baseline, len(Xs)


def _targets(est: Any, Xs: Any, y: Any, idx: Any, notes: list[str]) -> tuple[Any, Any]:
    """The sample's y (the model's own predictions when no y is given), rows with a missing y left out."""
    import numpy as np
    import pandas as pd

    if y is None:
        notes.append("no y given: importance measures how much the model's own predictions change")
        return Xs, pd.Series(np.asarray(est.predict(Xs)))
    ys = y.iloc[idx].reset_index(drop=True) if idx is not None else y
    if ys.isna().any():
        keep = ys.notna().to_numpy()
        Xs, ys = Xs[keep].reset_index(drop=True), ys[keep].reset_index(drop=True)
        notes.append(f"{int((~keep).sum())} rows with a missing y left out")
    if len(Xs) == 0:
        raise ValidationError("no rows with a known y to explain")
    return Xs, ys


def _shap_step(
    model: Any, X: Any, classifier: bool, was_array: bool, shap: Any, shap_sample: int, rng: Any, notes: list[str]
) -> Any:
    """Mean |SHAP| per feature (a DataFrame), or None with a note saying why it was skipped."""
    import numpy as np
    import pandas as pd

    try:
        Xsh = X.iloc[np.sort(rng.choice(len(X), size=shap_sample, replace=False))] if len(X) > shap_sample else X
        res = _shap_values(model, Xsh.reset_index(drop=True), classifier, as_array=was_array)
    except MissingDependencyError as exc:
        if shap is True:
            raise
        notes.append(f"SHAP values skipped: {exc}")
        return None
    except Exception as exc:  # an explainer that does not support this model
        if shap is True:
            raise ValidationError(f"SHAP failed for {type(model).__name__}: {exc}") from exc
        notes.append(f"SHAP values skipped: {type(exc).__name__}: {exc}")
        return None
    if isinstance(res, str):
        notes.append(res)
        return None
    names, values = res
    notes.append(f"SHAP values on {min(len(X), shap_sample):,} rows")
    return (
        pd.DataFrame({"feature": names, "mean_abs_shap": values})
        .sort_values("mean_abs_shap", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


# ``aieng.explain.torch_model(...)`` was documented while aieng.explain was a callable module; the
# names stay reachable from the function (``aieng.torch_model`` is the name now)
explain.torch_model = torch_model  # type: ignore[attr-defined]
explain.PredictFunction = PredictFunction  # type: ignore[attr-defined]
