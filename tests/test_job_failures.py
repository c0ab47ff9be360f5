"""Half-created jobs and bad options: nothing is left CREATED or RUNNING forever, bad input fails
before anything is created (no job record, no parent run)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from aieng_nb.exceptions import ValidationError
from aieng_nb.jobs import store as job_store
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobRecord, JobStatus


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def nb(tmp_path):
    return write_notebook(tmp_path / "j.ipynb", ["print(lr)"], parameters="lr = 0.1")


def test_created_job_whose_creator_is_gone_is_failed_and_its_sweep_run_ends(workspace):
    import aieng_nb as aieng
    from aieng_nb.jobs import execute

    parent = execute.open_run("e", workspace)
    orphan = JobRecord.new("a.ipynb", host=socket.gethostname(), pid=_dead_pid(), parent_run_id=parent)
    job_store.create(orphan, workspace)
    mine = JobRecord.new("b.ipynb")
    mine.host, mine.pid, mine.pid_started = job_store.process_identity()
    job_store.create(mine, workspace)
    unstamped = job_store.create(JobRecord.new("c.ipynb"), workspace)  # older records: no creator, left alone
    recovered = job_store.recover_stale(workspace)
    assert [r.job_id for r in recovered] == [orphan.job_id]
    after = job_store.load(orphan.job_id, workspace)
    assert after.status == JobStatus.FAILED and "created this job" in after.error["message"]
    assert job_store.load(mine.job_id, workspace).status == JobStatus.CREATED
    assert job_store.load(unstamped.job_id, workspace).status == JobStatus.CREATED
    assert aieng.get_run(parent).status == "FAILED"


def test_prepare_job_stamps_its_creator(workspace, nb):
    from aieng_nb.jobs.control import prepare_job

    rec = prepare_job(nb, {"lr": 0.5})
    assert (rec.host, rec.pid) == (socket.gethostname(), job_store.process_identity()[1]) and rec.pid_started


def test_unknown_executor_creates_no_job(workspace, nb):
    from aieng_nb.jobs.control import run_job

    with pytest.raises(ValidationError, match="unknown executor"):
        run_job(nb, {"lr": 0.5}, executor="bogus")
    assert job_store.list_records(workspace=workspace) == []


def test_sweep_with_unknown_executor_or_bad_file_creates_nothing(workspace, nb, tmp_path):
    import aieng_nb as aieng
    from aieng_nb.jobs.sweeps import sweep

    with pytest.raises(ValidationError, match="unknown executor"):
        sweep(nb, {"lr": [0.1, 0.2]}, executor="bogus")
    bad = tmp_path / "p.yaml"
    bad.write_text("lrr: 3\n")
    with pytest.raises(ValidationError, match="unknown parameter"):
        sweep(nb, {"lr": [0.1, 0.2]}, parameters_file=str(bad))
    assert aieng.list_runs() == [] and job_store.list_records(workspace=workspace) == []


def test_a_sweep_broken_half_way_fails_its_unstarted_jobs_and_ends_its_run(workspace, nb):
    import aieng_nb as aieng
    from aieng_nb import executors
    from aieng_nb.jobs.sweeps import sweep

    class Interrupted:
        def __init__(self, address=None, parallel=1):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def run(self, job_ids, ws, progress=None):
            raise KeyboardInterrupt

    executors.register("interrupted", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep(nb, {"lr": [0.1, 0.2, 0.3]}, executor="interrupted")
    (parent,) = aieng.list_runs()
    assert parent.status == "KILLED"
    jobs = job_store.list_records(workspace=workspace)
    assert len(jobs) == 3 and {j.status for j in jobs} == {JobStatus.FAILED}
    assert all(j.error["kind"] == "sweep_aborted" for j in jobs)


def test_unknown_kernel_is_refused_before_a_job_exists(workspace, nb, capsys):
    from aieng_nb import schedules
    from aieng_nb.cli import main
    from aieng_nb.jobs.control import prepare_job

    with pytest.raises(ValidationError, match="no kernel named 'nope'"):
        prepare_job(nb, kernel_name="nope")
    assert main(["job", "run", str(nb), "--kernel", "nope"]) == 2
    assert "no kernel named 'nope'" in capsys.readouterr().err
    with pytest.raises(ValidationError, match="no kernel named"):
        schedules.add("s", str(nb), "0 3 * * *", kernel_name="nope")
    assert job_store.list_records(workspace=workspace) == [] and schedules.list_schedules() == []


def test_error_without_evalue_keeps_its_message():
    from aieng_nb.jobs.records import JobError

    assert JobError(kind="error", message="Boom: it broke", ename="Boom").summary() == "Boom: it broke"
    assert JobError(kind="cell_error", message="E: ", ename="E", evalue="", cell_index=2).summary() == "cell 3: E"


def test_a_kernel_gone_at_run_time_fails_once_with_its_name(workspace, nb):
    from aieng_nb.jobs.control import prepare_job
    from aieng_nb.jobs.execute import execute_job

    rec = prepare_job(nb, retries=2, retry_backoff=0.01)
    job_store.update(rec.job_id, workspace, kernel_name="vanished-kernel")  # uninstalled after the job was made
    final = execute_job(rec.job_id, workspace)
    assert final.status == JobStatus.FAILED and final.attempts == 1
    assert final.error["kind"] == "no_kernel" and final.error["evalue"]
    assert "vanished-kernel" in final.error_summary and "None" not in final.error_summary


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 0, -1])
@pytest.mark.parametrize("option", ["timeout", "cell_timeout", "retry_backoff"])
def test_timeouts_and_backoff_must_be_finite_and_positive(workspace, nb, option, bad):
    from aieng_nb import schedules
    from aieng_nb.jobs.control import prepare_job

    with pytest.raises(ValidationError, match="positive number"):
        prepare_job(nb, **{option: bad})
    with pytest.raises(ValidationError, match="positive number"):
        schedules.add("s", str(nb), "0 3 * * *", **{option: bad})
    assert job_store.list_records(workspace=workspace) == [] and schedules.list_schedules() == []


def test_cli_refuses_nan_timeout(workspace, nb, capsys):
    from aieng_nb.cli import main

    assert main(["job", "run", str(nb), "--timeout", "nan"]) == 2
    assert main(["job", "run", str(nb), "--cell-timeout", "inf"]) == 2
    assert main(["job", "run", str(nb), "--retry-backoff", "nan"]) == 2
    assert job_store.list_records(workspace=workspace) == []
