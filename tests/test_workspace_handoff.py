"""The workspace is handed down, not looked up: a job, a report, a registration and a schedule run
in a workspace other than the current one land in that workspace only."""

from __future__ import annotations

import datetime as dt

import pytest

import aieng_nb as aieng
from aieng_nb import audit, schedules
from aieng_nb.jobs import store
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.workspace import Workspace


@pytest.fixture
def other(tmp_path) -> Workspace:
    return Workspace(tmp_path / "other" / ".aieng").ensure()


def _events(ws: Workspace | None = None) -> list[str]:
    return [e.event for e in audit.entries(workspace=ws)]


def _nothing_in_current(workspace: Workspace) -> None:
    assert aieng.list_runs() == []
    assert store.list_records(workspace=workspace) == []
    assert _events(workspace) == []


@pytest.mark.slow
def test_a_job_and_its_report_in_another_workspace_land_there_only(workspace, other, tmp_path) -> None:
    from aieng_nb.reports.storage import run_for_job

    nb = write_notebook(tmp_path / "j.ipynb", ["import aieng_nb as aieng", "aieng.log(x=lr)"], parameters="lr = 0.1")
    job = aieng.run_job(str(nb), {"lr": 0.5}, workspace=other)
    assert job.status == "COMPLETED", job.describe()
    run = aieng.get_run(job.run_id, workspace=other)
    assert run.metrics["x"] == 0.5 and run.tags["aieng.job_id"] == job.job_id
    assert [r.job_id for r in store.list_records(workspace=other)] == [job.job_id]
    assert run_for_job(job.job_id, workspace=other) == job.run_id
    assert {"job.start", "job.finish", "run.start"} <= set(_events(other))
    _nothing_in_current(workspace)


def test_a_registration_and_promotion_in_another_workspace_land_there_only(workspace, other) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from aieng_nb.loop.synthetic import FEATURES, batch
    from aieng_nb.registry import list_versions, promote, register

    df = batch(200, concept=1, seed=0)
    with aieng.start_run(experiment="churn", workspace=other) as run:
        model = LogisticRegression().fit(df[FEATURES], df["label"])
        aieng.log_metrics({"accuracy": 0.9})
        # MLflow's fluent API is on the aieng run, in its workspace's store
        assert mlflow.active_run().info.run_id == run.id and mlflow.get_tracking_uri() == other.tracking_uri
        mlflow.sklearn.log_model(model, name="model", skops_trusted_types=["sklearn.tree._tree.Tree"])
    version = register(run.id, "churn", workspace=other)
    promote("churn", version.version, workspace=other)
    assert [v.version for v in list_versions("churn", workspace=other)] == ["1"]
    assert {"model.register", "model.promote"} <= set(_events(other))
    from aieng_nb.registry.client import client

    assert client(workspace).search_registered_models() == []
    _nothing_in_current(workspace)


@pytest.mark.slow
def test_a_schedule_in_another_workspace_fires_there_only(workspace, other, tmp_path) -> None:
    from aieng_nb.schedules.scheduler import Scheduler

    nb = write_notebook(tmp_path / "s.ipynb", ["print(lr)"], parameters="lr = 0.1")
    schedules.add("nightly", str(nb), "0 3 * * *", catchup="once", workspace=other)
    later = schedules.get("nightly", workspace=other).created_at + dt.timedelta(days=1, hours=1)
    claims = Scheduler(other, clock=lambda: later).run_pending(wait=True)
    assert [c[1].action for c in claims] == ["fire"]
    (job,) = store.list_records(schedule="nightly", workspace=other)
    assert job.status == "COMPLETED" and job.run_id
    assert aieng.get_run(job.run_id, workspace=other).tags["aieng.schedule"] == "nightly"
    assert schedules.list_schedules(workspace=workspace).to_dicts() == []
    _nothing_in_current(workspace)
