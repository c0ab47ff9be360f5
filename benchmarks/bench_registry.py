"""Registry benchmark: a gated promotion decision, a rollback, and serving latency, side by side.

    python benchmarks/bench_registry.py [--rows 100000] [--requests 200]

Targets (issue "Model registry with gated promotion, rollback and serving"):

* a promotion decision with all gates (accuracy and f1 with margins, per-group fairness on the
  sensitive column, data checks, reproducibility) on a 100k-row held-out snapshot takes at most
  2x the time of scoring both models on it once (``model.predict`` twice, models already loaded):
  the gates reuse one scoring pass per model;
* a rollback (one alias move, audited) under 1 s;
* serving: the median latency of a single-row request through MLflow's scoring server on
  127.0.0.1, and its overhead over calling the same pyfunc model's ``predict`` in-process.

Models: two ``RandomForestClassifier(n_estimators=100, max_depth=10)`` fits on the synthetic loop
data (``aieng_nb.loop.synthetic``), logged with MLflow and registered; the champion is v1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions of the decision (median)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    tmp = tempfile.mkdtemp(prefix="aieng-bench-registry-")
    os.environ["AIENG_WORKSPACE"] = os.path.join(tmp, ".aieng")
    os.chdir(tmp)

    import mlflow
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestClassifier

    import aieng_nb as aieng
    from aieng_nb.loop.synthetic import FEATURES, batch
    from aieng_nb.registry import scoring
    from aieng_nb.serving import free_port

    train = batch(20_000, concept=1, seed=0)
    run_ids = []
    for seed in (1, 2):
        model = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=seed, n_jobs=1)
        with aieng.start_run(experiment="bench", params={"seed": seed}) as run:
            aieng.seed(seed)
            aieng.load(aieng.snapshot(train, name="bench-train").ref)
            model.fit(train[FEATURES], train["label"])
            aieng.log(accuracy=0.9)
            mlflow.sklearn.log_model(  # MLflow's active run is the aieng run
                model,
                name="model",
                signature=infer_signature(train[FEATURES].head(100), model.predict(train[FEATURES].head(100))),
                pip_requirements=["scikit-learn"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
        run_ids.append(run.id)
    for run_id in run_ids:
        aieng.register_model(run_id, "bench")
    aieng.promote("bench", 1)
    holdout = batch(args.rows, concept=1, seed=7)
    aieng.snapshot(holdout, name="bench-holdout")
    gates = os.path.join(tmp, "gates.toml")
    with open(gates, "w") as fh:
        fh.write(
            '[evaluation]\nsnapshot = "bench-holdout"\ntarget = "label"\n'
            '[[metrics]]\nname = "accuracy"\nmargin = 0.01\n[[metrics]]\nname = "f1"\nmargin = 0.01\n'
            '[fairness]\nsensitive = ["g"]\nmax_degradation = 0.02\nchecks = ["demographic_parity_difference > 0.2"]\n'
            '[reproducibility]\nrequire = ["notebook", "params", "snapshots", "seed"]\n'
        )
    m1 = aieng.load_model("bench/1", record_use=False)
    m2 = aieng.load_model("bench/2", record_use=False)
    X = holdout[FEATURES]
    m1.predict(X.head(10)), m2.predict(X.head(10))  # warm both

    base, decide = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        m1.predict(X)
        m2.predict(X)
        base.append(time.perf_counter() - t0)
        with scoring._lock:
            scoring._scores.clear()  # the decision scores both models itself (the loaded models stay cached)
        t0 = time.perf_counter()
        report = aieng.check_gates("bench", 2, gates=gates)
        decide.append(time.perf_counter() - t0)
    t_base, t_decide = statistics.median(base), statistics.median(decide)

    # rollback: promote v2 by force, then time the rollback (warm process), then the CLI
    rollbacks = []
    for _ in range(5):
        aieng.promote("bench", 2, force=True, reason="benchmark")
        t0 = time.perf_counter()
        aieng.rollback("bench", reason="benchmark")
        rollbacks.append(time.perf_counter() - t0)
    import subprocess

    aieng.promote("bench", 2, force=True, reason="benchmark")
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "aieng_nb.cli", "model", "rollback", "bench"], check=True, capture_output=True
    )
    t_cli = time.perf_counter() - t0

    # serving vs in-process predict, one row at a time
    row = X.head(1)
    inproc = []
    for i in range(args.requests):
        one = X.iloc[[i % len(X)]]
        t0 = time.perf_counter()
        m1.predict(one)
        inproc.append(time.perf_counter() - t0)
    with aieng.serve_model("bench@champion", port=free_port()) as srv:
        for _ in range(10):
            srv.predict(row)
        http = []
        for i in range(args.requests):
            one = X.iloc[[i % len(X)]]
            t0 = time.perf_counter()
            srv.predict(one)
            http.append(time.perf_counter() - t0)
    med_in, med_http = statistics.median(inproc), statistics.median(http)
    out = {
        "rows": args.rows,
        "score_both_once_s": round(t_base, 3),
        "decision_all_gates_s": round(t_decide, 3),
        "decision_ratio": round(t_decide / t_base, 2),
        "gates": [r.gate for r in report.results],
        "decision_passed": report.passed,
        "rollback_median_s": round(statistics.median(rollbacks), 4),
        "rollback_max_s": round(max(rollbacks), 4),
        "rollback_cli_process_s": round(t_cli, 2),
        "serve_median_ms": round(med_http * 1000, 2),
        "inprocess_median_ms": round(med_in * 1000, 2),
        "serve_overhead_ms": round((med_http - med_in) * 1000, 2),
        "serve_ratio": round(med_http / med_in, 2),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(out, indent=2))
    print(
        f"decision with all gates: {t_decide:.3f} s = {t_decide / t_base:.2f}x scoring both models once ({t_base:.3f} s); target <= 2x"
    )
    print(
        f"rollback: median {statistics.median(rollbacks) * 1000:.1f} ms, max {max(rollbacks) * 1000:.1f} ms; target < 1 s"
    )
    print(
        f"serving one row: median {med_http * 1000:.2f} ms vs in-process predict {med_in * 1000:.2f} ms ({med_http / med_in:.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
