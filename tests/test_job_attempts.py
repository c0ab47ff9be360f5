"""A job's attempts: each in its own child run (metrics never mix), and audit entries written by
another account than the submitter's (a worker) name the submitter as actor and the writer honestly."""

from __future__ import annotations

import socket
import subprocess
import sys

from aieng_nb import audit, tracking
from aieng_nb.fsutil import user_name
from aieng_nb.jobs.control import prepare_job, run_job
from aieng_nb.jobs.execute import DETACHED
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobStatus

FLAKY = (
    "import os, aieng_nb as aieng\n"
    "aieng.log(accuracy=0.5 if not os.path.exists(marker) else 0.9, step=0)\n"
    "if not os.path.exists(marker):\n"
    "    open(marker, 'w').close()\n"
    "    raise RuntimeError('first attempt fails')"
)


def test_each_attempt_logs_into_its_own_child_run(tmp_path, workspace):
    nb = write_notebook(tmp_path / "flaky.ipynb", [FLAKY], parameters="marker = ''")
    job = run_job(str(nb), {"marker": str(tmp_path / "m")}, retries=1, retry_backoff=0.01)
    assert job.status == JobStatus.COMPLETED and job.attempts == 2, job.error
    children = [entry["run_id"] for entry in job.history]
    assert len(set(children)) == 2 and job.run_id not in children
    values = []
    for child in children:
        run = tracking.get_run(child)
        assert run.tags["mlflow.parentRunId"] == job.run_id
        assert run.tags["mlflow.user"] == user_name()
        points = tracking.metric_history(child, "accuracy")
        assert len(points) == 1  # one attempt, one point: never the other attempt's
        values.append(points[0][1])
    assert values == [0.5, 0.9]
    assert [tracking.get_run(c).status for c in children] == ["FAILED", "FINISHED"]
    # the job's run reads as the attempt that decided it
    assert tracking.metric_history(job.run_id, "accuracy") == [(0, 0.9)]
    assert tracking.get_run(job.run_id).status == "FINISHED"
    text = job.details()
    assert f"attempt 1: FAILED  run {children[0]}" in text and f"attempt 2: COMPLETED  run {children[1]}" in text
    assert f"COMPLETED  run {children[1]}" in job._repr_html_()  # the notebook's view of the job


def test_a_job_without_retries_logs_into_its_run(tmp_path, workspace):
    nb = write_notebook(tmp_path / "one.ipynb", ["import aieng_nb as aieng\naieng.log(accuracy=1.0)"])
    job = run_job(str(nb))
    assert job.status == JobStatus.COMPLETED and "run_id" not in job.history[0]
    assert tracking.metric_history(job.run_id, "accuracy") == [(0, 1.0)]


def test_entries_written_by_another_account_name_the_submitter_and_the_writer(tmp_path, workspace, python_env):
    """The job executes in a process of another account with its own state folder (its own key), as
    a cluster worker does: its entries say actor=submitter, written_by=that account, signed by its
    own key, which the audit keys record under that account, never the submitter's."""
    nb = write_notebook(tmp_path / "w.ipynb", ["import aieng_nb as aieng\naieng.log(v=1)"])
    job = prepare_job(str(nb), workspace=workspace)
    worker_state = tmp_path / "worker-state"
    env = {**python_env, "USER": "workerbob", "LOGNAME": "workerbob", "AIENG_STATE_DIR": str(worker_state)}
    env["AIENG_WORKSPACE"] = str(workspace.root)
    cmd = [sys.executable, "-c", DETACHED, job.job_id, "--workspace", str(workspace.root)]  # what submit_job starts
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    entries = [e for e in audit.entries(workspace=workspace) if e.data.get("job_id") == job.job_id]
    by_event = {e.event: e for e in entries}
    assert by_event["job.create"].actor == user_name() and "written_by" not in by_event["job.create"].data
    assert (worker_state / "audit-key.pem").is_file()  # the worker made its own key, in its own folder
    from aieng_nb.audit.chain import _read_keys

    keys = _read_keys(workspace)
    for event in ("job.start", "job.finish"):
        entry = by_event[event]
        assert entry.actor == user_name() != "workerbob"  # the submitter is the actor
        assert entry.data["written_by"] == f"workerbob@{socket.gethostname()}"
        assert keys[entry.key]["actor"] == "workerbob"  # signed by the worker's own key
    submitter_key = by_event["job.create"].key
    assert by_event["job.start"].key != submitter_key and keys[submitter_key]["actor"] == user_name()
    assert (tmp_path / "state" / "audit-key.pem").read_bytes() != (worker_state / "audit-key.pem").read_bytes()
    # the worker's key is not the submitter's: verify names it until the submitter trusts it
    result = audit.verify(workspace=workspace)
    assert not result.ok and "workerbob" in result.unverified[0]["actors"]
    from aieng_nb.audit.trust import trust

    trust(by_event["job.start"].key, workspace=workspace)
    assert audit.verify(workspace=workspace).ok
