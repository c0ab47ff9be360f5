"""Serving the champion from the CLI and from Python on 127.0.0.1, and the registry against a real `mlflow server`."""

from __future__ import annotations

import pytest
from registry_helpers import train_run
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

import aieng_nb as aieng
from aieng_nb.loop.synthetic import FEATURES, batch
from aieng_nb.serving import free_port

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
    from waiting import wait_until

    X = _models()
    aieng.promote("churn", 1)
    aieng.promote("churn", 2)  # the constant model logged a better accuracy: the default gate lets it in
    rows = X.head(20)
    with aieng.serve_model("churn@champion", port=free_port(), follow=0.1) as srv:
        assert srv.host == "127.0.0.1" and srv.version == "2"
        assert srv.predict(rows) == [1] * 20
        aieng.rollback("churn", reason="always says 1")
        expected = aieng.load_model("churn/1", record_use=False).predict(rows).tolist()
        wait_until(lambda: srv.version == "1", timeout=60)  # the alias moved: the previous champion took over
        assert srv.swaps[-1][:2] == ("2", "1")
        assert srv.predict(rows) == expected and set(expected) == {0, 1}
    assert not srv.running  # stopped with the block
    with pytest.raises(OSError):
        srv.predict(rows, timeout=2)


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


def _cli_serve(python_env, workspace, port, *extra):
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "aieng_nb.cli", "model", "serve", "churn@champion", "--port", str(port), *extra],
        env={**python_env, "AIENG_WORKSPACE": str(workspace.root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _refused(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def test_cli_serve_answers_on_127_0_0_1_and_stops_on_sigterm(python_env, workspace):
    import json
    import signal
    import urllib.request

    X = _models()
    aieng.promote("churn", 1)
    port = free_port()
    proc = _cli_serve(python_env, workspace, port)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/invocations" in line, line
        body = json.dumps({"dataframe_split": json.loads(X.head(3).to_json(orient="split", index=False))})
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            preds = json.loads(resp.read())["predictions"]
            assert resp.headers["aieng-model-version"] == "1"
        assert preds == aieng.load_model("churn/1", record_use=False).predict(X.head(3)).tolist()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    assert _refused(port)  # the server lived in that process: nothing holds the port
    assert "inference log: 3 rows in churn-inference" in proc.stdout.read()
    assert len(aieng.load("churn-inference")) == 3  # flushed on the way out


def test_a_killed_cli_serve_leaves_nothing_on_the_port(python_env, workspace):
    import signal

    _models()
    aieng.promote("churn", 1)
    port = free_port()
    proc = _cli_serve(python_env, workspace, port)
    assert "/invocations" in proc.stdout.readline()
    assert not _refused(port)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert _refused(port)


def test_a_server_started_from_python_stops_when_the_process_exits(python_env, workspace):
    import subprocess
    import sys

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
    assert _refused(port)
