"""The explainability report's HTML sections."""

from __future__ import annotations

import math
from typing import Any

from .base import Section
from .markup import figure_html, new_figure, table_html

MAX_FEATURES_SHOWN = 25


def render(report: Any, scorer: str) -> None:
    """The importance, partial-dependence and SHAP sections (static PNG plots and tables)."""
    import numpy as np

    imp = report.importances.head(MAX_FEATURES_SHOWN)
    fig = new_figure(6.5, 0.28 * len(imp) + 1.0)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(imp))[::-1]
    ax.barh(y, imp["importance"], xerr=imp["std"], color="#1565c0", ecolor="#555", capsize=2)
    ax.set_yticks(y)
    ax.set_yticklabels([str(f)[:30] for f in imp["feature"]], fontsize=7)
    ax.set_xlabel(f"drop in {scorer} when permuted (mean ± std over repeats)", fontsize=8)
    ax.tick_params(labelsize=7)
    rows = [
        [int(r["rank"]), r["feature"], r["importance"], r["std"], r["ci_low"], r["ci_high"]] for _, r in imp.iterrows()
    ]
    report.sections.append(
        Section(
            f"Permutation importance (baseline {scorer} {report.metrics['baseline_score']:.4g})",
            figure_html(fig, "permutation importance")
            + table_html(["rank", "feature", "importance", "std", "95% low", "95% high"], rows),
        )
    )
    pdp = report.partial_dependence
    if pdp:
        n = len(pdp)
        ncols = min(3, n)
        nrows = math.ceil(n / ncols)
        fig = new_figure(3.2 * ncols, 2.4 * nrows)
        for i, (feat, res) in enumerate(pdp.items()):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            vals = np.asarray(res["values"])
            xs = res["grid"] if res["numeric"] else np.arange(len(res["grid"]))
            if vals.ndim == 1:
                ax.plot(xs, vals, marker="o", ms=3) if res["numeric"] else ax.bar(xs, vals)
            else:
                for k in range(min(vals.shape[1], 5)):
                    ax.plot(xs, vals[:, k], marker="o", ms=2, label=f"class {k}")
                ax.legend(fontsize=6)
            if not res["numeric"]:
                ax.set_xticks(xs)
                ax.set_xticklabels([str(g)[:8] for g in res["grid"]], rotation=45, fontsize=6)
            ax.set_title(str(feat)[:30], fontsize=8)
            ax.tick_params(labelsize=7)
        report.sections.append(
            Section("Partial dependence (top features; mean prediction)", figure_html(fig, "partial dependence"))
        )
    if report.shap_values is not None:
        sv = report.shap_values.head(MAX_FEATURES_SHOWN)
        fig = new_figure(6.5, 0.28 * len(sv) + 1.0)
        ax = fig.add_subplot(1, 1, 1)
        y = np.arange(len(sv))[::-1]
        ax.barh(y, sv["mean_abs_shap"], color="#6a1b9a")
        ax.set_yticks(y)
        ax.set_yticklabels([str(f)[:30] for f in sv["feature"]], fontsize=7)
        ax.set_xlabel("mean |SHAP value|", fontsize=8)
        report.sections.append(Section("SHAP values", figure_html(fig, "mean absolute SHAP values")))
