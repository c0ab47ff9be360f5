"""The server extension is an ``ExtensionApp`` that builds its workspace once, from its own traits
(``AiengServer.workspace`` / ``database_url`` / ``tracking_uri``), and every handler serves that one:
not the process's current workspace. Its GETs create nothing.

pytest-jupyter's in-process server (``jp_fetch``) and a real ``jupyter server`` given the traits
on its command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pytest_jupyter")

pytest_plugins = ["pytest_jupyter.jupyter_server"]
pytestmark = pytest.mark.slow

LISTINGS = ("runs", "experiments", "jobs", "snapshots", "schedules", "reports", "audit", "models", "pipelines")


@pytest.fixture
def served(tmp_path: Path) -> dict[str, str]:
    other = tmp_path / "elsewhere"
    return {
        "workspace": str(other / ".aieng"),
        "tracking_uri": f"sqlite:///{other / 'tracking.db'}",
        "database_url": f"sqlite:///{other / 'meta.db'}",
    }


@pytest.fixture
def jp_server_config(served: dict[str, str]):
    return {
        "ServerApp": {"jpserver_extensions": {"aieng_nb": True}},
        "AiengServer": {"scheduler": False, **served},
    }


async def _get(jp_fetch, *path: str, **params: str) -> dict:  # noqa: ANN001
    return json.loads((await jp_fetch("aieng", "api", *path, params=params)).body)


async def test_handlers_serve_the_apps_workspace_not_the_current_one(
    jp_fetch,  # noqa: ANN001
    jp_serverapp,  # noqa: ANN001
    workspace,  # noqa: ANN001
    served: dict[str, str],
) -> None:
    import aieng_nb as aieng
    from aieng_nb.server.extension import SETTINGS_KEY
    from aieng_nb.workspace import Workspace

    ws = jp_serverapp.web_app.settings[SETTINGS_KEY]
    assert (str(ws.root), ws.tracking_uri, ws.database_url) == (
        served["workspace"],
        served["tracking_uri"],
        served["database_url"],
    )
    info = await _get(jp_fetch, "info")
    assert (info["workspace"], info["tracking_uri"], info["local"]) == (
        served["workspace"],
        served["tracking_uri"],
        False,
    )

    # nothing there yet: every listing answers empty and creates nothing (a GET never writes)
    for name in LISTINGS:
        page = await _get(jp_fetch, name)
        assert page["total"] == 0, (name, page)
        assert not Path(served["workspace"]).exists(), name
        assert not Path(served["tracking_uri"][len("sqlite:///") :]).exists(), name

    # a run in the current workspace (the test's) is not served; one in the app's workspace is
    with aieng.start_run(experiment="here", name="current"):
        aieng.log(loss=1.0, step=0)
    there = Workspace(Path(served["workspace"]), configured_tracking_uri=served["tracking_uri"]).ensure()
    with aieng.start_run(experiment="there", name="served", workspace=there) as run:
        aieng.log(loss=0.5, step=0)
    runs = await _get(jp_fetch, "runs")
    assert [(r["run_id"], r["experiment"]) for r in runs["items"]] == [(run.id, "there")]
    assert [e["name"] for e in (await _get(jp_fetch, "experiments"))["items"]] == ["Default", "there"]
    assert (await _get(jp_fetch, "runs", run.id[:8]))["name"] == "served"
    history = await _get(jp_fetch, "runs", run.id, "metric-history", key="loss")
    assert [p["value"] for p in history["points"]] == [0.5]
    assert Path(served["tracking_uri"][len("sqlite:///") :]).is_file()  # the trait's store, not .aieng/mlflow.db
    assert not there.mlflow_db.exists()
    assert [r.name for r in aieng.list_runs()] == ["current"]  # the test's own workspace kept its run

    # the changes poll runs recovery on the app's workspace
    changes = await _get(jp_fetch, "changes", timeout="0")
    assert changes["changed"] is False and changes["token"]


def test_a_real_server_takes_the_workspace_from_its_command_line(tmp_path: Path) -> None:
    from .conftest import start_jupyter, stop_jupyter

    chosen = tmp_path / "chosen" / ".aieng"
    app = start_jupyter(
        tmp_path / "srv", "server", args=(f"--AiengServer.workspace={chosen}", "--AiengServer.scheduler=False")
    )
    try:
        info = app.json("/aieng/api/info")
        assert info["workspace"] == str(chosen) and info["tracking_uri"] == f"sqlite:///{chosen / 'mlflow.db'}"
        assert app.json("/aieng/api/runs")["total"] == 0
        assert not chosen.exists() and not app.workspace.exists()  # neither the chosen one nor $AIENG_WORKSPACE
    finally:
        stop_jupyter(app)


async def test_submit_refuses_bad_bodies_with_400_and_creates_nothing(
    jp_fetch,  # noqa: ANN001
    jp_root_dir,  # noqa: ANN001
    served: dict[str, str],
) -> None:
    from tornado.httpclient import HTTPClientError

    from aieng_nb.jobs.notebook import write_notebook

    write_notebook(Path(jp_root_dir) / "nb.ipynb", ["print(x)"], parameters="x = 1")
    for body, words in (
        ({"notebook": "a" * 6000 + ".ipynb"}, "too long"),
        ({"notebook": "a/" * 3000 + "nb.ipynb"}, "too long"),
        ({"notebook": "nb.ipynb", "parameters": []}, "parameters must be a JSON object"),
        ({"notebook": "nb.ipynb", "parameters": "x=2"}, "parameters must be a JSON object"),
        ({"notebook": "nb.ipynb", "retries": True}, "wrong type"),
        ({"notebook": 5}, "notebook must be a path"),
    ):
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("aieng", "api", "jobs", method="POST", body=json.dumps(body))
        message = json.loads(err.value.response.body)["message"]
        assert (err.value.code, words in message, "\n" in message) == (400, True, False), (body, message)
    assert (await _get(jp_fetch, "jobs"))["total"] == 0
    assert not Path(served["workspace"]).exists()


async def test_a_job_submitted_through_the_app_lives_in_its_workspace(
    jp_fetch,  # noqa: ANN001
    jp_root_dir,  # noqa: ANN001
    served: dict[str, str],
) -> None:
    import asyncio

    import aieng_nb as aieng
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.workspace import Workspace

    write_notebook(Path(jp_root_dir) / "nb.ipynb", ["print(x * 2)"], parameters="x = 1")
    response = await jp_fetch(
        "aieng", "api", "jobs", method="POST", body=json.dumps({"notebook": "nb.ipynb", "parameters": {"x": 21}})
    )
    assert response.code == 201
    job_id = json.loads(response.body)["job_id"]
    for _ in range(600):
        job = await _get(jp_fetch, "jobs", job_id)
        if job["status"] in ("COMPLETED", "FAILED", "TIMED_OUT", "STOPPED"):
            break
        await asyncio.sleep(0.5)
    assert job["status"] == "COMPLETED", job
    there = Workspace(
        Path(served["workspace"]),
        configured_tracking_uri=served["tracking_uri"],
        configured_database_url=served["database_url"],
    )
    assert aieng.get_job(job_id, workspace=there).status == "COMPLETED"
    run = aieng.get_run(job["run_id"], workspace=there)  # in the app's tracking store
    assert run.params["x"] == "21" and not there.mlflow_db.exists()
    assert [j.job_id for j in aieng.list_jobs()] == []  # nothing in the test's current workspace
    assert "42" in (await jp_fetch("aieng", "api", "jobs", job_id, "output.html")).body.decode()
