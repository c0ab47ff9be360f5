"""The wait a user sees: ``aieng.monitor``'s verdict vs Evidently's ``DataDriftPreset``, same run.

    python benchmarks/bench_reports_latency.py [--sizes 10000,100000,1000000] [--cols 20]

Target (issue "The first hour in JupyterLab", Reports): the verdict comes back at least 5x
faster than Evidently's ``Report([DataDriftPreset()]).run(current, reference)`` at 10k, 100k and
1M rows, with Evidently's attachment still produced (in the background) and never missing.

For each size: Evidently's run on all rows (its HTML not even rendered, the strictest baseline);
then ``monitor(reference, current, log=False)`` until it returns (the verdict on all rows; the
Evidently attachment on the 20,000-row sample is queued on the report worker), then our HTML
(``rep.html()``, what a notebook displays), then ``rep.wait()`` until the attachment is there.
The ratios are Evidently's time over ours. Verdicts are compared column by column.

Data: 20 columns, reference and current of equal size: 16 N(0, 1) columns (4 shifted by 0.25 sd
in current), a 3-level categorical with shifted frequencies, a binary and a small-integer column,
and a 12-level categorical. ``import evidently`` and matplotlib are paid before any timing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings


def make_data(rows: int, cols: int = 20, seed: int = 0):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n_num = max(cols - 4, 1)
    names = [f"x{i:02d}" for i in range(n_num)]
    shift = np.zeros(n_num)
    shift[: max(1, n_num // 4)] = 0.25
    frames = []
    for side in (0, 1):
        df = pd.DataFrame(rng.standard_normal((rows, n_num)) + shift * side, columns=names)
        df["plan"] = rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2] if side == 0 else [0.4, 0.3, 0.3])
        df["flag"] = rng.integers(0, 2, rows)
        df["n_items"] = rng.integers(0, 8, rows)
        df["region"] = rng.choice([f"r{k}" for k in range(12)], rows)
        frames.append(df)
    return frames[0], frames[1]


def evidently_verdicts(snapshot_dict: dict) -> dict[str, bool]:
    out = {}
    for test in snapshot_dict["tests"]:
        if test["name"].startswith("Value Drift for column "):
            out[test["name"][len("Value Drift for column ") :]] = "FAIL" in str(test["status"])
    return out


def one_size(rows: int, cols: int) -> dict:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from aieng_nb.reports.monitoring import monitor

    ref, cur = make_data(rows, cols)
    t0 = time.perf_counter()
    snap = Report([DataDriftPreset()], include_tests=True).run(cur, ref)
    t_ev = time.perf_counter() - t0
    ev = evidently_verdicts(snap.dict())

    t0 = time.perf_counter()
    rep = monitor(ref, cur, log=False)
    t_verdict = time.perf_counter() - t0
    pending_at_return = rep.attachments.pending
    t0 = time.perf_counter()
    html = rep.html()
    t_html = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep.wait()
    t_wait = time.perf_counter() - t0
    attached = {"evidently.html", "evidently.json"} <= set(rep.attachments)
    ours = rep.drift_result.by_column()
    agree = sum(ours[c].drifted == ev[c] for c in ev)
    result = {
        "rows": rows,
        "evidently_s": round(t_ev, 3),
        "verdict_s": round(t_verdict, 3),
        "verdict_speedup": round(t_ev / t_verdict, 1),
        "our_html_s": round(t_html, 3),
        "verdict_and_html_speedup": round(t_ev / (t_verdict + t_html), 1),
        "attachment_after_s": round(t_wait, 3),
        "attachment_pending_at_return": pending_at_return,
        "attachment_produced": attached,
        "verdicts_agree": f"{agree}/{len(ev)}",
        "report_html_kb": round(len(html.encode()) / 1e3, 1),
    }
    print(
        f"{rows:>9,} rows: Evidently DataDriftPreset {t_ev:7.2f} s | aieng verdict {t_verdict:6.3f} s "
        f"({result['verdict_speedup']}x), + our HTML {t_html:.3f} s ({result['verdict_and_html_speedup']}x) | "
        f"Evidently attachment (20k sample) ready {t_wait:.2f} s later: {attached} | verdicts agree {agree}/{len(ev)}",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--cols", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    os.environ.setdefault("AIENG_WORKSPACE", tempfile.mkdtemp(prefix="aieng-bench-"))
    warnings.filterwarnings("ignore")

    import evidently  # noqa: F401  (import cost paid before timing)

    from aieng_nb.reports.monitoring import monitor

    warm_ref, warm_cur = make_data(2000, args.cols, seed=1)
    monitor(warm_ref, warm_cur, log=False).wait().html()  # imports: matplotlib, scipy, sklearn, evidently

    results = [one_size(rows, args.cols) for rows in sizes]
    print("RESULT " + json.dumps(results, sort_keys=True))
    ok = all(
        r["verdict_speedup"] >= 5
        and r["attachment_produced"]
        and r["verdicts_agree"].split("/")[0] == r["verdicts_agree"].split("/")[1]
        for r in results
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
