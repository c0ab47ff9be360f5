"""SIGKILL loss bound under CPU load: points logged more than 1 s before a kill must be stored.

    python benchmarks/bench_sigkill.py [--trials 12] [--burners 4] [--json]

Each trial starts ``--burners`` CPU-burning processes and a plain Python process that logs
``aieng.log(t=time.time(), step=i)`` in a tight loop (the maximum rate) into a fresh workspace,
printing a checkpoint ``(steps logged, time)`` every 1,000 steps. After 2-4 s the logger gets
SIGKILL; ``aieng recover`` then finishes its run. "Lost" counts the steps logged more than 1 s
before the kill (known from the checkpoints) that are not in the store. Also reported: how old the
newest stored point was at the kill (the loss window actually seen) and the logging rate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PY = sys.executable
BOUND = 1.0

LOGGER = r"""
import sys, time
import aieng_nb as aieng
run = aieng.start_run(experiment="sigkill", name="trial")
print("run", run.id, flush=True)
out, log, clock = sys.stdout, aieng.log, time.time
i = 0
while True:
    log(t=clock(), step=i)
    i += 1
    if i % 1000 == 0:
        out.write(f"{i} {clock()}\n")
        out.flush()
"""

BURNER = "import time\nend = time.time() + 120\nwhile time.time() < end: pass\n"


def trial(burners: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / ".aieng"
        env = {**os.environ, "AIENG_WORKSPACE": str(ws), "AIENG_STATE_DIR": str(Path(tmp) / "state")}
        env.pop("AIENG_TRACKING_URI", None)
        burn = [subprocess.Popen([PY, "-c", BURNER]) for _ in range(burners)]
        logger = subprocess.Popen([PY, "-c", LOGGER], env=env, stdout=subprocess.PIPE, text=True)
        checkpoints: list[tuple[int, float]] = []
        try:
            first = logger.stdout.readline().split()  # type: ignore[union-attr]
            if first[:1] != ["run"]:
                raise RuntimeError(f"logger did not start: {first}")
            run_id = first[1]

            def read() -> None:
                for line in logger.stdout:  # type: ignore[union-attr]
                    steps, at = line.split()
                    checkpoints.append((int(steps), float(at)))

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            deadline = time.time() + 60
            while not checkpoints and time.time() < deadline:
                time.sleep(0.01)
            time.sleep(seconds)
            killed_at = time.time()
            logger.send_signal(signal.SIGKILL)
            logger.wait()
            reader.join(timeout=10)
        finally:
            for proc in burn:
                proc.kill()
            for proc in burn:
                proc.wait()
            if logger.poll() is None:
                logger.kill()
                logger.wait()
        subprocess.run([PY, "-m", "aieng_nb.cli", "recover"], env=env, check=True, capture_output=True)
        conn = sqlite3.connect(ws / "mlflow.db")
        rows = conn.execute("SELECT step, value FROM metrics WHERE run_uuid = ? AND key = 't'", (run_id,)).fetchall()
        status = conn.execute("SELECT status FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()[0]
        conn.close()
    stored = {step for step, _ in rows}
    before = [steps for steps, at in checkpoints if at <= killed_at - BOUND]
    must_have = max(before) if before else 0
    lost = sum(1 for step in range(must_have) if step not in stored)
    newest = max((value for _, value in rows), default=float("nan"))
    logged = checkpoints[-1][0] if checkpoints else 0
    span = checkpoints[-1][1] - checkpoints[0][1] if len(checkpoints) > 1 else float("nan")
    return {
        "logged": logged,
        "stored": len(stored),
        "must_have": must_have,
        "lost": lost,
        "window_s": killed_at - newest,
        "rate": (checkpoints[-1][0] - checkpoints[0][0]) / span if span == span and span > 0 else 0.0,
        "status": status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--burners", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for _ in range(args.trials):
        results.append(trial(args.burners, random.uniform(2.0, 4.0)))
        if not args.json:
            r = results[-1]
            print(
                f"trial {len(results):2d}: logged {r['logged']:>9,} at {r['rate']:>9,.0f}/s, stored {r['stored']:>9,},"
                f" lost {r['lost']} of {r['must_have']:,} logged >1 s before the kill;"
                f" newest stored point {r['window_s']:.2f} s old; run {r['status']}",
                flush=True,
            )
    total_lost = sum(r["lost"] for r in results)
    summary = {
        "trials": len(results),
        "burners": args.burners,
        "cpus": os.cpu_count(),
        "trials_with_loss": sum(1 for r in results if r["lost"]),
        "points_lost": total_lost,
        "points_logged_over_1s_before_kill": sum(r["must_have"] for r in results),
        "worst_window_s": max(r["window_s"] for r in results),
        "median_rate": sorted(r["rate"] for r in results)[len(results) // 2],
        "results": results,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"\n{summary['trials']} trials, {args.burners} burners on {summary['cpus']} CPUs: "
            f"{total_lost} points lost of {summary['points_logged_over_1s_before_kill']:,} logged more than 1 s before"
            f" the kill ({summary['trials_with_loss']} trials with loss); worst loss window {summary['worst_window_s']:.2f} s;"
            f" median rate {summary['median_rate']:,.0f} points/s"
        )


if __name__ == "__main__":
    main()
