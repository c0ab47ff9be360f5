"""REST endpoints of the run view, a report's Evidently page, job parameters and schedule actions,
against a real ``jupyter server`` with the extension (run with the other REST tests)."""

from __future__ import annotations

import pytest

from .conftest import JupyterApp, use_workspace
from .test_server_rest import API, validate, wait_job, write_job_notebook

pytestmark = pytest.mark.slow


@pytest.fixture
def app(jupyter_server: JupyterApp, monkeypatch: pytest.MonkeyPatch) -> JupyterApp:
    use_workspace(jupyter_server, monkeypatch)
    return jupyter_server


def test_run_overview_artifacts_snapshots_reports_models_and_mlflow_link(
    app: JupyterApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd
    from registry_helpers import gated_versions

    import aieng_nb as aieng
    from aieng_nb.reports import Report, attach

    runs = gated_versions("churn-view")  # v1, v2 and v3 registered from three runs
    with aieng.start_run(experiment="view", name="viewed") as run:
        aieng.snapshot(pd.DataFrame({"x": [1, 2, 3]}), name="view-train")
        aieng.log_params({"lr": 0.1})
        for step in range(3):
            aieng.log(loss=1.0 / (step + 1), step=step)
        aieng.log_text("hello artifact", "notes/readme.txt")
    report = Report("monitor", "View drift")  # no checks
    report.attachments["evidently.html"] = "<html><body>EVIDENTLY PAGE</body></html>"
    name = attach(report, run.id).rsplit("/", 1)[1]

    ov = app.json(f"{API}/runs/{run.id[:10]}/overview")
    validate(ov, "RunOverview")
    assert ov["run"]["run_id"] == run.id and ov["run"]["params"] == {"lr": "0.1"}
    assert "notes/readme.txt" in ov["artifacts"]
    assert [s["ref"] for s in ov["snapshots"]] == ["view-train@1"]
    assert [(r["name"], r["checks"]) for r in ov["reports"]] == [(name, 0)]
    assert ov["model_versions"] == [] and ov["mlflow_url"] is None
    history = app.json(f"{API}/runs/{run.id}/metric-history?key=loss")
    assert all(isinstance(p["timestamp"], int) and p["timestamp"] > 1e12 for p in history["points"])

    v2 = app.json(f"{API}/runs/{runs['v2']}/overview")
    assert [(v["name"], v["version"], v["aliases"]) for v in v2["model_versions"]] == [
        ("churn-view", "2", ["champion"])
    ]

    status, headers, page = app.request(f"{API}/runs/{run.id}/artifact.html?path=notes/readme.txt")
    assert status == 200 and headers["Content-Security-Policy"].startswith("sandbox")
    assert b"hello artifact" in page
    for bad in ("../../etc/passwd", "/etc/passwd", "notes/../../x"):
        assert app.request(f"{API}/runs/{run.id}/artifact.html?path={bad}")[0] == 400
    assert app.request(f"{API}/runs/{run.id}/artifact.html?path=nope.txt")[0] == 404
    assert app.request(f"{API}/runs/{run.id}/artifact.html")[0] == 400

    status, headers, page = app.request(f"{API}/runs/{run.id}/reports/{name}/evidently.html")
    assert status == 200 and headers["Content-Security-Policy"].startswith("sandbox") and b"EVIDENTLY PAGE" in page
    plain = attach(Report("explain", "No evidently"), run.id).rsplit("/", 1)[1]
    status, _, body = app.request(f"{API}/runs/{run.id}/reports/{plain}/evidently.html")
    assert status == 404 and b"no evidently.html" in body


def test_mlflow_link_when_configured(app: JupyterApp) -> None:
    import subprocess
    import sys

    # the server's setting: its own process reads AIENG_MLFLOW_UI_URL; here the core function directly
    code = (
        "import aieng_nb as aieng\n"
        "from aieng_nb.tracking.overview import run_overview\n"
        "with aieng.start_run(experiment='link', name='l') as r: pass\n"
        "print(run_overview(r.id).mlflow_url, r.id)\n"
    )
    env = {**app.env, "AIENG_MLFLOW_UI_URL": "http://127.0.0.1:5000/"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    url, run_id = out.split()
    assert url.startswith("http://127.0.0.1:5000/#/experiments/") and url.endswith(f"/runs/{run_id}")


def test_job_parameters_and_schedule_run_now_and_remove(app: JupyterApp) -> None:
    from aieng_nb import audit, schedules

    name = write_job_notebook(app, "params-view.ipynb")
    job = app.json(f"{API}/jobs", "POST", {"notebook": name, "parameters": {"x": 5}}, expect=201)
    declared = app.json(f"{API}/jobs/{job['job_id']}/parameters")
    validate(declared, "NotebookParameters")
    assert [(p["name"], p["type"], p["default"]) for p in declared["parameters"]] == [
        ("x", "int", 1),
        ("label", "str", "a"),
    ]
    assert app.request(f"{API}/jobs/nope-job/parameters")[0] == 404
    wait_job(app, job["job_id"])

    schedules.add("manual", str(app.root / name), "0 3 * * *", parameters={"x": 4})
    started = app.json(f"{API}/schedules/manual/run", "POST", expect=201)
    validate(started, "Job")
    assert started["schedule"] == "manual" and started["parameters"] == {"x": 4}
    assert wait_job(app, started["job_id"])["status"] == "COMPLETED"
    assert any(e.event == "schedule.run_now" and e.data["job_id"] == started["job_id"] for e in audit.entries())
    assert app.request(f"{API}/schedules/missing/run", "POST")[0] == 404

    removed = app.json(f"{API}/schedules/manual", "DELETE")
    validate(removed, "Schedule")
    assert removed["name"] == "manual" and [s.name for s in schedules.list_schedules()] == []
    assert app.request(f"{API}/schedules/manual", "DELETE")[0] == 404
