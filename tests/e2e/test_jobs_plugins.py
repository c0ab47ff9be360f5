"""An executor from a third-party package (an entry point in ``aieng_nb.executors``) runs real jobs,
through the Python API and ``aieng job run --executor``; ``submit_job(JobRequest)`` returns at once."""

from __future__ import annotations

import json
import time

import pytest

import aieng_nb as aieng
from aieng_nb.jobs import JobRequest, wait_job
from aieng_nb.jobs.notebook import write_notebook
from tests.plugin_packages import install_plugin_package

pytestmark = pytest.mark.slow

PLUGIN = '''
import json, os
from aieng_nb.executors.local import LocalExecutor

class TracingExecutor(LocalExecutor):
    """Runs jobs here, as local does, and leaves a trace of every job it ran."""

    name = "tracing"

    def run(self, job_ids, workspace, progress=None):
        trace = workspace.path("tracing-executor.jsonl")
        for record in super().run(job_ids, workspace, progress):
            with open(trace, "a") as fh:
                fh.write(json.dumps({"job_id": record.job_id, "address": self.address}) + "\\n")
            yield record
'''


@pytest.fixture
def tracing(tmp_path, monkeypatch):
    install_plugin_package(
        tmp_path,
        monkeypatch,
        "aieng_tracing_exec",
        PLUGIN,
        {"aieng_nb.executors": {"tracing": "aieng_tracing_exec:TracingExecutor"}},
    )


def _trace(workspace):
    path = workspace.path("tracing-executor.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_an_entry_point_executor_runs_a_job_from_python_and_the_cli(tracing, workspace, tmp_path, capsys):
    from aieng_nb import plugins
    from aieng_nb.cli import main

    assert "tracing" in plugins.executors.names()
    nb = write_notebook(tmp_path / "double.ipynb", ["print(x * 2)"], parameters="x = 1")
    job = aieng.run_job(JobRequest(str(nb), {"x": 21}, executor="tracing", address="here:1"))
    assert job.status == "COMPLETED" and job.executor == "tracing"
    assert _trace(workspace) == [{"job_id": job.job_id, "address": "here:1"}]
    assert "42" in open(job.output_path).read()

    capsys.readouterr()
    assert main(["job", "run", str(nb), "-p", "x", "5", "--executor", "tracing", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["executor"] == "tracing" and record["status"] == "COMPLETED"
    assert [t["job_id"] for t in _trace(workspace)] == [job.job_id, record["job_id"]]
    assert record == aieng.get_job(record["job_id"]).to_dict()

    capsys.readouterr()
    assert main(["job", "run", str(nb), "--executor", "tracin"]) == 2
    err = capsys.readouterr().err
    assert "unknown executor 'tracin'" in err and "did you mean 'tracing'" in err and "local" in err


def test_submit_job_takes_a_request_and_returns_before_the_job_ends(workspace, tmp_path):
    nb = write_notebook(tmp_path / "slow.ipynb", ["import time\ntime.sleep(s)\nprint('done')"], parameters="s = 0.0")
    t0 = time.monotonic()
    job = aieng.submit_job(JobRequest(str(nb), {"s": 3.0}, timeout=120))
    assert time.monotonic() - t0 < 3.0  # it did not wait for the notebook
    assert job.status in ("QUEUED", "RUNNING") and job.timeout == 120
    final = wait_job(job.job_id, timeout=120)
    assert final.status == "COMPLETED" and final.finished_at >= final.created_at
    assert aieng.list_jobs(status="completed")[0].job_id == job.job_id
