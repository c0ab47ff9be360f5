"""Reproduce without kernels: metric comparison with tolerance, and the list of non-reproducible inputs."""

from __future__ import annotations

import os
import time

import pytest

from aieng_nb.exceptions import NotFoundError
from aieng_nb.jobs import records
from aieng_nb.jobs import store as job_store
from aieng_nb.jobs.control import compare_metrics, find_job_for_run, input_issues, prepare_job
from aieng_nb.jobs.notebook import write_notebook


def test_compare_metrics_with_tolerance():
    diffs = {
        d.name: d
        for d in compare_metrics({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 1.0, "b": 2.001, "d": 1.0}, rtol=1e-4, atol=0.0)
    }
    assert diffs["a"].ok and not diffs["b"].ok and diffs["b"].delta == pytest.approx(0.001)
    assert not diffs["c"].ok and diffs["c"].reproduced is None  # missing in the re-run
    assert not diffs["d"].ok and diffs["d"].original is None
    assert compare_metrics({"b": 2.0}, {"b": 2.001}, rtol=1e-3, atol=0.0)[0].ok


def test_input_issues_lists_what_changed(workspace, tmp_path):
    nb = write_notebook(tmp_path / "n.ipynb", ["print(1)"])
    (tmp_path / "data.csv").write_text("1\n")
    job = prepare_job(str(nb))
    job.environment = {**job.environment, "numpy": "0.0.1"}
    job.started_at = records.now_iso()
    job_store.save(job, workspace)
    assert find_job_for_run(job.job_id, workspace).job_id == job.job_id
    assert input_issues(job, {"seed": "1"}, {}, workspace) == [
        "package numpy: 0.0.1 at the run, " + __import__("numpy").__version__ + " now"
    ]
    time.sleep(0.01)
    (tmp_path / "data.csv").write_text("2\n")
    os.utime(tmp_path / "data.csv", (time.time() + 5, time.time() + 5))
    nb.write_text(nb.read_text().replace("print(1)", "print(2)"))
    issues = input_issues(job, {}, {}, workspace)
    assert any("changed since the run" in i and "n.ipynb" in i for i in issues)
    assert any("no seed was recorded" in i for i in issues)
    assert any("untracked files" in i and "data.csv" in i for i in issues)


def test_unknown_run_is_reported(workspace):
    with pytest.raises(NotFoundError, match="only runs of notebook jobs"):
        find_job_for_run("feedbeef", workspace)


def _report_metrics(n: int = 110) -> dict[str, float]:
    """What a demo run carries: its own accuracy and f1, and many report summaries and system metrics."""
    metrics = {f"monitor.drift.col_{i}": 0.1 for i in range(n // 2)}
    metrics |= {f"explain.importance.col_{i}": 0.2 for i in range(n // 2 - 1)}
    return metrics | {"system/cpu_utilization_percentage": 50.0, "accuracy": 0.95, "f1": 0.96}


def test_reproduce_and_sweep_summaries_show_the_runs_own_metrics():
    from aieng_nb.jobs.control import ReproduceReport
    from aieng_nb.jobs.sweeps import SweepResult

    metrics = _report_metrics()
    job = records.JobRecord.new("n.ipynb", {"n_estimators": 20}, status="COMPLETED", run_id="r2")
    again = dict(metrics, **{"monitor.drift.col_3": 0.5})
    report = ReproduceReport("r1", "j1", job, compare_metrics(metrics, again, rtol=1e-9, atol=0.0))
    text = str(report)
    assert " accuracy " in text and " f1 " in text
    assert "monitor.drift.col_3" in text  # a difference is always shown
    assert "monitor.drift.col_4" not in text and "system/" not in text
    assert f"{len(metrics) - 3} more metrics (reports, system) agree" in text
    assert len(report.to_dict()["metrics"]) == len(metrics)  # --json keeps them all

    sweep = SweepResult("s", "n.ipynb", None, [job], metrics={job.job_id: metrics})
    sweep.metric = "accuracy"
    table = sweep.table()
    assert "accuracy" in table and "f1" in table and "monitor." not in table and "explain." not in table
    assert list(sweep.rows()[0]) == ["best", "job_id", "status", "n_estimators", "accuracy", "f1", "run_id"]


def test_the_environment_summary_sees_a_package_installed_in_the_session(tmp_path, monkeypatch):
    """The versions a job records are read again once a folder on sys.path changed (an install)."""
    from aieng_nb.jobs.control import environment_summary

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = environment_summary()
    assert environment_summary() == before
    dist = site / "papermill-0.0.1.dist-info"  # a papermill installed first on the path, mid-session
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: papermill\nVersion: 0.0.1\n")
    after = environment_summary()
    assert after["papermill"] == "0.0.1" and before["papermill"] != "0.0.1"
    assert {k: v for k, v in after.items() if k != "papermill"} == {k: v for k, v in before.items() if k != "papermill"}
