"""Scoring registered versions on a held-out snapshot once, and metrics (with a paired bootstrap) from it.

Every gate reads the same :class:`Scored` predictions, so a promotion decision scores each model
exactly once on the snapshot. A metric is a function of column sums of per-row statistics, so the
bootstrap resamples rows (the same rows for both models: paired) by summing those statistics.

>>> import numpy as np
>>> y = np.array([1, 0, 1, 1]); p = np.array([1, 0, 0, 1])
>>> float(round(metric_value("accuracy", row_stats("accuracy", y, p, "classification", 1)), 2))
0.75
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..exceptions import ValidationError
from ..workspace import Workspace, current
from .client import mlflow_errors, mlflow_uris, parse_ref, resolve_version

_CACHE_SIZE = 8
_models: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
_lock = threading.Lock()


def load_model(ref: str, *, workspace: Workspace | None = None, record_use: bool = True) -> Any:
    """The MLflow pyfunc model of a registered version (``churn@champion``, ``churn/3``).

    Inside an active run (a scoring job) the run is tagged with the version it used, so
    ``aieng lineage`` can follow a version forward to the jobs that scored with it.

    >>> model = load_model("churn@champion")     # doctest: +SKIP
    >>> model.predict(fresh_df)                   # doctest: +SKIP
    """
    from ..exceptions import check_type

    check_type(ref, str, "model reference (churn@champion, churn/3)")
    ws = workspace or current()
    name, version = resolve_version(ref, ws)
    model = _cached_model(ws, name, version)
    if record_use:
        from .. import audit, tracking

        run = tracking.active_run()
        if run is not None:
            tracking.set_tags({"aieng.model.used": f"{name}/{version}", "aieng.model.ref": str(parse_ref(ref))})
            audit.append("model.use", {"name": name, "version": version, "run_id": run.id}, workspace=ws)
    return model


def _cached_model(ws: Workspace, name: str, version: str) -> Any:
    key = (ws.tracking_uri, name, version)
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
    with mlflow_errors(f"model {name} v{version}"), mlflow_uris(ws):
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    with _lock:
        _models[key] = model
        while len(_models) > _CACHE_SIZE:
            _models.popitem(last=False)
    return model


def clear_cache() -> None:
    with _lock:
        _models.clear()
        _scores.clear()


@dataclass
class EvalData:
    """The held-out snapshot both models are scored on."""

    ref: str  # name@version
    digest: str
    frame: Any
    target: str
    task: str
    pos_label: Any

    @property
    def y(self) -> Any:
        return self.frame[self.target].to_numpy()


def evaluation_data(snapshot: str, target: str, task: str | None = None, pos_label: Any = None) -> EvalData:
    import pandas as pd

    from .. import snapshots
    from ..reports.quality import infer_task as _infer_task

    digest, name, version = snapshots.resolve(snapshot)
    frame = snapshots.load(snapshot)
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"evaluation snapshot {snapshot!r} is a {type(frame).__name__}, not a table")
    if target not in frame.columns:
        raise ValidationError(
            f"evaluation snapshot {snapshot!r} has no target column {target!r} (columns: {list(frame.columns)[:30]})"
        )
    if frame[target].isna().any():
        frame = frame[frame[target].notna()].reset_index(drop=True)
    if len(frame) == 0:
        raise ValidationError(f"evaluation snapshot {snapshot!r} has no rows with a target")
    resolved = task or _infer_task(frame[target])
    if resolved == "classification" and pos_label is None:
        labels = sorted(set(frame[target].unique()), key=str)
        pos_label = 1 if 1 in labels else (True if True in labels else labels[-1])
    ref = f"{name}@{version}" if name else digest[:12]
    return EvalData(ref, digest, frame, target, resolved, pos_label)


def features_for(model: Any, data: EvalData, features: list[str] | None) -> Any:
    """The model's inputs: named features, else its signature's inputs, else all but the target."""
    cols = features
    if cols is None:
        try:
            schema = model.metadata.get_input_schema()
            names = schema.input_names() if schema is not None and schema.has_input_names() else None
        except Exception:  # noqa: BLE001 - a model without a usable signature
            names = None
        cols = [c for c in names if isinstance(c, str)] if names else None
    if cols is None:
        return data.frame.drop(columns=[data.target])
    missing = [c for c in cols if c not in data.frame.columns]
    if missing:
        raise ValidationError(f"evaluation snapshot {data.ref} lacks the model's input columns {missing}")
    return data.frame[cols]


@dataclass
class Scored:
    """One model's predictions on the evaluation snapshot."""

    name: str
    version: str
    y_pred: Any
    seconds: float


_scores: OrderedDict[tuple[str, str, str, str, str], Scored] = OrderedDict()


def score(
    name: str, version: str, data: EvalData, features: list[str] | None = None, ws: Workspace | None = None
) -> Scored:
    """Predictions of one version on the snapshot (computed once per version and snapshot)."""
    import numpy as np

    ws = ws or current()
    key = (ws.tracking_uri, name, version, data.digest, ",".join(features or []))
    with _lock:
        if key in _scores:
            return _scores[key]
    model = _cached_model(ws, name, version)
    X = features_for(model, data, features)
    t0 = time.perf_counter()
    try:
        pred = model.predict(X)
    except Exception as exc:
        raise ValidationError(
            f"model {name} v{version} could not score snapshot {data.ref}: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    y_pred = np.asarray(pred)
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred[:, 0]
    if y_pred.ndim != 1 or len(y_pred) != len(data.frame):
        raise ValidationError(
            f"model {name} v{version} returned predictions of shape {y_pred.shape} for {len(data.frame)} rows"
        )
    scored = Scored(name, version, y_pred, time.perf_counter() - t0)
    with _lock:
        _scores[key] = scored
        while len(_scores) > _CACHE_SIZE:
            _scores.popitem(last=False)
    return scored


# ---- metrics from per-row statistics ------------------------------------------------------------

_CLASS_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")
_REG_METRICS = ("mae", "mse", "rmse", "r2")


def row_stats(metric: str, y: Any, p: Any, task: str, pos_label: Any) -> Any:
    """Per-row statistics whose column sums determine ``metric`` (shape rows x k)."""
    import numpy as np

    if task == "classification":
        if metric not in _CLASS_METRICS:
            raise ValidationError(f"metric {metric!r} is for regression; this is a classification task")
        if metric != "accuracy" and len(set(np.unique(y).tolist()) | set(np.unique(p).tolist())) > 2:
            raise ValidationError(f"metric {metric!r} needs a binary target; use accuracy for several classes")
        if metric == "accuracy":
            return (y == p).astype(float)[:, None]
        yt, yp = y == pos_label, p == pos_label
        return np.column_stack([yt & yp, ~yt & yp, yt & ~yp, ~yt & ~yp]).astype(float)  # tp fp fn tn
    if metric not in _REG_METRICS:
        raise ValidationError(f"metric {metric!r} is for classification; this is a regression task")
    yt, yp = y.astype(float), p.astype(float)
    err = yp - yt
    return np.column_stack([np.abs(err), err**2, yt, yt**2])


def metric_value(metric: str, stats: Any, sums: Any = None) -> Any:
    """``metric`` from the column sums of its row statistics (``sums`` may be a (B, k) array)."""
    import numpy as np

    n = stats.shape[0]
    s = stats.sum(axis=0) if sums is None else sums
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "accuracy":
            return s[..., 0] / n
        if metric in ("precision", "recall", "f1", "balanced_accuracy"):
            tp, fp, fn, tn = s[..., 0], s[..., 1], s[..., 2], s[..., 3]
            if metric == "precision":
                return np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
            if metric == "recall":
                return np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1e-300), 0.0)
            if metric == "f1":
                return np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-300), 0.0)
            tpr = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1e-300), 0.0)
            tnr = np.where(tn + fp > 0, tn / np.maximum(tn + fp, 1e-300), 0.0)
            return (tpr + tnr) / 2
        if metric == "mae":
            return s[..., 0] / n
        if metric == "mse":
            return s[..., 1] / n
        if metric == "rmse":
            return np.sqrt(s[..., 1] / n)
        if metric == "r2":
            sst = s[..., 3] - s[..., 2] ** 2 / n
            return np.where(sst > 0, 1 - s[..., 1] / np.where(sst > 0, sst, 1.0), 0.0)
    raise ValidationError(f"unknown metric {metric!r}")


def paired_bootstrap(
    metric: str, champ: Any, chall: Any, higher_is_better: bool, *, resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """CI of the challenger's advantage (positive = better) over row resamples shared by both models."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = champ.shape[0]
    both = np.concatenate([champ, chall], axis=1)
    k = champ.shape[1]
    chunk = max(1, min(resamples, 2_000_000 // max(n * both.shape[1], 1)))
    deltas = []
    done = 0
    while done < resamples:
        c = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(c, n))
        sums = both[idx].sum(axis=1)  # (c, 2k)
        a = metric_value(metric, champ, sums[:, :k])
        b = metric_value(metric, chall, sums[:, k:])
        deltas.append(b - a if higher_is_better else a - b)
        done += c
    d = np.concatenate(deltas)
    alpha = (1 - confidence) / 2
    return float(np.quantile(d, alpha)), float(np.quantile(d, 1 - alpha))
