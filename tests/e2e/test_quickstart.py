"""The quick-start notebook and `aieng demo` run headless with a real kernel."""

from __future__ import annotations

import subprocess
import sys

import pytest

import aieng_nb as aieng
from aieng_nb.examples import example

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
    runs = aieng.runs(experiment="qs-test")
    assert len(runs) == 1 and runs[0].status == "FINISHED"
    assert runs[0].params == {"alpha": "0.001", "epochs": "5", "seed": "7"}
    assert 0.5 < runs[0].metrics["test_acc"] <= 1.0
    assert len(aieng.tracking.metric_history(runs[0].run_id, "test_acc")) == 5
    snap = aieng.snapshots.show("quickstart-train")
    assert snap.shape[0] == 3000 and runs[0].run_id in snap.used_by
    from mlflow.tracking import MlflowClient

    files = {a.path for a in MlflowClient(workspace.tracking_uri).list_artifacts(runs[0].run_id, "aieng")}
    assert {"aieng/cells.jsonl", "aieng/environment.json"} <= files


def test_aieng_demo_prints_where_the_results_are(workspace, tmp_path, python_env):
    out = subprocess.run(
        [sys.executable, "-m", "aieng_nb.cli", "demo", "--output", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=python_env,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "run:" in out.stdout and "notebook:" in out.stdout and "mlflow ui" in out.stdout
    assert (tmp_path / "demo" / "01-quickstart.ipynb").exists()
    assert aieng.runs(experiment="quickstart")[0].status == "FINISHED"
