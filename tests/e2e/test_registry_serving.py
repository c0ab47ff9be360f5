"""Serving with MLflow's scoring server on 127.0.0.1, and the registry against a real `mlflow server`."""

from __future__ import annotations

import pytest
from registry_helpers import train_run
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

import aieng_nb as aieng
from aieng_nb.registry.serving import free_port
from aieng_nb.registry.synthetic import FEATURES, batch

from .test_remote_mlflow import mlflow_server  # noqa: F401 - the real server fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _models():
    df = batch(600, seed=0)
    X, y = df[FEATURES], df["label"]
    good = train_run(LogisticRegression(), X, y, metrics={"accuracy": 0.9}, name="lr")
    const = train_run(DummyClassifier(strategy="constant", constant=1), X, y, metrics={"accuracy": 0.95}, name="ones")
    aieng.register_model(good, "churn")
    aieng.register_model(const, "churn")
    return X


def test_serve_the_champion_and_after_a_rollback_the_previous_one():
    X = _models()
    aieng.promote("churn", 1)
    aieng.promote("churn", 2)  # the constant model logged a better accuracy: the default gate lets it in
    rows = X.head(20)
    with aieng.serve_model("churn@champion", port=free_port()) as srv:
        assert srv.host == "127.0.0.1" and srv.version == "2"
        assert srv.predict(rows) == [1] * 20
        aieng.rollback("churn", reason="always says 1")
        expected = aieng.load_model("churn/1", record_use=False).predict(rows).tolist()
        srv.restart()  # the alias resolves anew: the previous champion answers on the same port
        assert srv.version == "1"
        assert srv.predict(rows) == expected and set(expected) == {0, 1}
    assert srv.process.poll() is not None  # stopped with the block


def test_registry_against_a_real_mlflow_server(mlflow_server, monkeypatch):  # noqa: F811
    from mlflow import MlflowClient

    monkeypatch.setenv("AIENG_TRACKING_URI", mlflow_server)
    _models()
    aieng.promote("churn", 1)
    res = aieng.promote("churn", 2)
    assert res.promoted
    move = aieng.rollback("churn")
    assert (move.previous, move.version) == ("2", "1")
    client = MlflowClient(mlflow_server, registry_uri=mlflow_server)
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
    tags = client.get_model_version("churn", "2").tags
    assert tags["aieng.gates.passed"] == "true" and "aieng.rolled_back" in tags
    st = aieng.model_status("churn")
    assert [m.action for m in st.history] == ["promote", "promote", "rollback"]
    assert aieng.lineage("churn@champion").run_id == client.get_model_version("churn", "1").run_id


def test_cli_serve_answers_on_127_0_0_1_and_stops_on_sigterm(python_env, workspace):
    import json
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    X = _models()
    aieng.promote("churn", 1)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aieng_nb.cli", "model", "serve", "churn@champion", "--port", str(port)],
        env={**python_env, "AIENG_WORKSPACE": str(workspace.root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/invocations" in line, line
        body = json.dumps({"dataframe_split": json.loads(X.head(3).to_json(orient="split", index=False))})
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            preds = json.loads(resp.read())["predictions"]
        assert preds == aieng.load_model("churn/1", record_use=False).predict(X.head(3)).tolist()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    time.sleep(0.5)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)


def test_a_server_started_from_python_stops_when_the_process_exits(python_env, workspace):
    import subprocess
    import sys
    import urllib.request

    _models()
    aieng.promote("churn", 1)
    port = free_port()
    code = f"import aieng_nb as aieng; srv = aieng.serve_model('churn@champion', port={port}); print(srv.pid)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**python_env, "AIENG_WORKSPACE": str(workspace.root)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)


def test_follow_restarts_the_server_when_the_alias_moves():
    import threading
    import time

    X = _models()
    aieng.promote("churn", 1)
    rows = X.head(10)
    done = threading.Event()
    swaps: list[tuple[str, str]] = []
    from aieng_nb.registry.serving import follow

    with aieng.serve_model("churn@champion", port=free_port()) as srv:
        watcher = threading.Thread(
            target=follow,
            args=(srv,),
            kwargs={"interval": 0.3, "stop": done, "on_swap": lambda a, b: swaps.append((a, b))},
        )
        watcher.start()
        try:
            aieng.promote("churn", 2)
            deadline = time.monotonic() + 180
            while not swaps and time.monotonic() < deadline:
                time.sleep(0.2)
            assert swaps == [("1", "2")] and srv.predict(rows) == [1] * 10
        finally:
            done.set()
            watcher.join(60)
