"""The same API against a real `mlflow server` on 127.0.0.1 (the public client path)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import aieng_nb as aieng
from aieng_nb import tracking
from aieng_nb.stores.mlflow_client import MlflowClientStore

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(root, port):
    log = open(root / "server.log", "a")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers are children: stop the whole group
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
        assert proc.poll() is None, (root / "server.log").read_text()
    else:
        proc.kill()
        pytest.fail("mlflow server did not start: " + (root / "server.log").read_text()[-2000:])
    return proc, url


def _stop(proc):
    import os
    import signal

    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 30)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    proc, url = _start_server(tmp_path_factory.mktemp("mlflow-server"), _free_port())
    yield url
    _stop(proc)


def test_runs_metrics_params_and_artifacts_go_to_the_remote_server(mlflow_server, monkeypatch, tmp_path):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("AIENG_TRACKING_URI", mlflow_server)
    artifact = tmp_path / "report.txt"
    artifact.write_text("remote")
    with aieng.start_run(experiment="remote", name="over-http", params={"lr": 0.1}, tags={"team": "a"}) as run:
        for step in range(2500):  # more than one log_batch request
            aieng.log(loss=1.0 / (step + 1), step=step)
        aieng.log_artifact(artifact)
    assert isinstance(run.store, MlflowClientStore)
    client = MlflowClient(mlflow_server)
    remote = client.get_run(run.id)
    assert remote.info.status == "FINISHED"
    assert remote.data.params == {"lr": "0.1"} and remote.data.tags["team"] == "a"
    assert len(client.get_metric_history(run.id, "loss")) == 2500
    assert "report.txt" in {a.path for a in client.list_artifacts(run.id)}
    listed = aieng.list_runs(experiment="remote")
    assert [r.run_id for r in listed] == [run.id] and listed[0].metrics["loss"] == pytest.approx(1 / 2500)
    # the journal was used (remote writes are journaled first) and cleaned up at the end
    assert not list(tracking.current().buffers.glob("*.metrics.jsonl"))


def test_names_the_server_rejects_are_mapped_and_the_run_finishes(mlflow_server, monkeypatch):
    from mlflow.tracking import MlflowClient

    from aieng_nb.stores.names import mlflow_key

    monkeypatch.setenv("AIENG_TRACKING_URI", mlflow_server)
    bad = ["a//b", "/abs", ".", "a/"]
    with pytest.warns(RuntimeWarning, match="logged as"):
        with aieng.start_run(experiment="remote-names", name="bad-names") as run:
            for step in range(1000):
                aieng.log(**{name: float(step) for name in bad}, good=float(step), **{"val:acc": 1.0}, step=step)
    client = MlflowClient(mlflow_server)
    remote = client.get_run(run.id)
    assert remote.info.status == "FINISHED"
    assert len(client.get_metric_history(run.id, "good")) == 1000
    assert len(client.get_metric_history(run.id, "val:acc")) == 1000  # accepted by MLflow: kept as is
    for name in bad:
        assert len(client.get_metric_history(run.id, mlflow_key(name))) == 1000
    assert not list(tracking.current().buffers.glob("*.metrics.jsonl"))


def test_a_refused_batch_is_split_so_only_the_bad_points_drop(mlflow_server, monkeypatch):
    from mlflow.tracking import MlflowClient

    from aieng_nb.stores.base import PointsRejected

    store = MlflowClientStore(mlflow_server, "")
    exp = store.get_or_create_experiment("remote-split")
    run_id = store.create_run(exp, "split", {}, 0)
    rows = [("good", float(i), 1000 + i, i, False) for i in range(2500)]
    rows[700] = ("a//b", 1.0, 5000, 700, False)  # a name the server refuses, in the first request
    rows[1800] = ("/abs", 1.0, 5000, 1800, False)  # and one in the second
    with pytest.raises(PointsRejected) as caught:
        store.log_batch(run_id, rows)
    assert sorted(row[0] for row, _ in caught.value.rejected) == ["/abs", "a//b"]
    assert all("INVALID_PARAMETER_VALUE" in reason or "name" in reason.lower() for _, reason in caught.value.rejected)
    assert len(MlflowClient(mlflow_server).get_metric_history(run_id, "good")) == 2498


def test_journaled_points_the_server_refuses_do_not_stop_recovery(mlflow_server, monkeypatch, workspace):
    import json
    import subprocess

    from aieng_nb.tracking import lifecycle
    from aieng_nb.tracking.buffer import journal_for

    monkeypatch.setenv("AIENG_TRACKING_URI", mlflow_server)
    run = aieng.start_run(experiment="remote-recover", name="doomed")
    for thread in run.background:
        thread.join(timeout=60)
    run.buffer.stop()
    tracking._set_active(None)  # the process "dies" with a journal the server will partly refuse
    journal = journal_for(workspace.buffers, run.id)
    journal.append_rows([("ok", 1.0, 1000, 0, False), ("a//b", 2.0, 1000, 0, False), ("ok", 3.0, 1001, 1, False)])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lease_path = workspace.buffers / f"{run.id}.lease"
    lease = json.loads(lease_path.read_text())
    lease.update(pid=dead.pid, process_start=0.0)
    lease_path.write_text(json.dumps(lease))
    done = lifecycle.recover()
    assert done.to_dicts() == [{"run_id": run.id, "points": 2, "status": "KILLED"}]
    record = aieng.get_run(run.id)
    assert record.status == "KILLED" and "refused" in record.tags["aieng.metrics_rejected"]
    assert not (workspace.buffers / "quarantine").exists()


def test_the_environment_lands_at_the_same_artifact_path_as_locally(mlflow_server, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("AIENG_TRACKING_URI", mlflow_server)
    with aieng.start_run(experiment="remote-layout", name="env") as run:
        pass
    paths = {a.path for a in MlflowClient(mlflow_server).list_artifacts(run.id, "aieng")}
    assert "aieng/environment.json" in paths
    assert "environment.json" not in {a.path for a in MlflowClient(mlflow_server).list_artifacts(run.id)}


def test_points_logged_while_the_server_is_down_are_journaled_and_sent_when_it_is_back(
    tmp_path, monkeypatch, workspace
):
    from mlflow.tracking import MlflowClient

    from aieng_nb.tracking.buffer import journal_for

    root, port = tmp_path / "server", _free_port()
    root.mkdir()
    proc, url = _start_server(root, port)
    try:
        monkeypatch.setenv("AIENG_TRACKING_URI", url)
        run = aieng.start_run(experiment="remote-down", name="outage")
        for thread in run.background:
            thread.join(timeout=120)
        for step in range(100):
            aieng.log(x=float(step), step=step)
        aieng.flush()
        # no retries during the outage, so the test does not wait out MLflow's backoff
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
        _stop(proc)
        with pytest.warns(RuntimeWarning) as caught:
            for step in range(100, 600):
                aieng.log(x=float(step), step=step)
            for _ in range(3):
                aieng.flush()  # each one tries the server again
        down = [w for w in caught if "cannot be stored" in str(w.message)]
        assert len(down) == 1, [str(w.message) for w in caught]  # said once, not once per try
        # every point logged during the outage is in the journal, after the committed offset
        pending = [row for rows in journal_for(workspace.buffers, run.id).pending() for row in rows]
        assert sorted(row[3] for row in pending) == list(range(100, 600))
        proc, url = _start_server(root, port)  # the server comes back
        with pytest.warns(RuntimeWarning, match="answers again"):
            record = aieng.end_run()
        assert record is not None and record.status == "FINISHED"
        history = MlflowClient(url).get_metric_history(run.id, "x")
        assert sorted(m.step for m in history) == list(range(600))
        assert not journal_for(workspace.buffers, run.id).exists()
    finally:
        _stop(proc)
