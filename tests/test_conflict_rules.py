"""Conflict rules live in the core, so the Python API, the CLI (exit 3) and REST (409, in
tests/e2e/test_server_confinement.py) give the same outcome: stopping a finished job, pausing a
paused schedule (or resuming an active one), rolling back with nothing to roll back to."""

from __future__ import annotations

import pytest

import aieng_nb as aieng
from aieng_nb import schedules
from aieng_nb.cli import main
from aieng_nb.exceptions import ConflictError
from aieng_nb.jobs import stop_job, store
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobRecord, JobStatus


def test_stopping_a_finished_job_is_a_conflict_in_the_api_and_the_cli(workspace, capsys) -> None:
    record = JobRecord.new("/x.ipynb", {})
    record.status = JobStatus.COMPLETED
    store.create(record, workspace)
    with pytest.raises(ConflictError, match="already ended"):
        stop_job(record.job_id)
    assert main(["job", "stop", record.job_id]) == 3
    assert "already ended" in capsys.readouterr().err
    assert store.load(record.job_id, workspace).status == JobStatus.COMPLETED


def test_pausing_a_paused_schedule_is_a_conflict_in_the_api_and_the_cli(workspace, tmp_path, capsys) -> None:
    nb = write_notebook(tmp_path / "s.ipynb", ["print(1)"])
    schedules.add("nightly", str(nb), "0 3 * * *")
    assert schedules.set_paused("nightly", True).paused
    with pytest.raises(ConflictError, match="already paused"):
        schedules.set_paused("nightly", True)
    assert main(["schedule", "pause", "nightly"]) == 3
    assert "already paused" in capsys.readouterr().err
    assert main(["schedule", "resume", "nightly"]) == 0
    assert main(["schedule", "resume", "nightly"]) == 3
    assert "already active" in capsys.readouterr().err
    from aieng_nb import audit

    assert [e.event for e in audit.entries()].count("schedule.pause") == 1  # the refused pause wrote nothing


@pytest.mark.slow
def test_a_rollback_with_nothing_to_roll_back_to_is_a_conflict_in_the_api_and_the_cli(workspace, capsys) -> None:
    from registry_helpers import train_run
    from sklearn.linear_model import LogisticRegression

    aieng.register_model(train_run(LogisticRegression(), [[0.0], [1.0]], [0, 1], name="one"), "one")
    with pytest.raises(ConflictError, match="no champion"):
        aieng.rollback("one")
    aieng.promote("one", 1)
    with pytest.raises(ConflictError, match="no previous champion"):
        aieng.rollback("one")
    assert main(["model", "rollback", "one"]) == 3
    assert "no previous champion" in capsys.readouterr().err
