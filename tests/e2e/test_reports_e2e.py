"""Reports end to end: the example notebook under papermill, and reports attached to a real job run."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.img_src: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.img_src.append(dict(attrs).get("src") or "")


def _html_outputs(nb_path: Path) -> list[str]:
    cells = json.loads(nb_path.read_text())["cells"]
    out = []
    for cell in cells:
        for o in cell.get("outputs", []):
            html = o.get("data", {}).get("text/html")
            if html:
                out.append("".join(html) if isinstance(html, list) else html)
    return out


def test_example_notebook_produces_all_three_reports(tmp_path, kernel):
    import papermill

    from aieng_nb import tracking
    from aieng_nb.reports import list_reports

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "04-reports.ipynb"),
        str(out),
        parameters={"rows": 2000, "experiment": "nb-reports"},
        kernel_name=kernel,
        cwd=str(tmp_path),
        progress_bar=False,
    )
    run = tracking.list_runs(experiment="nb-reports")[0]
    kinds = sorted(e.kind for e in list_reports(run.run_id))
    assert kinds == ["explain", "fairness", "monitor", "monitor"]
    assert run.metrics["monitor.drift_share"] > 0.3
    reports_html = [h for h in _html_outputs(out) if "aieng-rep" in h]
    assert len(reports_html) >= 5  # monitor x2, explain, fairness, the reports table
    for html in reports_html:
        parser = _Tags()
        parser.feed(html)
        assert "script" not in parser.tags
        assert all(src.startswith("data:image/png;base64,") for src in parser.img_src)
    assert sum(h.count("data:image/png;base64,") for h in reports_html) >= 4
    assert all(len(h.encode()) < 2_000_000 for h in reports_html)


def test_job_run_comes_back_with_reports_and_checks(tmp_path, capsys):
    from aieng_nb import audit, tracking
    from aieng_nb.jobs.control import run_job
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.jobs.records import JobStatus
    from aieng_nb.reports import list_reports

    body = (
        "import numpy as np, pandas as pd\n"
        "rng = np.random.default_rng(0)\n"
        "def frame(s):\n"
        "    df = pd.DataFrame({'a': rng.normal(s, 1, 3000), 'b': rng.normal(0, 1, 3000), 'g': rng.choice(['x', 'y'], 3000)})\n"
        "    df['churn'] = (rng.random(3000) < 0.3).astype(int)\n"
        "    df['pred'] = df['churn']\n"
        "    return df\n"
        "train_df, scored_df = frame(0.0), frame(shift)\n"
    )
    nb = write_notebook(tmp_path / "score.ipynb", [body], parameters="shift = 0.0")
    spec = (
        "reference=var:train_df,current=var:scored_df,target=churn,prediction=pred,checks=drift_share>0.3,sensitive=g"
    )
    ok = run_job(str(nb), {"shift": 0.0}, monitor=spec)
    assert ok.status == JobStatus.COMPLETED and ok.checks_failed is False
    assert tracking.get_run(ok.run_id).tags["aieng.checks"] == "passed"
    assert sorted(e.kind for e in list_reports(ok.run_id)) == ["fairness", "monitor"]

    bad = run_job(str(nb), {"shift": 1.0}, monitor=spec)
    assert bad.status == JobStatus.COMPLETED and bad.checks_failed is True
    record = tracking.get_run(bad.run_id)
    assert record.tags["aieng.checks"] == "failed" and record.metrics["monitor.drift_share"] == pytest.approx(1 / 3)
    assert [e for e in audit.entries("checks.fail") if e["data"]["run_id"] == bad.run_id]
    monitor_entry = next(e for e in list_reports(bad.run_id) if e.kind == "monitor")
    assert monitor_entry.failed == ["drift_share > 0.3"]
    import aieng_nb as aieng
    from aieng_nb.cli import main

    assert [e.kind for e in aieng.list_reports(job_id=bad.job_id)] == [e.kind for e in list_reports(bad.run_id)]
    assert main(["reports", "--job", bad.job_id, "--json"]) == 0
    assert bad.run_id in capsys.readouterr().out
    files = tracking.list_artifacts(bad.run_id, monitor_entry.path)
    assert {Path(f).name for f in files} >= {"report.html", "summary.json", "evidently.html", "evidently.json"}


def test_cli_job_run_fail_on_checks_exits_5(tmp_path, python_env):
    from aieng_nb.jobs.notebook import write_notebook

    body = (
        "import numpy as np, pandas as pd\n"
        "rng = np.random.default_rng(0)\n"
        "train_df = pd.DataFrame({'a': rng.normal(0, 1, 3000), 'b': rng.normal(0, 1, 3000)})\n"
        "scored_df = pd.DataFrame({'a': rng.normal(shift, 1, 3000), 'b': rng.normal(0, 1, 3000)})\n"
    )
    nb = write_notebook(tmp_path / "score.ipynb", [body], parameters="shift = 0.0")
    cmd = [sys.executable, "-c", "import sys; from aieng_nb.cli import main; sys.exit(main())"]
    spec = "reference=var:train_df,current=var:scored_df,checks=drift_share>0.3"
    failed = subprocess.run(
        [*cmd, "job", "run", str(nb), "-p", "shift", "1.0", "--monitor", spec, "--fail-on-checks"],
        capture_output=True,
        text=True,
        env=python_env,
        cwd=tmp_path,
    )
    assert failed.returncode == 5, failed.stderr
    passed = subprocess.run(
        [*cmd, "job", "run", str(nb), "--monitor", spec, "--fail-on-checks"],
        capture_output=True,
        text=True,
        env=python_env,
        cwd=tmp_path,
    )
    assert passed.returncode == 0, passed.stderr
    listed = subprocess.run(
        [*cmd, "reports", "--failed", "--json"], capture_output=True, text=True, env=python_env, cwd=tmp_path
    )
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and rows[0]["failed"] == ["drift_share > 0.3"]


def test_a_report_the_notebook_attaches_itself_marks_the_job(tmp_path):
    """No --monitor spec: the notebook calls aieng.monitor(...).log() and its failed check still shows on the job."""
    from aieng_nb.jobs.control import run_job
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.jobs.records import JobStatus

    body = (
        "import numpy as np, pandas as pd, aieng_nb as aieng\n"
        "rng = np.random.default_rng(1)\n"
        "ref = pd.DataFrame({'a': rng.normal(0, 1, 2000)})\n"
        "cur = pd.DataFrame({'a': rng.normal(shift, 1, 2000)})\n"
        "aieng.monitor(reference=ref, current=cur, checks=['drift_share > 0.3']).log()\n"
    )
    nb = write_notebook(tmp_path / "self_monitor.ipynb", [body], parameters="shift = 0.0")
    assert run_job(str(nb), {"shift": 0.0}).checks_failed is False
    drifted = run_job(str(nb), {"shift": 2.0})
    assert drifted.status == JobStatus.COMPLETED and drifted.checks_failed is True
    # Evidently's attachment is computed in the kernel's background: the job waited for it
    from aieng_nb import tracking
    from aieng_nb.reports import list_reports

    (entry,) = list_reports(drifted.run_id)
    files = {Path(f).name for f in tracking.list_artifacts(drifted.run_id, entry.path)}
    assert {"report.html", "summary.json", "evidently.html", "evidently.json"} <= files


def test_demo_notebooks_fairness_check_uses_intervals_so_noise_does_not_fail_it(tmp_path):
    """notebooks/03-train-job.ipynb compares two clinic groups of ~70 rows: its rules carry 'at 95%'."""
    from aieng_nb import tracking
    from aieng_nb.jobs.control import run_job
    from aieng_nb.jobs.records import JobStatus
    from aieng_nb.reports import list_reports

    job = run_job(str(ROOT / "notebooks" / "03-train-job.ipynb"), {})
    assert job.status == JobStatus.COMPLETED
    entries = {e.kind: e for e in list_reports(job.run_id)}
    fair = entries["fairness"]
    assert fair.passed and fair.failed == []
    summary = tracking.download_artifact(job.run_id, f"{fair.path}/summary.json", str(tmp_path))
    data = json.loads(Path(summary).read_text())
    rules = [c["rule"] for c in data["checks"]]
    assert rules == ["demographic_parity_difference > 0.1 at 95%", "equalized_odds_difference > 0.1 at 95%"]
    assert all(c["interval"][0] <= 0.1 for c in data["checks"])  # the intervals reach below the threshold
    record = tracking.get_run(job.run_id)
    assert record.metrics["fairness.equalized_odds_difference_ci_low"] <= 0.1
    files = {Path(f).name for f in tracking.list_artifacts(job.run_id, entries["monitor"].path)}
    assert {"evidently.html", "evidently.json"} <= files
