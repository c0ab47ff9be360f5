"""Snapshots through a real ``mlflow server --serve-artifacts`` on 127.0.0.1: with an http tracking
URI the object store is the server's proxied artifact store, so a teammate's folder (sharing only the
database URL and the server) loads a snapshot by name, and the dataset input on the run resolves
through ``mlflow.data.get_source(...).load()``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import config, storage
from aieng_nb import snapshots as snaps
from aieng_nb.storage.objectstore import MlflowArtifactStore
from aieng_nb.workspace import Workspace

from .test_remote_mlflow import _free_port, _stop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-artifacts-server")
    port = _free_port()
    log = open(root / "server.log", "a")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'server.db'}", "--serve-artifacts",
         "--artifacts-destination", str(root / "artifacts"), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, (root / "server.log").read_text()[-2000:]
            time.sleep(0.5)
    yield url, root / "artifacts"
    _stop(proc)


def test_the_object_store_interface_over_the_server(server, workspace, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AIENG_TRACKING_URI", server[0])
    config.reset()
    store = workspace.objects
    assert isinstance(store, MlflowArtifactStore)
    store.put_bytes("t/a/one.bin", b"1" * 10)
    src = tmp_path / "two"
    src.write_bytes(b"2" * 100)
    store.put_file("t/a/b/two.bin", src)
    assert store.exists("t/a/one.bin") and not store.exists("t/a/none.bin")
    assert store.get_bytes("t/a/b/two.bin") == b"2" * 100
    assert store.list("t") == ["t/a/b/two.bin", "t/a/one.bin"]
    assert (server[1] / "aieng" / "t" / "a" / "one.bin").read_bytes() == b"1" * 10  # in the server's store
    with urllib.request.urlopen(store.url("t/a/one.bin")) as resp:  # readable by plain HTTP
        assert resp.read() == b"1" * 10
    store.delete("t/a/one.bin")
    assert not store.exists("t/a/one.bin")


def test_a_teammate_loads_a_snapshot_through_the_server(server, workspace, monkeypatch, tmp_path) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    (tmp_path / "team").mkdir()
    monkeypatch.setenv("AIENG_TRACKING_URI", server[0])
    monkeypatch.setenv("AIENG_DATABASE_URL", f"sqlite:///{tmp_path / 'team' / 'aieng.db'}")
    storage.reset()
    config.reset()
    df = pd.DataFrame({"x": [1.5, 2.5], "y": ["a", "b"]})
    with aieng.start_run(experiment="team-snapshots") as run:
        rec = aieng.snapshot(df, name="train")
    shutil.rmtree(workspace.path("snapshots"))  # A's folder is not needed (no shared disk)
    b = Workspace(tmp_path / "b" / ".aieng").ensure()
    assert aieng.load("train", workspace=b).equals(df)
    assert [r.ref for r in snaps.list_snapshots(workspace=b)] == ["train@1"]
    (ds,) = [i.dataset for i in MlflowClient(server[0]).get_run(run.id).inputs.dataset_inputs]
    assert ds.digest == rec.id and ds.source_type == "http"
    assert json.loads(ds.source)["url"].startswith(server[0] + "/api/2.0/mlflow-artifacts/artifacts/aieng/")
    fetched = mlflow.data.get_source(ds).load()  # from anywhere that reaches the server
    assert pd.read_parquet(fetched).equals(df)
    storage.reset()
