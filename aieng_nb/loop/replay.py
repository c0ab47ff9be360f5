"""Replaying a time-ordered table through the loop, batch by batch, to compare retraining policies.

``replay(data, time_column="date", target="y", batch_size=500)`` cuts the table into consecutive
batches and, prequentially (each batch is scored before its labels are known), runs every policy
on the same batches:

* ``static``: the first model, never retrained;
* ``periodic:K``: retrained every K batches on the recent window, replaced without gates;
* ``loop``: the loop's machinery in-process: each batch is monitored against the champion's
  reference (:func:`aieng_nb.monitor` with the model's probabilities, so the performance is
  *estimated* before labels arrive: the rule ``estimated_accuracy_drop > 0.03``), and the newest
  labelled batch is checked for a realized drop; a breach retrains a challenger on a recent
  window of labelled batches chosen by validation, the gates
  (:func:`aieng_nb.registry.gates.prediction_gates`: the metric gate with its paired bootstrap,
  the fairness gate when ``sensitive`` is given) decide on the later half of the newest labelled
  batch, a promoted challenger is refit on all of it, checked on the next labelled batch and
  rolled back when worse by more than the rollback margin. The estimate's reference is the newest
  labelled batches the champion never learned from, among those labelled before the batch was
  scored.

Labels are held back ``label_delay`` batches: the labels of batch ``t - label_delay`` arrive after
batch ``t`` is scored, and every label read goes through :class:`Labels`, which refuses a batch
before its time and keeps the log of reads (``result.label_reads``). Time is simulated: no cron, no
waiting. Without ``loop=`` the model is scikit-learn's histogram gradient boosting of the task's
kind, on the numeric columns and, as categories, the text columns of 2 to 255 values (but a text
sensitive column, which keeps its groups' names); ``loop=NAME`` runs that loop's own notebooks
as jobs, its gate file, promotion, post-promotion check and rollback, in a throwaway workspace
(:mod:`aieng_nb.loop.replay_loop`). Rows without a target or a time are left out. A batch whose
performance cannot be estimated (a regressor's reference under 20 rows, a champion that knows a
class its reference was not scored with) is not estimated and breaches nothing; a gates' holdout of
a single group is gated on that group's metric.

>>> res = replay("rain.csv", time_column="date", target="rain", batch_size=365)   # doctest: +SKIP
>>> res.policies["loop"].mean, res.policies["loop"].retrains                        # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import ValidationError
from ..registry.gatefile import FairnessGate, GateSpec, MetricGate
from ..workspace import Workspace
from .replay_input import check_columns, free_name, load, ordered, parse_policies, whole
from .replay_records import BatchValue, PolicyResult, ReplayResult

DEFAULT_POLICIES = ("static", "periodic:4", "loop")
DEFAULT_WINDOW = 4
DEFAULT_DROP = 0.03  # the loop retrains when accuracy drops (estimated or realized) by more than this
DEFAULT_RMSE_RISE = 0.10  # ... or when RMSE rises by more than this share of the reference's
HOLDOUT_SHARE = 0.5  # the later part of the newest labelled batch: the gates' holdout
MAX_CATEGORIES = 255  # the most values a text column may hold to be a categorical feature (the model's limit)
WARMUP = 2  # batch 0 trains the first model, batch 1 is its held-out reference; scoring starts at 2


class LabelLeakError(AssertionError):
    """A policy asked for labels before their time (a bug of the replay, never expected)."""


class Labels:
    """The labels of every batch, released ``delay`` batches after the batch is scored."""

    def __init__(self, batches: list[Any], target: str, delay: int) -> None:
        self._y = [b[target].to_numpy() for b in batches]
        self.delay = delay
        self.step = 0  # the batch being scored now
        self.reads: list[tuple[int, int]] = []  # (step, batch) of every read

    def known(self) -> list[int]:
        """The batches whose labels have arrived once batch ``step`` is scored (the warm-up batches,
        historical data, are labelled from the start)."""
        return list(range(0, max(WARMUP, self.step - self.delay + 1)))

    def known_before(self, step: int) -> list[int]:
        """The batches whose labels had arrived before batch ``step`` was scored (what an estimate of
        batch ``step`` may learn from)."""
        return list(range(0, max(WARMUP, step - self.delay)))

    def get(self, batch: int) -> Any:
        if batch not in self.known():
            raise LabelLeakError(f"labels of batch {batch} read at step {self.step} (delay {self.delay})")
        self.reads.append((self.step, batch))
        return self._y[batch]


@dataclass
class Model:
    """One trained model: its estimator, the batches it learned from, its reference for monitoring."""

    version: int
    estimator: Any
    trained_on: list[int]
    reference: Any = None  # the held-out batch, scored, with its labels (monitoring's reference)
    classes: list[Any] = field(default_factory=list)
    ref_batches: list[int] = field(default_factory=list)  # the labelled batches its reference holds


@dataclass
class Setup:
    batches: list[Any]
    features: list[str]
    target: str
    task: str
    metric: str
    pos_label: Any
    spec: GateSpec
    window: int
    sensitive: str | None
    cooldown: int
    seed: int
    time_column: str = ""
    drop: float = DEFAULT_DROP
    categorical: list[str] = field(default_factory=list)  # text columns given to the model as categories
    prediction: str = "prediction"  # the columns the replay adds to a scored batch, named apart from the data's
    proba: str = "proba"  # ... the positive class's probability, or ``proba_I`` per class


# replay() is long only by its signature and docstring; the steps are the functions below
def replay(
    data: Any,
    *,
    time_column: str,
    target: str,
    batch_size: int,
    policies: Sequence[str] | str = DEFAULT_POLICIES,
    label_delay: int = 0,
    sensitive: str | None = None,
    loop: str | None = None,
    gates: str | None = None,
    window: int = DEFAULT_WINDOW,
    cooldown: int = 2,
    drop: float | None = None,
    max_batches: int | None = None,
    seed: int = 0,
    log: bool = False,
    keep_workspace: str | None = None,
    workspace: Workspace | None = None,
) -> ReplayResult:
    """Replay ``data`` (a DataFrame, a .csv/.parquet file or a snapshot name) through each policy.

    Returns a :class:`ReplayResult`: per policy the mean metric, retrains, refused challengers,
    rollbacks, CPU seconds of retraining and per-batch values; ``result.report()`` is the HTML
    report; ``log=True`` records an MLflow run with the per-batch metrics and the report. With
    ``loop=NAME``, ``keep_workspace=DIR`` keeps the replay's throwaway workspace (its registry,
    audit trail, jobs and loop history) in ``DIR/.aieng`` (``result.workspace``).

    >>> res = replay(df, time_column="t", target="y", batch_size=200, policies="static,loop")  # doctest: +SKIP
    """
    from .replay_loop import check_keep

    if keep_workspace is not None and loop is None:
        raise ValidationError("keep_workspace needs loop=NAME (the built-in loop uses no registry)")
    keep = check_keep(keep_workspace)
    frame = load(data, workspace)
    setup = _setup(frame, time_column, target, batch_size, label_delay, sensitive, loop, window, cooldown,
                   max_batches, seed, workspace, gates)  # fmt: skip
    names = parse_policies(policies)
    if drop is not None and (isinstance(drop, bool) or not isinstance(drop, int | float) or not 0 <= drop < math.inf):
        raise ValidationError(f"drop must be a number >= 0, got {drop!r}")
    setup.drop = drop if drop is not None else (DEFAULT_DROP if setup.task == "classification" else DEFAULT_RMSE_RISE)
    batch_size, label_delay, window = int(batch_size), int(label_delay), setup.window  # numpy integers as ints
    from ..reports.estimation import single_thread

    result = ReplayResult(target=target, task=setup.task, metric=setup.metric, batch_size=batch_size,
                          n_batches=len(setup.batches), label_delay=label_delay, sensitive=sensitive,
                          features=setup.features, gates=setup.spec.source, window=window)  # fmt: skip
    if loop is not None:  # the loop's own notebooks, jobs and registry, in a throwaway workspace
        from .replay_loop import run_notebook_policies

        for name, (res, reads) in run_notebook_policies(setup, names, label_delay, loop, workspace, keep).items():
            result.policies[name], result.label_reads[name] = res, reads
        result.workspace = str(keep / ".aieng") if keep else None
        names = []
    with single_thread():
        for name in names:
            result.policies[name], reads = _run_policy(name, setup, label_delay)
            result.label_reads[name] = reads
    if log:
        result.log(workspace=workspace)
    return result


def _setup(
    frame: Any, time_column: str, target: str, batch_size: int, label_delay: int, sensitive: str | None,
    loop: str | None, window: int, cooldown: int, max_batches: int | None, seed: int, workspace: Workspace | None,
    gates: str | None = None,
) -> Setup:  # fmt: skip
    from ..reports.quality import infer_task, pos_label

    check_columns(frame, time_column, target, sensitive)
    batch_size = whole("batch size", batch_size, 10)
    label_delay = whole("label delay", label_delay, 0)
    window, cooldown, seed = whole("window", window, 1), whole("cooldown", cooldown, 0), whole("seed", seed, 0)
    max_batches = None if max_batches is None else whole("max batches", max_batches, 1)
    frame = ordered(frame, time_column, target)
    n = len(frame) // batch_size
    if max_batches is not None:
        n = min(n, max_batches)
    if n < WARMUP + 1 + label_delay:
        raise ValidationError(
            f"{len(frame)} rows make {n} batches of {batch_size}: need at least {WARMUP + 1 + label_delay}"
        )
    categorical = [] if loop else _encode_categories(frame, (time_column, target, sensitive))
    # a numeric sensitive column is a feature; a text one stays text (the groups' names), not a category
    features = [c for c in frame.columns if c not in (time_column, target) and frame[c].dtype.kind in "iufb"]
    if not features:
        besides = f" besides the sensitive column {sensitive!r}" if sensitive is not None else ""
        raise ValidationError(f"the data has no feature column to learn from{besides}: numbers, or text with 2 to "
                              f"{MAX_CATEGORIES} values")  # fmt: skip
    batches = [frame.iloc[i * batch_size : (i + 1) * batch_size].reset_index(drop=True) for i in range(n)]
    task = infer_task(frame[target])
    labels = sorted(set(frame[target].unique()), key=str)
    spec = _spec(loop, task, sensitive, workspace, gates)
    taken = {str(c) for c in frame.columns}
    return Setup(batches, features, target, task, "accuracy" if task == "classification" else "rmse",
                 pos_label(labels) if task == "classification" else None, spec, window, sensitive, cooldown, seed,
                 time_column, categorical=categorical, prediction=free_name("prediction", taken, 0),
                 proba=free_name("proba", taken, len(labels)))  # fmt: skip


def _encode_categories(frame: Any, skip: tuple[Any, ...]) -> list[str]:
    """Text and categorical columns with 2 to ``MAX_CATEGORIES`` values become the default model's
    categorical features: each value's code (sorted values, over the whole table: the values a
    column can take, not its labels), missing stays missing. In place; returns their names."""
    import numpy as np

    encoded = []
    for c in frame.columns:
        if c in skip or frame[c].dtype.kind not in "OSU":  # object, pandas' string and category dtypes, numpy text
            continue
        s = frame[c].astype(object)
        known = s.notna().to_numpy()
        values = sorted({str(v) for v in s[known]})
        if not 2 <= len(values) <= MAX_CATEGORIES:
            continue
        codes = {v: float(i) for i, v in enumerate(values)}
        out = np.full(len(s), np.nan)
        out[known] = [codes[str(v)] for v in s[known]]
        frame[c] = out
        encoded.append(c)
    return encoded


def _spec(
    loop: str | None, task: str, sensitive: str | None, workspace: Workspace | None, gates: str | None = None
) -> GateSpec:
    """A gate file (``gates=``, else the loop's with ``loop=NAME``), else the replay's defaults: the
    primary metric may not be worse beyond the bootstrap's noise, no group may lose more than 0.02,
    rollback beyond 0.02."""
    from ..registry import gatefile

    metric = "accuracy" if task == "classification" else "rmse"
    path: Any = gates
    if path is None and loop is not None:
        from .store import get

        cfg = get(loop, workspace=workspace)
        path = cfg.gates or gatefile.find(loop, workspace)
    if path is not None:
        spec = gatefile.load(path)
        if not spec.metrics:
            spec.metrics = [MetricGate(metric)]
        if spec.fairness is None and sensitive:
            spec.fairness = FairnessGate([sensitive], "accuracy" if task == "classification" else "mae", 0.02)
        return spec
    fair = FairnessGate([sensitive], "accuracy" if task == "classification" else "mae", 0.02) if sensitive else None
    return GateSpec(source="replay default", metrics=[MetricGate(metric)], fairness=fair, data_required=False,
                    bootstrap_resamples=500, rollback_margin=0.02)  # fmt: skip


# ---- models ---------------------------------------------------------------------------------------


def _fit(setup: Setup, labels: Labels, train: list[int], version: int, head: int | None = None) -> tuple[Model, float]:
    """A gradient-boosting model of the task's kind on the labelled batches ``train`` and the first
    part of batch ``head`` (the rest of it is the gates' holdout); returns it and the CPU seconds."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    parts = [(b, slice(None)) for b in train] + ([(head, head_rows(setup, head))] if head is not None else [])
    X = np.vstack([setup.batches[b][setup.features].to_numpy(dtype=float)[rows] for b, rows in parts])
    y = np.concatenate([labels.get(b)[rows] for b, rows in parts])
    cls = HistGradientBoostingClassifier if setup.task == "classification" else HistGradientBoostingRegressor
    cats = [setup.features.index(c) for c in setup.categorical] or None
    est = cls(max_iter=100, early_stopping=False, random_state=setup.seed, categorical_features=cats)
    t0 = time.process_time()
    est.fit(X, y)
    cpu = time.process_time() - t0
    seen = [*train, *([head] if head is not None else [])]
    return Model(version, est, seen, classes=list(getattr(est, "classes_", []))), cpu


def head_rows(setup: Setup, b: int) -> slice:
    """The earlier part of batch ``b`` a challenger learns from; :func:`tail_rows` is its holdout."""
    return slice(0, int(len(setup.batches[b]) * (1 - HOLDOUT_SHARE)))


def tail_rows(setup: Setup, b: int) -> slice:
    return slice(int(len(setup.batches[b]) * (1 - HOLDOUT_SHARE)), None)


def _predict(setup: Setup, model: Model, frame: Any) -> tuple[Any, Any]:
    """(predictions, positive-class probabilities or None) of ``model`` on ``frame``."""
    X = frame[setup.features].to_numpy(dtype=float)
    pred = model.estimator.predict(X)
    if setup.task != "classification":
        return pred, None
    proba = model.estimator.predict_proba(X)
    if len(model.classes) == 2:
        return pred, proba[:, model.classes.index(setup.pos_label) if setup.pos_label in model.classes else 1]
    return pred, proba


def _metric(setup: Setup, y: Any, pred: Any) -> float:
    import numpy as np

    if setup.task == "classification":
        return float(np.mean(y == pred))
    return float(math.sqrt(np.mean((np.asarray(y, dtype=float) - pred) ** 2)))


def _group_gap(setup: Setup, frame: Any, y: Any, pred: Any) -> dict[str, float]:
    """Per-group metric (accuracy or MAE) on a batch, groups of at least 10 rows."""
    import numpy as np

    from ..reports.fairness_groups import group_labels

    if setup.sensitive is None:
        return {}
    out = {}
    groups = group_labels(frame[setup.sensitive]).to_numpy()  # as the fairness gate names them; missing: a group
    for g in np.unique(groups):
        m = groups == g
        if m.sum() >= 10:
            out[str(g)] = (float(np.mean(y[m] == pred[m])) if setup.task == "classification"
                           else float(np.mean(np.abs(y[m].astype(float) - pred[m]))))  # fmt: skip
    return out


def _run_policy(name: str, setup: Setup, label_delay: int) -> tuple[PolicyResult, list[tuple[int, int]]]:
    from .policy import run_policy

    labels = Labels(setup.batches, setup.target, label_delay)
    result = run_policy(name, setup, labels)
    return result, list(labels.reads)


__all__ = ["BatchValue", "LabelLeakError", "Labels", "PolicyResult", "ReplayResult", "replay"]
