"""The computations of an explainability report: permutation importance, partial dependence, SHAP.

>>> import numpy as np
>>> _score(np.array([1, 0]), np.array([1, 1]), classifier=True)
0.5
"""

from __future__ import annotations

from typing import Any

from ..exceptions import require

GRID_RESOLUTION = 20


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
