"""Data-contract benchmarks: validation vs pandera's own ``validate(lazy=True)``, and the cost a
contract adds to a snapshot.

Side by side in one run on one frame: 1M rows x 20 columns (8 float64, 8 int64, 2 text columns
with 50k distinct values, 2 with 20 levels), and the contract inferred from it (bounds on the
numbers, categories on the low-cardinality text, not-null everywhere).

- ``aieng.validate(df, contract)`` (report, audit entry included) vs ``schema.validate(df, lazy=True)``
  with the same pandera schema, on clean data and on data with failures; target <= 1.25x;
- ``aieng.snapshot(df, name=...)`` with ``contracts/<name>.yaml`` present vs the same snapshot
  without one (new content each time, so both store); target <= 1.3x.

``--quality``: inferred contracts on real packaged datasets (``contract_quality.py``: false
alarms on clean halves, planted breaks caught, pandera's verdicts on our YAML, pandera's own
``infer_schema`` side by side) and validation time against pandera's ``validate(lazy=True)`` on a
real dataset resampled to 10k, 100k and 1M rows (section "Contracts: inference on real data").

    python benchmarks/bench_contracts.py                  # ~1-2 minutes
    python benchmarks/bench_contracts.py --rows 200000
    python benchmarks/bench_contracts.py --write-results  # update the RESULTS.md "Contracts" section
    python benchmarks/bench_contracts.py --quality --write-results   # ~20 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {}
    for i in range(8):
        cols[f"f{i}"] = rng.standard_normal(rows)
    for i in range(8):
        cols[f"i{i}"] = rng.integers(0, 1_000_000, rows)
    vocab = np.array([f"item-{k:05d}" for k in range(50_000)], dtype=object)
    levels = np.array([f"level-{k}" for k in range(20)], dtype=object)
    for i in range(2):
        cols[f"s{i}"] = vocab[rng.integers(0, len(vocab), rows)]
    for i in range(2):
        cols[f"c{i}"] = levels[rng.integers(0, len(levels), rows)]
    return pd.DataFrame(cols)


def timed(fn) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def side_by_side(a, b, repeat: int) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` run alternately (so both see the same machine load)."""
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(timed(a))
        tb.append(timed(b))
    return statistics.median(ta), statistics.median(tb)


def bench_validate(df: pd.DataFrame, repeat: int, out: list[str]) -> dict[str, float]:
    import pandera.errors

    import aieng_nb as aieng

    con = aieng.infer_contract(df.sample(min(len(df), 200_000), random_state=0), name="bench")
    schema = con.schema

    def pandera_own(frame: pd.DataFrame):
        def run() -> None:
            try:
                schema.validate(frame, lazy=True)
            except pandera.errors.SchemaErrors:
                pass

        return run

    results = {}
    broken = df.copy()
    broken.loc[::1000, "f3"] = np.nan  # 0.1% nulls in a not-null column
    broken.loc[::5000, "c1"] = "level-new"  # a new category
    for label, frame in (("clean", df), ("with failures", broken)):
        ours, theirs = side_by_side(lambda f=frame: aieng.validate(f, "bench", log=False), pandera_own(frame), repeat)
        passed = aieng.validate(frame, "bench", log=False).passed
        ratio = ours / theirs
        results[label] = ratio
        out.append(
            f"| validate, {label} ({'passed' if passed else 'failed'}) | {ours:.3f} s | {theirs:.3f} s | **{ratio:.2f}x** |"
        )
    return results


def bench_snapshot(df: pd.DataFrame, repeat: int, out: list[str]) -> float:
    import aieng_nb as aieng

    aieng.infer_contract(df.sample(min(len(df), 200_000), random_state=0), name="withc")
    counter = [0]

    def snap(name: str):
        def run() -> None:
            counter[0] += 1
            frame = df.copy()
            frame["f0"] = frame["f0"] + counter[0]  # new content: the object is stored, not found
            aieng.snapshot(frame, name=name)

        return run

    with_c, without = side_by_side(snap("withc"), snap("noc"), repeat)
    ratio = with_c / without
    out.append(f"| snapshot with a contract vs without | {with_c:.3f} s | {without:.3f} s | **{ratio:.2f}x** |")
    return ratio


def write_results(section: str) -> None:
    path = Path(__file__).with_name("RESULTS.md")
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    heading = section.splitlines()[0] + "\n"
    start = text.find(heading)
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end:] if end >= 0 else "\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-results", action="store_true", help="replace the Contracts section of RESULTS.md")
    parser.add_argument("--quality", action="store_true", help="inference on real datasets, validation time by size")
    parser.add_argument("--per-kind", type=int, default=5, help="--quality: plants of each break per split")
    parser.add_argument("--jobs", type=int, default=1, help="--quality: datasets run in this many processes")
    args = parser.parse_args(argv)
    if args.quality:
        from bench_contracts_quality import main as quality

        return quality(args.per_kind, args.repeat, args.write_results, write_results, args.jobs)
    with tempfile.TemporaryDirectory(prefix="aieng-bench-contracts-") as tmp:
        os.chdir(tmp)
        os.environ["AIENG_WORKSPACE"] = str(Path(tmp) / ".aieng")
        df = make_frame(args.rows)
        rows: list[str] = []
        val = bench_validate(df, args.repeat, rows)
        snap = bench_snapshot(df, args.repeat, rows)
    import pandera

    section = "\n".join(
        [
            "## Contracts",
            "",
            f"`python benchmarks/bench_contracts.py --rows {args.rows}` (pandera {pandera.__version__}; frame "
            f"{args.rows:,} x 20: 8 float, 8 int, 2 text with 50k values, 2 with 20 levels; medians of "
            f"{args.repeat}, run alternately). Targets: validate <= 1.25x pandera's `validate(lazy=True)`, "
            "snapshot with a contract <= 1.3x without.",
            "",
            "| what | aieng_nb | baseline | ratio |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
            "The validation decides each column's built-in checks from statistics (null counts the snapshot "
            "hash already counted, min/max, distinct values of the Arrow arrays the hash built) and hands "
            "pandera only the columns that may fail, so failure cases are pandera's own.",
        ]
    )
    print(section)
    ok = max(val.values()) <= 1.25 and snap <= 1.3
    print(f"\nvalidate ratios: {', '.join(f'{k} {v:.2f}x' for k, v in val.items())}; snapshot ratio {snap:.2f}x")
    if args.write_results:
        write_results(section)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
