"""The scoring endpoint (aieng_nb.serving) against real MLflow models, side by side with `mlflow models serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from registry_helpers import train_run
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from waiting import wait_until

import aieng_nb as aieng
from aieng_nb.exceptions import NotFoundError
from aieng_nb.loop.synthetic import FEATURES, batch
from aieng_nb.serving import compare, free_port, load_log, post_labels, serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _models():
    df = batch(600, seed=0)
    X, y = df[FEATURES], df["label"]
    good = train_run(LogisticRegression(), X, y, metrics={"accuracy": 0.9}, name="lr")
    ones = train_run(DummyClassifier(strategy="constant", constant=1), X, y, metrics={"accuracy": 0.95}, name="ones")
    aieng.register_model(good, "churn")
    aieng.register_model(ones, "churn", alias="challenger")
    aieng.promote("churn", 1)
    return X


def post(url, body, content_type="application/json", headers=None):
    """(status, headers, body bytes) of a POST sent as given (no Content-Type added when None)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    hdrs = dict(headers or {})
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    hdrs.setdefault("Content-Length", str(len(body)))
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("POST", parts.path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.read()


def _bodies(X):
    rows = X.head(4)
    split = json.loads(rows.to_json(orient="split", index=False))
    records = json.loads(rows.to_json(orient="records"))
    return {
        "dataframe_split": (json.dumps({"dataframe_split": split}).encode(), "application/json"),
        "dataframe_records": (json.dumps({"dataframe_records": records}).encode(), "application/json"),
        "instances": (json.dumps({"instances": records}).encode(), "application/json"),
        "inputs": (json.dumps({"inputs": {c: rows[c].tolist() for c in rows.columns}}).encode(), "application/json"),
        "csv": (rows.to_csv(index=False).encode(), "text/csv"),
        "csv; charset": (rows.to_csv(index=False).encode(), "text/csv; charset=utf-8"),
        "unknown key": (b'{"rows": [[1, 2, 3]]}', "application/json"),
        "not JSON": (b"{nope", "application/json"),
        "a list": (b"[1, 2]", "application/json"),
        "wrong columns": (b'{"dataframe_split": {"columns": ["a"], "data": [[1]]}}', "application/json"),
        "latin-1": (b"x1,x2,g\n1,2,3\n", "text/csv; charset=latin-1"),
        "text/plain": (b"hello", "text/plain"),
    }


def _start(cmd, ws, **env):
    # the same hash seed on both sides: MLflow's error messages list a set of formats
    env = {**os.environ, "MLFLOW_TRACKING_URI": ws.tracking_uri, "PYTHONHASHSEED": "0", **env}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def _up(url):
    try:
        return get(url + "/ping")[0] == 200
    except OSError:
        return False


def test_answers_are_byte_identical_to_mlflow_models_serve(workspace):
    import signal

    X = _models()
    ports = free_port(), free_port()
    mlflow_cmd = ["mlflow", "models", "serve", "-m", "models:/churn/1", "--env-manager", "local"]
    theirs = _start(
        [*mlflow_cmd, "-h", "127.0.0.1", "-p", str(ports[0])], workspace, MLFLOW_REGISTRY_URI=workspace.tracking_uri
    )
    ours = _start(
        ["aieng_nb", "model", "serve", "churn/1", "-p", str(ports[1]), "--no-log"],
        workspace,
        AIENG_WORKSPACE=str(workspace.root),
    )
    try:
        ref, url = (f"http://127.0.0.1:{p}" for p in ports)
        wait_until(lambda: _up(ref) and _up(url), timeout=180, interval=0.5, message="both servers")
        for what, (body, ctype) in _bodies(X).items():
            a = post(url + "/invocations", body, ctype)
            b = post(ref + "/invocations", body, ctype)
            assert (a[0], a[2]) == (b[0], b[2]), what
            assert a[1]["content-type"] == b[1]["content-type"], what
            assert a[1]["aieng-model-version"] == "1"
        assert b'"predictions"' in post(url + "/invocations", *_bodies(X)["csv"])[2]
        for path in ("/ping", "/health", "/version"):
            assert get(url + path) == get(ref + path), path
    finally:
        for proc in (theirs, ours):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def test_hostile_bodies_get_4xx_and_the_server_stays_up():
    X = _models()
    with serve("churn@champion", port=0) as srv:
        url = srv.url + "/invocations"
        deep = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        status, _, body = post(url, deep)
        assert 400 <= status < 500 and b"nested too deeply" in body
        status, _, body = post(url, b'{"inputs": [1]}', content_type=None)
        assert status == 415 and b"Content-Type" in body
        status, _, _ = post(url, b"\xff\xfe\x00garbage", "application/json")
        assert 400 <= status < 500
        status, _, _ = post(url, b"x" * 10, "application/json", headers={"Content-Length": str(2**40)})
        assert 400 <= status < 500
        with pytest.raises(NotFoundError):
            srv.swap("99")  # a version that cannot load: the one serving stays
        assert srv.version == "1" and srv.swaps == []
        assert srv.predict(X.head(2)) == aieng.load_model("churn/1", record_use=False).predict(X.head(2)).tolist()
        assert srv.state.failures >= 3
    log = load_log("churn")  # only the answered request was logged
    assert len(log) == 2 and set(log["model_version"]) == {"1"}


def test_ten_swaps_under_continuous_traffic_drop_nothing_and_never_answer_old():
    X = _models()
    body = json.dumps({"dataframe_split": json.loads(X.head(1).to_json(orient="split", index=False))}).encode()
    answers: list[tuple[float, float, int, str | None]] = []  # (sent, received, status, version)
    done = threading.Event()
    with serve("churn@champion", port=0, follow=0.05, log=False) as srv:
        reported: list[tuple[str, float]] = []
        moves: list[float] = []
        srv.on_swap = lambda before, after: reported.append((after, time.time()))

        def client():
            while not done.is_set():
                sent = time.time()
                try:
                    status, headers, _ = post(srv.url + "/invocations", body)
                    answers.append((sent, time.time(), status, headers.get("aieng-model-version")))
                except OSError:
                    answers.append((sent, time.time(), 0, None))

        thread = threading.Thread(target=client)
        thread.start()
        try:
            for i in range(10):
                moves.append(time.time())  # the alias moves after this: no swap can happen before
                if i % 2 == 0:
                    aieng.promote("churn", 2, force=True, reason="swap test")
                    want = "2"
                else:
                    aieng.rollback("churn", reason="swap test")
                    want = "1"
                wait_until(lambda want=want: reported and reported[-1][0] == want, timeout=60)
                n = len(answers)
                wait_until(lambda n=n: len(answers) > n + 3, timeout=60)  # traffic on the new version
        finally:
            done.set()
            thread.join(60)
    assert len(reported) == 10 and len(answers) > 50
    assert [a for a in answers if a[2] != 200] == []
    moves.append(float("inf"))
    for i, (version, at) in enumerate(reported):
        # sent after this swap was reported, answered before the alias moved again: the new version only
        window = [a for a in answers if a[0] > at and a[1] < moves[i + 1]]
        assert window and {a[3] for a in window} == {version}, i


def test_inference_log_shadow_labels_and_live_comparison(workspace):
    X = _models()
    rows = X.head(6)
    expected = aieng.load_model("churn/1", record_use=False).predict(rows).tolist()
    body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}).encode()
    with serve("churn@champion", port=0, shadow="challenger", flush_seconds=60) as srv:
        assert str(srv).startswith("serving churn@champion (v1, shadow churn@challenger v2)")
        status, headers, answer = post(srv.url + "/invocations", body, headers={"aieng-request-id": "req-1"})
        assert status == 200 and headers["aieng-request-id"] == "req-1"
        assert json.loads(answer)["predictions"] == expected
        post(srv.url + "/invocations", body, headers={"x-request-id": "req-2"})
    # stop flushed the queue: one snapshot version for the batch, read back by aieng.load
    assert srv.log.versions == [1] and srv.log.errors == [] and srv.shadow.errors == []
    logged = aieng.load("churn-inference@1")
    assert list(logged["request_id"]) == ["req-1"] * 6 + ["req-2"] * 6
    assert list(logged["row"][:6]) == list(range(6)) and list(logged["prediction"][:6]) == expected
    assert set(logged["model_version"]) == {"1"} and set(logged["shadow_version"]) == {"2"}
    assert list(logged["shadow_prediction"]) == [1] * 12  # the challenger always says 1
    assert (logged["latency_ms"] > 0).all() and logged["x1"].tolist()[:6] == pytest.approx(
        rows["x1"].tolist(), abs=1e-9
    )
    assert aieng.get_snapshot("churn-inference@1").pii  # scanned like any snapshot

    truth = [1, 0, 1, 1, 0, 1]
    assert post_labels("churn", {"req-1": truth}) == 6
    joined = load_log("churn", labeled=True)
    assert len(joined) == 6 and joined["label"].tolist() == truth
    live = compare("churn")
    agree = sum(p == 1 for p in expected) / 6
    assert (live.rows, live.shadow_rows, live.labeled_rows) == (12, 12, 6)
    assert live.agreement == pytest.approx(agree, abs=1e-6)
    assert live.champion_accuracy == pytest.approx(sum(p == t for p, t in zip(expected, truth, strict=True)) / 6)
    assert live.shadow_accuracy == pytest.approx(4 / 6)
    st = aieng.model_status("churn")
    assert st.live is not None and st.live["agreement"] == live.agreement and "live traffic" in str(st)

    # the gates judge the challenger on the traffic it shadowed
    gates = workspace.root.parent / "live.toml"
    gates.write_text("[live]\nmin_rows = 12\nmin_agreement = 0.99\naccuracy_margin = 0.0\nmin_labeled = 6\n")
    results = {r.gate: r for r in aieng.check_gates("churn", 2, gates=str(gates)).results}
    assert results["live:agreement"].challenger == pytest.approx(agree) and not results["live:agreement"].passed
    acc = results["live:accuracy"]
    assert acc.champion == pytest.approx(live.champion_accuracy) and acc.challenger == pytest.approx(4 / 6)
    assert acc.passed == (acc.delta >= 0)
    gates.write_text("[live]\nmin_rows = 13\nmin_agreement = 0.5\n")
    (only,) = [r for r in aieng.check_gates("churn", 2, gates=str(gates)).results if r.gate.startswith("live")]
    assert only.gate == "live" and not only.passed and "12 of 13 rows" in only.detail


def test_a_loop_tick_scores_the_served_traffic(tmp_path):
    from pathlib import Path

    from aieng_nb import loop

    nb = Path(__file__).resolve().parents[2] / "notebooks" / "loop"
    aieng.snapshot(batch(1500, concept=1, seed=1), name="churn-train")
    first = aieng.run_job(nb / "train.ipynb", {"data": "churn-train@1"})
    assert first.status == "COMPLETED", first.error_summary
    aieng.promote("churn", aieng.register_model(first.run_id, "churn").version)
    loop.add(
        "churn",
        score=str(nb / "score.ipynb"),
        retrain=str(nb / "train.ipynb"),
        cron="0 * * * *",
        score_params={"fresh_path": "inference"},
        target="label",
    )
    live = batch(40, concept=1, seed=9)
    with serve("churn@champion", port=0) as srv:
        for i in range(0, 40, 4):
            rows = live.iloc[i : i + 4][FEATURES]
            body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}).encode()
            assert post(srv.url + "/invocations", body, headers={"aieng-request-id": f"q{i}"})[0] == 200
    post_labels("churn", {f"q{i}": live["label"].iloc[i : i + 4].tolist() for i in range(0, 32, 4)})
    events = loop.run_now("churn")
    scored = events[0]
    assert scored.kind == "scored" and scored.data["snapshot"] == "churn-fresh@1", events
    fresh = aieng.load("churn-fresh@1")
    assert len(fresh) == 32 and fresh["label"].tolist() == live["label"].head(32).tolist()
