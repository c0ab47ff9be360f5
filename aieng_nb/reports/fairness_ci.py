"""Bootstrap confidence intervals for the fairness report's headline gaps.

Classification: resampling rows with replacement (what fairlearn's ``MetricFrame(n_boot=...)``
does) only changes how many rows fall in each (group, outcome) cell, and those cell counts of a
resample are multinomial over the observed cells. So each replicate is one multinomial draw of
``4 x n_groups`` counts (TP, FP, FN, TN per group), which is exact for the percentile bootstrap
and costs the same for 1,000 rows as for 10 million. A group that a replicate happens to leave
empty is left out of that replicate's gaps, as it is from fairlearn's.

Regression: the gaps are differences of per-group means (of predictions, absolute errors and
squared errors), so each group's mean is drawn from its normal approximation (mean, variance /
count): a parametric bootstrap, accurate for all but tiny groups (which the report flags).

>>> import numpy as np
>>> counts = np.array([[30, 5, 10, 55], [20, 15, 10, 55]])   # TP, FP, FN, TN of two groups
>>> boot = classification_replicates(counts, n_boot=500, seed=0)
>>> lo, hi = percentile_interval(boot["demographic_parity_difference"], 0.95)
>>> lo < 0.05 < hi
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_N_BOOT = 1000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95


def _gap(values: np.ndarray) -> np.ndarray:
    """max - min over groups (axis 1), ignoring groups missing (NaN) from a replicate."""
    with np.errstate(invalid="ignore"):
        return np.nanmax(values, axis=1) - np.nanmin(values, axis=1)


def classification_replicates(
    counts: np.ndarray, n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED
) -> dict[str, np.ndarray]:
    """``n_boot`` bootstrap replicates of each classification gap.

    ``counts`` is ``(n_groups, 4)``: true positives, false positives, false negatives and true
    negatives per group (fairlearn's definitions: a rate with an empty denominator is 0)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(total, counts.ravel() / total, size=n_boot).reshape(n_boot, *counts.shape)
    tp, fp, fn, tn = (draws[..., i].astype(float) for i in range(4))
    n = tp + fp + fn + tn
    pos, neg = tp + fn, fp + tn
    present = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        selection = np.where(present, (tp + fp) / n, np.nan)
        accuracy = np.where(present, (tp + tn) / n, np.nan)
        tpr = np.where(present, np.where(pos > 0, tp / np.where(pos > 0, pos, 1), 0.0), np.nan)
        fpr = np.where(present, np.where(neg > 0, fp / np.where(neg > 0, neg, 1), 0.0), np.nan)
        sel_max, sel_min = np.nanmax(selection, axis=1), np.nanmin(selection, axis=1)
        ratio = np.where(sel_max > 0, sel_min / np.where(sel_max > 0, sel_max, 1), np.nan)
    tpr_gap, fpr_gap = _gap(tpr), _gap(fpr)
    return {
        "demographic_parity_difference": sel_max - sel_min,
        "demographic_parity_ratio": ratio,
        "equalized_odds_difference": np.maximum(tpr_gap, fpr_gap),
        "accuracy_difference": _gap(accuracy),
        "tpr_difference": tpr_gap,
        "fpr_difference": fpr_gap,
    }


def regression_replicates(stats: Any, n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """Replicates of the regression gaps from per-group ``count``, means and variances of the
    prediction (``pred``), absolute error (``abs``) and squared error (``sq``): a DataFrame with
    columns ``count, pred_mean, pred_var, abs_mean, abs_var, sq_mean, sq_var``."""
    rng = np.random.default_rng(seed)
    count = stats["count"].to_numpy(float)

    def draw(name: str) -> np.ndarray:
        mean, var = stats[f"{name}_mean"].to_numpy(float), stats[f"{name}_var"].to_numpy(float)
        scale = np.sqrt(np.nan_to_num(var, nan=0.0) / count)
        return rng.normal(mean, scale, size=(n_boot, len(count)))

    pred, abs_err, sq_err = draw("pred"), draw("abs"), draw("sq")
    return {
        "mae_difference": _gap(np.maximum(abs_err, 0.0)),
        "rmse_difference": _gap(np.sqrt(np.maximum(sq_err, 0.0))),
        "mean_prediction_difference": _gap(pred),
    }


def percentile_interval(replicates: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates (NaN replicates ignored),
    with numpy's default (linear) quantiles, as fairlearn's ``ci_quantiles`` use."""
    tail = (1.0 - level) / 2.0
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return (float(low), float(high))
