"""submit_job: a job that runs in a detached process while the caller carries on (real kernels)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import aieng_nb as aieng
from aieng_nb.exceptions import ValidationError
from aieng_nb.jobs import get_job, stop_job, wait_job
from aieng_nb.jobs import store as job_store
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobStatus

pytestmark = pytest.mark.slow


def _wait_status(job_id, statuses, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        record = get_job(job_id)
        if record.status in statuses:
            return record
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {statuses}: {get_job(job_id).status}")


def test_submit_returns_at_once_and_the_job_completes_tracked(tmp_path):
    from aieng_nb import tracking

    gate = tmp_path / "go"
    nb = write_notebook(
        tmp_path / "slow.ipynb",
        [
            "import pathlib, time\nwhile not pathlib.Path(gate).exists():\n    time.sleep(0.05)",
            "import aieng_nb as aieng\naieng.log(score=x * 2)",
        ],
        parameters=f"x = 1\ngate = {str(gate)!r}",
    )
    job = aieng.submit_job(str(nb), {"x": 21})
    # the notebook waits for the gate, so the job cannot have finished: the call did not block
    assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    assert job.pid != os.getpid() and os.getsid(job.pid) != os.getsid(0)  # its own process session
    assert _wait_status(job.job_id, (JobStatus.RUNNING,)).status == JobStatus.RUNNING
    gate.touch()
    final = wait_job(job.job_id, timeout=120)
    assert final.status == JobStatus.COMPLETED, final.error_summary
    assert tracking.get_run(final.run_id).metrics["score"] == 42.0
    assert final.output_path and os.path.isfile(final.output_path)


def test_bad_input_raises_before_any_job_exists(tmp_path):
    nb = write_notebook(tmp_path / "p.ipynb", ["print(x)"], parameters="x = 1")
    with pytest.raises(ValidationError):
        aieng.submit_job(str(nb), {"nope": 1})
    with pytest.raises(ValidationError):
        aieng.submit_job(str(nb), {"x": 2}, retries=-1)
    with pytest.raises(ValidationError):
        aieng.submit_job(str(nb), executor="nowhere")
    assert aieng.list_jobs() == []


def test_stop_job_stops_a_background_job(tmp_path):
    nb = write_notebook(tmp_path / "forever.ipynb", ["import time\nwhile True:\n    time.sleep(0.1)"])
    job = aieng.submit_job(str(nb))
    _wait_status(job.job_id, (JobStatus.RUNNING,))
    stopped = stop_job(job.job_id, wait=60)
    assert stopped.status == JobStatus.STOPPED
    assert wait_job(job.job_id, timeout=60).finished_at


def test_job_outlives_its_submitter_being_interrupted_and_killed(tmp_path, python_env):
    """The submitting process (a kernel) gets SIGINT then dies: the detached job runs on."""
    gate = tmp_path / "go"
    nb = write_notebook(
        tmp_path / "gate.ipynb",
        ["import pathlib, time\nwhile not pathlib.Path(gate).exists():\n    time.sleep(0.05)\nprint('through')"],
        parameters=f"gate = {str(gate)!r}",
    )
    script = (
        "import sys, time, aieng_nb as aieng\n"
        f"job = aieng.submit_job({str(nb)!r})\n"
        "print(job.job_id, flush=True)\n"
        "time.sleep(600)\n"
    )
    submitter = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=python_env, start_new_session=True
    )
    try:
        job_id = submitter.stdout.readline().strip()
        assert job_id, "the submitter printed no job id"
        _wait_status(job_id, (JobStatus.RUNNING,))
        os.killpg(submitter.pid, signal.SIGINT)  # what a kernel interrupt (or Ctrl-C) reaches
        submitter.wait(30)
    finally:
        if submitter.poll() is None:
            submitter.kill()
            submitter.wait()
    assert get_job(job_id).status == JobStatus.RUNNING
    gate.touch()
    final = wait_job(job_id, timeout=120)
    assert final.status == JobStatus.COMPLETED, final.error_summary
    end = time.monotonic() + 30
    while job_store.owner_alive(final) and time.monotonic() < end:
        time.sleep(0.1)
    assert job_store.owner_alive(final) is False  # the runner process exits once it is done
