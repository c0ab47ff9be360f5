"""Model quality for monitoring, and the one task inference every report kind uses.

>>> import pandas as pd
>>> quality_metrics(pd.Series([1, 0, 1]), pd.Series([1, 0, 0]), "classification")["accuracy"]
0.6666666666666666
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..exceptions import ValidationError

HIGHER_IS_BETTER = ("accuracy", "precision", "recall", "f1", "roc_auc", "r2")
LOWER_IS_BETTER = ("mae", "rmse")


TASKS = ("classification", "regression")
MAX_LABELS = 20


def infer_task(y: Any, *, fractional_labels: bool = False) -> str:
    """``classification`` or ``regression`` for a target: text, booleans and categories are labels;
    numbers are labels when they take at most 20 distinct values that are whole numbers (with
    ``fractional_labels=True``, as fairness reads ``y_true``, any at most 20 numeric values).

    >>> import pandas as pd
    >>> infer_task(pd.Series([0, 1, 1])), infer_task(pd.Series([0.5, 1.25, 2.0]))
    ('classification', 'regression')
    >>> infer_task(pd.Series([0.5, 1.25, 2.0]), fractional_labels=True)
    'classification'
    """
    import numpy as np
    import pandas as pd

    values = y.dropna() if isinstance(y, pd.Series) else pd.Series(np.asarray(y)).dropna()
    kind = values.dtype.kind
    if kind in "bOSU" or isinstance(values.dtype, pd.CategoricalDtype):
        return "classification"
    if kind in "iuf" and values.nunique() > MAX_LABELS:
        return "regression"
    if fractional_labels or kind in "iu":
        return "classification"
    return "classification" if kind == "f" and bool(((values % 1) == 0).all()) else "regression"


def check_task(task: str) -> str:
    """``task`` as given to a report: ``auto`` or one of :data:`TASKS`."""
    if task not in ("auto", *TASKS):
        raise ValidationError(f"task must be auto, classification or regression, got {task!r}")
    return task


def pos_label(labels: Sequence[Any]) -> Any:
    if 1 in labels:
        return 1
    if True in labels:
        return True
    return sorted(labels, key=str)[-1]


def is_probability(pred: Any) -> bool:
    """A float prediction column with fractional values in [0, 1]: positive-class probabilities."""
    values = pred.dropna()
    if values.dtype.kind != "f" or values.empty:
        return False
    return bool(values.between(0.0, 1.0).all() and ((values % 1) != 0).any())


def quality_metrics(y_true: Any, y_pred: Any, task: str) -> dict[str, float]:
    """Classification (accuracy, precision, recall, f1; and roc_auc when the prediction holds
    positive-class probabilities, labelled at >= 0.5) or regression (mae, rmse, r2, mean_error)
    metrics on all rows with both values present."""
    import numpy as np
    import pandas as pd
    from sklearn import metrics as skm

    frame = pd.DataFrame({"t": np.asarray(y_true), "p": np.asarray(y_pred)}).dropna()
    if frame.empty:
        return {}
    t, p = frame["t"].to_numpy(), frame["p"].to_numpy()
    if task == "classification":
        out: dict[str, float] = {}
        if is_probability(frame["p"]):
            truth = sorted(set(pd.unique(t)), key=str)
            if len(truth) > 2:
                raise ValidationError(
                    "the prediction column holds probabilities but the target has more than two labels"
                )
            pos = pos_label(truth) if truth else 1
            neg = next((lab for lab in truth if lab != pos), 0 if pos == 1 else False)
            if len(truth) == 2:
                out["roc_auc"] = float(skm.roc_auc_score(t == pos, p.astype(float)))
            p = np.where(p.astype(float) >= 0.5, pos, neg)
        labels = sorted(set(pd.unique(t)) | set(pd.unique(p)), key=str)
        out["accuracy"] = float(np.mean(t == p))
        if len(labels) <= 2:
            pos = pos_label(labels)
            kw: dict[str, Any] = {"pos_label": pos, "average": "binary", "zero_division": 0}
            if len(labels) == 1:
                kw["labels"] = labels
        else:
            kw = {"average": "macro", "zero_division": 0}
        out["precision"] = float(skm.precision_score(t, p, **kw))
        out["recall"] = float(skm.recall_score(t, p, **kw))
        out["f1"] = float(skm.f1_score(t, p, **kw))
        return out
    t, p = t.astype(float), p.astype(float)
    err = p - t
    out = {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(math.sqrt(np.mean(err**2))),
        "mean_error": float(np.mean(err)),
    }
    out["r2"] = float(skm.r2_score(t, p)) if len(t) > 1 else math.nan
    return out
