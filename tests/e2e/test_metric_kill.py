"""SIGKILL at random points, with CPU burners running, and a kill during the replay: nothing
journaled is lost and nothing is stored twice (MLflow's own get_metric_history)."""

from __future__ import annotations

import os
import random
import signal
import struct
import subprocess
import sys
import time

import pytest

from aieng_nb.tracking import lifecycle

pytestmark = pytest.mark.slow

_CHILD = r"""
import mmap, os, struct, sys
import aieng_nb as aieng
fd = os.open(sys.argv[1], os.O_RDWR)
progress = mmap.mmap(fd, 8)
pack = struct.Struct("<q").pack_into
run = aieng.start_run(name="killed")
print(run.id, flush=True)
i = 0
limit = int(sys.argv[2])
while i < limit:
    aieng.log(x=float(i), y=-float(i), step=i)
    pack(progress, 0, i)  # i returned: it must survive the kill
    i += 1
print("done", flush=True)
import time; time.sleep(600)
"""


def _burners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _child(tmp_path, limit: int, env: dict[str, str]) -> tuple[subprocess.Popen, str, str]:
    progress = tmp_path / f"progress-{time.monotonic_ns()}"
    progress.write_bytes(struct.pack("<q", -1))
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(progress), str(limit)], stdout=subprocess.PIPE, text=True, env=env
    )
    run_id = proc.stdout.readline().strip()  # type: ignore[union-attr]
    assert run_id, "the child did not start its run"
    return proc, run_id, str(progress)


def _history(ws, run_id: str, key: str) -> list[int]:
    """The steps of every stored point: the rows MLflow's get_metric_history returns (read with SQL,
    since MLflow builds an object per point and the kills leave millions)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{ws.mlflow_db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT step FROM metrics WHERE run_uuid = ? AND key = ?", (run_id, key))]
    finally:
        conn.close()


def test_sigkill_at_random_points_with_burners_loses_and_duplicates_nothing(workspace, tmp_path):
    rng = random.Random(21)
    env = dict(os.environ, AIENG_WORKSPACE=str(workspace.root))
    burners = _burners(os.cpu_count() or 2)
    results = []
    try:
        for _ in range(10):
            proc, run_id, progress = _child(tmp_path, 10**9, env)
            time.sleep(rng.uniform(0.05, 1.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            with open(progress, "rb") as fh:
                last = struct.unpack("<q", fh.read(8))[0]
            done = lifecycle.recover(workspace=workspace)
            assert [d.run_id for d in done] == [run_id]
            for key in ("x", "y"):
                steps = _history(workspace, run_id, key)
                assert len(steps) == len(set(steps)), f"duplicated points of {key}"
                assert sorted(steps)[: last + 1] == list(range(last + 1)), f"lost points of {key}"
                assert len(steps) <= last + 2  # at most the call the kill interrupted
            results.append(last + 1)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert sum(results) > 10_000, results  # the kills came at full rate, not before the loop


def test_a_kill_during_the_replay_is_itself_recovered(workspace, tmp_path):
    env = dict(os.environ, AIENG_WORKSPACE=str(workspace.root), AIENG_FLUSH_INTERVAL="60")
    n = 100_000
    proc, run_id, _ = _child(tmp_path, n, env)  # its writer never runs: everything stays journaled
    assert proc.stdout.readline().strip() == "done"  # type: ignore[union-attr]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(_history(workspace, run_id, "x")) < n
    replay = subprocess.Popen(
        [sys.executable, "-c", "from aieng_nb.tracking import lifecycle; lifecycle.recover()"],
        env=dict(os.environ, AIENG_WORKSPACE=str(workspace.root)),
    )
    deadline = time.time() + 120
    while len(_history(workspace, run_id, "x")) < 1000 and time.time() < deadline:
        time.sleep(0.05)
    replay.send_signal(signal.SIGKILL)  # part of the journal replayed
    replay.wait()
    partly = len(_history(workspace, run_id, "x"))
    assert partly < n, "the replay finished before the kill: make the journal longer"
    done = lifecycle.recover(workspace=workspace)
    assert [d.run_id for d in done] == [run_id] and done[0].status == "KILLED"
    from mlflow.tracking import MlflowClient

    steps = [m.step for m in MlflowClient(workspace.tracking_uri).get_metric_history(run_id, "x")]
    assert sorted(steps) == list(range(n)), (partly, len(steps))
