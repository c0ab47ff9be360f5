"""The bookkeeping of a snapshot (index, audit, lineage), side by side with another checkout.

Small frames, so what is measured is what a snapshot does besides hashing and writing the data: a new
version of a name, a re-snapshot of unchanged data (no new version), and a load by name (binding
checks). Each side runs in its own process on a fresh workspace, alternating, several rounds; the
ratios (this checkout / the baseline) are medians over the rounds.

    python benchmarks/bench_snapshot_index.py --baseline /path/to/main/checkout [--n 100 --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, os, sys, time
import pandas as pd, aieng_nb as aieng
n = int(sys.argv[1])
frames = [pd.DataFrame({"x": range(i, i + 1000), "s": [str(j) for j in range(1000)]}) for i in range(n)]
aieng.snapshot(frames[0], name="warmup")  # imports, database creation and migration
t0 = time.perf_counter()
for f in frames:
    aieng.snapshot(f, name="train")
t1 = time.perf_counter()
for _ in range(n):
    aieng.snapshot(frames[-1], name="train")
t2 = time.perf_counter()
for _ in range(n):
    aieng.load("train")
t3 = time.perf_counter()
print(json.dumps({"new version": (t1 - t0) / n, "re-snapshot": (t2 - t1) / n, "load by name": (t3 - t2) / n}))
"""


def run(checkout: Path, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(checkout), "AIENG_WORKSPACE": f"{tmp}/.aieng"}
        env["AIENG_STATE_DIR"] = f"{tmp}/state"
        for key in ("AIENG_DATABASE_URL", "AIENG_OBJECT_STORE", "AIENG_TRACKING_URI"):
            env.pop(key, None)
        out = subprocess.run([sys.executable, "-c", CHILD, str(n)], env=env, cwd=tmp, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, type=Path, help="another checkout of aieng_nb (e.g. main)")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    base: list[dict[str, float]] = []
    mine: list[dict[str, float]] = []
    for _ in range(args.rounds):
        base.append(run(args.baseline, args.n))
        mine.append(run(here, args.n))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}; {args.rounds} rounds of {args.n} small frames")
    print("| operation | baseline | this checkout | ratio |")
    print("| --- | --- | --- | --- |")
    for key in base[0]:
        b = statistics.median(r[key] for r in base)
        m = statistics.median(r[key] for r in mine)
        print(f"| {key} | {b * 1e3:.1f} ms | {m * 1e3:.1f} ms | **{m / b:.2f}x** |")


if __name__ == "__main__":
    main()
