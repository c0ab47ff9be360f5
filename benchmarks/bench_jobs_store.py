"""Job records in the workspace database: opening a workspace and reading one job record.

In a warm process (modules imported, as in a kernel, the server or a CLI after its imports), each
sample opens the workspace's database afresh (a new engine, the schema revision checked) and loads
one job record, then lists the newest 50; with 10 and with 2,000 jobs stored. Target: open + read
<= 5 ms on SQLite. Also a read-modify-write (``store.update``: one compare-and-set transaction).

Run: ``python benchmarks/bench_jobs_store.py [--repeat N]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def _ms(fn, repeat: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds (CPU: what it costs on an idle machine, shared cores aside)."""
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    from aieng_nb import storage
    from aieng_nb.jobs import store
    from aieng_nb.jobs.records import JobRecord, JobStatus
    from aieng_nb.workspace import Workspace

    rows = []
    for count in (10, 2000):
        root = Path(tempfile.mkdtemp(prefix="aieng-bench-jobstore-")) / ".aieng"
        ws = Workspace(root).ensure()
        ids = []
        with ws.database().begin() as conn:
            seq = store.tick(conn)
            for i in range(count):
                rec = JobRecord.new("nb.ipynb", {"x": i, "lr": 0.1}, status=JobStatus.COMPLETED, attempts=1)
                rec.job_id = f"20261207-{i:06d}-abcdef"
                rec.history = [{"attempt": 1, "status": "COMPLETED", "error": None}]
                store.put(conn, rec, None, seq)
                ids.append(rec.job_id)
        target = ids[count // 2]

        def open_and_read(target: str = target, root: Path = root) -> None:
            storage.reset()  # a fresh engine: what a new process pays after its imports
            store._imported.clear()
            assert store.load(target, Workspace(root)).job_id == target

        def list_newest(root: Path = root, count: int = count) -> None:
            assert len(store.list_records(limit=50, workspace=Workspace(root))) == min(50, count)

        def update(target: str = target, root: Path = root) -> None:
            store.update(target, Workspace(root), cells_done=1)

        open_and_read()
        rows.append(
            (f"open the workspace database + read one job ({count} jobs)", _ms(open_and_read, args.repeat), "<= 5")
        )
        rows.append((f"list the newest 50 jobs ({count} jobs)", _ms(list_newest, args.repeat), ""))
        rows.append((f"read-modify-write of a job (compare-and-set, {count} jobs)", _ms(update, args.repeat), ""))
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    print("| what (SQLite, warm process) | median wall (ms) | median CPU (ms) | target (ms) |")
    print("| --- | --- | --- | --- |")
    for what, (wall, cpu), target_ms in rows:
        print(f"| {what} | {wall:.2f} | {cpu:.2f} | {target_ms} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
