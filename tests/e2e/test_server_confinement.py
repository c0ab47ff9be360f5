"""Confinement over REST: a job's files are found from its id inside its folder, never from paths
in its record; a symlinked job folder is refused; a planted record cannot make the server re-run a
notebook outside the Jupyter root; bad job requests are 400s, not 500s."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("pytest_jupyter")

pytest_plugins = ["pytest_jupyter.jupyter_server"]
pytestmark = pytest.mark.slow


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"aieng_nb": True}}}


async def _code(jp_fetch, *path: str, **kwargs) -> tuple[int, str]:  # noqa: ANN001
    from tornado.httpclient import HTTPClientError

    try:
        response = await jp_fetch(*path, **kwargs)
    except HTTPClientError as err:
        body = err.response.body.decode() if err.response is not None else ""
        return err.code, body
    return response.code, response.body.decode()


def _planted(workspace, **fields) -> str:  # noqa: ANN001
    from aieng_nb.jobs import store
    from aieng_nb.jobs.records import JobRecord, JobStatus

    record = JobRecord.new(fields.pop("notebook", "/nowhere/x.ipynb"), {})
    record.status = JobStatus.COMPLETED
    for key, value in fields.items():
        setattr(record, key, value)
    store.create(record, workspace)
    return record.job_id


async def test_a_record_pointing_at_etc_passwd_is_not_served(jp_fetch, workspace) -> None:  # noqa: ANN001
    job_id = _planted(workspace, html_path="/etc/passwd", output_path="/etc/passwd", input_copy="/etc/passwd")
    code, body = await _code(jp_fetch, "aieng", "api", "jobs", job_id, "output.html")
    assert code == 404 and "root:" not in body
    from aieng_nb.jobs import store

    store.job_dir(job_id, workspace).mkdir()  # a record is a database row; its folder holds its files
    (store.job_dir(job_id, workspace) / "output.html").write_text("<p>the job's own page</p>")
    code, body = await _code(jp_fetch, "aieng", "api", "jobs", job_id, "output.html")
    assert code == 200 and "the job's own page" in body


async def test_parameters_of_a_planted_record_come_from_its_own_folder_only(jp_fetch, workspace, tmp_path) -> None:  # noqa: ANN001
    from sqlalchemy import update

    from aieng_nb.jobs import store
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.storage.tables import jobs

    secret = write_notebook(tmp_path / "x" / "secret.ipynb", ["print(1)"], "secret_token = 1")
    job_id = _planted(workspace, notebook=str(secret))
    planted = {**store.load(job_id, workspace).to_dict(), "input_copy": str(secret)}
    with workspace.database().begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(record=json.dumps(planted)))
    code, body = await _code(jp_fetch, "aieng", "api", "jobs", job_id, "parameters")
    assert code == 404 and "secret_token" not in body  # neither the stored input copy nor the notebook
    write_notebook(store.job_dir(job_id, workspace) / "input.ipynb", ["print(1)"], "own = 2")
    code, body = await _code(jp_fetch, "aieng", "api", "jobs", job_id, "parameters")
    assert code == 200 and [p["name"] for p in json.loads(body)["parameters"]] == ["own"]


async def test_a_symlinked_job_folder_is_refused(jp_fetch, workspace, tmp_path) -> None:  # noqa: ANN001
    from aieng_nb.jobs import store
    from aieng_nb.jobs.records import JobRecord

    outside = tmp_path / "outside" / "20260101-000000-abcdef"
    outside.mkdir(parents=True)
    record = JobRecord.new("/x.ipynb", {})
    record.job_id = outside.name
    (outside / "job.json").write_text(json.dumps(record.to_dict()))
    (outside / "output.html").write_text("SECRET")
    os.symlink(outside, store.jobs_dir(workspace) / outside.name)
    for path in (("output.html",), ()):
        code, body = await _code(jp_fetch, "aieng", "api", "jobs", outside.name, *path)
        assert code == 404 and "SECRET" not in body, (path, code, body)


async def test_rerun_of_a_planted_record_outside_the_root_runs_nothing(jp_fetch, workspace, tmp_path) -> None:  # noqa: ANN001
    from aieng_nb.jobs import store
    from aieng_nb.jobs.notebook import write_notebook

    evil = write_notebook(tmp_path / "elsewhere" / "evil.ipynb", ["open('/tmp/pwned', 'w')"])
    job_id = _planted(workspace, notebook=str(evil.resolve()))
    code, body = await _code(jp_fetch, "aieng", "api", "jobs", job_id, "rerun", method="POST", body="{}")
    assert code == 400 and "not inside the Jupyter root" in body
    assert [r.job_id for r in store.list_records(workspace=workspace)] == [job_id]  # no new job


async def test_bad_job_requests_are_400s(jp_fetch, workspace, jp_root_dir) -> None:  # noqa: ANN001
    from aieng_nb.jobs import store
    from aieng_nb.jobs.notebook import write_notebook

    write_notebook(jp_root_dir / "ok.ipynb", ["print(1)"])
    for body in ({"notebook": "a" * 6000 + ".ipynb"}, {"notebook": "ok.ipynb", "parameters": []}):
        code, text = await _code(jp_fetch, "aieng", "api", "jobs", method="POST", body=json.dumps(body))
        assert code == 400, (code, text[:300])
    assert store.list_records(workspace=workspace) == []


async def test_conflict_rules_are_409s_from_the_core(jp_fetch, workspace, tmp_path) -> None:  # noqa: ANN001
    from aieng_nb import schedules
    from aieng_nb.jobs.notebook import write_notebook

    job_id = _planted(workspace)
    code, body = await _code(jp_fetch, "aieng", "api", "jobs", job_id, "stop", method="POST", body="{}")
    assert code == 409 and "already ended" in body
    schedules.add("nightly", str(write_notebook(tmp_path / "s.ipynb", ["print(1)"])), "0 3 * * *")
    assert (await _code(jp_fetch, "aieng", "api", "schedules", "nightly", "pause", method="POST", body="{}"))[0] == 200
    code, body = await _code(jp_fetch, "aieng", "api", "schedules", "nightly", "pause", method="POST", body="{}")
    assert code == 409 and "already paused" in body


async def test_a_get_writes_nothing_and_the_changes_poll_recovers(jp_fetch, workspace) -> None:  # noqa: ANN001
    import subprocess
    import sys

    from aieng_nb import audit

    script = "import os, aieng_nb as a; r = a.start_run(experiment='x'); a.log(x=1); a.flush(); os.kill(os.getpid(), 9)"
    subprocess.run([sys.executable, "-c", script], check=False, timeout=120)  # a kernel killed mid-run
    before = [e.event for e in audit.entries(workspace=workspace)]
    code, body = await _code(jp_fetch, "aieng", "api", "runs")
    assert code == 200 and [r["status"] for r in json.loads(body)["items"]] == ["RUNNING"]
    assert [e.event for e in audit.entries(workspace=workspace)] == before  # the GET wrote nothing
    code, _ = await _code(jp_fetch, "aieng", "api", "changes", params={"timeout": "0"})
    assert code == 200
    code, body = await _code(jp_fetch, "aieng", "api", "runs")
    assert [r["status"] for r in json.loads(body)["items"]] == ["KILLED"]
