"""Monitoring benchmarks: every figure is a ratio against Evidently measured in the same run.

    python benchmarks/bench_monitoring.py [--rows 1000000] [--cols 20] [--quick]

Targets (issue "Monitoring, explainability and fairness reports"):
  drift verdict on 1M x 20 numeric      >= 30x faster than Evidently's DataDriftPreset, same verdicts
  full monitoring report on 1M rows     >= 6x faster than Evidently's own run on the same data
                                         (verdict on all rows + rendered Evidently HTML on a sample)
  report HTML                            < 2 MB for 1M-row inputs

Data: reference N(0, 1) in every column; in current, a quarter of the columns are shifted by
0.25 sd (drift by Evidently's normed-Wasserstein rule) and one by 0.09 sd (just below the
0.1 threshold, to exercise the exact fallback), the rest unchanged. ``import evidently`` is
paid before any timing, so neither side carries it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings


def make_data(rows: int, cols: int, seed: int = 0):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = [f"x{i:02d}" for i in range(cols)]
    ref = pd.DataFrame(rng.standard_normal((rows, cols)), columns=names)
    shifts = np.zeros(cols)
    shifts[: max(1, cols // 4)] = 0.25
    if cols > 1:
        shifts[-1] = 0.09
    cur = pd.DataFrame(rng.standard_normal((rows, cols)) + shifts, columns=names)
    return ref, cur


def evidently_verdicts(snapshot_dict: dict) -> dict[str, bool]:
    out = {}
    for test in snapshot_dict["tests"]:
        if test["name"].startswith("Value Drift for column "):
            out[test["name"][len("Value Drift for column ") :]] = "FAIL" in str(test["status"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="100k rows")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    os.environ.setdefault("AIENG_WORKSPACE", tempfile.mkdtemp(prefix="aieng-bench-"))
    warnings.filterwarnings("ignore")

    import evidently  # noqa: F401  (import cost paid before timing)
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from aieng_nb.reports.drift import drift_gate
    from aieng_nb.reports.monitoring import monitor

    ref, cur = make_data(rows, args.cols)
    print(f"data: {rows:,} rows x {args.cols} numeric columns (reference and current)", flush=True)

    t0 = time.perf_counter()
    snap = Report([DataDriftPreset()], include_tests=True).run(cur, ref)
    ev_html = snap.get_html_str(as_iframe=False)
    t_ev = time.perf_counter() - t0
    ev = evidently_verdicts(snap.dict())
    print(
        f"evidently DataDriftPreset (all rows, incl. its HTML): {t_ev:.2f} s, HTML {len(ev_html) / 1e6:.1f} MB",
        flush=True,
    )

    t0 = time.perf_counter()
    gate = drift_gate(ref, cur)
    t_gate = time.perf_counter() - t0
    ours = {c.column: c.drifted for c in gate.columns}
    agree = sum(ours[c] == ev[c] for c in ev)
    exact = sum(c.exact for c in gate.columns)
    print(
        f"aieng drift gate (all rows): {t_gate:.3f} s -> {t_ev / t_gate:.1f}x faster; verdicts agree on "
        f"{agree}/{len(ev)} columns; drifted {len(gate.drifted_columns)}; exact-fallback columns {exact}",
        flush=True,
    )

    t0 = time.perf_counter()
    rep = monitor(ref, cur, log=False).wait()  # the full report: Evidently's background attachment included
    t_mon = time.perf_counter() - t0
    html = rep.html()
    size = len(html.encode())
    sample = rep.details["evidently_sample"] or {}
    mon_agree = sum(rep.drift_result.by_column()[c].drifted == ev[c] for c in ev)
    print(
        f"aieng monitor (verdict all rows + Evidently HTML on {sample.get('reference_rows', 0):,}-row sample): "
        f"{t_mon:.2f} s -> {t_ev / t_mon:.1f}x faster; report.html {size / 1e6:.3f} MB; "
        f"evidently.html {len(rep.attachments.get('evidently.html', '')) / 1e6:.1f} MB; verdicts agree {mon_agree}/{len(ev)}",
        flush=True,
    )

    # fairness: the same per-group metrics and gaps through fairlearn's MetricFrame, 1M rows x 6 groups
    import numpy as np
    from fairlearn import metrics as flm
    from sklearn.metrics import accuracy_score

    from aieng_nb.reports.fairness_report import fairness

    rng = np.random.default_rng(1)
    y = (rng.random(rows) < 0.3).astype(int)
    p = np.where(rng.random(rows) < 0.8, y, 1 - y)
    sens = pd.DataFrame({"g": rng.choice(["a", "b", "c"], rows), "h": rng.choice(["x", "y"], rows)})
    t0 = time.perf_counter()
    mf = flm.MetricFrame(
        metrics={
            "count": flm.count,
            "selection_rate": flm.selection_rate,
            "accuracy": accuracy_score,
            "tpr": flm.true_positive_rate,
            "fpr": flm.false_positive_rate,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=sens,
    )
    fl_eod = flm.equalized_odds_difference(y, p, sensitive_features=sens)
    fl_dpd = flm.demographic_parity_difference(y, p, sensitive_features=sens)
    t_fl = time.perf_counter() - t0
    t0 = time.perf_counter()
    fr = fairness(y, p, sensitive=sens, log=False)
    t_fr = time.perf_counter() - t0
    same = (
        abs(fr.metrics["equalized_odds_difference"] - fl_eod) < 1e-12
        and abs(fr.metrics["demographic_parity_difference"] - fl_dpd) < 1e-12
        and np.allclose(fr.by_group["tpr"].to_numpy(), mf.by_group["tpr"].to_numpy())
    )
    print(
        f"aieng fairness ({rows:,} rows, 6 intersectional groups): {t_fr:.2f} s vs fairlearn MetricFrame + gaps "
        f"{t_fl:.2f} s -> {t_fl / t_fr:.1f}x; same numbers: {same}",
        flush=True,
    )

    result = {
        "rows": rows,
        "cols": args.cols,
        "evidently_s": round(t_ev, 3),
        "gate_s": round(t_gate, 4),
        "gate_speedup": round(t_ev / t_gate, 1),
        "gate_verdicts_agree": f"{agree}/{len(ev)}",
        "monitor_s": round(t_mon, 3),
        "monitor_speedup": round(t_ev / t_mon, 1),
        "report_html_mb": round(size / 1e6, 3),
        "evidently_sample_rows": sample.get("reference_rows"),
        "evidently_sample_s": sample.get("seconds"),
        "fairness_s": round(t_fr, 3),
        "fairlearn_s": round(t_fl, 3),
        "fairness_same_numbers": same,
    }
    print("RESULT " + json.dumps(result, sort_keys=True))
    ok = agree == len(ev) and mon_agree == len(ev) and size < 2_000_000 and same
    ok = ok and (args.quick or (t_ev / t_gate >= 30 and t_ev / t_mon >= 6))
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
