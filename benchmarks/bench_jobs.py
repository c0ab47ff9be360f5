"""Notebook-job benchmarks: ratios measured in one run on this machine.

1. Fixed overhead per job: ``aieng_nb`` ``run_job`` (record, MLflow run, artifacts, HTML) vs a bare
   ``papermill.execute_notebook`` call, both in a warm process, trivial 3-cell notebook. Target <= 1.25x.
2. The CLI: ``aieng job run NB -q`` vs ``papermill NB OUT`` (fresh processes). Target <= 1.5x.
3. A sweep of 8 one-second jobs with ``parallel=2`` vs serial (2 cores). Target <= 0.65x.

Run: ``python benchmarks/bench_jobs.py [--repeat N] [--skip-sweep]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="aieng-bench-jobs-"))
    os.chdir(tmp)
    os.environ["AIENG_WORKSPACE"] = str(tmp / ".aieng")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))

    import papermill

    from aieng_nb.jobs.control import run_job
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.jobs.sweeps import sweep

    nb = write_notebook(tmp / "trivial.ipynb", ["y = x + 1", "print(y)"], parameters="x = 1")
    out = tmp / "out.ipynb"

    def bare() -> None:
        papermill.execute_notebook(str(nb), str(out), parameters={"x": 2}, progress_bar=False, kernel_name="python3")

    def job() -> None:
        rec = run_job(str(nb), {"x": 2})
        assert rec.status == "COMPLETED", rec.error

    bare()
    job()  # warm both paths (imports, MLflow schema)
    rows = []
    # interleave to share machine noise
    t_bare, t_job = [], []
    for _ in range(args.repeat):
        t_bare.append(_median_time(bare, 1))
        t_job.append(_median_time(job, 1))
    b, j = statistics.median(t_bare), statistics.median(t_job)
    # the ratio is the median of back-to-back pairs: robust to load from other processes
    pair = statistics.median(y / x for x, y in zip(t_bare, t_job, strict=True))
    rows.append(("job in a warm process vs papermill.execute_notebook", b, j, pair, "<= 1.25"))

    aieng = [sys.executable, "-c", "import sys; from aieng_nb.cli import main; sys.exit(main())"]
    pm = [str(Path(sys.executable).parent / "papermill"), str(nb), str(out), "-p", "x", "2", "--no-progress-bar"]
    ours = [*aieng, "job", "run", str(nb), "-p", "x", "2", "-q"]

    def cli(cmd):
        return lambda: subprocess.run(cmd, env=env, check=True, capture_output=True)

    cli(pm)()
    cli(ours)()
    t_pm, t_ours = [], []
    for _ in range(max(3, args.repeat // 2 + 1)):
        t_pm.append(_median_time(cli(pm), 1))
        t_ours.append(_median_time(cli(ours), 1))
    p, o = statistics.median(t_pm), statistics.median(t_ours)
    pair = statistics.median(y / x for x, y in zip(t_pm, t_ours, strict=True))
    rows.append(("CLI: aieng job run vs papermill CLI", p, o, pair, "<= 1.5"))

    if not args.skip_sweep:
        snb = write_notebook(tmp / "sleep.ipynb", ["import time\ntime.sleep(1)"], parameters="i = 0")
        grid = {"i": list(range(8))}
        t0 = time.perf_counter()
        serial = sweep(str(snb), grid, parallel=1)
        t_serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        par = sweep(str(snb), grid, parallel=2)
        t_par = time.perf_counter() - t0
        assert serial.ok and par.ok
        rows.append(("sweep of 8 one-second jobs: parallel=2 vs serial", t_serial, t_par, t_par / t_serial, "<= 0.65"))

    load = os.getloadavg()[0]
    print(f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {load:.1f}\n")
    print("| benchmark | baseline (s, median) | aieng_nb (s, median) | ratio (median of pairs) | target |")
    print("| --- | --- | --- | --- | --- |")
    for name, base, ours_t, ratio, target in rows:
        print(f"| {name} | {base:.3f} | {ours_t:.3f} | {ratio:.2f}x | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
