"""Monitoring reports: data drift, data summary and model quality, built on Evidently 0.7.

``monitor(reference, current, target=..., prediction=...)`` returns a :class:`MonitoringReport`:

* the **verdict** comes from our vectorized drift gate (:mod:`aieng_nb.drift`, Evidently's
  default tests and thresholds) on **all rows**, plus model-quality metrics on all rows when
  target and prediction are given, checked against pass/fail rules;
* the **interactive Evidently report** (``DataDriftPreset`` + ``DataSummaryPreset`` +
  ``ClassificationPreset``/``RegressionPreset``) is computed on a **seeded random sample** of at
  most ``sample`` rows of each frame (default 20,000, seed 0), **in the background**: ``monitor``
  returns with the verdict and Evidently's run follows on a worker thread
  (:mod:`aieng_nb.evidently_attachment`); it is kept as the ``evidently.html``/``evidently.json``
  attachments. Reading ``rep.attachments``, ``rep.evidently()``, ``rep.wait()``, ending the run
  and a job's end all wait for it, so it is never missing; ``background=False`` runs it inline;
* the report's own HTML (``_repr_html_``, ``report.html``) is static (tables and PNG plots, no
  JavaScript) and small (well under 2 MB whatever the input size); its plots are drawn when it is
  first displayed or stored.

Column types follow Evidently's (see :mod:`aieng_nb.drift`), free-text columns included (a
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
from typing import Any

from .checks import CheckResult, check_label_types, evaluate, parse_rules, require_numeric
from .drift import NUMERICAL, TEXT, DriftResult, _str_columns, check_frames, drift_gate
from .exceptions import ValidationError
from .reports import HTMLView, Report, Section, figure_html, new_figure, table_html

DEFAULT_SAMPLE = 20_000
DEFAULT_SEED = 0
MAX_TABLE_ROWS = 200
MAX_PLOTS = 6

_HIGHER_IS_BETTER = ("accuracy", "precision", "recall", "f1", "roc_auc", "r2")
_LOWER_IS_BETTER = ("mae", "rmse")


@dataclass
class MonitoringReport(Report):
    """Drift verdicts per column, data summary and quality metrics; see :func:`monitor`."""

    drift_result: DriftResult | None = None
    quality: dict[str, dict[str, float]] = field(default_factory=dict)
    _evidently_html: str | None = field(default=None, repr=False)

    @property
    def evidently_html(self) -> str | None:
        """Evidently's own HTML page (waits for it while it is computed in the background)."""
        self.wait()
        return self._evidently_html

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
        from .fsutil import atomic_write_text

        page = self.evidently_html
        if not page:
            raise ValidationError("this report has no Evidently rendering (run monitor(..., evidently=True))")
        return atomic_write_text(path, page)


# ---------------------------------------------------------------------------- quality
def _infer_task(y: Any) -> str:
    import pandas as pd

    values = y.dropna()
    kind = values.dtype.kind
    if kind in "bOSU" or isinstance(values.dtype, pd.CategoricalDtype):
        return "classification"
    nunique = values.nunique()
    if kind in "iu":
        return "classification" if nunique <= 20 else "regression"
    if kind == "f" and nunique <= 20 and bool(((values % 1) == 0).all()):
        return "classification"
    return "regression"


def _pos_label(labels: Sequence[Any]) -> Any:
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
            pos = _pos_label(truth) if truth else 1
            neg = next((lab for lab in truth if lab != pos), 0 if pos == 1 else False)
            if len(truth) == 2:
                out["roc_auc"] = float(skm.roc_auc_score(t == pos, p.astype(float)))
            p = np.where(p.astype(float) >= 0.5, pos, neg)
        labels = sorted(set(pd.unique(t)) | set(pd.unique(p)), key=str)
        out["accuracy"] = float(np.mean(t == p))
        if len(labels) <= 2:
            pos = _pos_label(labels)
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


# ---------------------------------------------------------------------------- rendering helpers
def _sample(frame: Any, n: int, seed: int) -> Any:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def _distribution_plots(ref: Any, cur: Any, columns: list[Any]) -> str:
    import numpy as np

    if not columns:
        return ""
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig = new_figure(3.4 * ncols, 2.4 * nrows)
    for i, col in enumerate(columns):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        name = col.column
        if col.type == NUMERICAL:
            r = ref[name].to_numpy(dtype=float, na_value=np.nan)
            c = cur[name].to_numpy(dtype=float, na_value=np.nan)
            r, c = r[np.isfinite(r)], c[np.isfinite(c)]
            both = np.concatenate([r, c])
            if both.size:
                lo, hi = np.percentile(both, [0.5, 99.5])
                bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
                # one filled step artist per side: drawing 2 x 40 bar patches costs far more
                for values, label, color in ((r, "reference", "#1565c0"), (c, "current", "#ef6c00")):
                    density, _ = np.histogram(values, bins=bins, density=True)
                    ax.stairs(density, bins, fill=True, alpha=0.5, label=label, color=color)
        else:
            rv = ref[name].astype(str).value_counts(normalize=True)
            cv = cur[name].astype(str).value_counts(normalize=True)
            keys = list((rv.add(cv, fill_value=0)).sort_values(ascending=False).index[:10])
            x = np.arange(len(keys))
            ax.bar(x - 0.2, [rv.get(k, 0.0) for k in keys], 0.4, label="reference", color="#1565c0")
            ax.bar(x + 0.2, [cv.get(k, 0.0) for k in keys], 0.4, label="current", color="#ef6c00")
            ax.set_xticks(x)
            ax.set_xticklabels([k[:10] for k in keys], rotation=45, fontsize=7)
        mark = "DRIFT" if col.drifted else "ok"
        ax.set_title(f"{str(name)[:28]} ({col.method} {col.score:.3g}, {mark})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])  # densities/shares are read against each other, not off the axis
        if col.type == NUMERICAL:
            ax.locator_params(axis="x", nbins=5)
        if i == 0:
            ax.legend(fontsize=7)
    # laid out by hand: tight_layout's extra text-layout pass doubled the cost of this figure
    fig.subplots_adjust(
        left=0.03, right=0.98, top=1 - 0.35 / (2.4 * nrows), bottom=0.6 / (2.4 * nrows), wspace=0.08, hspace=0.6
    )
    return figure_html(fig, "reference vs current distributions", tight=False)


def _summary_rows(ref: Any, cur: Any, cols: list[str], types: dict[str, str]) -> list[list[Any]]:
    rows = []
    ref_missing, cur_missing = ref[cols].isna().mean(), cur[cols].isna().mean()
    for col in cols:
        ctype = types.get(col, "other")
        row: list[Any] = [col, ctype, float(ref_missing[col]), float(cur_missing[col])]
        if ref[col].dtype.kind in "biuf" and cur[col].dtype.kind in "biuf":
            row += [float(ref[col].mean()), float(cur[col].mean())]
        elif ctype == TEXT:  # free text has no useful mode: the mean length in characters instead
            row += [
                f"{ref[col].dropna().astype(str).str.len().mean():.1f} chars",
                f"{cur[col].dropna().astype(str).str.len().mean():.1f} chars",
            ]
        else:
            top_r, top_c = ref[col].mode(dropna=True), cur[col].mode(dropna=True)
            row += [str(top_r.iloc[0]) if len(top_r) else "", str(top_c.iloc[0]) if len(top_c) else ""]
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------- the report
def monitor(
    reference: Any,
    current: Any,
    *,
    target: str | None = None,
    prediction: str | None = None,
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
) -> MonitoringReport:
    """Compare ``current`` with ``reference``: drift per column, data summary, model quality.

    Drift columns are all shared columns except ``target`` and ``prediction`` (or ``columns``);
    a column missing on one side is an error naming it. ``checks`` are failure rules (see
    :mod:`aieng_nb.checks`); the default is ``drift_share >= 0.5`` (Evidently's dataset-drift
    rule) and, for classification with labelled predictions in both frames,
    ``accuracy_drop > 0.05`` (which fails, with a note, when quality cannot be computed because
    the target or prediction is all missing on one side). When no column could be tested for
    drift (all skipped: all missing, free text, dates) the default checks add
    ``n_columns_tested < 1``, so such a report fails instead of passing with nothing tested.
    ``evidently_html=False`` keeps the Evidently run (``evidently.json``) but not its ~5.7 MB HTML.
    The Evidently run happens in the background (``background=False``: before returning).
    ``text_method``/``text_threshold`` set the free-text test (see :mod:`aieng_nb.text_drift`).
    ``log=None`` attaches the report to the active run if there is one.

    >>> rep = monitor(train_df, scored_df, target="churn", prediction="pred")  # doctest: +SKIP
    >>> rep.drifted_columns, rep.passed, rep.summary()                          # doctest: +SKIP
    """
    import pandas as pd

    if not isinstance(sample, int) or sample < 100:
        raise ValidationError(f"sample must be an integer >= 100, got {sample!r}")
    if task not in ("auto", "classification", "regression"):
        raise ValidationError(f"task must be auto, classification or regression, got {task!r}")
    for label, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise ValidationError(f"{label} must be a pandas DataFrame, got {type(frame).__name__}")
    for role, col in (("target", target), ("prediction", prediction)):
        if col is not None and col not in current.columns:
            raise ValidationError(f"{role} column {col!r} is not in current (columns: {list(current.columns)[:30]})")
    if prediction is not None and target is None:
        raise ValidationError("prediction given without target: pass target= to compute model quality")
    reference, current = _str_columns(reference), _str_columns(current)  # labels as text: 0 -> "0"
    if columns is not None:
        columns = [str(c) for c in columns]
    special = {c for c in (target, prediction) if c is not None}
    if columns is None:
        feats_ref = [c for c in reference.columns if c not in special]
        feats_cur = [c for c in current.columns if c not in special]
        cols = check_frames(reference[feats_ref], current[feats_cur])
    else:
        cols = check_frames(reference, current, columns)
    started = time.perf_counter()
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
    drift = drift_gate(reference, current, cols, drift_share=drift_share, **drift_kwargs)
    types = {c.column: c.type for c in drift.columns}

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
    notes: list[str] = []
    for col, why in drift.skipped.items():
        notes.append(f"column {col!r} not tested for drift: {why}")

    quality: dict[str, dict[str, float]] = {}
    resolved_task: str | None = None
    if target is not None and prediction is not None:
        resolved_task = _infer_task(current[target]) if task == "auto" else task
        if resolved_task == "regression":
            for side, frame in (("current", current), ("reference", reference)):
                for role, col in (("target", target), ("prediction", prediction)):
                    if col in frame.columns:
                        require_numeric(frame[col], f"{role} column {col!r} in {side}")
        else:
            for side, frame in (("current", current), ("reference", reference)):
                if target in frame.columns and prediction in frame.columns and not is_probability(frame[prediction]):
                    check_label_types(
                        frame[target],
                        frame[prediction],
                        f"target column {target!r} in {side}",
                        f"prediction column {prediction!r} in {side}",
                    )
        quality["current"] = quality_metrics(current[target], current[prediction], resolved_task)
        if target in reference.columns and prediction in reference.columns:
            quality["reference"] = quality_metrics(reference[target], reference[prediction], resolved_task)
        else:
            notes.append("reference has no target/prediction columns: quality is not compared with reference")
        for side in ("current", "reference"):
            if side in quality and not quality[side]:
                notes.append(
                    f"model quality could not be computed on {side}: no row has both target {target!r} "
                    f"and prediction {prediction!r} (all missing)"
                )
        for name, value in quality.get("current", {}).items():
            metrics[name] = value
            ref_value = quality.get("reference", {}).get(name)
            if ref_value is None:
                continue
            metrics[f"reference_{name}"] = ref_value
            if name in _HIGHER_IS_BETTER:
                metrics[f"{name}_drop"] = ref_value - value
            elif name in _LOWER_IS_BETTER:
                metrics[f"{name}_increase"] = value - ref_value
    elif target is not None:
        notes.append("target given without prediction: model quality is not computed")

    uncomputable: list[CheckResult] = []
    if checks is None:
        rules = parse_rules([f"drift_share >= {drift_share}"])
        if drift.n_tested == 0:  # nothing was tested: the drift verdict cannot pass
            rules += parse_rules(["n_columns_tested < 1"])
            notes.append("no column could be tested for drift: the report fails (check n_columns_tested < 1)")
        if resolved_task == "classification" and "accuracy_drop" in metrics:
            rules += parse_rules(["accuracy_drop > 0.05"])
        elif (
            resolved_task == "classification"
            and "reference" in quality
            and not (quality["reference"] and quality.get("current"))
        ):
            uncomputable.append(
                CheckResult(
                    "accuracy_drop > 0.05",
                    "accuracy_drop",
                    None,
                    False,
                    "accuracy_drop could not be computed: no row has both target and prediction in "
                    + " and ".join(side for side in ("reference", "current") if not quality.get(side)),
                )
            )
    else:
        rules = parse_rules(checks)
    results = evaluate(rules, metrics) + uncomputable
    verdict_seconds = time.perf_counter() - started

    report = MonitoringReport(
        kind="monitor",
        title=title or "Monitoring report",
        metrics=metrics,
        checks=results,
        notes=notes,
        drift_result=drift,
        quality=quality,
    )
    report.details = {
        "drift": drift.to_dict(),
        "quality": quality,
        "task": resolved_task,
        "target": target,
        "prediction": prediction,
        "verdict_seconds": round(verdict_seconds, 4),
        "evidently_sample": None,
    }

    ref_s, cur_s = _sample(reference, sample, seed), _sample(current, sample, seed)
    if len(ref_s) < len(reference) or len(cur_s) < len(current):
        report.notes.append(
            f"plots and the Evidently report use a random sample (seed {seed}) of {len(ref_s):,} of {len(reference):,} "
            f"reference rows and {len(cur_s):,} of {len(current):,} current rows; verdicts and metrics use all rows"
        )
    srows = _summary_rows(reference, current, cols[:MAX_TABLE_ROWS], types)  # all rows: computed now
    report.defer(lambda: _render(report, ref_s, cur_s, cols, srows))  # plots: drawn on first display
    if evidently and drift.columns:
        from . import evidently_attachment

        evidently_attachment.start(
            report,
            ref_s,
            cur_s,
            drift,
            target,
            prediction,
            resolved_task,
            drift_kwargs,
            evidently_html,
            seed,
            background=background,
        )
    if log or (log is None and _has_active_run()):
        report.log()
    return report


def _has_active_run() -> bool:
    from . import tracking

    return tracking.active_run() is not None


def _render(report: MonitoringReport, ref_s: Any, cur_s: Any, cols: list[str], srows: list[list[Any]]) -> None:
    drift = report.drift_result
    assert drift is not None
    ordered = sorted(drift.columns, key=lambda c: (not c.drifted, cols.index(c.column)))
    head = (
        f"<p>{len(drift.drifted_columns)} of {drift.n_tested} columns drifted (share {drift.share:.3g}; "
        f"the dataset drifts at a share &ge; {drift.drift_share_threshold:g}). Tests on all rows.</p>"
    )
    rows = [
        [
            c.column,
            c.type,
            c.method,
            c.score,
            c.threshold,
            "DRIFT" if c.drifted else "ok",
            c.n_reference,
            c.n_current,
            c.note,
        ]
        for c in ordered[:MAX_TABLE_ROWS]
    ]
    more = (
        f"<p class='muted'>{len(ordered) - MAX_TABLE_ROWS} more columns in summary.json</p>"
        if len(ordered) > MAX_TABLE_ROWS
        else ""
    )
    table = table_html(
        ["column", "type", "test", "score", "threshold", "result", "n ref", "n cur", "note"],
        rows,
        [c.drifted for c in ordered[:MAX_TABLE_ROWS]],
    )
    report.sections.append(Section("Data drift", head + table + more))
    plottable = [c for c in drift.columns if c.type != TEXT]  # free text has no distribution to draw
    plot_cols = sorted(plottable, key=lambda c: (not c.drifted, -_strength(c)))[:MAX_PLOTS]
    plots = _distribution_plots(ref_s, cur_s, plot_cols)
    if plots:
        report.sections.append(Section("Distributions (most drifted first)", plots))
    if report.quality:
        cur_q, ref_q = report.quality.get("current", {}), report.quality.get("reference", {})
        names = list(dict.fromkeys([*cur_q, *ref_q]))
        qrows = [
            [
                name,
                ref_q.get(name, math.nan),
                cur_q.get(name, math.nan),
                cur_q[name] - ref_q[name] if name in ref_q and name in cur_q else math.nan,
            ]
            for name in names
        ]
        missing = [side for side in ("current", "reference") if side in report.quality and not report.quality[side]]
        warn = (
            f"<p><b>Model quality could not be computed on {' and '.join(missing)}</b>: "
            "no row has both target and prediction.</p>"
            if missing
            else ""
        )
        report.sections.append(
            Section(
                f"Model quality ({report.details.get('task')})",
                warn + table_html(["metric", "reference", "current", "change"], qrows),
            )
        )
    report.sections.append(
        Section(
            "Data summary (all rows)",
            table_html(["column", "type", "missing ref", "missing cur", "mean / mode ref", "mean / mode cur"], srows),
        )
    )


def _strength(col: Any) -> float:
    """How far a column is from its threshold, comparable across tests (bigger = more drift)."""
    if not math.isfinite(col.score):
        return 0.0
    if col.method in ("ks", "chisquare", "z"):
        return -math.log10(max(col.score, 1e-300)) / -math.log10(col.threshold)
    return col.score / col.threshold if col.threshold else col.score


# ---------------------------------------------------------------------------- jobs
def _parse_spec(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        return dict(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ValidationError("monitor spec must be a non-empty string like 'reference=snapshot:train,current=var:df'")
    out: dict[str, Any] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"monitor spec: {part!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def _resolve(value: Any, namespace: Mapping[str, Any], what: str) -> Any:
    if not isinstance(value, str):
        return value
    if value.startswith("var:"):
        name = value[4:]
        if name not in namespace:
            raise ValidationError(f"monitor spec {what}={value}: no variable {name!r} in the notebook")
        return namespace[name]
    if value.startswith("snapshot:"):
        import importlib

        ref = value[len("snapshot:") :]
        if not ref:
            raise ValidationError(
                f"monitor spec {what}=snapshot: needs a name, e.g. snapshot:train or snapshot:train@2"
            )
        return importlib.import_module("aieng_nb.snapshots").load(ref)
    raise ValidationError(f"monitor spec {what}={value!r}: use var:NAME or snapshot:NAME[@VERSION]")


def _int_opt(opts: Mapping[str, Any], key: str, default: int) -> int:
    try:
        return int(opts.get(key, default))
    except (TypeError, ValueError):
        raise ValidationError(f"monitor spec: {key} must be an integer, got {opts[key]!r}") from None


_SPEC_KEYS = {
    "reference",
    "current",
    "target",
    "prediction",
    "columns",
    "checks",
    "sample",
    "seed",
    "model",
    "X",
    "y",
    "sensitive",
    "explain_checks",
    "fairness_checks",
    "pos_label",
}


def check_job_monitor_spec(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    """Check a job's monitoring spec before the job is created (its grammar, its keys, the shape of
    each reference); the values are resolved later, in the job's kernel.

    >>> check_job_monitor_spec("reference=snapshot:train,current=var:df")["current"]
    'var:df'
    """
    opts = _parse_spec(spec)
    unknown = set(opts) - _SPEC_KEYS
    if unknown:
        raise ValidationError(f"monitor spec: unknown keys {sorted(unknown)}; known: {', '.join(sorted(_SPEC_KEYS))}")
    for key in ("reference", "current"):
        if key not in opts:
            raise ValidationError(f"monitor spec needs {key}=var:NAME or {key}=snapshot:NAME")
    for key in ("reference", "current", "model", "X", "y"):
        value = opts.get(key)
        if (
            isinstance(value, str)
            and not (value.startswith("var:") and value[4:])
            and not (value.startswith("snapshot:") and value[9:])
        ):
            raise ValidationError(f"monitor spec {key}={value!r}: use var:NAME or snapshot:NAME[@VERSION]")
    for key in ("sample", "seed"):
        if key in opts:
            _int_opt(opts, key, 0)
    return opts


def run_job_monitor(spec: str | Mapping[str, Any], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Run the reports a job declares, in the job's kernel, and attach them to the job's run.

    Spec grammar: comma-separated ``key=value`` pairs::

        reference=snapshot:train,current=var:scored_df,target=churn,prediction=pred,
        checks=drift_share>0.3;accuracy_drop>0.05,model=var:m,X=var:X_test,y=var:y_test,sensitive=gender

    * ``reference``, ``current`` (required): ``var:NAME`` (a variable of the notebook) or
      ``snapshot:NAME[@VERSION]`` (:func:`aieng_nb.snapshots.load`).
    * ``target``, ``prediction``: column names in the frames; ``columns``: ``a|b|c`` to restrict drift.
    * ``checks``: ``;``-separated failure rules for the monitoring report; ``sample``, ``seed``.
    * ``model=var:m`` with ``X=var:..`` (and ``y=var:..``): also an explainability report
      (``explain_checks`` rules).
    * ``sensitive``: column name(s) ``a|b`` (of ``X`` when a model is given, else of ``current``,
      scored with ``target``/``prediction``) or ``var:NAME``: also a fairness report
      (``fairness_checks`` rules; ``pos_label``).

    The reports attach to the active run (in a job kernel, the job's run via ``AIENG_RUN_ID``).
    Sets the run tag ``aieng.checks`` to ``passed`` or ``failed`` (``failed`` also when a report
    attached earlier in the run failed), appends ``checks.fail`` to the audit trail when a check
    failed, prints where each report is stored, and returns a summary dict (``passed``,
    ``run_id``, ``failed_checks``, ``reports``: kind, name, passed, path, failed_checks).
    """
    from . import audit, tracking
    from .reports import CHECKS_TAG

    opts = _parse_spec(spec)
    unknown = set(opts) - _SPEC_KEYS
    if unknown:
        raise ValidationError(f"monitor spec: unknown keys {sorted(unknown)}; known: {', '.join(sorted(_SPEC_KEYS))}")
    for key in ("reference", "current"):
        if key not in opts:
            raise ValidationError(f"monitor spec needs {key}=var:NAME or {key}=snapshot:NAME")
    reference = _resolve(opts["reference"], namespace, "reference")
    current = _resolve(opts["current"], namespace, "current")
    cols = opts.get("columns")
    if isinstance(cols, str):
        cols = [c for c in cols.split("|") if c]
    run = tracking.active_run()
    log = run is not None
    reports: list[Report] = [
        monitor(
            reference,
            current,
            target=opts.get("target") or None,
            prediction=opts.get("prediction") or None,
            columns=cols,
            checks=opts.get("checks"),
            sample=_int_opt(opts, "sample", DEFAULT_SAMPLE),
            seed=_int_opt(opts, "seed", DEFAULT_SEED),
            log=log,
        )
    ]
    model = _resolve(opts["model"], namespace, "model") if "model" in opts else None
    X = _resolve(opts["X"], namespace, "X") if "X" in opts else None
    y = _resolve(opts["y"], namespace, "y") if "y" in opts else None
    if model is not None:
        from .explain import explain

        if X is None:
            raise ValidationError("monitor spec: model= needs X=var:NAME")
        reports.append(explain(model, X, y, checks=opts.get("explain_checks"), log=log))
    if "sensitive" in opts:
        from .fairness import fairness

        raw = opts["sensitive"]
        sens_cols = None if str(raw).startswith("var:") else [c for c in str(raw).split("|") if c]
        pos_label = opts.get("pos_label")
        if model is not None:
            if y is None:
                raise ValidationError("monitor spec: fairness with a model needs y=var:NAME")
            sensitive = X[sens_cols] if sens_cols and X is not None else _resolve(raw, namespace, "sensitive")
            fr = fairness(
                y,
                model.predict(X),
                sensitive=sensitive,
                checks=opts.get("fairness_checks"),
                pos_label=pos_label,
                log=log,
            )
        else:
            tgt, pred = opts.get("target"), opts.get("prediction")
            if not tgt or not pred:
                raise ValidationError("monitor spec: sensitive= without a model needs target= and prediction=")
            sensitive = current[sens_cols] if sens_cols else _resolve(raw, namespace, "sensitive")
            fr = fairness(
                current[tgt],
                current[pred],
                sensitive=sensitive,
                checks=opts.get("fairness_checks"),
                pos_label=pos_label,
                log=log,
            )
        reports.append(fr)
    for r in reports:  # a job must not complete before its reports' files are stored
        r.wait()
    passed = all(r.passed for r in reports)
    failed = [f"{r.kind}: {c.rule}" for r in reports for c in r.failed_checks]
    summary: dict[str, Any] = {
        "passed": passed,
        "run_id": run.id if run is not None else None,
        "failed_checks": failed,
        "reports": [
            {
                "kind": r.kind,
                "name": r.name,
                "passed": r.passed,
                "path": f"reports/{r.name}" if r.name else None,
                "failed_checks": [c.rule for c in r.failed_checks],
            }
            for r in reports
        ],
    }
    if run is not None:
        # failed also when a report attached earlier in the notebook failed its checks
        earlier = (tracking.get_run(run.id).tags or {}).get(CHECKS_TAG)
        summary["run_checks"] = "failed" if (not passed or earlier == "failed") else "passed"
        tracking.set_tags({CHECKS_TAG: summary["run_checks"]})
    if not passed and run is None:  # attached reports were audited by reports.attach
        audit.append("checks.fail", {"run_id": None, "failed_checks": failed})
    where = f"run {summary['run_id']}" if run is not None else "no run (not stored)"
    for entry in summary["reports"]:
        verdict = "passed" if entry["passed"] else "FAILED: " + ", ".join(entry["failed_checks"])
        print(f"aieng: {entry['kind']} report {entry['path'] or ''} on {where}: {verdict}")
    return summary
