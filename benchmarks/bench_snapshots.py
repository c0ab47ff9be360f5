"""Snapshot benchmarks: hash throughput, cold and warm snapshot cost, PII scan speed.

Every ratio is measured side by side in one run on the same frame (absolute times move between runs
and machines). The frame is the one in ``shared/notes/stack-facts.md``: 1M rows x 20 columns, 8 float64,
8 int64 and 4 string columns, about 192 MB with pyarrow-backed strings (``string[pyarrow]``); the
same frame with object strings (the pandas 2 default) is measured too.

    python benchmarks/bench_snapshots.py            # ~1-2 minutes
    python benchmarks/bench_snapshots.py --rows 200000 --write-results   # update RESULTS.md "Snapshots"
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_frame(rows: int, strings: str) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {}
    for i in range(8):
        cols[f"f{i}"] = rng.standard_normal(rows)
    for i in range(8):
        cols[f"i{i}"] = rng.integers(0, 1_000_000, rows)
    vocab = np.array([f"item-{k:05d}" for k in range(50_000)], dtype=object)
    for i in range(4):
        cols[f"s{i}"] = pd.Series(vocab[rng.integers(0, len(vocab), rows)], dtype=strings)
    return pd.DataFrame(cols)


def arrow_bytes(df: pd.DataFrame) -> int:
    """Size of the data itself: value buffers, string bytes and offsets (no Python object overhead)."""
    import pyarrow as pa

    return pa.Table.from_pandas(df).nbytes


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def median(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_hash(df: pd.DataFrame, label: str, out: list[str]) -> dict[str, float]:
    from aieng_nb.snapshots.hashing import clear_cache, hash_frame

    size = arrow_bytes(df)

    def cold_hash() -> None:
        clear_cache()  # measure the first hash of this data, not the object-column cache
        hash_frame(df)

    t_ours = best(cold_hash)
    numeric = df.select_dtypes("number")
    raw = b"".join(np.ascontiguousarray(numeric[c].to_numpy()).tobytes() for c in numeric)  # numeric buffers only
    t_sha = best(lambda: hashlib.sha256(raw).digest()) * size / len(raw)  # scaled to the same bytes
    t_hpo = best(lambda: pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes(), repeat=1)
    res = {"bytes": size, "ours": size / t_ours / 1e9, "sha256": size / t_sha / 1e9, "hpo": size / t_hpo / 1e9}
    out.append(
        f"| content hash, {label} | {size / 1e6:.0f} MB in {t_ours * 1e3:.0f} ms: **{res['ours']:.1f} GB/s** | "
        f"sha256 {res['sha256']:.1f} GB/s, hash_pandas_object {res['hpo']:.2f} GB/s | >= 3 GB/s |"
    )
    return res


def bench_snapshot(df: pd.DataFrame, label: str, out: list[str]) -> dict[str, float]:
    import aieng_nb as aieng
    from aieng_nb import config

    root = Path(tempfile.mkdtemp(prefix="aieng-bench-"))

    def parquet() -> None:
        df.to_parquet(root / "bare.parquet", compression="zstd")
        os.unlink(root / "bare.parquet")

    from aieng_nb.snapshots.hashing import clear_cache

    def cold() -> None:
        clear_cache()
        ws = root / f"ws-{time.perf_counter_ns()}"
        os.environ["AIENG_WORKSPACE"] = str(ws)
        config.reset()
        aieng.snapshot(df, name="bench")

    # interleave so both see the same machine state
    t_parquet, t_cold = [], []
    for _ in range(3):
        t_parquet.append(median(parquet, repeat=1))
        t_cold.append(median(cold, repeat=1))
    tp, tc = statistics.median(t_parquet), statistics.median(t_cold)
    t_warm = median(lambda: aieng.snapshot(df, name="bench"), repeat=5)
    t_load = median(lambda: aieng.load("bench"), repeat=1)
    res = {"parquet": tp, "cold": tc, "warm": t_warm, "cold_ratio": tc / tp, "warm_ratio": t_warm / tc, "load": t_load}
    out.append(
        f"| cold snapshot, {label} | {tc:.2f} s vs `to_parquet(zstd)` {tp:.2f} s: **{res['cold_ratio']:.2f}x** | "
        "hash + profile + PII scan (auto) + atomic write + index + audit | <= 1.5x |"
    )
    out.append(
        f"| re-snapshot of unchanged data, {label} | {t_warm * 1e3:.0f} ms: **{res['warm_ratio']:.1%} of cold** | "
        "hash + index lookup, nothing written | <= 10% |"
    )
    out.append(f"| load + verify, {label} | {t_load:.2f} s | read Parquet, restore dtypes, re-hash | - |")
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    return res


def bench_pii(rows: int, out: list[str]) -> dict[str, float]:
    from aieng_nb import privacy

    rng = np.random.default_rng(1)
    pick = lambda values: np.array(values, dtype=object)[rng.integers(0, len(values), rows)]  # noqa: E731
    df = pd.DataFrame(
        {
            "email": np.where(rng.random(rows) < 0.3, "ann.lee@example.com", "not given").astype(object),
            "note": pick(["called back", "order 1234 shipped", "card ending 4242", "v1.2.3 installed", "ok"]),
            "ts": (1_700_000_000_000 + rng.integers(0, 10**9, rows)).astype(str).astype(object),
            "city": pick(["Oslo", "Rome", "Zürich", "São Paulo", "Kyiv"]),
            "phone": pick(["+1 415 555 2671", "+44 20 7946 0958", "unknown", ""]),
        }
    )
    cells = rows * df.shape[1]
    privacy.scan(df.head(1000), mode="full")
    t_full = best(lambda: privacy.scan(df, mode="full"), repeat=2)
    t_auto = best(lambda: privacy.scan(df, mode="auto"), repeat=2)
    res = {"full_rate": cells / t_full, "auto": t_auto, "full": t_full}
    out.append(
        f"| PII scan, full mode, typical columns | {cells / 1e6:.1f}M string cells (emails, phones, ms timestamps, "
        f"text, cities; repeated values) in {t_full:.2f} s: **{res['full_rate'] / 1e6:.1f}M cells/s** | "
        f"default (sampled) mode {t_auto:.2f} s | >= 5M cells/s |"
    )
    # adversarial: every value distinct, digits in every cell, half the phones to validate
    ids = rng.permutation(rows)
    hard = pd.DataFrame(
        {
            "email": [f"user{i}@example.com" if i % 3 == 0 else f"note {i}" for i in ids],
            "note": [f"order {i} shipped to desk {i % 97}" for i in ids],
            "ts": (1_700_000_000_000 + ids).astype(str).astype(object),
            "city": [f"city-{i}" for i in ids],
            "phone": [f"+1 415 555 {i % 10000:04d}" if i % 2 else f"{i}" for i in ids],
        }
    )
    t_hard = best(lambda: privacy.scan(hard, mode="full"), repeat=2)
    res["hard_rate"] = cells / t_hard
    out.append(
        f"| PII scan, full mode, every value distinct | {cells / 1e6:.1f}M cells, digits in every cell, 10k distinct "
        f"phone numbers in {t_hard:.2f} s: **{res['hard_rate'] / 1e6:.1f}M cells/s** | "
        "(includes converting the object columns to Arrow, which a snapshot has already done) | >= 5M cells/s |"
    )
    return res


def write_results(section: str) -> None:
    path = Path(__file__).with_name("RESULTS.md")
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find("## Snapshots")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    else:
        nxt = text.find("\n## ", start + 1)
        text = text[:start] + section.rstrip("\n") + ("\n\n" + text[nxt + 1 :] if nxt != -1 else "\n")
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pii-rows", type=int, default=400_000)
    parser.add_argument("--write-results", action="store_true", help="replace the Snapshots section of RESULTS.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("AIENG_WORKSPACE", tempfile.mkdtemp(prefix="aieng-bench-ws-"))
    import platform

    load = os.getloadavg()[0]

    import pyarrow

    lines = [
        "## Snapshots",
        "",
        f"`python benchmarks/bench_snapshots.py --rows {args.rows}` on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, pandas {pd.__version__}, pyarrow {pyarrow.__version__}; "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}. Frame: {args.rows:,} rows x 20 columns (8 float64, 8 int64, "
        "4 strings of ~10 characters from a 50k vocabulary). Sizes are Arrow data bytes (buffers, string bytes and "
        "offsets). Each ratio is measured side by side in this one run.",
        "",
        "| what | measured | compared with | target |",
        "| --- | --- | --- | --- |",
    ]
    results = {}
    for strings, label in (("string[pyarrow]", "pyarrow strings"), ("object", "object strings")):
        df = make_frame(args.rows, strings)
        results[f"hash {label}"] = bench_hash(df, label, lines)
        results[f"snap {label}"] = bench_snapshot(df, label, lines)
        del df
    results["pii"] = bench_pii(args.pii_rows, lines)
    lines += [
        "",
        "Notes: the cold snapshot includes the profile (exact counts/min/max/mean/std; quantiles and top values "
        "on a 200k-row sample above that size) and the PII scan in its default mode (every row up to 200k rows, "
        "a fixed 100k-row sample above; `pii_scan='full'` scans all). The first hash of *object* string columns "
        "is bounded by converting Python str objects to Arrow (about 1 GB/s here at best), not by xxh3: it misses "
        "the 3 GB/s target, which Arrow-backed strings meet. That conversion is done once per snapshot and its "
        "arrays are reused for the PII scan, the profile and the Parquet write. A re-snapshot of unchanged object "
        "columns skips it: a column whose PyObject pointer array is unchanged (the cache pins those immutable "
        "objects, so no address can be reused) reuses its digest. The PII scan meets 5M cells/s on typical "
        "columns; on the adversarial frame (every value distinct, digits in every cell, so every cell reaches "
        "several detectors, and 10k distinct phone numbers parsed by `phonenumbers`) it does not.",
        f"Machine load average at start: {load:.1f} (other work shares the 2 cores; `hash_pandas_object` and "
        "sha256 are the controls).",
    ]
    section = "\n".join(lines)
    print(section)
    if args.write_results:
        write_results(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
