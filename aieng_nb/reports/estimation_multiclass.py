"""Which classes ``probability=`` names, and CBPE for several: ``probability={label: column, ...}`` (or
one column per label, in the labels' sorted order) estimates accuracy; a target with two labels takes
the binary estimate whatever the form. See :mod:`aieng_nb.reports.estimation`.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> p = rng.dirichlet([1, 1, 1], size=3000)
>>> y = np.array([rng.choice(["a", "b", "c"], p=row) for row in p])
>>> f = pd.DataFrame({"a": p[:, 0], "b": p[:, 1], "c": p[:, 2], "y": y})
>>> est = cbpe_multiclass(f, f.drop(columns="y"), "y", {"a": "a", "b": "b", "c": "c"}, 0.95, 0)
>>> bool(abs(est["accuracy"].value - p.max(axis=1).mean()) < 0.03)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..exceptions import ValidationError
from .calibration import calibrator
from .estimation import MAX_ECE, EstimatedMetric, Estimation, check_held, n_sims, probabilities


def keyed_by_labels(probability: Any, labels: list[Any]) -> Any:
    """A ``{label: column}`` mapping whose labels came as text (``a:p_a|1:p_1`` in a job spec, the
    CLI) keyed by the target's own labels where their text matches (``"1"`` -> ``1``)."""
    if not isinstance(probability, Mapping):
        return probability
    text = {str(lab): lab for lab in labels}
    return {(text.get(k, k) if k not in labels and isinstance(k, str) else k): c for k, c in probability.items()}


def one_column(probability: Any, labels: list[Any], pos_label: Any) -> tuple[Any, Any]:
    """The positive class's column (and label) when ``probability`` names one column, or lists or maps
    the labels of a target with at most two (a binary estimate: accuracy, F1, ROC AUC); None: several."""
    from .quality import pos_label as _pos

    if isinstance(probability, str) or not isinstance(probability, (Mapping, Sequence)):
        return probability, pos_label  # one column (a label such as 1 too)
    if not isinstance(probability, Mapping):
        if len(probability) == 1:
            return probability[0], pos_label
        if len(labels) > 2 or len(probability) != len(labels):
            return None, pos_label
        probability = dict(zip(labels, probability, strict=True))
    keys = list(probability)
    if len(keys) == 1 and len(labels) <= 2 and keys[0] in labels:  # {positive label: its column}
        return probability[keys[0]], keys[0]
    if len(keys) == 2 and all(lab in keys for lab in labels):
        pos = pos_label if pos_label in keys else _pos(keys)
        return probability[pos], pos
    return None, pos_label


def cbpe_multiclass(
    reference: Any, current: Any, target: str, probability: Any, confidence: float, seed: int
) -> Estimation:
    """Accuracy of the label with the highest probability: each row is right with its calibrated
    probability (each class calibrated one-vs-rest, renormalized)."""
    import numpy as np

    if not isinstance(probability, Mapping):
        labels = sorted(set(reference[target].dropna().unique()), key=str)
        if len(labels) != len(probability):
            raise ValidationError(f"{len(probability)} probability columns for {len(labels)} labels: "
                                  "pass probability={label: column, ...}")  # fmt: skip
        probability = dict(zip(labels, probability, strict=True))
    probability = keyed_by_labels(probability, list(reference[target].dropna().unique()))
    labels, cols = list(probability), list(probability.values())
    for side, frame in (("reference", reference), ("current", current)):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValidationError(f"probability columns {missing} are not in {side}")
    unmapped = sorted((lab for lab in reference[target].dropna().unique() if lab not in labels), key=str)
    if unmapped:  # labels the model has no column for (it never learned them): it gives them probability 0
        absent = {lab: f"__aieng_absent_{i}" for i, lab in enumerate(unmapped)}
        reference, current = (f.assign(**dict.fromkeys(absent.values(), 0.0)) for f in (reference, current))
        probability = {**probability, **absent}
        labels, cols = list(probability), list(probability.values())
    ref = reference[reference[target].notna() & reference[cols].notna().all(axis=1)]
    current = current[current[cols].notna().all(axis=1)]  # a row without probabilities is not estimated
    est = Estimation("cbpe", "classification")
    cal_ref, cal_cur, eces, noises = [], [], [], []
    for k, (label, col) in enumerate(probability.items()):
        p, y = probabilities(ref[col], col), (ref[target] == label).to_numpy(dtype=float)
        iso, info = calibrator(p, y, seed + k)
        eces.append(info["ece"])
        noises.append(info["noise"])
        pc = probabilities(current[col], col)
        cal_ref.append(iso.predict(p) if iso is not None else p)
        cal_cur.append(iso.predict(pc) if iso is not None else pc)
    est.calibration = {"ece": float(np.mean(eces)), "noise": float(np.mean(noises)), "per_class": eces,
                       "labels_without_column": [str(lab) for lab in unmapped]}  # fmt: skip
    if est.calibration["ece"] > MAX_ECE + est.calibration["noise"]:
        est.trusted = False
        est.reasons.append(f"poor calibration on the reference: mean ECE {est.calibration['ece']:.3f}")
    raw_cur = current[cols].to_numpy(dtype=float)
    idx = raw_cur.argmax(axis=1)
    cc = np.column_stack(cal_cur)
    cc = cc / np.maximum(cc.sum(axis=1, keepdims=True), 1e-12)
    c_correct = cc[np.arange(len(cc)), idx]
    sims = n_sims(len(cc))
    acc_s = (np.random.default_rng(seed).uniform(size=(sims, len(cc))) < c_correct[None, :]).mean(axis=1)
    a = (1 - confidence) / 2
    lo, hi = np.quantile(acc_s, [a, 1 - a]) if len(cc) else (math.nan, math.nan)
    pred_ref = np.asarray(labels, dtype=object)[ref[cols].to_numpy(dtype=float).argmax(axis=1)]
    ref_acc = float(np.mean(pred_ref == ref[target].to_numpy(dtype=object)))
    realized = None
    if target in current.columns and current[target].notna().any():
        known = current[target].notna().to_numpy()
        pred_cur = np.asarray(labels, dtype=object)[idx]
        right = pred_cur[known] == current[target].to_numpy(dtype=object)[known]
        realized = float(np.mean(right))
        check_held(est, c_correct[known], right.astype(float))
    value = float(np.mean(c_correct))
    est.metrics["accuracy"] = EstimatedMetric("accuracy", value, float(min(lo, value)), float(max(hi, value)),
                                              realized, ref_acc)  # fmt: skip
    return est
