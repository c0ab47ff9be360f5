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


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = open(root / "server.log", "w")
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
    yield url
    proc.terminate()
    proc.wait(timeout=30)


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
    listed = aieng.runs(experiment="remote")
    assert [r.run_id for r in listed] == [run.id] and listed[0].metrics["loss"] == pytest.approx(1 / 2500)
    # the journal was used (remote writes are journaled first) and cleaned up at the end
    assert not list(tracking.current().buffers.glob("*.metrics.jsonl"))
