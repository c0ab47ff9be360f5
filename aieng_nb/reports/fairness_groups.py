"""Per-group metrics for fairness reports: sensitive groups and vectorized per-group confusion counts.

>>> import pandas as pd
>>> group_labels(pd.Series([1, "1", None])).tolist()
['1', "'1'", '(missing)']
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ValidationError

MISSING_GROUP = "(missing)"


def _series(values: Any, name: str) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValidationError(f"{name} must be one column, got {values.shape[1]}")
        return values.iloc[:, 0].reset_index(drop=True)
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return pd.Series(arr, name=name)


def _sensitive_frame(sensitive: Any, X: Any, n: int) -> Any:
    import numpy as np
    import pandas as pd

    if sensitive is None:
        raise ValidationError("fairness needs sensitive= (a column, several columns, or column names of X)")
    # a list of strings with a DataFrame X names columns of X (unless it is one value per row
    # and not all of them are columns: then it is the group of each row)
    if isinstance(sensitive, str) or (
        isinstance(sensitive, (list, tuple))
        and sensitive
        and all(isinstance(s, str) for s in sensitive)
        and isinstance(X, pd.DataFrame)
        and (len(sensitive) != n or all(s in X.columns for s in sensitive))
    ):
        names = [sensitive] if isinstance(sensitive, str) else list(sensitive)
        if X is None or not isinstance(X, pd.DataFrame):
            raise ValidationError(f"sensitive={sensitive!r} names columns: pass X as a DataFrame that has them")
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ValidationError(f"sensitive columns {missing} are not in X (columns: {list(X.columns)[:30]})")
        frame = X[names].reset_index(drop=True)
    elif isinstance(sensitive, pd.DataFrame):
        frame = sensitive.reset_index(drop=True)
    elif isinstance(sensitive, pd.Series):
        frame = sensitive.reset_index(drop=True).to_frame(
            name=sensitive.name if sensitive.name is not None else "group"
        )
    else:
        arr = np.asarray(sensitive)
        if arr.ndim == 1:
            frame = pd.DataFrame({"group": arr})
        elif arr.ndim == 2:
            frame = pd.DataFrame(arr, columns=[f"group{i}" for i in range(arr.shape[1])])
        else:
            raise ValidationError(f"sensitive must be 1- or 2-dimensional, got shape {arr.shape}")
    if len(frame) != n:
        raise ValidationError(f"sensitive has {len(frame)} rows but y has {n}")
    frame.columns = [str(c) for c in frame.columns]
    return pd.DataFrame({c: group_labels(frame[c]) for c in frame.columns})


def group_labels(col: Any) -> Any:
    """Group labels as text; when two distinct values print alike (``1`` and ``"1"``) every value
    is shown by its repr (``1`` vs ``'1'``) so they stay separate groups."""
    values = col.astype(object)
    present = values.notna()
    text = values.where(present, MISSING_GROUP).astype(str)
    if text[present].nunique() < values[present].nunique():
        text = values.map(repr).where(present, MISSING_GROUP)
    return text


def _grouped(frame: Any, sens: Any) -> Any:
    """``frame`` grouped by the sensitive columns (sorted, observed combinations only)."""
    keys = [sens[c].to_numpy() for c in sens.columns]
    return frame.groupby(keys if len(keys) > 1 else keys[0], sort=True)


def _classification_by_group(bt: Any, bp: Any, sens: Any) -> tuple[Any, dict[str, float], Any]:
    """Per-group count, selection rate, accuracy, TPR and FPR from confusion counts, with
    fairlearn's definitions (a rate with an empty denominator is 0, as its normalized
    confusion matrix gives); also the ``(n_groups, 4)`` TP/FP/FN/TN counts the bootstrap uses."""
    import numpy as np
    import pandas as pd

    t, p = bt.astype(bool), bp.astype(bool)
    frame = pd.DataFrame({"n": 1, "pp": p, "ok": t == p, "tp": t & p, "pos": t, "fp": p & ~t})
    sums = _grouped(frame, sens).sum()
    neg = sums["n"] - sums["pos"]
    with np.errstate(divide="ignore", invalid="ignore"):
        by_group = pd.DataFrame(
            {
                "count": sums["n"],
                "selection_rate": sums["pp"] / sums["n"],
                "accuracy": sums["ok"] / sums["n"],
                "tpr": np.where(sums["pos"] > 0, sums["tp"] / sums["pos"].where(sums["pos"] > 0, 1), 0.0),
                "fpr": np.where(neg > 0, sums["fp"] / neg.where(neg > 0, 1), 0.0),
            },
            index=sums.index,
        )
    overall = {"selection_rate": float(p.mean()), "accuracy": float((t == p).mean())}
    cells = np.column_stack([sums["tp"], sums["fp"], sums["pos"] - sums["tp"], neg - sums["fp"]]).astype(np.int64)
    return by_group, overall, cells


def _regression_by_group(yt: Any, yp: Any, sens: Any) -> tuple[Any, Any]:
    """Per-group count, mean prediction, MAE, RMSE and mean error; also the per-group means and
    variances the bootstrap uses."""
    import numpy as np
    import pandas as pd

    err = yp - yt
    frame = pd.DataFrame({"n": 1, "pred": yp, "abs": np.abs(err), "sq": err**2, "err": err})
    grouped = _grouped(frame, sens)
    sums, means = grouped["n"].sum(), grouped[["pred", "abs", "sq", "err"]].mean()
    var = grouped[["pred", "abs", "sq"]].var(ddof=0)
    stats = pd.DataFrame(
        {
            "count": sums,
            **{f"{c}_mean": means[c] for c in ("pred", "abs", "sq")},
            **{f"{c}_var": var[c] for c in ("pred", "abs", "sq")},
        }
    )
    return pd.DataFrame(
        {
            "count": sums,
            "mean_prediction": means["pred"],
            "mae": means["abs"],
            "rmse": np.sqrt(means["sq"]),
            "mean_error": means["err"],
        },
        index=sums.index,
    ), stats


def _reject_scores(yt: Any, yp: Any) -> None:
    """Probabilities or scores (floats in [0, 1] with fractional values) against a target of at
    most two labels: fairness rates need predicted labels. We refuse rather than threshold
    silently, since the right cut-off is the user's decision."""
    values = yp.dropna()
    if values.dtype.kind != "f" or values.empty or yt.nunique() > 2:
        return
    if bool(values.between(0.0, 1.0).all() and ((values % 1) != 0).any()):
        raise ValidationError(
            "y_pred holds probabilities/scores (floats in [0, 1]) but y_true has at most two labels: "
            "pass predicted labels, e.g. (model.predict_proba(X)[:, 1] >= 0.5).astype(int) or model.predict(X)"
        )
