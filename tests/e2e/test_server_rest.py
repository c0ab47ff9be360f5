"""The panel's REST API against a real `jupyter server` with the aieng_nb server extension.

Run in its own pytest process (see the report/README): ``pytest tests/e2e/test_server_rest.py``.
"""

from __future__ import annotations

import json
import time

import jsonschema
import pytest

from aieng_nb.server.openapi import build_openapi
from aieng_nb.server.routes import PREFIX, ROUTES

from .conftest import JupyterApp, use_workspace

pytestmark = pytest.mark.slow

API = PREFIX


@pytest.fixture
def app(jupyter_server: JupyterApp, monkeypatch: pytest.MonkeyPatch) -> JupyterApp:
    use_workspace(jupyter_server, monkeypatch)
    return jupyter_server


def validate(body: object, schema_name: str) -> None:
    doc = build_openapi()
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}
    jsonschema.validate(body, schema)


def make_runs(n: int = 3, experiment: str = "rest") -> list[str]:
    import aieng_nb as aieng

    ids = []
    for i in range(n):
        with aieng.start_run(experiment=experiment, name=f"run-{i}", params={"lr": 0.1 * (i + 1), "depth": i}) as run:
            for step in range(5):
                aieng.log(loss=1.0 / (step + 1 + i), step=step)
        ids.append(run.id)
    return ids


def sample_url(route_path: str) -> str:
    return API + route_path.replace("{run_id}", "abc123").replace("{digest}", "abcdef").replace(
        "{job_id}", "j1"
    ).replace("{name}", "x").replace("{version}", "1")


def test_every_route_needs_the_token(app: JupyterApp) -> None:
    for route in ROUTES:
        for op in route.ops:
            status, headers, body = app.request(
                sample_url(route.path), op.method.upper(), b"{}" if op.method == "post" else None, token=None
            )
            assert status == 403, (route.path, op.method, status)
            status, _, _ = app.request(
                sample_url(route.path), op.method.upper(), b"{}" if op.method == "post" else None, token="wrong"
            )
            assert status == 403, (route.path, "wrong token")


def test_info_and_changes(app: JupyterApp) -> None:
    info = app.json(f"{API}/info")
    validate(info, "Info")
    assert info["workspace"] == str(app.workspace)
    first = app.json(f"{API}/changes?timeout=0")
    validate(first, "Changes")
    quiet = app.json(f"{API}/changes?timeout=0.5&since={first['token']}")
    assert quiet == {"token": first["token"], "changed": False}
    make_runs(1, "changes")
    t0 = time.monotonic()
    moved = app.json(f"{API}/changes?timeout=10&since={first['token']}")
    assert moved["changed"] is True and moved["token"] != first["token"]
    assert time.monotonic() - t0 < 5
    assert app.request(f"{API}/changes?timeout=99")[0] == 400
    assert app.request(f"{API}/changes?timeout=abc")[0] == 400


def test_runs_list_pages_and_filters(app: JupyterApp) -> None:
    ids = make_runs(4, "paging")
    make_runs(1, "other")
    page = app.json(f"{API}/runs?experiment=paging&limit=3")
    validate(page, "RunPage")
    assert page["total"] == 4 and len(page["items"]) == 3 and page["next_offset"] == 3
    rest = app.json(f"{API}/runs?experiment=paging&limit=3&offset=3")
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    seen = {r["run_id"] for r in page["items"] + rest["items"]}
    assert seen == set(ids)
    newest_first = [r["start_time"] for r in page["items"]]
    assert newest_first == sorted(newest_first, reverse=True)
    by_text = app.json(f"{API}/runs?q=run-2&experiment=paging")
    assert [r["name"] for r in by_text["items"]] == ["run-2"]
    by_param = app.json(f"{API}/runs?q=lr%3D0.3&experiment=paging")
    assert by_param["total"] == 1
    finished = app.json(f"{API}/runs?status=finished&experiment=paging")
    assert finished["total"] == 4
    assert app.json(f"{API}/runs?status=running&experiment=paging")["total"] == 0
    one = page["items"][0]
    assert one["params"] and one["metrics"]["loss"] > 0
    experiments = app.json(f"{API}/experiments")
    validate(experiments, "ExperimentPage")
    assert {"paging": 4}.items() <= {e["name"]: e["runs"] for e in experiments["items"]}.items()


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=abc", "offset=-1", "status=nope", "experiment=no-such-experiment"],
)
def test_runs_list_bad_input(app: JupyterApp, query: str) -> None:
    status, _, body = app.request(f"{API}/runs?{query}")
    assert status in (400, 404)
    assert json.loads(body)["message"]


def test_run_by_id_history_and_compare(app: JupyterApp) -> None:
    a, b = make_runs(2, "cmp")
    run = app.json(f"{API}/runs/{a}")
    validate(run, "Run")
    assert run["run_id"] == a
    assert app.json(f"{API}/runs/{a[:10]}")["run_id"] == a
    assert app.request(f"{API}/runs/{'0' * 32}")[0] == 404
    history = app.json(f"{API}/runs/{a}/metric-history?key=loss")
    validate(history, "MetricHistory")
    assert [p["step"] for p in history["points"]] == [0, 1, 2, 3, 4]
    assert app.request(f"{API}/runs/{a}/metric-history")[0] == 400
    many = app.json(f"{API}/metric-histories?run_ids={a},{b}&key=loss&max_points=3")
    validate(many, "MetricHistories")
    assert [len(h["points"]) for h in many["histories"]] == [3, 3]
    assert many["histories"][0]["points"][-1]["step"] == 4
    assert app.request(f"{API}/metric-histories?run_ids={a}&key=loss&max_points=1")[0] == 400
    comparison = app.json(f"{API}/compare?run_ids={a},{b}")
    validate(comparison, "Comparison")
    rows = {(r["section"], r["key"]): r for r in comparison["rows"]}
    assert rows[("param", "lr")]["differs"] is True
    assert app.request(f"{API}/compare?run_ids={a}")[0] == 400


TRAVERSALS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc",
    "%252e%252e%252fetc",
    "..%5C..%5Cwindows",
    "%2Fetc%2Fpasswd",
    "C:%5Cwindows",
    "abc%00def",
    "....%2F%2F....%2F%2Fetc",
    "..",
]


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_traversal_never_reaches_a_file(app: JupyterApp, bad: str) -> None:
    urls = [
        f"{API}/runs/{bad}",
        f"{API}/runs/{bad}/metric-history?key=loss",
        f"{API}/runs/abc123/reports/{bad}.html",
        f"{API}/snapshots/{bad}",
        f"{API}/snapshots/{bad}/profile.html",
        f"{API}/jobs/{bad}",
        f"{API}/jobs/{bad}/output.html",
        f"{API}/notebook-parameters?path={bad}",
        f"{API}/notebook-parameters?path={bad}%2Fx.ipynb",
        f"{API}/reports?run_id={bad}",
    ]
    for url in urls:
        status, headers, body = app.request(url)
        assert 400 <= status < 500, (url, status)
        assert b"root:" not in body
    for method_url in (f"{API}/jobs/{bad}/stop", f"{API}/schedules/{bad}/pause"):
        assert 400 <= app.request(method_url, "POST", b"{}")[0] < 500
    status, _, _ = app.request(f"{API}/jobs", "POST", {"notebook": bad.replace("%2F", "/") + "/x.ipynb"})
    assert 400 <= status < 500


@pytest.mark.parametrize(
    "notebook",
    [
        "../x.ipynb",
        "/etc/passwd",
        "a\\b.ipynb",
        "x.ipynb\x00",
        "%2e%2e/x.ipynb",
        "....//x.ipynb",
        "sub/../x.ipynb",
        "~/x.ipynb",
    ],
)
def test_submit_rejects_paths_outside_the_root(app: JupyterApp, notebook: str) -> None:
    (app.root.parent / "x.ipynb").write_text("{}")
    status, _, body = app.request(f"{API}/jobs", "POST", {"notebook": notebook})
    assert status in (400, 404), (notebook, status)
    assert json.loads(body)["message"]


def write_job_notebook(app: JupyterApp, name: str, body: str = "print(x * 2)") -> str:
    from aieng_nb.jobs.notebook import write_notebook

    write_notebook(app.root / name, [body], parameters="x = 1\nlabel = 'a'")
    return name


def wait_job(app: JupyterApp, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = app.json(f"{API}/jobs/{job_id}")
        if job["status"] in ("COMPLETED", "FAILED", "TIMED_OUT", "STOPPED"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end")


def test_jobs_submit_get_output_rerun_stop(app: JupyterApp) -> None:
    name = write_job_notebook(app, "double.ipynb")
    params = app.json(f"{API}/notebook-parameters?path={name}")
    validate(params, "NotebookParameters")
    assert [(p["name"], p["type"]) for p in params["parameters"]] == [("x", "int"), ("label", "str")]
    assert app.request(f"{API}/notebook-parameters?path=missing.ipynb")[0] == 404
    assert app.request(f"{API}/notebook-parameters?path=notes.txt")[0] == 400

    bad = app.request(f"{API}/jobs", "POST", {"notebook": name, "parameters": {"x": "not a number"}})
    assert bad[0] == 400 and "x" in json.loads(bad[2])["message"]
    assert app.request(f"{API}/jobs", "POST", {"notebook": name, "parameters": {"nope": 1}})[0] == 400
    assert app.request(f"{API}/jobs", "POST", {"notebook": name, "bogus": 1})[0] == 400
    assert app.request(f"{API}/jobs", "POST", b"not json")[0] == 400
    assert app.request(f"{API}/jobs", "POST", {"notebook": "missing.ipynb"})[0] == 404
    assert app.json(f"{API}/jobs")["total"] == 0  # nothing half-created by the bad requests

    job = app.json(f"{API}/jobs", "POST", {"notebook": name, "parameters": {"x": "21"}}, expect=201)
    validate(job, "Job")
    assert job["parameters"] == {"x": 21} and job["status"] in ("QUEUED", "RUNNING", "CREATED")
    done = wait_job(app, job["job_id"])
    assert done["status"] == "COMPLETED", done
    status, headers, html = app.request(f"{API}/jobs/{job['job_id']}/output.html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "sandbox" in headers["Content-Security-Policy"]
    assert b"42" in html
    assert app.request(f"{API}/jobs/{job['job_id']}/stop", "POST")[0] == 409
    listed = app.json(f"{API}/jobs?status=completed")
    validate(listed, "JobPage")
    assert job["job_id"] in [j["job_id"] for j in listed["items"]]
    assert app.request(f"{API}/jobs?status=bogus")[0] == 400

    again = app.json(f"{API}/jobs/{job['job_id']}/rerun", "POST", {"parameters": {"x": "5"}}, expect=201)
    assert again["job_id"] != job["job_id"] and again["parameters"] == {"x": 5}
    assert wait_job(app, again["job_id"])["status"] == "COMPLETED"
    assert app.request(f"{API}/jobs/{job['job_id']}/rerun", "POST", {"parameters": {"x": "nan-ish"}})[0] == 400
    assert app.request(f"{API}/jobs/20990101-000000-ffffff")[0] == 404

    slow = write_job_notebook(app, "slow.ipynb", "import time\ntime.sleep(120)")
    running = app.json(f"{API}/jobs", "POST", {"notebook": slow}, expect=201)
    deadline = time.monotonic() + 60
    while app.json(f"{API}/jobs/{running['job_id']}")["status"] != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.3)
    stopped = app.json(f"{API}/jobs/{running['job_id']}/stop", "POST")
    assert wait_job(app, stopped["job_id"], 60)["status"] == "STOPPED"


def test_schedules_pause_resume_conflict(app: JupyterApp) -> None:
    from aieng_nb import schedules

    name = write_job_notebook(app, "nightly.ipynb")
    schedules.add("nightly", str(app.root / name), "0 3 * * *")
    page = app.json(f"{API}/schedules")
    validate(page, "SchedulePage")
    (item,) = [s for s in page["items"] if s["name"] == "nightly"]
    assert item["next_run"] and item["paused"] is False
    paused = app.json(f"{API}/schedules/nightly/pause", "POST")
    assert paused["paused"] is True and paused["next_run"] is None
    assert app.request(f"{API}/schedules/nightly/pause", "POST")[0] == 409
    resumed = app.json(f"{API}/schedules/nightly/resume", "POST")
    assert resumed["paused"] is False and resumed["next_run"]
    assert app.request(f"{API}/schedules/nightly/resume", "POST")[0] == 409
    assert app.request(f"{API}/schedules/missing/pause", "POST")[0] == 404


def test_snapshots_and_profile_html(app: JupyterApp) -> None:
    import pandas as pd

    import aieng_nb as aieng

    record = aieng.snapshot(
        pd.DataFrame({"x": [1, 2, 3], "email": ["a@example.com", "b@example.com", "c@example.com"]}),
        name="train",
        pii="allow",
    )
    page = app.json(f"{API}/snapshots")
    validate(page, "SnapshotRowPage")
    row = next(r for r in page["items"] if r["name"] == "train")
    assert row["snapshot_id"] == record.snapshot_id and row["shape_text"] == "3 x 2"
    full = app.json(f"{API}/snapshots/{record.id}")
    validate(full, "Snapshot")
    assert app.json(f"{API}/snapshots/{record.id[:12]}")["snapshot_id"] == record.snapshot_id
    status, headers, html = app.request(f"{API}/snapshots/{record.id}/profile.html")
    assert status == 200 and "sandbox" in headers["Content-Security-Policy"]
    assert b"email" in html
    assert app.request(f"{API}/snapshots/{'f' * 64}")[0] == 404
    assert app.request(f"{API}/snapshots/XYZ")[0] == 400
    assert app.json(f"{API}/snapshots?q=nomatch")["total"] == 0


def test_reports_list_and_html(app: JupyterApp) -> None:
    import aieng_nb as aieng
    from aieng_nb.reports import Report, attach
    from aieng_nb.reports.checks import CheckResult

    with aieng.start_run(experiment="reports", name="with-report") as run:
        pass
    report = Report(
        "monitor",
        "Drift check",
        metrics={"drift_share": 0.5},
        checks=[CheckResult("drift_share > 0.3", "drift_share", 0.5, False, "too much drift")],
    )
    name = attach(report, run.id).rsplit("/", 1)[1]
    page = app.json(f"{API}/reports?run_id={run.id}")
    validate(page, "ReportPage")
    assert [(r["name"], r["passed"]) for r in page["items"]] == [(name, False)]
    assert app.json(f"{API}/reports?run_id={run.id}&kind=explain")["total"] == 0
    status, headers, html = app.request(f"{API}/runs/{run.id}/reports/{name}.html")
    assert status == 200 and headers["Content-Security-Policy"].startswith("sandbox")
    assert b"Drift check" in html
    assert app.request(f"{API}/runs/{run.id}/reports/nope.html")[0] == 404
    assert app.request(f"{API}/reports?run_id={'0' * 32}")[0] == 404


def test_audit_list_filter_verify(app: JupyterApp) -> None:
    make_runs(1, "audited")
    page = app.json(f"{API}/audit?event=run.&limit=5")
    validate(page, "AuditEntryPage")
    assert page["items"] and all(e["event"].startswith("run.") for e in page["items"])
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == sorted(seqs, reverse=True)
    ok = app.json(f"{API}/audit/verify", "POST")
    validate(ok, "Verify")
    assert ok["ok"] is True
    import sqlite3

    db = sqlite3.connect(app.workspace / "aieng.db")  # someone with write access to the database
    original = db.execute("SELECT entry FROM audit_entries WHERE pos = 1").fetchone()[0]
    entry = json.loads(original)
    entry["actor"] = "mallory"
    with db:
        db.execute("UPDATE audit_entries SET entry = ? WHERE pos = 1", (json.dumps(entry, sort_keys=True),))
    try:
        bad = app.json(f"{API}/audit/verify", "POST")
        assert bad["ok"] is False and bad["bad_seq"] == 1
    finally:
        with db:
            db.execute("UPDATE audit_entries SET entry = ? WHERE pos = 1", (original,))
        db.close()


def test_errors_are_json_with_a_message(app: JupyterApp) -> None:
    status, headers, body = app.request(f"{API}/runs/zz")
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    error = json.loads(body)
    validate(error, "Error")
    assert "run id" in error["message"]


def test_models_status_gates_rollback_validate_their_schemas(app: JupyterApp) -> None:
    from registry_helpers import gated_versions

    import aieng_nb as aieng

    gated_versions("rest-model")
    page = app.json(f"{API}/models?q=rest-model")
    validate(page, "ModelSummaryPage")
    assert [(m["name"], m["champion"], m["challenger"]) for m in page["items"]] == [("rest-model", "2", "3")]
    status = app.json(f"{API}/models/rest-model")
    validate(status, "ModelStatus")
    assert status == json.loads(json.dumps(aieng.model_status("rest-model").to_dict()))  # the core record, as is
    gates = app.json(f"{API}/models/rest-model/versions/2/gates")
    validate(gates, "GateReport")
    assert gates["passed"] is True and gates["champion_version"] == "1"
    code, _, raw = app.request(f"{API}/models/rest-model/rollback", "POST", b"{oops")
    assert code == 400 and "not valid JSON" in json.loads(raw)["message"]
    validate(json.loads(raw), "Error")
    moved = app.json(f"{API}/models/rest-model/rollback", "POST", {"expected": 2, "reason": "rest test"})
    validate(moved, "AliasMove")
    assert (moved["version"], moved["previous"], moved["reason"]) == ("1", "2", "rest test")
    assert aieng.model_status("rest-model").champion == "1"
    code, _, raw = app.request(f"{API}/models/rest-model/rollback", "POST", {})
    assert code == 409 and "no previous champion" in json.loads(raw)["message"]
