"""The quick-start notebook and `aieng demo` run headless with a real kernel."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

import aieng_nb as aieng
from aieng_nb.demo import example

pytestmark = pytest.mark.slow


def test_quickstart_notebook_runs_under_papermill(workspace, tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("AIENG_NOTEBOOK_PATH", str(example("01-quickstart.ipynb")))
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(example("01-quickstart.ipynb")),
        str(out),
        parameters={"epochs": 5, "experiment": "qs-test"},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    runs = aieng.list_runs(experiment="qs-test")
    assert len(runs) == 1 and runs[0].status == "FINISHED"
    assert runs[0].params == {"alpha": "0.001", "epochs": "5", "seed": "7"}
    assert 0.5 < runs[0].metrics["test_acc"] <= 1.0
    assert len(aieng.tracking.metric_history(runs[0].run_id, "test_acc")) == 5
    snap = aieng.snapshots.show("quickstart-train")
    assert snap.shape[0] == 3000 and runs[0].run_id in snap.used_by
    from mlflow.tracking import MlflowClient

    files = {a.path for a in MlflowClient(workspace.tracking_uri).list_artifacts(runs[0].run_id, "aieng")}
    assert {"aieng/cells.jsonl", "aieng/environment.json"} <= files


def test_aieng_demo_runs_the_job_with_reports_and_prints_where_they_are(workspace, tmp_path, python_env):
    import re
    from pathlib import Path

    out = subprocess.run(
        [sys.executable, "-m", "aieng_nb.cli", "demo"],
        capture_output=True,
        text=True,
        env=python_env,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "COMPLETED" in out.stdout and "mlflow ui" in out.stdout
    for kind in ("monitor", "explain", "fairness"):
        match = re.search(rf"^{kind} report: +(\S+)", out.stdout, re.M)
        assert match and Path(match.group(1)).is_file(), out.stdout
    notebook = re.search(r"^output notebook: +(\S+)", out.stdout, re.M).group(1)
    assert Path(notebook).is_file()
    [job] = aieng.list_jobs()
    run = aieng.get_run(job.run_id)
    assert run.status == "FINISHED" and run.metrics["accuracy"] > 0.8
    snap = aieng.snapshots.show("breast-cancer-train")
    assert job.run_id in snap.used_by
    # the commands it prints run as printed, from another folder, with the interpreter it used
    for label in ("data snapshots", "audit trail"):
        command = re.search(rf"^{label}: +(.+)$", out.stdout, re.M).group(1)
        argv = shlex.split(command)
        assert argv[0] in (str(Path(sys.executable).parent / "aieng"), sys.executable), command
        env = {k: v for k, v in python_env.items() if k != "AIENG_WORKSPACE"}  # the command names it
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd="/", timeout=300)
        assert done.returncode == 0 and done.stdout.strip(), (command, done.stdout, done.stderr)
        assert "breast-cancer-train" in done.stdout if label == "data snapshots" else "OK" in done.stdout
