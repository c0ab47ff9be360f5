"""Job records: atomic JSON storage, listing, prefixes, crash recovery of RUNNING jobs, stop of idle jobs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.jobs import store as job_store
from aieng_nb.jobs.records import JobRecord, JobStatus


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_create_load_update_and_list(workspace):
    a = job_store.create(JobRecord.new("a.ipynb", {"x": 1}), workspace)
    b = job_store.create(JobRecord.new("b.ipynb"), workspace)
    assert job_store.load(a.job_id, workspace).parameters == {"x": 1}
    job_store.update(b.job_id, workspace, status=JobStatus.FAILED)
    assert [r.job_id for r in job_store.list_records(workspace=workspace)] == [b.job_id, a.job_id]
    assert [r.job_id for r in job_store.list_records("failed", workspace=workspace)] == [b.job_id]
    from sqlalchemy import select

    from aieng_nb.storage.tables import jobs

    with workspace.database().read() as conn:  # a row of the workspace database, no job.json file
        row = conn.execute(select(jobs).where(jobs.c.id == a.job_id)).mappings().one()
    assert row["status"] == "CREATED" and json.loads(row["record"])["parameters"] == {"x": 1}
    assert not (workspace.path("jobs") / a.job_id / "job.json").exists()
    with pytest.raises(ValidationError, match="unknown status"):
        job_store.list_records("bogus", workspace=workspace)


def test_prefix_lookup_and_bad_ids(workspace):
    rec = job_store.create(JobRecord.new("a.ipynb"), workspace)
    assert job_store.load(rec.job_id[:-2], workspace).job_id == rec.job_id
    with pytest.raises(NotFoundError):
        job_store.load("nope", workspace)
    with pytest.raises(ValidationError):
        job_store.load("../etc", workspace)


def test_running_job_whose_process_is_gone_is_marked_failed(workspace):
    import socket

    rec = JobRecord.new("a.ipynb", status=JobStatus.RUNNING, host=socket.gethostname(), pid=_dead_pid(), attempts=1)
    job_store.create(rec, workspace)
    alive = JobRecord.new("b.ipynb", status=JobStatus.RUNNING)
    alive.host, alive.pid, alive.pid_started = job_store.process_identity()
    job_store.create(alive, workspace)
    recovered = job_store.recover_stale(workspace)
    assert [r.job_id for r in recovered] == [rec.job_id]
    after = job_store.load(rec.job_id, workspace)
    assert after.status == JobStatus.FAILED
    assert after.error["kind"] == "runner_lost" and "is gone" in after.error["message"]
    assert job_store.load(alive.job_id, workspace).status == JobStatus.RUNNING
    assert "job.recover" in [e.event for e in __import__("aieng_nb").audit.entries(workspace=workspace)]
    assert job_store.recover_stale(workspace) == []


def test_jobs_on_another_host_are_left_alone(workspace):
    rec = job_store.create(JobRecord.new("a.ipynb", status=JobStatus.RUNNING, host="elsewhere", pid=1), workspace)
    assert job_store.recover_stale(workspace) == []
    assert job_store.load(rec.job_id, workspace).status == JobStatus.RUNNING


def test_stop_of_created_job_marks_it_stopped(workspace):
    from aieng_nb.jobs.control import stop_job

    rec = job_store.create(JobRecord.new("a.ipynb"), workspace)
    out = stop_job(rec.job_id, wait=0, workspace=workspace)
    assert out.status == JobStatus.STOPPED and job_store.stop_requested(rec.job_id, workspace)
    assert out.stop_requested_at is not None


def test_exit_codes_and_display():
    rec = JobRecord.new("a.ipynb", {"x": 1})
    codes = {}
    for status in JobStatus.TERMINAL:
        rec.status = status
        codes[status] = rec.exit_code
    assert codes == {"COMPLETED": 0, "FAILED": 1, "TIMED_OUT": 3, "STOPPED": 4}
    rec.error = {"kind": "cell_error", "message": "m", "cell_index": 2, "ename": "ValueError", "evalue": "bad"}
    assert rec.error_summary == "cell 3: ValueError: bad"  # 1-based, as JupyterLab counts cells
    assert "ValueError" in rec._repr_html_() and "cell 3" in str(rec)


def test_aieng_jobs_is_a_package_and_calling_it_is_the_deprecated_list_jobs(workspace):
    import aieng_nb as aieng

    job_store.create(JobRecord.new("a.ipynb", status=JobStatus.FAILED), workspace)
    assert [r.status for r in aieng.list_jobs(status="failed")] == ["FAILED"]
    with pytest.warns(DeprecationWarning, match=r"aieng\.jobs\(\) is deprecated.*aieng\.list_jobs\(\)"):
        assert [r.status for r in aieng.jobs(status="failed")] == ["FAILED"]
    from aieng_nb.jobs import jobs as old_function

    with pytest.warns(DeprecationWarning, match="list_jobs"):
        assert [r.job_id for r in old_function()] == [r.job_id for r in aieng.list_jobs()]
    assert aieng.jobs.JobStatus.COMPLETED == "COMPLETED"
    assert callable(aieng.run_job) and callable(aieng.sweep) and callable(aieng.submit_job)


def test_executor_registry_lists_known_names():
    from aieng_nb.executors import Executor, executors, register

    assert {"local", "process", "dask"} <= set(executors.names())
    with pytest.raises(ValidationError, match="unknown executor 'ray'.*local"):
        executors.get("ray")

    class Fake(Executor):
        name = "fake"

    register("fake", Fake)
    assert executors.get("fake") is Fake


def test_executor_entry_points_are_discovered(tmp_path, monkeypatch):
    from aieng_nb.executors import Executor, ExecutorRegistry

    dist = tmp_path / "aieng_ray_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: aieng-ray-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[aieng_nb.executors]\nray = aieng_ray_plugin_mod:RayExecutor\n")
    (tmp_path / "aieng_ray_plugin_mod.py").write_text(
        "from aieng_nb.executors import Executor\nclass RayExecutor(Executor):\n    name = 'ray'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = ExecutorRegistry()
    assert "ray" in registry.names()
    cls = registry.get("ray")
    assert issubclass(cls, Executor) and cls.name == "ray"
