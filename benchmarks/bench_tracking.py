"""Foundation benchmarks: every figure is a ratio against a baseline measured in the same run.

    python benchmarks/bench_tracking.py [--quick]

Targets (issue "Foundation"):
  aieng.log call cost        >= 1,000,000 points/s, within ~10x of appending to a Python list
  durable throughput         >= 100,000 points/s; >= 300x mlflow.log_metric; >= 5x MlflowClient.log_batch
  import aieng_nb            < 25% of import mlflow;  %load_ext aieng_nb < 40% of import mlflow
  first captured cell        < 20% of a fresh MLflow SQLite store's first experiment + run
  per-cell capture overhead  < 1 ms median
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

PY = sys.executable


def _fresh_env(workspace: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["AIENG_WORKSPACE"] = str(workspace)
    env.pop("AIENG_TRACKING_URI", None)
    return env


def _timed_subprocess(code: str, env: dict[str, str] | None = None) -> float:
    """Run code in a fresh interpreter; it prints one float (seconds)."""
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bench_log_call(n: int) -> dict[str, float]:
    """Call cost: bursts below the backpressure mark (flushed, untimed, between bursts),
    plus the sustained rate of one long loop with the flusher writing to SQLite meanwhile."""
    import aieng_nb as aieng
    from aieng_nb import tracking

    burst = tracking.HIGH_WATER // 2
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AIENG_WORKSPACE"] = str(Path(tmp) / ".aieng")
        aieng.start_run(name="bench-log")
        time.sleep(1.5)  # let the environment capture thread finish
        log = aieng.log
        rates = []
        for rep in range(max(1, n // burst)):
            aieng.flush()
            t0 = time.perf_counter()
            for step in range(rep * burst, (rep + 1) * burst):
                log(loss=0.5, acc=0.9, step=step)
            rates.append(2 * burst / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for step in range(n):
            log(loss=0.5, acc=0.9, step=step)
        sustained = 2 * n / (time.perf_counter() - t0)
        aieng.end_run()
    points: list[tuple] = []

    def append(key: str, value: float, step: int) -> None:
        points.append((key, value, step, time.time()))

    floor_rates = []
    for _ in range(max(1, n // burst)):
        points.clear()
        t0 = time.perf_counter()
        for step in range(burst):
            append("loss", 0.5, step)
            append("acc", 0.9, step)
        floor_rates.append(2 * burst / (time.perf_counter() - t0))
    ours, floor = statistics.median(rates), statistics.median(floor_rates)
    return {
        "aieng.log points/s (2 metrics/call)": ours,
        "list append points/s (floor)": floor,
        "floor / aieng ratio": floor / ours,
        "sustained points/s, flushing to SQLite": sustained,
    }


def bench_durable(n: int, n_log_metric: int, n_batch: int) -> dict[str, float]:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    import aieng_nb as aieng

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AIENG_WORKSPACE"] = str(Path(tmp) / ".aieng")
        aieng.tracking._reset()
        run = aieng.start_run(name="bench-durable")
        time.sleep(1.5)
        t0 = time.perf_counter()
        for step in range(n):
            aieng.log(loss=0.5, acc=0.9, step=step)
        aieng.end_run()  # returns once every point is in SQLite
        results["aieng durable points/s"] = 2 * n / (time.perf_counter() - t0)
        stored = len(aieng.tracking.metric_history(run.id, "loss"))
        assert stored == n, f"only {stored} of {n} points stored"

        uri = f"sqlite:///{Path(tmp) / 'plain.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("plain")
        with mlflow.start_run():
            t0 = time.perf_counter()
            for step in range(n_log_metric):
                mlflow.log_metric("loss", 0.5, step=step)
            results["mlflow.log_metric points/s"] = n_log_metric / (time.perf_counter() - t0)
        client = MlflowClient(uri)
        run_id = client.create_run(client.get_experiment_by_name("plain").experiment_id).info.run_id
        now = int(time.time() * 1000)
        t0 = time.perf_counter()
        for start in range(0, n_batch, 1000):
            client.log_batch(run_id, metrics=[Metric("loss", 0.5, now, s) for s in range(start, start + 1000)])
        results["MlflowClient.log_batch points/s"] = n_batch / (time.perf_counter() - t0)
    results["ratio vs log_metric"] = results["aieng durable points/s"] / results["mlflow.log_metric points/s"]
    results["ratio vs log_batch"] = results["aieng durable points/s"] / results["MlflowClient.log_batch points/s"]
    return results


def bench_imports(repeats: int) -> dict[str, float]:
    timer = "import time; t=time.perf_counter(); {stmt}; print(time.perf_counter()-t)"
    mlflow_t = statistics.median(_timed_subprocess(timer.format(stmt="import mlflow")) for _ in range(repeats))
    ours_t = statistics.median(_timed_subprocess(timer.format(stmt="import aieng_nb")) for _ in range(repeats))
    load_ext = (
        "from IPython.core.interactiveshell import InteractiveShell; import time\n"
        "sh = InteractiveShell.instance(); t = time.perf_counter(); sh.run_line_magic('load_ext', 'aieng_nb')\n"
        "print(time.perf_counter() - t)"
    )
    ext_t = statistics.median(_timed_subprocess(load_ext) for _ in range(repeats))
    return {
        "import mlflow s": mlflow_t,
        "import aieng_nb s": ours_t,
        "%load_ext aieng_nb s": ext_t,
        "import ratio": ours_t / mlflow_t,
        "load_ext ratio": ext_t / mlflow_t,
    }


def bench_first_cell(repeats: int) -> dict[str, float]:
    ours_code = (
        "from IPython.core.interactiveshell import InteractiveShell; import time\n"
        "sh = InteractiveShell.instance(); sh.run_line_magic('load_ext', 'aieng_nb')\n"
        "t = time.perf_counter(); sh.run_cell('%aieng start --experiment first'); sh.run_cell('x = 1')\n"
        "print(time.perf_counter() - t)"
    )
    theirs_code = (
        "import mlflow, time, sys\n"
        "t = time.perf_counter(); mlflow.set_tracking_uri('sqlite:///' + sys.argv[1]); mlflow.set_experiment('first')\n"
        "mlflow.start_run(); print(time.perf_counter() - t)"
    )
    ours, theirs = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            ours.append(_timed_subprocess(ours_code, _fresh_env(Path(tmp) / ".aieng")))
            out = subprocess.run(
                [PY, "-c", theirs_code, str(Path(tmp) / "mlflow.db")], capture_output=True, text=True, check=True
            )
            theirs.append(float(out.stdout.strip().splitlines()[-1]))
    return {
        "first captured cell s": statistics.median(ours),
        "fresh MLflow store first run s": statistics.median(theirs),
        "ratio": statistics.median(ours) / statistics.median(theirs),
    }


def bench_cell_overhead(cells: int) -> dict[str, float]:
    code = (
        "from IPython.core.interactiveshell import InteractiveShell; import time, statistics, sys\n"
        "sh = InteractiveShell.instance()\n"
        "if sys.argv[1] == 'on': sh.run_line_magic('load_ext', 'aieng_nb'); sh.run_cell('%aieng start')\n"
        "ts = []\n"
        f"for _ in range({cells}):\n"
        "    t = time.perf_counter(); sh.run_cell('pass'); ts.append(time.perf_counter() - t)\n"
        "print(statistics.median(ts))"
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = _fresh_env(Path(tmp) / ".aieng")
        plain = float(
            subprocess.run([PY, "-c", code, "off"], capture_output=True, text=True, env=env, check=True).stdout.split()[
                -1
            ]
        )
        captured = float(
            subprocess.run([PY, "-c", code, "on"], capture_output=True, text=True, env=env, check=True).stdout.split()[
                -1
            ]
        )
    return {
        "empty cell ms": plain * 1000,
        "captured empty cell ms": captured * 1000,
        "capture overhead ms": (captured - plain) * 1000,
        "overhead / empty cell": (captured - plain) / plain,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    q = args.quick
    sections = {
        "aieng.log call cost": bench_log_call(100_000 if q else 1_000_000),
        "durable throughput (SQLite)": bench_durable(
            50_000 if q else 500_000, 200 if q else 1000, 10_000 if q else 50_000
        ),
        "imports": bench_imports(1 if q else 5),
        "first captured cell in a new workspace": bench_first_cell(1 if q else 3),
        "per-cell capture": bench_cell_overhead(200 if q else 2000),
    }
    for title, figures in sections.items():
        print(f"\n## {title}")
        for key, value in figures.items():
            print(f"  {key:<36} {value:,.4g}")


if __name__ == "__main__":
    main()
