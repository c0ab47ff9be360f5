"""A kernel killed with SIGKILL mid-loop loses at most the last second of metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import aieng_nb as aieng
from aieng_nb import audit
from aieng_nb.tracking import lifecycle
from aieng_nb.tracking.buffer import journal_for

pytestmark = pytest.mark.slow


def test_sigkilled_kernel_run_is_recovered_and_marked_killed(workspace, python_env):
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=python_env, cwd=str(workspace.root.parent))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    try:
        outputs: list[dict] = []
        reply = kc.execute_interactive(
            "import aieng_nb as aieng, time\nrun = aieng.start_run(experiment='kill', name='doomed')\nprint(run.id)",
            timeout=60,
            output_hook=outputs.append,
        )
        assert reply["content"]["status"] == "ok", outputs
        run_id = next(m["content"]["text"].strip() for m in outputs if m["msg_type"] == "stream")
        kc.execute(
            "i = 0\nwhile True:\n    aieng.log(t=time.time(), step=i)\n    i += 1\n    if i % 500 == 0: time.sleep(0.001)"
        )
        time.sleep(3.0)
        killed_at = time.time()
        os.kill(km.provisioner.process.pid, 9)
        km.provisioner.process.wait()
    finally:
        kc.stop_channels()
        km.cleanup_resources()
    assert aieng.get_run(run_id).status == "RUNNING"  # nobody has noticed yet
    done = aieng.recover()
    assert [d["run_id"] for d in done] == [run_id]
    record = aieng.get_run(run_id)
    assert record.status == "KILLED"
    assert "died" in record.tags["aieng.end_reason"]
    last_logged = max(value for _, value in aieng.tracking.metric_history(run_id, "t"))
    assert last_logged >= killed_at - 1.0, f"lost {killed_at - last_logged:.2f}s of points"
    assert audit.entries("run.recover")[0]["data"]["run_id"] == run_id
    assert aieng.recover() == []  # nothing left to do


def test_journaled_points_of_a_dead_process_are_replayed(workspace):
    """Batches journaled but never sent (remote store down, then the process died) are not lost."""
    run = aieng.start_run(name="journaled")
    run_id = run.id
    run.buffer._stop.set()
    aieng.tracking._set_active(None)  # simulate this process forgetting the run
    journal = journal_for(workspace.buffers, run_id)
    journal.append([("x", 1.0, 1000, 0, False), ("x", 2.0, 1001, 1, False)])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lease_path = workspace.buffers / f"{run_id}.lease"
    lease = json.loads(lease_path.read_text())
    lease.update(pid=dead.pid, process_start=0.0)
    lease_path.write_text(json.dumps(lease))
    done = lifecycle.recover()
    assert done.to_dicts() == [{"run_id": run_id, "points": 2, "status": "KILLED"}]
    assert aieng.tracking.metric_history(run_id, "x") == [(0, 1.0), (1, 2.0)]
    assert not lease_path.exists() and not journal.exists()


def test_live_runs_of_other_processes_are_left_alone(workspace, python_env):
    code = "import aieng_nb as a, time, sys; r = a.start_run(); print(r.id, flush=True); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=python_env)
    try:
        run_id = proc.stdout.readline().strip()
        assert aieng.recover() == []
        assert aieng.get_run(run_id).status == "RUNNING"
    finally:
        proc.kill()
        proc.wait()
    assert aieng.recover()[0]["status"] == "KILLED"


def test_a_lease_that_cannot_be_recovered_does_not_block_new_runs(workspace):
    lease = workspace.buffers / "deadbeef.lease"
    lease.write_text(json.dumps({"run_id": "deadbeef", "pid": 1 << 30, "host": __import__("socket").gethostname()}))
    with pytest.warns(RuntimeWarning, match="could not recover"):
        with aieng.start_run(name="fine") as run:
            pass
    assert aieng.get_run(run.id).status == "FINISHED"
    assert (workspace.buffers / "quarantine" / "deadbeef.lease").exists()


def test_sigkill_at_full_rate_on_a_loaded_machine_loses_nothing_older_than_a_second(python_env):
    """The benchmark's trials, repeated: several CPU burners beside a tight aieng.log loop, SIGKILL."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sigkill.py"
    done = subprocess.run(
        [sys.executable, str(script), "--trials", "3", "--burners", "4", "--json"],
        capture_output=True,
        text=True,
        env=python_env,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["points_logged_over_1s_before_kill"] > 0
    assert summary["points_lost"] == 0, summary["results"]
    assert all(r["status"] == "KILLED" for r in summary["results"])
