"""The jobs service layer: JobRequest validated once, records by the convention, the CLI's --json is
the records' to_dict(), the executor registry, and the old spellings."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import aieng_nb as aieng
from aieng_nb import schedules
from aieng_nb.exceptions import ValidationError
from aieng_nb.jobs import JobRequest, store
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobError, JobRecord, JobStatus, outcome_code, run_status


def _cli_json(capsys, *argv: str):
    from aieng_nb.cli import main

    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _jobs(workspace):
    done = JobRecord.new("/nb/a.ipynb", {"lr": 0.1}, status="COMPLETED", duration_s=1.5, attempts=1)
    done.finished_at = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)
    failed = JobRecord.new("/nb/b.ipynb", status=JobStatus.FAILED)
    failed.error = JobError("cell_error", "boom", cell_index=1, ename="ValueError", evalue="bad").to_dict()
    return [store.create(r, workspace) for r in (done, failed)]


def test_job_status_is_a_str_enum_of_the_jobs_words_not_mlflows():
    assert issubclass(JobStatus, str) and JobStatus.COMPLETED == "COMPLETED"
    assert set(JobStatus.TERMINAL) == {"COMPLETED", "FAILED", "TIMED_OUT", "STOPPED"}
    assert "FINISHED" not in JobStatus.ALL
    assert JobStatus.parse("failed") is JobStatus.FAILED
    with pytest.raises(ValidationError, match="unknown status 'done'; valid: CREATED"):
        JobStatus.parse("done")
    assert [run_status(s) for s in ("COMPLETED", "FAILED", "TIMED_OUT", "STOPPED")] == [
        "FINISHED",
        "FAILED",
        "FAILED",
        "KILLED",
    ]
    assert "job's" in (JobStatus.__doc__ or "").lower() and "FINISHED" in (JobStatus.__doc__ or "")


def test_job_record_times_are_aware_datetimes_in_python_and_iso_z_in_json(workspace):
    (rec, _) = _jobs(workspace)
    loaded = aieng.get_job(rec.job_id)
    assert isinstance(loaded.created_at, dt.datetime) and loaded.created_at.tzinfo is not None
    assert loaded.finished_at == dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)
    data = loaded.to_dict()
    assert data["finished_at"] == "2026-12-01T10:00:00Z" and data["created_at"].endswith("Z")
    assert data["status"] == "COMPLETED" and type(data["status"]) is str
    json.dumps(data)  # JSON-safe as it is


@pytest.mark.parametrize(
    "record",
    [
        JobRecord.new("nb.ipynb", {"x": [1, {"y": None}]}, status="RUNNING", queued_at=0.0, cells_total=3),
        JobError("cell_timeout", "too slow", cell_index=4, execution_count=7),
        JobRequest("nb.ipynb", {"lr": 0.1}, timeout=60, retries=2, tags={"a": "b"}, monitor={"reference": "r"}),
        schedules.Schedule("n", "/x.ipynb", "0 3 * * *", last_slot="2026-01-01T03:00:00+00:00", fired=1),
        schedules.Decision("skip", "2026-01-01T03:00:00Z"),
    ],
    ids=lambda r: type(r).__name__,
)
def test_every_record_round_trips_through_to_dict_and_from_dict(record):
    data = json.loads(json.dumps(record.to_dict()))
    again = type(record).from_dict(data)
    assert again == record and again.to_dict() == record.to_dict()


def test_a_job_file_written_before_the_convention_still_loads(workspace):
    old = {
        "job_id": "20261101-101010-abcdef",
        "notebook": "/nb/old.ipynb",
        "status": "COMPLETED",
        "created_at": "2026-11-01T10:10:10.123+00:00",
        "started_at": "2026-11-01T10:10:11.000+00:00",
        "finished_at": "2026-11-01T10:10:20.500+00:00",
        "error": None,
        "a_field_from_a_newer_version": 1,
    }
    folder = store.job_dir(old["job_id"], workspace)
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps(old))
    rec = aieng.get_job("20261101-101010")
    assert rec.status is JobStatus.COMPLETED
    assert (rec.finished_at - rec.started_at).total_seconds() == pytest.approx(9.5)
    assert rec.to_dict()["created_at"] == "2026-11-01T10:10:10.123000Z"
    assert [r.job_id for r in aieng.list_jobs(status="completed")] == [old["job_id"]]


def test_job_list_and_show_json_are_exactly_the_records_to_dict(workspace, capsys):
    jobs = _jobs(workspace)
    listed = _cli_json(capsys, "job", "list")
    assert listed == aieng.list_jobs().to_dicts() == [r.to_dict() for r in aieng.list_jobs()]
    assert {r["job_id"] for r in listed} == {r.job_id for r in jobs}
    assert _cli_json(capsys, "job", "list", "--status", "failed") == aieng.list_jobs(status="FAILED").to_dicts()
    shown = _cli_json(capsys, "job", "show", jobs[1].job_id)
    assert shown == aieng.get_job(jobs[1].job_id).to_dict() and shown["error"]["ename"] == "ValueError"


def test_schedule_list_json_is_the_listings_to_dicts_with_next_run(workspace, tmp_path, capsys):
    nb = write_notebook(tmp_path / "n.ipynb", ["print(lr)"], parameters="lr = 0.1")
    schedules.add("nightly", str(nb), "0 3 * * *", timezone="Europe/Paris", parameters={"lr": 0.5}, retries=2)
    listed = _cli_json(capsys, "schedule", "list")
    core = aieng.list_schedules()
    assert listed == core.to_dicts() == [s.to_dict() for s in core]
    (row,) = listed
    assert row["options"] == {"retries": 2} and row["parameters"] == {"lr": 0.5}
    nxt = dt.datetime.fromisoformat(row["next_run"])
    assert row["next_run"].endswith("Z") and nxt.astimezone(schedules.zone("Europe/Paris")).hour == 3
    assert "nightly" in str(core) and "<table" in core._repr_html_()


def test_job_request_takes_run_jobs_call_style_and_names_an_unknown_option():
    req = JobRequest.of("nb.ipynb", {"a": 1}, timeout=5, retries=None)
    assert (req.notebook, req.parameters, req.timeout, req.retries) == ("nb.ipynb", {"a": 1}, 5, 0)
    again = JobRequest.of(req, {"b": 2}, experiment="e")
    assert again.parameters == {"a": 1, "b": 2} and again.experiment == "e" and again.timeout == 5
    with pytest.raises(ValidationError, match="unknown job option 'cell_timout' \\(did you mean 'cell_timeout'"):
        JobRequest.of("nb.ipynb", cell_timout=3)


def test_from_options_reads_a_front_ends_parsed_options():
    options = {"parameters_json": '{"a": 1, "b": 2}', "monitor": '{"reference": "r"}', "quiet": True, "json": False}
    req = JobRequest.from_options("nb.ipynb", {"b": 3}, {**options, "timeout": 9.0, "executor": None})
    assert req.parameters == {"a": 1, "b": 3} and req.monitor == {"reference": "r"} and req.timeout == 9.0
    assert JobRequest.from_options("nb.ipynb", {}, {"monitor": "drift"}).monitor == "drift"
    assert req.executor is None and req.executor_name() == "local"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"retries": 1000}, "retries must be a whole number"),
        ({"executor": "warp"}, "unknown executor 'warp'.*known: dask, local, process"),
        ({"experiment": ""}, "experiment must be a non-empty name"),
        ({"parameters": {"nope": 1}}, "nope"),
        ({"contract_policy": "maybe"}, "contract policy"),
    ],
)
def test_a_refused_request_fails_the_same_everywhere_and_creates_nothing(workspace, tmp_path, options, message):
    nb = str(write_notebook(tmp_path / "n.ipynb", ["print(lr)"], parameters="lr = 0.1"))
    params = options.pop("parameters", None)
    request = JobRequest.of(nb, params, **options)
    for call in (
        lambda: aieng.run_job(request),
        lambda: aieng.submit_job(request),
        lambda: aieng.sweep(request, {"lr": [0.1, 0.2]}),
        lambda: schedules.add("s", request, "0 3 * * *"),
    ):
        with pytest.raises(ValidationError, match=message):
            call()
    assert store.list_records(workspace=workspace) == [] and schedules.list_schedules() == []
    assert not workspace.path("jobs").exists() or not any(workspace.path("jobs").iterdir())


def test_a_schedule_built_from_a_request_stores_its_options_and_fires_that_request(workspace, tmp_path):
    nb = write_notebook(tmp_path / "n.ipynb", ["print(lr)"], parameters="lr = 0.1")
    request = JobRequest(str(nb), {"lr": 0.2}, timeout=30, retries=1, experiment="nightly-exp")
    s = schedules.add("s", request, "*/5 * * * *")
    assert s.options == {"timeout": 30, "retries": 1, "experiment": "nightly-exp"}
    fired = s.request(tags={"aieng.schedule.slot": "x"})
    assert (fired.schedule, fired.timeout, fired.parameters, fired.tags) == (
        "s",
        30,
        {"lr": 0.2},
        {"aieng.schedule.slot": "x"},
    )
    _, decision, job = schedules.claim("s", s.next_run(s.created_at) + dt.timedelta(seconds=1), workspace=workspace)
    assert decision.action == "fire" and job.schedule == "s" and job.timeout == 30 and job.max_attempts == 2
    assert job.experiment == "nightly-exp" and job.tags["aieng.schedule.slot"] == decision.to_dict()["slot"]


def test_outcome_code_and_job_rows_are_core_code():
    from aieng_nb.jobs.display import TEXT_HEADERS, JobTable, job_rows

    done = JobRecord("j1", "/nb/a.ipynb", status="COMPLETED", checks_failed=True, attempts=1)
    assert outcome_code(done) == 0 and outcome_code(done, fail_on_checks=True) == 5
    assert outcome_code(JobRecord("j2", "x", status="TIMED_OUT")) == 3
    (row,) = job_rows([done])
    assert len(row) == len(TEXT_HEADERS) and row[:3] == ["j1", "COMPLETED (checks failed)", "a.ipynb"]
    assert JobTable([], status="FAILED").text() == "no jobs with status FAILED" and str(JobTable()) == "no jobs"


def test_workspace_is_keyword_only_on_the_public_jobs_and_schedules_functions():
    import inspect

    from aieng_nb import jobs

    for func in (
        jobs.run_job,
        jobs.submit_job,
        jobs.list_jobs,
        jobs.get_job,
        jobs.stop_job,
        jobs.wait_job,
        jobs.run_example_job,
        schedules.add,
        schedules.list_schedules,
    ):
        param = inspect.signature(func).parameters["workspace"]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY, func.__name__


def test_core_job_modules_import_no_front_end():
    import ast
    import pathlib

    root = pathlib.Path(aieng.__file__).parent
    for path in [
        *(root / "jobs").glob("*.py"),
        *(root / "schedules").glob("*.py"),
    ]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.lstrip(".").startswith(("cli", "magics", "server")), (path.name, node.module)


def test_executors_are_the_plugin_registrys():
    from aieng_nb import plugins
    from aieng_nb.executors import get_executor

    assert {"local", "process", "dask"} <= set(plugins.executors.names())
    assert get_executor("local") is plugins.executors.get("local")
