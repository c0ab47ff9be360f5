"""Evidently's own report, attached to a monitoring report: run in the background on a sample.

``start(report, ...)`` copies the seeded sample (so later edits of the user's frames cannot race
with it), casts the dtypes Evidently 0.7 does not know (:func:`for_evidently`) and queues the
Evidently run on the report worker (:mod:`aieng_nb.reports.tasks`); the verdict is returned
without waiting. When the run ends, ``evidently.json`` (and ``evidently.html``) are in the
report's attachments; reading them, ``report.wait()``, ending the run or the job waits for it.

>>> import pandas as pd
>>> for_evidently(pd.DataFrame({"n": pd.array([1, None], dtype="Int64")})).dtypes["n"].name
'float64'
"""

from __future__ import annotations

import json
import time
from typing import Any

from .drift import CATEGORICAL, NUMERICAL, TEXT, DriftResult


def for_evidently(frame: Any) -> Any:
    """A copy of ``frame`` with the dtypes Evidently 0.7 cannot handle cast to ones it can:
    unsigned and small integers -> ``int64``; nullable integers -> ``int64`` (``float64`` with
    NaN where values are missing); ``Float32``/``Float64`` -> ``float64``; ``boolean`` ->
    ``bool`` (``object`` with NaN where values are missing). Values are unchanged."""
    import numpy as np
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        s = out[col]
        name = s.dtype.name
        if name.startswith("uint") or name in ("int8", "int16", "int32"):
            out[col] = s.astype("int64")
        elif name.startswith(("Int", "UInt")):
            out[col] = s.astype("float64") if s.isna().any() else s.astype("int64")
        elif name.startswith("Float"):
            out[col] = s.to_numpy(dtype="float64", na_value=np.nan)
        elif name == "boolean":
            out[col] = s.astype(object).where(s.notna(), np.nan) if s.isna().any() else s.astype(bool)
        elif name == "float32":
            out[col] = s.astype("float64")
        elif isinstance(s.dtype, pd.StringDtype):
            out[col] = s.astype(object).where(s.notna(), np.nan)
    return out


def run(
    ref: Any,
    cur: Any,
    drift: DriftResult,
    target: str | None,
    prediction: str | None,
    task: str | None,
    drift_kwargs: dict[str, Any],
    want_html: bool = True,
) -> tuple[str | None, dict[str, Any]]:
    """Evidently's DataDriftPreset + DataSummaryPreset (+ Classification/RegressionPreset) on the
    frames, with the column types our gate used; returns (HTML or None, snapshot dict)."""
    from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Regression, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset, DataSummaryPreset, RegressionPreset

    from .quality import is_probability
    from .quality import pos_label as _pos_label

    tested = [c.column for c in drift.columns]
    num = [c.column for c in drift.columns if c.type == NUMERICAL]
    cat = [c.column for c in drift.columns if c.type == CATEGORICAL]
    text = [c.column for c in drift.columns if c.type == TEXT]
    items: list[Any] = []
    definition: dict[str, Any] = {}
    used = list(tested)
    labelled = bool(target and prediction) and all(c in ref.columns for c in (target, prediction))
    if task and labelled and target and prediction:
        for col in (target, prediction):
            if col not in used:
                used.append(col)
                numeric = task != "classification" or (col == prediction and is_probability(cur[col]))
                (num if numeric else cat).append(col)
        if task == "classification":
            labels = set(cur[target].dropna().unique()) | set(ref[target].dropna().unique())
            if is_probability(cur[prediction]):
                cls = BinaryClassification(
                    target=target, prediction_probas=prediction, pos_label=_pos_label(list(labels))
                )
            elif len(labels) <= 2:
                cls = BinaryClassification(
                    target=target, prediction_labels=prediction, pos_label=_pos_label(list(labels))
                )
            else:
                cls = MulticlassClassification(target=target, prediction_labels=prediction)
            definition["classification"] = [cls]
            items.append(ClassificationPreset())
        else:
            definition["regression"] = [Regression(target=target, prediction=prediction)]
            items.append(RegressionPreset())
    dd = DataDefinition(numerical_columns=num, categorical_columns=cat, text_columns=text, **definition)
    kwargs = {k: v for k, v in drift_kwargs.items() if v is not None}
    if text:  # text columns take the text test our gate chose (a global method= is not for text)
        per_column = dict(kwargs.get("per_column_method") or {})
        for c in drift.columns:
            if c.type == TEXT:
                per_column.setdefault(c.column, c.method)
        kwargs["per_column_method"] = per_column
    items = [
        DataDriftPreset(columns=tested, drift_share=drift.drift_share_threshold, **kwargs),
        DataSummaryPreset(columns=used),
        *items,
    ]
    ref_e, cur_e = for_evidently(ref[used]), for_evidently(cur[used])
    snapshot = Report(items).run(
        Dataset.from_pandas(cur_e, data_definition=dd), Dataset.from_pandas(ref_e, data_definition=dd)
    )
    return (snapshot.get_html_str(as_iframe=False) if want_html else None), snapshot.dict()


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "value"):
        return obj.value
    return str(obj)


def _attach(report: Any, ref: Any, cur: Any, args: dict[str, Any]) -> None:
    """The task: run Evidently and put its files on the report (or a note saying why not)."""
    from ..records import jsonable

    t0 = time.perf_counter()
    try:
        html, snap = run(ref, cur, **args)
        # keys as text (value counts of a bool column are keyed by True/False), NaN as null
        snap_json = json.dumps(jsonable(snap, finite=True), default=_json_default, sort_keys=True)
    except Exception as exc:  # the verdict stands without the optional rendering
        report.notes.append(f"Evidently report skipped: {type(exc).__name__}: {exc}")
        return
    report.attachments["evidently.json"] = snap_json
    sample = report.details.get("evidently_sample")
    if isinstance(sample, dict):
        sample["seconds"] = round(time.perf_counter() - t0, 3)
    if html is None:
        report.notes.append("Evidently HTML not kept (evidently_html=False); its snapshot is evidently.json")
        return
    report._evidently_html = html
    report.attachments["evidently.html"] = html
    report.notes.append(
        f"interactive Evidently report: evidently.html ({len(html) / 1e6:.1f} MB, mostly Evidently's "
        "JavaScript bundle; in the run's artifacts or report.save_evidently_html(path))"
    )


def start(
    report: Any,
    ref_sample: Any,
    cur_sample: Any,
    drift: DriftResult,
    target: str | None,
    prediction: str | None,
    task: str | None,
    drift_kwargs: dict[str, Any],
    want_html: bool,
    seed: int,
    background: bool = True,
) -> None:
    """Attach Evidently's report to ``report``: queued on the report worker (``background``) or now."""
    from . import tasks as report_tasks

    report.details["evidently_sample"] = {
        "reference_rows": len(ref_sample),
        "current_rows": len(cur_sample),
        "seed": seed,
        "seconds": None,
    }
    # copies: the user's frames may change while the worker reads them
    ref, cur = ref_sample.copy(), cur_sample.copy()
    args = {
        "drift": drift,
        "target": target,
        "prediction": prediction,
        "task": task,
        "drift_kwargs": dict(drift_kwargs),
        "want_html": want_html,
    }
    if background:
        report.attachments.add_pending(report_tasks.submit(_attach, report, ref, cur, args))
    else:
        _attach(report, ref, cur, args)
