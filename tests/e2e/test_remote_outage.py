"""A tracking server that dies under a logging loop: the loop never waits, memory stays bounded, and a
run that ended meanwhile is finished with its true end time once the server is back, by this process
or by the next one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import aieng_nb as aieng
from aieng_nb.tracking import lifecycle
from tests.e2e.test_remote_mlflow import _free_port, _start_server, _stop
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    root, port = tmp_path / "server", _free_port()
    root.mkdir()
    state = {"root": root, "port": port}
    state["proc"], state["url"] = _start_server(root, port)
    yield state
    _stop(state["proc"])


def _fast_failing_client(monkeypatch):
    # MLflow's own calls (not the metrics writer's) fail fast too, so the test does not wait out its backoff
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def test_a_run_ended_while_the_server_is_down_is_finished_with_its_end_time_when_it_is_back(
    server, monkeypatch, workspace
):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("AIENG_TRACKING_URI", server["url"])
    monkeypatch.setenv("AIENG_END_TIMEOUT", "2")
    run = aieng.start_run(experiment="outage-end", name="ends-down")
    for thread in run.background:
        thread.join(timeout=120)
    for step in range(100):
        aieng.log(x=float(step), step=step)
    aieng.flush()
    _fast_failing_client(monkeypatch)
    _stop(server["proc"])
    with pytest.warns(RuntimeWarning) as caught:
        for step in range(100, 3000):
            aieng.log(x=float(step), step=step)
        before = time.time() * 1000
        assert aieng.end_run() is None  # waited end_timeout, then handed the end to the writer
        after = time.time() * 1000
    text = " ".join(str(w.message) for w in caught)
    assert "cannot be stored" in text and "stays RUNNING" in text
    assert aieng.active_run() is None
    time.sleep(1)  # the server stays down a while after the end
    server["proc"], url = _start_server(server["root"], server["port"])
    client = MlflowClient(url)

    def finished() -> bool:
        try:
            return client.get_run(run.id).info.status == "FINISHED"
        except Exception:  # the server just restarted and is busy
            return False

    wait_until(finished, timeout=120, interval=0.5, message="the deferred end")
    info = client.get_run(run.id).info
    assert int(before) <= info.end_time <= after  # its true end time, not when the server came back
    assert sorted(m.step for m in client.get_metric_history(run.id, "x")) == list(range(3000))
    assert not (workspace.buffers / f"{run.id}.lease").exists()


_ENDS_AND_EXITS = r"""
import sys, time
import aieng_nb as aieng
run = aieng.start_run(experiment="outage-exit", name="exits")
for thread in run.background:
    thread.join(timeout=120)
for step in range(1000):
    aieng.log(x=float(step), step=step)
aieng.flush()
print(run.id, flush=True)
sys.stdin.readline()  # the test stops the server
for step in range(1000, 2000):
    aieng.log(x=float(step), step=step)
before = time.time() * 1000
aieng.end_run()
print(before, time.time() * 1000, flush=True)
"""


def test_a_run_ended_while_the_server_is_down_is_finished_by_the_next_process(server, workspace):
    from mlflow.tracking import MlflowClient

    env = dict(
        os.environ,
        AIENG_WORKSPACE=str(workspace.root),
        AIENG_TRACKING_URI=server["url"],
        AIENG_END_TIMEOUT="1",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="10",
    )
    child = subprocess.Popen(
        [sys.executable, "-c", _ENDS_AND_EXITS], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    run_id = child.stdout.readline().strip()  # type: ignore[union-attr]
    _stop(server["proc"])
    child.stdin.write("go\n")  # type: ignore[union-attr]
    child.stdin.flush()  # type: ignore[union-attr]
    before, after = (float(x) for x in child.stdout.readline().split())  # type: ignore[union-attr]
    assert child.wait(timeout=120) == 0
    server["proc"], url = _start_server(server["root"], server["port"])
    os.environ["AIENG_TRACKING_URI"] = url
    try:
        done = lifecycle.recover(workspace=workspace)
    finally:
        del os.environ["AIENG_TRACKING_URI"]
    assert [(d.run_id, d.status) for d in done] == [(run_id, "FINISHED")]
    client = MlflowClient(url)
    info = client.get_run(run_id).info
    assert info.status == "FINISHED" and int(before) <= info.end_time <= after
    assert sorted(m.step for m in client.get_metric_history(run_id, "x")) == list(range(2000))


_BURST = r"""
import os, sys
import aieng_nb as aieng
def rss_mb():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
run = aieng.start_run(experiment="outage-burst", name="burst")
for thread in run.background:
    thread.join(timeout=120)
aieng.log(x=0.0, step=0)
aieng.flush()
print(run.id, flush=True)
sys.stdin.readline()  # the test stops the server
before, _ = rss_mb()
log = aieng.log
for step in range(1, 5_000_001):
    log(x=float(step), y=1.0, step=step)  # 10M points
after, peak = rss_mb()
print(before, after, peak, flush=True)
os._exit(0)
"""


def test_ten_million_points_against_a_dead_server_stay_within_the_memory_bound(server, workspace):
    env = dict(
        os.environ,
        AIENG_WORKSPACE=str(workspace.root),
        AIENG_TRACKING_URI=server["url"],
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
    )
    child = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", _BURST],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout.readline().strip()  # type: ignore[union-attr]
    _stop(server["proc"])
    child.stdin.write("go\n")  # type: ignore[union-attr]
    child.stdin.flush()  # type: ignore[union-attr]
    before, after, peak = (float(x) for x in child.stdout.readline().split())  # type: ignore[union-attr]
    child.wait(timeout=60)
    assert after - before < 200 and peak - before < 200, (before, after, peak)
    print(f"RSS before {before:.0f} MB, after 10M points {after:.0f} MB, peak {peak:.0f} MB")
