"""The panel's REST API over runs on a real ``mlflow server`` on 127.0.0.1: pages on the server
(past the newest 1,000 runs), every experiment (one with only old runs, one with none), text filters,
run-id prefixes, and ``/changes`` answering when a teammate's process starts or logs to a run."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests import mlflow_server

from .conftest import start_jupyter, stop_jupyter

pytestmark = pytest.mark.slow

BULK = 1_100  # more than MLflow's 1,000-run page
OLD = 3


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A server with 1,100 recent runs in ``bulk``, 3 runs of 2020 in ``old-only``, an ``empty``
    experiment; a Jupyter server whose aieng_nb reads that server."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("panel-server")
    proc, url = mlflow_server.start(root / "mlflow")
    app = None
    try:
        client = MlflowClient(url)
        db = f"sqlite:///{root / 'mlflow' / 'server.db'}"
        old = client.create_experiment("old-only")
        bulk = client.create_experiment("bulk")
        client.create_experiment("empty")
        old_ids = mlflow_server.fill_runs(db, old, OLD, start_ms=1_577_836_800_000, prefix="ancient")
        bulk_ids = mlflow_server.fill_runs(db, bulk, BULK, start_ms=int(time.time() * 1000), prefix="bulk")
        app = start_jupyter(root / "jupyter", "server", args=(f"--AiengServer.tracking_uri={url}",))
        yield app, url, client, {"old": old_ids, "bulk": bulk_ids}
    finally:
        if app is not None:
            stop_jupyter(app)
        mlflow_server.stop(proc)


def _runs(app, **query) -> dict:
    from urllib.parse import urlencode

    return app.json("/aieng/api/runs?" + urlencode(query))


def test_runs_page_on_the_server_past_the_newest_thousand(team) -> None:
    app, _, client, ids = team
    newest = [
        r.info.run_id
        for r in client.search_runs(client_ids(client), order_by=["attributes.start_time DESC"], max_results=60)
    ]
    first = _runs(app, limit=50)
    assert [r["run_id"] for r in first["items"]] == newest[:50]
    assert first["total"] == 51 and first["total_exact"] is False and first["next_offset"] == 50  # "more"
    deep = _runs(app, offset=1000, limit=50)  # was empty: the store fetched 1,000 runs and sliced
    assert [r["run_id"] for r in deep["items"]] == list(reversed(ids["bulk"]))[1000:1050]
    last = _runs(app, offset=1050, limit=100)
    assert len(last["items"]) == BULK + OLD - 1050
    assert last["total"] == BULK + OLD and last["total_exact"] is True and last["next_offset"] is None
    assert [r["name"] for r in last["items"][-OLD:]] == [f"ancient-{i}" for i in reversed(range(OLD))]
    assert last["items"][-1]["experiment"] == "old-only" and last["items"][-1]["params"] == {"i": "ancient-0"}
    past = _runs(app, offset=5000, limit=10)
    assert past["items"] == [] and past["total_exact"] is False


def client_ids(client) -> list[str]:
    return [e.experiment_id for e in client.search_experiments()]


def test_every_experiment_is_listed_even_one_with_only_old_runs(team) -> None:
    app, *_ = team
    page = app.json("/aieng/api/experiments")
    assert [e["name"] for e in page["items"]] == ["Default", "bulk", "empty", "old-only"]
    assert {e["runs"] for e in page["items"]} == {None}  # an MLflow server cannot count them
    only_old = _runs(app, experiment="old-only")
    assert [r["name"] for r in only_old["items"]] == ["ancient-2", "ancient-1", "ancient-0"]
    assert only_old["total"] == OLD and only_old["total_exact"] is True
    assert app.request("/aieng/api/runs?experiment=missing")[0] == 404


def test_text_filters_run_on_the_server(team) -> None:
    app, _, _, ids = team
    assert [r["name"] for r in _runs(app, q="old")["items"]] == ["ancient-2", "ancient-1", "ancient-0"]  # experiment
    assert [r["name"] for r in _runs(app, q="BULK-1099")["items"]] == ["bulk-1099"]  # run name, any case
    by_param = _runs(app, q="i=bulk-105", limit=5)
    assert [r["name"] for r in by_param["items"]] == [f"bulk-{i}" for i in range(1059, 1054, -1)]
    assert by_param["total_exact"] is False
    assert [r["run_id"] for r in _runs(app, q=ids["old"][1][:12])["items"]] == [ids["old"][1]]  # id prefix
    assert [r["name"] for r in _runs(app, q="it's_100%")["items"]] == []  # not a server filter: in Python
    # the 12-character prefix the CLI prints opens the run
    assert app.json(f"/aieng/api/runs/{ids['old'][0][:12]}")["run_id"] == ids["old"][0]
    assert app.request("/aieng/api/runs/0123456789ab")[0] == 404


_TEAMMATE = """
import sys, time
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
exp = client.get_experiment_by_name("bulk").experiment_id
run = client.create_run(exp, run_name="teammate-live")
print(run.info.run_id, flush=True)
sys.stdin.readline()
client.log_metric(run.info.run_id, "acc", 0.75, step=1)
print("logged", flush=True)
sys.stdin.readline()
"""


def test_changes_reports_a_teammates_running_run_within_5_seconds(team) -> None:
    app, url, *_ = team
    since = app.json("/aieng/api/changes?timeout=0")["token"]
    assert app.json(f"/aieng/api/changes?since={since}&timeout=1")["changed"] is False  # nothing moved
    mate = subprocess.Popen(
        [sys.executable, "-c", _TEAMMATE, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        run_id = mate.stdout.readline().strip()
        answer = app.json(f"/aieng/api/changes?since={since}&timeout=5")
        assert answer["changed"] is True
        top = _runs(app, limit=1)["items"][0]
        assert (top["run_id"], top["status"], top["name"]) == (run_id, "RUNNING", "teammate-live")
        mate.stdin.write("\n")
        mate.stdin.flush()
        assert mate.stdout.readline().strip() == "logged"
        answer = app.json(f"/aieng/api/changes?since={answer['token']}&timeout=5")  # its metrics moved
        assert answer["changed"] is True
        assert _runs(app, limit=1)["items"][0]["metrics"] == {"acc": 0.75}
    finally:
        mate.stdin.close()
        mate.wait(timeout=30)
