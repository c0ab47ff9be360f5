"""The monitoring report's HTML sections: the drift table, distribution plots, quality, data summary.

Plots are drawn on first display (``Report.defer``), from the seeded sample; tables use all rows.
"""

from __future__ import annotations

import math
from typing import Any

from .base import Section
from .drift import NUMERICAL, TEXT
from .markup import figure_html, new_figure, table_html

MAX_TABLE_ROWS = 200
MAX_PLOTS = 6


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


def summary_rows(ref: Any, cur: Any, cols: list[str], types: dict[str, str]) -> list[list[Any]]:
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


def render(report: Any, ref_s: Any, cur_s: Any, cols: list[str], srows: list[list[Any]]) -> None:
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
    if getattr(report, "estimation", None) is not None:
        report.sections.append(estimation_section(report.estimation))
    report.sections.append(
        Section(
            "Data summary (all rows)",
            table_html(["column", "type", "missing ref", "missing cur", "mean / mode ref", "mean / mode cur"], srows),
        )
    )


def estimation_section(est: Any) -> Section:
    """Estimated metrics with their bands (and realized values when labels exist), and the trust verdict."""
    what = "confidence-based (CBPE)" if est.method == "cbpe" else "direct loss estimation (DLE)"
    cal = est.calibration
    if "ece" in cal:
        calib = f"calibration error (ECE) on the reference {cal['ece']:.3f}" + (
            " after isotonic calibration" if cal.get("calibrated") else ""
        )
    else:
        calib = f"loss model off by {cal.get('dle_relative_error', math.nan):.1%} on the reference (cross-fitted)"
    verdict = ("<p><b>Trusted</b>: " if est.trusted else "<p class='bad'><b>Cannot be trusted</b>: ") + "; ".join(
        [*est.reasons, calib, f"{est.out_of_support:.1%} of rows outside the reference's support"]
    )
    if cal.get("current_held") is not None:  # the labels are there: did the calibration hold on them?
        held, tag = ("held", "<p>") if cal["current_held"] else ("<b>did not hold</b>", "<p class='bad'>")
        verdict += (f"</p>{tag}With this batch's labels: the calibrated probabilities {held} on it "
                    f"(Hosmer-Lemeshow p = {cal['current_hl_p']:.2g})")  # fmt: skip
    head = f"<p>Estimated without labels, {what}, {est.confidence:.0%} band, {est.n_rows:,} rows.</p>"
    table = table_html(["metric", "reference", "estimated", "band low", "band high", "realized", "error"],
                       est.table_rows())  # fmt: skip
    return Section("Estimated performance (before labels)", head + verdict + "</p>" + table)


def _strength(col: Any) -> float:
    """How far a column is from its threshold, comparable across tests (bigger = more drift)."""
    if not math.isfinite(col.score):
        return 0.0
    if col.method in ("ks", "chisquare", "z"):
        return -math.log10(max(col.score, 1e-300)) / -math.log10(col.threshold)
    return col.score / col.threshold if col.threshold else col.score
