"""Listings and records: rich HTML (with links JupyterLab opens) and aligned text; the runs metrics column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from IPython.core.error import UsageError

import aieng_nb as aieng
from aieng_nb.jobs import store as job_store
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobRecord, JobStatus
from aieng_nb.rendering import file_href
from aieng_nb.reports import Report
from aieng_nb.reports.checks import CheckResult


def _hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def _finished_job(tmp_path, workspace, **kw) -> JobRecord:
    nb = write_notebook(tmp_path / "train.ipynb", ["x = 1"])
    record = JobRecord.new(str(nb), {"lr": 0.1}, status=JobStatus.COMPLETED, duration_s=1.5, **kw)
    folder = job_store.job_dir(record.job_id, workspace)
    folder.mkdir(parents=True)
    out = write_notebook(folder / "output.ipynb", ["x = 1"])
    record.output_path = str(out)
    return job_store.create(record, workspace)


def test_jobs_listing_is_a_table_with_links_to_the_output(tmp_path, workspace):
    job = _finished_job(tmp_path, workspace)
    listing = aieng.list_jobs()
    assert [r.job_id for r in listing] == [job.job_id]
    text = str(listing)
    header, rule, row = text.splitlines()[:3]
    assert header.split()[:3] == ["job", "status", "notebook"] and set(rule) <= {"-", " "}
    assert row.startswith(job.job_id) and "COMPLETED" in row and "JobRecord(" not in text
    assert repr(listing) == text
    html = listing._repr_html_()
    assert "<table" in html and "<pre" not in html
    # relative to the notebook's folder (here: the working directory), as JupyterLab resolves links
    expected = Path(job.output_path).relative_to(tmp_path).as_posix()
    assert expected in _hrefs(html)
    assert not any(h.startswith(("/", "file:")) for h in _hrefs(html))


def test_jobs_magic_shows_the_same_table(shell, tmp_path, workspace):
    job = _finished_job(tmp_path, workspace)
    table = shell.run_line_magic("aieng", "jobs --status completed")
    assert [r.job_id for r in table] == [job.job_id] and "<table" in table._repr_html_()
    assert shell.run_line_magic("aieng", "jobs --status failed") == []
    assert str(shell.run_line_magic("aieng", "jobs --status failed")) == "no jobs"


def test_job_record_renders_links_and_failed_rows_are_marked(tmp_path, workspace):
    job = _finished_job(tmp_path, workspace)
    html = job._repr_html_()
    assert Path(job.output_path).relative_to(tmp_path).as_posix() in _hrefs(html)
    assert "train.ipynb" in _hrefs(html)
    failed = job_store.update(job.job_id, workspace, status=JobStatus.FAILED)
    assert 'class="bad"' in aieng.list_jobs()._repr_html_()
    assert "FAILED" in str(failed)


def test_links_follow_the_notebook_folder(tmp_path, monkeypatch):
    nb_dir = tmp_path / "project" / "notebooks"
    nb_dir.mkdir(parents=True)
    nb = write_notebook(nb_dir / "analysis.ipynb", ["x = 1"])
    monkeypatch.setenv("AIENG_NOTEBOOK_PATH", str(nb))
    target = tmp_path / "project" / "out" / "my report.html"
    assert file_href(target) == "../out/my%20report.html"


def test_runs_metrics_column_shows_own_metrics_before_report_summaries(shell):
    with aieng.start_run(name="m") as run:
        aieng.log_metrics(
            {"explain.importance.area error": 0.0, "monitor.drift_share": 0.2, "accuracy": 0.91, "f1": 0.88}
        )
    table = aieng.list_runs()
    cell = str(table).splitlines()[2]
    assert cell.index("accuracy=0.91") < cell.index("f1=0.88") < cell.index("explain.importance")
    chosen = shell.run_line_magic("aieng", "runs --metrics f1,monitor.drift_share,missing")
    lines = str(chosen).splitlines()
    assert lines[0].split()[-3:] == ["f1", "monitor.drift_share", "missing"]
    assert lines[2].split()[-2:] == ["0.88", "0.2"]
    assert "<th>f1</th>" in chosen._repr_html_()
    assert run.id.startswith(lines[2].split()[0])
    with pytest.raises(UsageError, match="metric name"):
        shell.run_line_magic("aieng", "runs --metrics ,")


def test_reports_without_checks_are_listed_as_no_checks(shell):
    with aieng.start_run() as run:
        Report("explain", "Explain").log()
        Report("monitor", "Drift", checks=[CheckResult("drift_share > 0.3", "drift_share", 0.1, True, "ok")]).log()
        failing = CheckResult("drift_share > 0.3", "drift_share", 0.5, False, "too much drift")
        Report("monitor", "Drift", checks=[failing]).log()
    listing = aieng.list_reports(run.id)
    assert [e.result for e in listing] == ["no checks", "passed", "FAILED"]
    assert "no checks" in str(listing) and "no checks" in listing._repr_html_()
    assert "no checks" in repr(Report("explain", "E"))


def test_job_params_is_a_table(shell, tmp_path):
    nb = write_notebook(tmp_path / "p.ipynb", ["print(lr)"], parameters="lr = 0.1  # learning rate\ndepth = 6")
    listing = shell.run_line_magic("aieng", f"job params {nb}")
    assert [p.name for p in listing] == ["lr", "depth"]
    assert "learning rate" in str(listing) and "<table" in listing._repr_html_()
    empty = shell.run_line_magic("aieng", f"job params {write_notebook(tmp_path / 'e.ipynb', ['x = 1'])}")
    assert str(empty).startswith("no parameters cell")
