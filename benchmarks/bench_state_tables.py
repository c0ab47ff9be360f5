"""Audit appends, verify and listing, and schedule add/list/claim: the cost of the metadata database.

Runs against whichever aieng_nb is on the path, so the same script measures main's file-based
trail (``PYTHONPATH=/path/to/main``) and the database tables, side by side:

    python benchmarks/bench_state_tables.py              # this checkout
    PYTHONPATH=../main python benchmarks/bench_state_tables.py

Prints milliseconds per operation (median of rounds) on a fresh SQLite workspace.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

N = int(os.environ.get("BENCH_N", "300"))


def _ms(fn, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-state-"))
    os.environ["AIENG_WORKSPACE"] = str(tmp / ".aieng")
    os.environ["AIENG_STATE_DIR"] = str(tmp / "state")
    import aieng_nb
    from aieng_nb import audit, schedules
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.workspace import current

    ws = current().ensure()
    audit.append("warm.up", {})
    t0 = time.perf_counter()
    for i in range(N):
        audit.append("run.start", {"run_id": f"r{i}", "i": i}, workspace=ws)
    append_ms = (time.perf_counter() - t0) * 1000 / N
    verify_ms = _ms(lambda: audit.verify(workspace=ws))
    list_ms = _ms(lambda: audit.entries(limit=50, workspace=ws))
    nb = write_notebook(tmp / "s.ipynb", ["print(1)"])
    t0 = time.perf_counter()
    for i in range(20):
        schedules.add(f"s{i}", str(nb), "0 3 * * *", workspace=ws)
    add_ms = (time.perf_counter() - t0) * 1000 / 20
    list_s_ms = _ms(lambda: schedules.list_schedules(workspace=ws))
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
    idle_ms = _ms(lambda: [schedules.claim(f"s{i}", later, workspace=ws) for i in range(20)]) / 20
    where = Path(aieng_nb.__file__).resolve().parents[1]
    print(f"aieng_nb from {where} (python {sys.version.split()[0]})")
    print(f"audit append           {append_ms:8.2f} ms/entry  ({N} entries)")
    print(f"audit verify           {verify_ms:8.1f} ms        ({N + 1} entries)")
    print(f"audit list, newest 50  {list_ms:8.2f} ms")
    print(f"schedule add           {add_ms:8.2f} ms/schedule (validated, audited)")
    print(f"schedule list (20)     {list_s_ms:8.2f} ms")
    print(f"scheduler tick, idle   {idle_ms:8.3f} ms/schedule (nothing due)")


if __name__ == "__main__":
    main()
