"""Performance estimated before labels arrive: CBPE for classifiers, direct loss estimation for regressors.

**Classifiers** (confidence-based performance estimation, as NannyML's CBPE): the model's
positive-class probabilities are calibrated on the labelled reference (isotonic regression or Platt
scaling, whichever has the lower cross-fitted Brier score, kept only when that beats the raw
probabilities), then each current row is a coin with the
calibrated probability: the expected confusion matrix gives accuracy and F1, the expected pair
ranking gives ROC AUC, and drawing the labels from those coins gives the confidence band (the
spread of the realized metric if the probabilities are right). Several classes: ``probability``
maps each label to its column; accuracy is estimated.

**Regressors** (direct loss estimation, as NannyML's DLE): a gradient-boosting model learns the
absolute and the squared error from the reference's features and predictions; its mean on the
current batch estimates MAE and RMSE; its cross-fitted residuals give the band.

The estimate cannot be trusted when the reference shows poor calibration (expected calibration
error beyond :data:`MAX_ECE` plus its sampling noise; for regressors: the cross-fitted MAE
estimate off by more than :data:`MAX_DLE_ERROR`), or when more than :data:`MAX_OUT_OF_SUPPORT` of
the current rows lie outside the reference's support (a numeric feature outside its range, an
unseen category). Estimation assumes no concept drift (P(y|x) unchanged): that it cannot see. Once
the current batch has labels, ``calibration['current_held']`` says whether the calibrated
probabilities held on it (the Hosmer-Lemeshow test does not reject them at :data:`HELD_ALPHA`).

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> def batch(n):
...     p = rng.uniform(size=n)
...     return pd.DataFrame({"x": p, "p": p, "y": (rng.uniform(size=n) < p).astype(int)})
>>> est = estimate(batch(4000), batch(4000).drop(columns="y"), target="y", probability="p")
>>> est.method, est.trusted, abs(est["accuracy"].value - 0.75) < 0.02
('cbpe', True, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..exceptions import ValidationError
from .calibration import calibrator, ece, hosmer_lemeshow

MAX_ECE = 0.05
HELD_ALPHA = 0.05  # once labels exist: calibration held on the batch unless Hosmer-Lemeshow rejects it at 5%
MAX_DLE_ERROR = 0.10
MAX_OUT_OF_SUPPORT = 0.10
SUPPORT_MARGIN = 0.10  # a numeric value is outside the support beyond its range widened by 10% on each side
CONFIDENCE = 0.95
MAX_SIM_CELLS = 4_000_000  # simulated labels per band (rows x draws)
DEFAULT_DROP = 0.03  # the default rule of a monitoring report: estimated_accuracy_drop > 0.03


@dataclass
class EstimatedMetric:
    """One estimated metric, its band, and the realized value when the labels are there."""

    name: str
    value: float
    low: float
    high: float
    realized: float | None = None
    reference: float | None = None

    @property
    def error(self) -> float | None:
        return None if self.realized is None else self.value - self.realized


@dataclass
class Estimation:
    """What :func:`estimate` found; ``est["accuracy"].value``, ``est.trusted``, ``est.reasons``."""

    method: str  # "cbpe" or "dle"
    task: str
    metrics: dict[str, EstimatedMetric] = field(default_factory=dict)
    trusted: bool = True
    reasons: list[str] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)
    out_of_support: float = 0.0
    confidence: float = CONFIDENCE
    n_rows: int = 0

    def __getitem__(self, name: str) -> EstimatedMetric:
        return self.metrics[name]

    def __contains__(self, name: object) -> bool:
        return name in self.metrics

    def summary_metrics(self) -> dict[str, float]:
        """The flat metrics a report adds (``estimated_accuracy``, ``estimated_accuracy_drop`` ...)."""
        from .quality import HIGHER_IS_BETTER

        out: dict[str, float] = {"estimation_trusted": 1.0 if self.trusted else 0.0,
                                 "out_of_support_share": self.out_of_support}  # fmt: skip
        if "ece" in self.calibration:
            out["calibration_ece"] = float(self.calibration["ece"])
        for m in self.metrics.values():
            out[f"estimated_{m.name}"] = m.value
            out[f"estimated_{m.name}_low"], out[f"estimated_{m.name}_high"] = m.low, m.high
            if m.reference is not None:
                higher = m.name in HIGHER_IS_BETTER
                key = f"estimated_{m.name}_drop" if higher else f"estimated_{m.name}_increase"
                out[key] = m.reference - m.value if higher else m.value - m.reference
            if m.error is not None:
                out[f"estimation_error_{m.name}"] = m.error
        return {k: float(v) for k, v in out.items() if v is not None and math.isfinite(float(v))}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = {k: {**asdict(m), "error": m.error} for k, m in self.metrics.items()}
        return d

    def table_rows(self) -> list[list[Any]]:
        nan = math.nan
        return [
            [m.name, m.reference if m.reference is not None else nan, m.value, m.low, m.high,
             m.realized if m.realized is not None else nan, m.error if m.error is not None else nan]
            for m in self.metrics.values()
        ]  # fmt: skip


def estimate(
    reference: Any,
    current: Any,
    *,
    target: str,
    probability: str | Sequence[str] | Mapping[Any, str] | None = None,
    prediction: str | None = None,
    features: Sequence[str] | None = None,
    task: str = "auto",
    pos_label: Any = None,
    threshold: float = 0.5,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Estimation:
    """Estimate the model's performance on ``current`` from the labelled ``reference``.

    Classification needs ``probability`` (the positive class's column, or ``{label: column}`` for
    several classes) in both frames; regression needs ``prediction`` and the ``features``. When
    ``current`` has the target too, each metric also carries its realized value.
    """
    from .quality import check_task, infer_task

    check_task(task)
    if target not in reference.columns:
        raise ValidationError(f"estimation needs the target column {target!r} in the reference")
    resolved = infer_task(reference[target]) if task == "auto" else task
    if resolved == "classification":
        if probability is None:
            raise ValidationError("estimating a classifier needs its probabilities: pass probability=COLUMN")
        est = _cbpe(reference, current, target, probability, prediction, pos_label, threshold, confidence, seed)
    else:
        if prediction is None:
            raise ValidationError("estimating a regressor needs its predictions: pass prediction=COLUMN")
        from .loss_estimation import dle

        est = dle(reference, current, target, prediction, list(features or []), confidence, seed)
    cols = [c for c in (features or []) if c in reference.columns and c in current.columns]
    est.out_of_support = out_of_support(reference, current, cols)
    if est.out_of_support > MAX_OUT_OF_SUPPORT:
        est.trusted = False
        est.reasons.append(
            f"covariate shift beyond the reference's support: {est.out_of_support:.1%} of current rows lie "
            f"outside it (more than {MAX_OUT_OF_SUPPORT:.0%})"
        )
    est.confidence, est.n_rows = confidence, len(current)
    return est


def out_of_support(reference: Any, current: Any, columns: Sequence[str]) -> float:
    """Share of current rows with a numeric feature outside the reference's range (widened by
    :data:`SUPPORT_MARGIN` of it on each side: new rows from the same population fall just past a
    sample's extremes, 2 in n+1 of them a feature) or an unseen category."""
    import numpy as np

    if not len(current) or not columns:
        return 0.0
    outside = np.zeros(len(current), dtype=bool)
    for col in columns:
        r, c = reference[col], current[col]
        if r.dtype.kind in "iuf" and c.dtype.kind in "iuf":
            rv = r.to_numpy(dtype=float, na_value=np.nan)
            if not np.isfinite(rv).any():
                continue
            cv = c.to_numpy(dtype=float, na_value=np.nan)
            lo, hi = np.nanmin(rv), np.nanmax(rv)
            margin = SUPPORT_MARGIN * (hi - lo)  # a sample's range is narrower than its population's
            outside |= (cv < lo - margin) | (cv > hi + margin)
        elif r.dtype.kind in "OSUb" or str(r.dtype) == "category":
            outside |= (~c.isin(set(r.dropna().unique())) & c.notna()).to_numpy()
    return float(outside.mean())


def single_thread() -> Any:
    """A context where OpenMP/BLAS run one thread: small gradient-boosting fits in a loop lose far
    more to thread start-up and contention (10-100x on a loaded 2-core machine) than they gain."""
    import sklearn.ensemble  # noqa: F401 - load its OpenMP runtime before limiting it
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def probability_columns(probability: Any) -> list[str]:
    """The column names ``probability=`` names (one, a list, or a ``{label: column}`` mapping)."""
    named = named_as_text(probability)
    if named is None:
        return []
    return [named] if isinstance(named, str) else list(named.values() if isinstance(named, Mapping) else named)


def named_as_text(probability: Any) -> Any:
    """``probability=`` with its column names as text, as a monitoring report names columns (0 -> "0")."""
    if probability is None or isinstance(probability, str):
        return probability
    if isinstance(probability, Mapping):
        return {label: str(c) for label, c in probability.items()}
    if isinstance(probability, Sequence):
        return [str(c) for c in probability]
    return str(probability)  # one column named by a number


def for_monitor(
    reference: Any, current: Any, target: str | None, prediction: str | None, probability: Any, task: str,
    features: list[str], metrics: dict[str, float], notes: list[str],
) -> Estimation | None:  # fmt: skip
    """The estimate a monitoring report adds (None when it does not apply), its metrics and notes."""
    from .quality import infer_task, is_probability

    if target is None or target not in reference.columns:
        if probability is not None:
            notes.append("probability given but the reference has no target column: performance is not estimated")
        return None
    labelled = target in current.columns and current[target].notna().any()
    if probability is None:
        resolved = infer_task(reference[target]) if task == "auto" else task
        if prediction is None or prediction not in reference.columns:
            return None
        if resolved != "regression":  # a regressor is estimated with labels too: estimated beside realized
            if not labelled:
                notes.append("current has no target: pass probability=COLUMN to estimate the classifier's performance")
            return None
    pred = prediction
    if probability is not None and pred is not None:
        both = pred in reference.columns and pred in current.columns
        pred = pred if both and not is_probability(reference[pred]) else None
    if probability is None:
        from .loss_estimation import too_few_rows

        if too_few_rows(reference, target, pred, notes):
            return None
    est = estimate(reference, current, target=target, probability=probability, prediction=pred,
                   features=features, task=task)  # fmt: skip
    metrics.update(est.summary_metrics())
    if not est.metrics:
        notes.append("no current row has the model's probabilities (all missing): performance is not estimated")
    if not est.trusted:
        notes.append("the performance estimate cannot be trusted: " + "; ".join(est.reasons))
    if est.calibration.get("current_held") is False:
        notes.append(f"with this batch's labels, the calibrated probabilities did not hold on it (Hosmer-Lemeshow "
                     f"p = {est.calibration['current_hl_p']:.2g}): the estimate missed what changed")  # fmt: skip
    return est


# ---- classification: CBPE -----------------------------------------------------------------------


def _cbpe(
    reference: Any, current: Any, target: str, probability: Any, prediction: str | None, pos_label: Any,
    threshold: float, confidence: float, seed: int,
) -> Estimation:  # fmt: skip
    import numpy as np

    from .estimation_multiclass import cbpe_multiclass, keyed_by_labels, one_column
    from .quality import pos_label as _pos

    labels = sorted(set(reference[target].dropna().unique()), key=str)
    probability = keyed_by_labels(probability, labels)
    col, pos_label = one_column(probability, labels, pos_label)
    if col is None:
        return cbpe_multiclass(reference, current, target, probability, confidence, seed)
    for side, frame in (("reference", reference), ("current", current)):
        if col not in frame.columns:
            raise ValidationError(f"probability column {col!r} is not in {side}")
    ref = reference[reference[target].notna() & reference[col].notna()]
    if len(ref) == 0:
        raise ValidationError("estimation needs reference rows with both target and probability")
    labels = sorted(set(ref[target].unique()), key=str)
    if len(labels) > 2:
        raise ValidationError("the target has more than two labels: pass probability={label: column, ...}")
    pos = pos_label if pos_label is not None else _pos(labels)
    p_ref, y_ref = probabilities(ref[col], col), (ref[target] == pos).to_numpy(dtype=float)
    iso, calib = calibrator(p_ref, y_ref, seed)
    est = Estimation("cbpe", "classification", calibration=calib)
    limit = MAX_ECE + calib["noise"]
    if calib["ece"] > limit:
        est.trusted = False
        est.reasons.append(f"poor calibration on the reference: ECE {calib['ece']:.3f} > {limit:.3f}")
    cur = current[current[col].notna()]
    p_cur = probabilities(cur[col], col)
    pred = (lambda f, p: (f[prediction] == pos).to_numpy()) if prediction else (lambda f, p: p >= threshold)
    c_cur = iso.predict(p_cur) if iso is not None else p_cur
    c_ref = iso.predict(p_ref) if iso is not None else p_ref
    values = _binary_metrics(p_cur, c_cur, pred(cur, p_cur), confidence, seed)
    realized_ref = _binary_realized(p_ref, y_ref, pred(ref, p_ref))
    has_truth = target in cur.columns and cur[target].notna().any()
    realized = None
    if has_truth:
        known = cur[target].notna().to_numpy()
        y_cur = (cur[target][known] == pos).to_numpy(dtype=float)
        realized = _binary_realized(p_cur[known], y_cur, pred(cur, p_cur)[known])
        # once labels exist: did the calibrated probabilities hold on this batch (CBPE's one assumption)?
        # Held unless the Hosmer-Lemeshow test rejects them at HELD_ALPHA (an ECE within a fixed
        # tolerance plus its noise accepted errors of 0.1 and more on a few hundred rows)
        check_held(est, c_cur[known], y_cur)
    for name, (value, low, high) in values.items():
        est.metrics[name] = EstimatedMetric(name, value, low, high, realized.get(name) if realized else None,
                                            realized_ref.get(name))  # fmt: skip
    est.calibration["reference_estimated_accuracy"] = float(np.mean(np.where(pred(ref, p_ref), c_ref, 1 - c_ref)))
    return est


def check_held(est: Estimation, c: Any, y: Any) -> None:
    """Once labels exist: whether calibrated probabilities ``c`` held on the batch's outcomes ``y``."""
    err, noise = ece(c, y)
    _, p_value = hosmer_lemeshow(c, y)
    est.calibration.update(current_ece=err, current_noise=noise, current_hl_p=p_value,
                           current_held=p_value >= HELD_ALPHA)  # fmt: skip


def probabilities(values: Any, col: str) -> Any:
    """Column ``col`` as floats in [0, 1] (NaN where missing), else one clear error."""
    import numpy as np

    try:
        p = values.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):  # text such as "yes": a label column, not a probability
        raise ValidationError(f"probability column {col!r} must hold probabilities in [0, 1], "
                              f"not {values.dtype} values such as {values.dropna().iloc[0]!r}") from None  # fmt: skip
    seen = p[~np.isnan(p)]
    if len(seen) and (seen.min() < 0 or seen.max() > 1):
        raise ValidationError(f"probability column {col!r} must hold probabilities in [0, 1]")
    return p


def n_sims(n: int) -> int:
    """How many label draws a band simulates for ``n`` rows (at most :data:`MAX_SIM_CELLS` cells)."""
    return int(max(50, min(400, MAX_SIM_CELLS // max(n, 1))))


def _binary_metrics(
    score: Any, c: Any, yhat: Any, confidence: float, seed: int
) -> dict[str, tuple[float, float, float]]:
    """Expected accuracy, F1 and ROC AUC of predictions ``yhat`` (scores ``score``) when each row is
    positive with probability ``c``, and the band of each from labels drawn with those odds."""
    import numpy as np
    from scipy.stats import rankdata

    n = len(c)
    if n == 0:
        return {}
    rng = np.random.default_rng(seed)
    sims = n_sims(n)
    Y = rng.uniform(size=(sims, n)) < c[None, :]
    yh = yhat.astype(bool)
    acc_s = (Y == yh[None, :]).mean(axis=1)
    tp = (Y & yh[None, :]).sum(axis=1)
    fp = (~Y & yh[None, :]).sum(axis=1)
    fn = (Y & ~yh[None, :]).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1_s = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        ranks = rankdata(score)
        n1 = Y.sum(axis=1)
        auc_s = (Y.astype(float) @ ranks - n1 * (n1 + 1) / 2) / (n1 * (n - n1))
    e_tp, e_fp, e_fn = float(np.sum(c[yh])), float(np.sum(1 - c[yh])), float(np.sum(c[~yh]))
    point = {
        "accuracy": float(np.mean(np.where(yh, c, 1 - c))),
        "f1": 2 * e_tp / (2 * e_tp + e_fp + e_fn) if (2 * e_tp + e_fp + e_fn) > 0 else 0.0,
        "roc_auc": float(np.nanmean(auc_s)) if np.isfinite(auc_s).any() else math.nan,
    }
    a = (1 - confidence) / 2
    out = {}
    for name, s in (("accuracy", acc_s), ("roc_auc", auc_s), ("f1", f1_s)):
        s = s[np.isfinite(s)]
        if math.isfinite(point[name]) and len(s):
            lo, hi = np.quantile(s, [a, 1 - a])
            out[name] = (point[name], float(min(lo, point[name])), float(max(hi, point[name])))
    return out


def _binary_realized(score: Any, y: Any, yhat: Any) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import f1_score, roc_auc_score

    if len(y) == 0:
        return {}
    yb, yh = y.astype(bool), yhat.astype(bool)
    out = {"accuracy": float(np.mean(yb == yh)), "f1": float(f1_score(yb, yh, zero_division=0))}
    if 0 < yb.sum() < len(yb):
        out["roc_auc"] = float(roc_auc_score(yb, score))
    return out
