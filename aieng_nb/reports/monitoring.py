"""Monitoring reports: data drift, data summary and model quality, built on Evidently 0.7.

``monitor(reference, current, target=..., prediction=...)`` returns a :class:`MonitoringReport`:

* the **verdict** comes from our vectorized drift gate (:mod:`aieng_nb.reports.drift`, Evidently's
  default tests and thresholds) on **all rows**, plus model-quality metrics on all rows when
  target and prediction are given, checked against pass/fail rules;
* the **interactive Evidently report** (``DataDriftPreset`` + ``DataSummaryPreset`` +
  ``ClassificationPreset``/``RegressionPreset``) is computed on a **seeded random sample** of at
  most ``sample`` rows of each frame (default 20,000, seed 0), **in the background**: ``monitor``
  returns with the verdict and Evidently's run follows on a worker thread
  (:mod:`aieng_nb.reports.evidently_attachment`); it is kept as the ``evidently.html``/``evidently.json``
  attachments. Reading ``rep.attachments``, ``rep.evidently()``, ``rep.wait()``, ending the run
  and a job's end all wait for it, so it is never missing; ``background=False`` runs it inline;
* the report's own HTML (``_repr_html_``, ``report.html``) is static (tables and PNG plots, no
  JavaScript) and small (well under 2 MB whatever the input size); its plots are drawn when it is
  first displayed or stored.

Column types follow Evidently's (see :mod:`aieng_nb.reports.drift`), free-text columns included (a
domain-classifier test, counted in the drift share), with one deliberate difference: nullable
and small dtypes (``uint8``, ``Int64``, ``Float64``, ``boolean``...), which Evidently 0.7 leaves
untested or crashes on, are tested here, and are cast to plain dtypes for the attached Evidently
run so that it completes.

Size bounds: the < 2 MB bound applies to **our** ``report.html`` (and ``_repr_html_``). The
attached ``evidently.html`` is Evidently's own rendering and always carries Evidently's JavaScript
bundle (about 5.7 MB, whatever the data size), so it is larger than 2 MB by itself; it is only
shown on request (``rep.evidently()``, or opened from the run's artifacts). Pass
``evidently_html=False`` to skip that attachment (the ``evidently.json`` snapshot is still kept),
or ``evidently=False`` to skip Evidently altogether.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> ref = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.integers(0, 2, 2000)})
>>> cur = ref.assign(x=ref.x + 1)
>>> rep = monitor(ref, cur, evidently=False, log=False)
>>> rep.drifted_columns, rep.passed
(['x'], False)
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import ValidationError
from . import estimation
from .base import Report
from .checks import CheckResult, Rule, check_label_types, evaluate, parse_rules, require_numeric
from .drift import DriftResult, _str_columns, check_frames, drift_gate
from .estimation import Estimation
from .markup import HTMLView
from .monitoring_render import MAX_TABLE_ROWS, render, summary_rows
from .quality import HIGHER_IS_BETTER, LOWER_IS_BETTER, check_task, infer_task, is_probability, quality_metrics
from .storage import attach_if_wanted

if TYPE_CHECKING:
    from ..workspace import Workspace

DEFAULT_SAMPLE = 20_000
DEFAULT_SEED = 0


@dataclass(repr=False)  # the report's one-line repr, not a dump of its fields
class MonitoringReport(Report):
    """Drift verdicts per column, data summary and quality metrics; see :func:`monitor`."""

    drift_result: DriftResult | None = None
    quality: dict[str, dict[str, float]] = field(default_factory=dict)
    estimation: Estimation | None = None
    _evidently_html: str | None = field(default=None, repr=False)

    @property
    def evidently_html(self) -> str | None:
        """Evidently's own HTML page (waits for it while it is computed in the background)."""
        self.wait()
        return self._evidently_html

    @property
    def estimated(self) -> Estimation | None:
        """Performance estimated without labels (``probability=``): ``rep.estimated["accuracy"].value``,
        ``.low``/``.high`` (the band), ``.realized`` when the labels are there; ``.trusted``, ``.reasons``."""
        return self.estimation

    @property
    def drifted_columns(self) -> list[str]:
        return self.drift_result.drifted_columns if self.drift_result else []

    @property
    def drift_share(self) -> float:
        return self.drift_result.share if self.drift_result else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.drift_result and self.drift_result.dataset_drift)

    @property
    def drift(self) -> Any:
        """Per-column drift tests as a DataFrame."""
        return self.drift_result.to_frame() if self.drift_result else None

    def evidently(self, height: int = 800) -> Any:
        """The interactive Evidently report in a sandboxed iframe (for ``display``; about 5 MB).

        The report's own rendering (``rep``) stays static and small; this one runs Evidently's
        JavaScript, isolated from the notebook (``sandbox="allow-scripts"``, no same-origin)."""
        import html as _html

        page = self.evidently_html
        if not page:
            raise ValidationError("this report has no Evidently rendering (run monitor(..., evidently=True))")
        doc = _html.escape(page, quote=True)
        frame = (
            f'<iframe sandbox="allow-scripts" style="width:100%;height:{int(height)}px;border:0" '
            f'srcdoc="{doc}"></iframe>'
        )
        return HTMLView(frame, "Evidently report")

    def save_evidently_html(self, path: str) -> Any:
        """Write the interactive Evidently report (computed on the documented sample)."""
        from ..fsutil import atomic_write_text

        page = self.evidently_html
        if not page:
            raise ValidationError("this report has no Evidently rendering (run monitor(..., evidently=True))")
        return atomic_write_text(path, page)


# monitor() is long only by its signature and docstring (its options are Evidently's); the body is a
# list of named steps, each a function below
def monitor(
    reference: Any,
    current: Any,
    *,
    target: str | None = None,
    prediction: str | None = None,
    probability: str | Sequence[str] | Mapping[Any, str] | None = None,
    task: str = "auto",
    columns: Sequence[str] | None = None,
    checks: Any = None,
    method: str | None = None,
    num_method: str | None = None,
    cat_method: str | None = None,
    per_column_method: Mapping[str, str] | None = None,
    threshold: float | None = None,
    per_column_threshold: Mapping[str, float] | None = None,
    text_method: str | None = None,
    text_threshold: float | None = None,
    drift_share: float = 0.5,
    evidently: bool = True,
    evidently_html: bool = True,
    background: bool = True,
    sample: int = DEFAULT_SAMPLE,
    seed: int = DEFAULT_SEED,
    log: bool | None = None,
    title: str | None = None,
    workspace: Workspace | None = None,
) -> MonitoringReport:
    """Compare ``current`` with ``reference``: drift per column, data summary, model quality.

    Drift columns are all shared columns except ``target`` and ``prediction`` (or ``columns``);
    a column missing on one side is an error naming it. ``checks`` are failure rules (see
    :mod:`aieng_nb.reports.checks`); the default is ``drift_share >= 0.5`` (Evidently's dataset-drift
    rule) and, for classification with labelled predictions in both frames,
    ``accuracy_drop > 0.05`` (which fails, with a note, when quality cannot be computed because
    the target or prediction is all missing on one side). When no column could be tested for
    drift (all skipped: all missing, free text, dates) the default checks add
    ``n_columns_tested < 1``, so such a report fails instead of passing with nothing tested.
    ``evidently_html=False`` keeps the Evidently run (``evidently.json``) but not its ~5.7 MB HTML.
    The Evidently run happens in the background (``background=False``: before returning).
    ``text_method``/``text_threshold`` set the free-text test (see :mod:`aieng_nb.text_drift`).
    ``log=None`` attaches the report to the active run if there is one.
    ``probability`` (the positive class's probability column, or ``{label: column}``) estimates
    performance without labels (CBPE; regressors: direct loss estimation from ``prediction``) when
    the reference has the target: ``rep.estimated``, metrics ``estimated_accuracy``,
    ``estimated_accuracy_drop`` ... and the default rule ``estimated_accuracy_drop > 0.03``; the
    current batch may then lack the target (with it, estimated and realized are compared; a
    regressor with ``prediction`` is estimated whether or not the batch is labelled).
    The steps: prepare the frames, test drift, measure quality, choose the checks, build the
    report, start Evidently's attachment, attach to the run.

    >>> rep = monitor(train_df, scored_df, target="churn", prediction="pred")  # doctest: +SKIP
    >>> rep.drifted_columns, rep.passed, rep.summary()                          # doctest: +SKIP
    """
    drift_kwargs: dict[str, Any] = {
        "method": method,
        "num_method": num_method,
        "cat_method": cat_method,
        "per_column_method": per_column_method,
        "threshold": threshold,
        "per_column_threshold": per_column_threshold,
        "text_method": text_method,
        "text_threshold": text_threshold,
    }
    _check_args(reference, current, target, prediction, task, sample, probability)
    probability = estimation.named_as_text(probability)  # the frames' column labels become text below
    reference, current, cols = _prepare_frames(reference, current, target, prediction, columns, probability)
    started = time.perf_counter()
    drift = drift_gate(reference, current, cols, drift_share=drift_share, **drift_kwargs)
    metrics, notes = _drift_metrics(drift, reference, current)
    resolved_task = None
    quality: dict[str, dict[str, float]] = {}
    labelled = target is not None and target in current.columns
    if labelled and probability is not None and not current[target].notna().any():
        labelled = False  # the labels have not arrived yet: the estimate stands in for the measure
    if target is not None and prediction is not None and labelled:
        resolved_task = _infer_task(reference, current, target) if task == "auto" else task
        quality = _quality(reference, current, target, prediction, resolved_task, metrics, notes)
    elif target is not None and not labelled:
        notes.append(f"current has no labels in {target!r}: model quality is estimated, not measured")
    elif target is not None:
        notes.append("target given without prediction: model quality is not computed")
    est = estimation.for_monitor(reference, current, target, prediction, probability, task, cols, metrics, notes)
    resolved_task = resolved_task or (est.task if est else None)
    if checks is None:
        rules, uncomputable = _default_checks(drift, drift_share, resolved_task, metrics, quality, notes)
    else:
        rules, uncomputable = parse_rules(checks), []
    report = MonitoringReport(
        kind="monitor",
        title=title or "Monitoring report",
        metrics=metrics,
        checks=evaluate(rules, metrics) + uncomputable,
        notes=notes,
        drift_result=drift,
        quality=quality,
        estimation=est,
    )
    report.details = {"drift": drift.to_dict(), "quality": quality, "task": resolved_task, "target": target,
                      "prediction": prediction, "estimated": est.to_dict() if est else None, "verdict_seconds": round(time.perf_counter() - started, 4),
                      "evidently_sample": None}  # fmt: skip
    ref_s, cur_s = _samples(report, reference, current, sample, seed)
    srows = summary_rows(reference, current, cols[:MAX_TABLE_ROWS], {c.column: c.type for c in drift.columns})
    report.defer(lambda: render(report, ref_s, cur_s, cols, srows))  # plots: drawn on first display
    if evidently and drift.columns:
        from . import evidently_attachment

        evidently_attachment.start(report, ref_s, cur_s, drift, target, prediction, resolved_task, drift_kwargs,
                                   evidently_html, seed, background=background)  # fmt: skip
    attach_if_wanted(report, log, workspace=workspace)
    return report


def _check_args(
    reference: Any,
    current: Any,
    target: str | None,
    prediction: str | None,
    task: str,
    sample: Any,
    probability: Any = None,
) -> None:
    import pandas as pd

    if not isinstance(sample, int) or sample < 100:
        raise ValidationError(f"sample must be an integer >= 100, got {sample!r}")
    check_task(task)
    for label, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise ValidationError(f"{label} must be a pandas DataFrame, got {type(frame).__name__}")
    for role, col in (("target", target), ("prediction", prediction)):
        estimable = role == "target" and col in reference.columns and (probability is not None or bool(prediction))
        if col is not None and col not in current.columns and not estimable:
            raise ValidationError(f"{role} column {col!r} is not in current (columns: {list(current.columns)[:30]})")
    if prediction is not None and target is None:
        raise ValidationError("prediction given without target: pass target= to compute model quality")


def _infer_task(reference: Any, current: Any, target: str) -> str:
    """The task from the target's values on both sides (a small or unlabelled batch alone misleads:
    five prices are five whole numbers, an all-missing column has no values)."""
    sides = [infer_task(f[target]) for f in (reference, current) if target in f.columns and f[target].notna().any()]
    return "regression" if "regression" in sides else "classification"


def _prepare_frames(
    reference: Any,
    current: Any,
    target: str | None,
    prediction: str | None,
    columns: Sequence[str] | None,
    probability: Any = None,
) -> tuple[Any, Any, list[str]]:
    """Column labels as text (0 -> "0"), pyarrow-backed columns as pandas' own dtypes, and the columns
    to test for drift (all shared features)."""
    reference, current = _plain_dtypes(_str_columns(reference)), _plain_dtypes(_str_columns(current))
    if columns is not None:
        return reference, current, check_frames(reference, current, [str(c) for c in columns])
    special = {c for c in (target, prediction) if c is not None} | set(estimation.probability_columns(probability))
    feats_ref = [c for c in reference.columns if c not in special]
    feats_cur = [c for c in current.columns if c not in special]
    return reference, current, check_frames(reference[feats_ref], current[feats_cur])


def _plain_dtypes(frame: Any) -> Any:
    """pyarrow-backed columns (``read_parquet(dtype_backend="pyarrow")``) as pandas' nullable dtypes,
    which the drift tests, the estimate and Evidently read (``double[pyarrow]`` -> ``Float64``)."""
    import pandas as pd

    arrow = [c for c, t in frame.dtypes.items() if isinstance(t, pd.ArrowDtype)]
    if not arrow:
        return frame
    out = frame.copy(deep=False)
    for c in arrow:
        try:
            out[c] = frame[c].convert_dtypes(dtype_backend="numpy_nullable")
        except (KeyError, TypeError, ValueError):  # no nullable twin (timestamps ...): its NumPy type
            out[c] = frame[c].to_numpy(dtype=frame[c].dtype.numpy_dtype, na_value=None)
    return out


def _drift_metrics(drift: DriftResult, reference: Any, current: Any) -> tuple[dict[str, float], list[str]]:
    metrics: dict[str, float] = {
        "drift_share": drift.share,
        "drifted_count": float(len(drift.drifted_columns)),
        "n_columns_tested": float(drift.n_tested),
        "dataset_drift": 1.0 if drift.dataset_drift else 0.0,
        "n_reference": float(len(reference)),
        "n_current": float(len(current)),
    }
    for c in drift.columns[:100]:
        if math.isfinite(c.score):
            metrics[f"drift_score.{c.column}"] = c.score
    notes = [f"column {col!r} not tested for drift: {why}" for col, why in drift.skipped.items()]
    return metrics, notes


def _check_quality_columns(reference: Any, current: Any, target: str, prediction: str, task: str) -> None:
    for side, frame in (("current", current), ("reference", reference)):
        if task == "regression":
            for role, col in (("target", target), ("prediction", prediction)):
                if col in frame.columns:
                    require_numeric(frame[col], f"{role} column {col!r} in {side}")
        elif target in frame.columns and prediction in frame.columns and not is_probability(frame[prediction]):
            check_label_types(frame[target], frame[prediction], f"target column {target!r} in {side}",
                              f"prediction column {prediction!r} in {side}")  # fmt: skip


def _quality(
    reference: Any, current: Any, target: str, prediction: str, task: str, metrics: dict[str, float], notes: list[str]
) -> dict[str, dict[str, float]]:
    """Quality metrics on both sides (all rows), added to ``metrics`` with their change."""
    _check_quality_columns(reference, current, target, prediction, task)
    quality = {"current": quality_metrics(current[target], current[prediction], task)}
    if target in reference.columns and prediction in reference.columns:
        quality["reference"] = quality_metrics(reference[target], reference[prediction], task)
    else:
        notes.append("reference has no target/prediction columns: quality is not compared with reference")
    for side in ("current", "reference"):
        if side in quality and not quality[side]:
            notes.append(
                f"model quality could not be computed on {side}: no row has both target {target!r} "
                f"and prediction {prediction!r} (all missing)"
            )
    for name, value in quality["current"].items():
        metrics[name] = value
        ref_value = quality.get("reference", {}).get(name)
        if ref_value is None:
            continue
        metrics[f"reference_{name}"] = ref_value
        if name in HIGHER_IS_BETTER:
            metrics[f"{name}_drop"] = ref_value - value
        elif name in LOWER_IS_BETTER:
            metrics[f"{name}_increase"] = value - ref_value
    return quality


def _default_checks(
    drift: DriftResult,
    drift_share: float,
    task: str | None,
    metrics: dict[str, float],
    quality: dict[str, dict[str, float]],
    notes: list[str],
) -> tuple[list[Rule], list[CheckResult]]:
    """The default rules, and the failed results of the ones that could not be computed."""
    rules = parse_rules([f"drift_share >= {drift_share}"])
    if drift.n_tested == 0:  # nothing was tested: the drift verdict cannot pass
        rules += parse_rules(["n_columns_tested < 1"])
        notes.append("no column could be tested for drift: the report fails (check n_columns_tested < 1)")
    if "estimated_accuracy_drop" in metrics:
        rules += parse_rules([f"estimated_accuracy_drop > {estimation.DEFAULT_DROP}"])
    if task == "classification" and "accuracy_drop" in metrics:
        rules += parse_rules(["accuracy_drop > 0.05"])
    elif task == "classification" and "reference" in quality and not (quality["reference"] and quality.get("current")):
        missing = " and ".join(side for side in ("reference", "current") if not quality.get(side))
        why = f"accuracy_drop could not be computed: no row has both target and prediction in {missing}"
        return rules, [CheckResult("accuracy_drop > 0.05", "accuracy_drop", None, False, why)]
    return rules, []


def _samples(report: MonitoringReport, reference: Any, current: Any, sample: int, seed: int) -> tuple[Any, Any]:
    """The seeded samples the plots and Evidently use (a note says so when they are not all rows)."""
    ref_s, cur_s = _sample(reference, sample, seed), _sample(current, sample, seed)
    if len(ref_s) < len(reference) or len(cur_s) < len(current):
        report.notes.append(
            f"plots and the Evidently report use a random sample (seed {seed}) of {len(ref_s):,} of {len(reference):,} "
            f"reference rows and {len(cur_s):,} of {len(current):,} current rows; verdicts and metrics use all rows"
        )
    return ref_s, cur_s


def _sample(frame: Any, n: int, seed: int) -> Any:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)
