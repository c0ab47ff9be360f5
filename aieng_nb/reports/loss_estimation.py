"""Direct loss estimation for regressors (as NannyML's DLE): a model of the error, before labels arrive.

A gradient-boosting model learns the absolute and the squared error from the reference's features
and predictions; its mean on the current batch estimates MAE and RMSE, and its cross-fitted
residuals on the reference give the band. The estimate is not trusted when the cross-fitted MAE
estimate is off by more than :data:`~aieng_nb.reports.estimation.MAX_DLE_ERROR` on the reference.
"""

from __future__ import annotations

import math
from typing import Any

from ..exceptions import ValidationError
from .estimation import MAX_DLE_ERROR, EstimatedMetric, Estimation, single_thread

MIN_REFERENCE_ROWS = 20  # the fewest labelled reference rows the loss model learns from


def too_few_rows(reference: Any, target: str, prediction: str | None, notes: list[str]) -> bool:
    """Whether a regressor's reference is too small to estimate from (a monitoring report notes it
    instead of failing)."""
    if prediction is None or prediction not in reference.columns:
        return False
    n = int((reference[target].notna() & reference[prediction].notna()).sum())
    if n >= MIN_REFERENCE_ROWS:
        return False
    notes.append(f"the reference has {n} labelled rows, fewer than the {MIN_REFERENCE_ROWS} the loss model needs: "
                 "performance is not estimated")  # fmt: skip
    return True


def dle(
    reference: Any, current: Any, target: str, prediction: str, features: list[str], confidence: float, seed: int
) -> Estimation:
    import numpy as np
    from scipy.stats import norm
    from sklearn.ensemble import HistGradientBoostingRegressor

    for side, frame in (("reference", reference), ("current", current)):
        if prediction not in frame.columns:
            raise ValidationError(f"prediction column {prediction!r} is not in {side}")
    cols = [c for c in features if c in current.columns and reference[c].dtype.kind in "iufb"] + [prediction]
    ref = reference[reference[target].notna() & reference[prediction].notna()]
    if len(ref) < MIN_REFERENCE_ROWS:
        raise ValidationError(f"direct loss estimation needs at least {MIN_REFERENCE_ROWS} labelled reference rows")
    X = ref[cols].to_numpy(dtype=float)
    err = ref[prediction].to_numpy(dtype=float) - ref[target].to_numpy(dtype=float)
    abs_e, sq_e = np.abs(err), err**2
    folds = np.random.default_rng(seed).integers(0, 2, len(ref))
    crossed = np.empty((len(ref), 2))
    models = []
    with single_thread():
        for j, loss in enumerate((abs_e, sq_e)):
            for k in (0, 1):
                m = HistGradientBoostingRegressor(max_iter=100, random_state=seed)
                crossed[folds == k, j] = m.fit(X[folds != k], loss[folds != k]).predict(X[folds == k])
            models.append(HistGradientBoostingRegressor(max_iter=100, random_state=seed).fit(X, loss))
    crossed = np.maximum(crossed, 0)
    fold_err = [abs(crossed[folds == k, 0].mean() - abs_e[folds == k].mean()) / max(abs_e[folds == k].mean(), 1e-12)
                for k in (0, 1) if (folds == k).any()]  # fmt: skip
    est = Estimation("dle", "regression", calibration={"dle_relative_error": float(max(fold_err))})
    if max(fold_err) > MAX_DLE_ERROR:
        est.trusted = False
        est.reasons.append(f"the loss model misjudges the reference's error by {max(fold_err):.1%} (cross-fitted)")
    Xc = current[cols].to_numpy(dtype=float)
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    n = max(len(Xc), 1)
    with single_thread():
        a_hat, s_hat = np.maximum(models[0].predict(Xc), 0), np.maximum(models[1].predict(Xc), 0)
    mae, mse = float(a_hat.mean()), float(s_hat.mean())
    se_mae = float(np.std(abs_e - crossed[:, 0]) / math.sqrt(n))
    rmse = math.sqrt(mse)
    se_rmse = float(np.std(sq_e - crossed[:, 1]) / math.sqrt(n)) / max(2 * rmse, 1e-12)
    realized: dict[str, float] = {}
    if target in current.columns and current[target].notna().any():
        known = current[target].notna() & current[prediction].notna()
        e = current[prediction][known].to_numpy(dtype=float) - current[target][known].to_numpy(dtype=float)
        realized = {"mae": float(np.mean(np.abs(e))), "rmse": float(math.sqrt(np.mean(e**2)))}
    ref_vals = {"mae": float(abs_e.mean()), "rmse": float(math.sqrt(sq_e.mean()))}
    for name, value, se in (("mae", mae, se_mae), ("rmse", rmse, se_rmse)):
        est.metrics[name] = EstimatedMetric(name, value, max(0.0, value - z * se), value + z * se,
                                            realized.get(name), ref_vals[name])  # fmt: skip
    return est
