"""Job files through the object store, and the workspace a worker without the submitter's folder opens
(:mod:`aieng_nb.jobs.remote`). The Dask end-to-end case is ``tests/e2e/test_dask_no_shared_disk.py``."""

from __future__ import annotations

import os
import shutil

import pytest

from aieng_nb import config
from aieng_nb.jobs import remote
from aieng_nb.jobs.control import get_job, run_job
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobStatus


@pytest.fixture(autouse=True)
def _restored_env(monkeypatch):
    """open_worker_workspace sets the worker process's AIENG_* variables: put them back after each test."""
    for key in ("AIENG_WORKSPACE", "AIENG_TRACKING_URI", "AIENG_DATABASE_URL", "AIENG_OBJECT_STORE"):
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.setenv(key, "")
            monkeypatch.delenv(key)
    yield
    config.reset()


@pytest.fixture
def shared_store(tmp_path, monkeypatch, workspace):
    """An object store outside the workspace folder (what a team's S3 bucket or server would be)."""
    folder = tmp_path / "objects"
    monkeypatch.setenv("AIENG_OBJECT_STORE", folder.as_uri())
    config.reset()
    return folder


def test_job_files_are_read_from_the_object_store_when_the_folder_lacks_them(tmp_path, shared_store, workspace):
    from aieng_nb.jobs.control import reproduce
    from aieng_nb.server.views import job_output_html

    nb = write_notebook(tmp_path / "n.ipynb", ["import aieng_nb as aieng\nprint('hello', x)\naieng.log(v=x)"], "x = 1")
    job = run_job(str(nb), {"x": 3})
    assert job.status == JobStatus.COMPLETED, job.error
    for name in ("input.ipynb", "output.ipynb", "output.html"):
        assert (shared_store / "jobs" / job.job_id / name).is_file()
    local = workspace.path("jobs", job.job_id)
    shutil.rmtree(local)  # as on a machine that did not run the job
    assert "hello 3" in job_output_html(job.job_id, workspace=workspace)
    assert not local.exists()  # the view reads, writes nothing
    shown = get_job(job.job_id)
    assert (local / "output.ipynb").is_file() and shown.html_path == str(local / "output.html")
    assert (local / "output.html").is_file()
    (local / "input.ipynb").unlink()
    report = reproduce(job.run_id)  # the recorded input comes back from the object store
    assert report.matches and (local / "input.ipynb").is_file()


def test_a_worker_without_the_folder_runs_in_a_private_one(tmp_path, shared_store, workspace):
    workspace.database()  # the database and tracking files exist (a shared disk for them only)
    workspace.mlflow_db.touch()
    spec = remote.workspace_spec(workspace)
    spec["root"] = str(tmp_path / "elsewhere" / ".aieng")  # the submitter's folder, not on this "machine"
    ws = remote.open_worker_workspace(spec, "20261207-120000-abc123")
    assert ws.root != workspace.root and ws.root.is_dir() and not (tmp_path / "elsewhere").exists()
    assert ws.database_url == workspace.database_url and ws.tracking_uri == workspace.tracking_uri
    assert not ws.objects.is_local and ws.objects.root == workspace.objects.root


def test_a_worker_that_cannot_reach_the_stores_names_them(tmp_path, workspace):
    spec = remote.workspace_spec(workspace)  # the default: every store is a file in the folder
    spec["root"] = str(tmp_path / "elsewhere" / ".aieng")
    spec["database_url"] = spec["tracking_uri"] = f"sqlite:///{tmp_path / 'elsewhere' / 'x.db'}"
    with pytest.raises(remote.WorkerSetupError) as err:
        remote.open_worker_workspace(spec, "20261207-120000-abc123")
    message = str(err.value)
    assert (
        f"the metadata database sqlite:///{tmp_path / 'elsewhere' / 'x.db'} is a file this machine does not have"
        in message
    )
    assert "the object store is the submitter's folder" in message and "AIENG_OBJECT_STORE" in message
    assert "\n" not in message
