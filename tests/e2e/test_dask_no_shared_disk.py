"""Jobs on a Dask worker that cannot see the submitter's folder: the worker runs in its own mount
namespace with a tmpfs over the test's folder (the workspace and the notebook), its own hostname,
account and signing key. The database is a SQLite file outside that folder, the tracking store and
the object store a real ``mlflow server`` on 127.0.0.1 (its proxied artifacts), so nothing but those
addresses is shared."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobStatus

from .test_dask import dask_cluster  # noqa: F401 - the module's scheduler (a fixture)
from .test_remote_mlflow import _free_port, _start_server, _stop

pytestmark = pytest.mark.slow
pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A folder outside every test's folder (the workers see it) with an MLflow server's stores."""
    root = tmp_path_factory.mktemp("shared")
    proc, url = _start_server(root, _free_port())
    yield root, url
    _stop(proc)


@pytest.fixture
def blind_worker(dask_cluster, tmp_path, monkeypatch):  # noqa: F811
    """The cluster's only worker: hostname "otherbox", account workerbob, its own state folder, and
    a tmpfs over ``tmp_path``: the submitter's workspace and notebook do not exist there."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a worker without the submitter's folder")
    for proc in dask_cluster.workers.values():
        proc.kill()
    dask_cluster.workers.clear()
    name = f"w{dask_cluster.started}"
    dask_cluster.started += 1
    state = tmp_path.parent / f"{tmp_path.name}-worker-state"
    cmd = (
        f"hostname otherbox && mount -t tmpfs tmpfs {tmp_path} && "
        f"exec {dask_cluster.dask} worker {dask_cluster.address} --nthreads 1 --no-nanny --no-dashboard --name {name}"
    )
    env = {**dask_cluster.common["env"], "LOGNAME": "workerbob", "USER": "workerbob", "AIENG_STATE_DIR": str(state)}
    dask_cluster.workers[name] = subprocess.Popen(
        ["unshare", "-m", "-u", "sh", "-c", cmd], **{**dask_cluster.common, "env": env}
    )
    dask_cluster.ensure_workers(1)
    monkeypatch.setenv("AIENG_WORKER_TIMEOUT", "30")
    yield dask_cluster
    for proc in dask_cluster.workers.values():  # the next test's workers see its folder again
        proc.kill()
    dask_cluster.workers.clear()


def test_a_job_runs_on_a_worker_without_the_submitters_folder(blind_worker, shared, tmp_path, workspace, monkeypatch):
    from aieng_nb import audit, config, tracking
    from aieng_nb.audit.chain import _read_keys
    from aieng_nb.fsutil import user_name
    from aieng_nb.jobs.control import get_job, run_job
    from aieng_nb.server.views import job_output_html

    folder, url = shared
    monkeypatch.setenv("AIENG_TRACKING_URI", url)
    monkeypatch.setenv("AIENG_DATABASE_URL", f"sqlite:///{folder / 'aieng.db'}")
    config.reset()
    nb = write_notebook(
        tmp_path / "d.ipynb",
        ["import socket, aieng_nb as aieng\naieng.log(value=x * 3)\nprint('ran on', socket.gethostname())"],
        parameters="x = 1",
    )
    job = run_job(str(nb), {"x": 7}, executor="dask", address=blind_worker.address)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.host == "otherbox" and job.finished_at is not None  # returned once the worker's finish ended
    assert tracking.get_run(job.run_id).metrics["value"] == 21.0
    # the outputs were written to the object store only: this machine's job folder lacks them ...
    local = workspace.path("jobs", job.job_id)
    assert not (local / "output.ipynb").exists() and not (local / "output.html").exists()
    # ... and readers find them there: the panel's view (reads, writes nothing), then `job show`
    assert "ran on otherbox" in job_output_html(job.job_id, workspace=workspace)
    assert not (local / "output.html").exists()
    shown = get_job(job.job_id, workspace=workspace)
    assert "ran on otherbox" in (local / "output.ipynb").read_text() and shown.html_path == str(local / "output.html")
    assert (local / "output.html").is_file()
    # the submitter is the actor of what the worker wrote; the worker signed with its own key
    keys = _read_keys(workspace)
    for entry in audit.entries(workspace=workspace):
        if entry.data.get("job_id") == job.job_id and entry.event in ("job.start", "job.finish"):
            assert entry.actor == user_name() and entry.data["written_by"] == "workerbob@otherbox"
            assert keys[entry.key]["actor"] == "workerbob"
            worker_key = entry.key
    # the worker's key counts once the submitter trusts it (its operator hands it over)
    assert not audit.verify(workspace=workspace).ok
    from aieng_nb.audit.trust import trust

    trust(worker_key, workspace=workspace)
    assert audit.verify(workspace=workspace).ok


def test_a_worker_that_cannot_reach_the_stores_says_which(blind_worker, tmp_path, workspace):
    """The workspace's database, tracking store and object store are files in the submitter's
    folder: the worker fails the job at once, naming them (not "no job ... in this workspace")."""
    from aieng_nb.jobs.control import run_job

    nb = write_notebook(tmp_path / "d.ipynb", ["print(1)"])
    job = run_job(str(nb), executor="dask", address=blind_worker.address)
    assert job.status == JobStatus.FAILED and job.error["kind"] == "worker_setup", job.error
    message = job.error["message"]
    assert "worker otherbox cannot reach the job's workspace" in message
    assert f"the metadata database sqlite:///{workspace.root / 'aieng.db'}" in message
    assert "AIENG_DATABASE_URL" in message and "no job" not in message
