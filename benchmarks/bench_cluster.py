"""Jobs on a Dask cluster (issue 26): a sweep of 4 on 2 workers, and what the heartbeat costs.

1. A 4-job sweep of a trivial notebook (one metric; ``--sleep`` seconds of work, default 0 and 1)
   on a real ``dask scheduler`` with 2 single-thread ``dask worker`` processes on 127.0.0.1,
   ``parallel=2``, against the same sweep run serially (the local executor, ``parallel=1``; the
   Dask sweep with ``parallel=1`` and the local executor with ``parallel=2``, what two cores allow,
   are printed as well). Target: <= 0.65x of serial. The kinds run interleaved, in reversed order
   every other round; each round's ratios are printed (their spread) above the table of medians.
2. The heartbeat: CPU time of one beat (a compare-and-set of the job record, what the watchdog
   writes every ``HEARTBEAT_S`` s) and of one stop poll (what it reads every 0.1 s), as a share of
   one CPU-second of a running job. Target: < 1%.

Run: ``python benchmarks/bench_cluster.py [--repeat N]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_cluster(workers: int = 2) -> tuple[str, list[subprocess.Popen]]:
    from distributed import Client

    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    assert dask, "the dask CLI is not installed (pip install 'aieng_nb[dask]')"
    env = {k: v for k, v in os.environ.items() if k != "AIENG_WORKSPACE"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet)
    ]
    for i in range(workers):
        cmd = [dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{i}"]
        procs.append(subprocess.Popen(cmd, **quiet))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with Client(address, timeout=5) as client:
                client.wait_for_workers(workers, timeout=60)
                return address, procs
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the Dask cluster did not start")


def stop_cluster(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def heartbeat_cost(repeat: int = 200) -> tuple[float, float]:
    """CPU seconds of one heartbeat write and of one stop poll, on a stored RUNNING job."""
    from aieng_nb.jobs import store
    from aieng_nb.jobs.records import JobRecord, JobStatus
    from aieng_nb.records import now
    from aieng_nb.workspace import current

    ws = current()
    rec = store.create(JobRecord.new("nb.ipynb", status=JobStatus.RUNNING), ws)
    store.update(rec.job_id, ws, heartbeat_at=now())  # warm: the database is open
    t0 = time.process_time()
    for _ in range(repeat):
        store.update(rec.job_id, ws, heartbeat_at=now())
    beat = (time.process_time() - t0) / repeat
    t0 = time.process_time()
    for _ in range(repeat):
        store.stop_requested(rec.job_id, ws)
    poll = (time.process_time() - t0) / repeat
    return beat, poll


def fmt(seconds: list[float]) -> str:
    return "[" + " ".join(f"{x:.2f}" for x in seconds) + "] s"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3, help="sweeps of each kind (median)")
    parser.add_argument("--sleep", type=float, nargs="*", default=[0.0, 1.0], help="seconds of work per job")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="aieng-bench-cluster-"))
    os.environ["AIENG_WORKSPACE"] = str(tmp / ".aieng")
    os.environ["AIENG_STATE_DIR"] = str(tmp / "state")
    from aieng_nb import config
    from aieng_nb.jobs.execute import HEARTBEAT_S
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.jobs.sweeps import sweep

    config.reset()
    nb = write_notebook(
        tmp / "trivial.ipynb",
        ["import time, aieng_nb as aieng\ntime.sleep(work)\naieng.log(score=a)"],
        parameters="a = 1\nwork = 0.0",
    )
    address, procs = start_cluster(2)
    rows = []
    try:
        for work in args.sleep:
            grid = {"a": [1, 2, 3, 4], "work": [work]}

            def timed(grid: dict = grid, **options: object) -> float:
                t0 = time.perf_counter()
                result = sweep(str(nb), grid, progress=False, **options)  # type: ignore[arg-type]
                elapsed = time.perf_counter() - t0
                assert all(r["status"] == "COMPLETED" for r in result.rows()), result.rows()
                return elapsed

            timed(executor="dask", address=address, parallel=2)  # warm the workers' imports
            timed(parallel=2)  # and this process's (the HTML exporter)
            kinds = {
                "serial": {"parallel": 1},
                "dask1": {"executor": "dask", "address": address, "parallel": 1},
                "dask2": {"executor": "dask", "address": address, "parallel": 2},
                "local2": {"parallel": 2},  # the same machine's ceiling: the local executor, 2 jobs at once
            }
            times: dict[str, list[float]] = {kind: [] for kind in kinds}
            # interleaved, the order reversed every other round: load drifts hit every kind alike
            for i in range(args.repeat):
                for kind in list(kinds) if i % 2 == 0 else reversed(kinds):
                    times[kind].append(timed(**kinds[kind]))
            s, d1, d2, l2 = (statistics.median(times[kind]) for kind in kinds)
            label = "trivial" if work == 0 else f"{work:g} s of work"
            rows.append((f"4-job sweep ({label}), 2 Dask workers, parallel=2 vs local serial", d2, s, "<= 0.65"))
            rows.append((f"4-job sweep ({label}), 2 Dask workers, parallel=2 vs Dask parallel=1", d2, d1, ""))
            rows.append((f"4-job sweep ({label}), local executor, parallel=2 vs local serial", l2, s, ""))
            for kind in ("serial", "dask1", "local2"):
                ratios = sorted(a / b for a, b in zip(times["dask2"], times[kind], strict=True))
                spread = f"rounds' ratios {ratios[0]:.2f}-{ratios[-1]:.2f}x"
                print(f"{label}: dask2 vs {kind}: {spread}; dask2 {fmt(times['dask2'])}, {kind} {fmt(times[kind])}")
    finally:
        stop_cluster(procs)
    beat, poll = heartbeat_cost()
    load = os.getloadavg()[0]
    print(f"load average {load:.1f}, {os.cpu_count()} CPUs, repeat {args.repeat}\n")
    print("| what | measured | baseline | ratio | target |\n| --- | --- | --- | --- | --- |")
    for what, ours, base, target in rows:
        print(f"| {what} | {ours:.2f} s | {base:.2f} s | **{ours / base:.2f}x** | {target} |")
    share = beat / HEARTBEAT_S
    print(
        f"| heartbeat: one beat every {HEARTBEAT_S:g} s ({beat * 1e3:.2f} ms CPU each) | {share:.3%} of a CPU | | | < 1% |"
    )
    watch = share + poll / 0.1
    print(
        f"| the watchdog with its stop poll every 0.1 s ({poll * 1e3:.2f} ms CPU each) | {watch:.3%} of a CPU | | | |"
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
