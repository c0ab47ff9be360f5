"""MLflow's fluent API inside a job's kernel is on the job's run, in the workspace's store."""

from __future__ import annotations

import json

import pytest

import aieng_nb as aieng
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobStatus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FIT = """
import numpy as np
from sklearn.linear_model import LogisticRegression
X = np.arange(40, dtype=float).reshape(20, 2)
y = (X[:, 0] > 19).astype(int)
model = LogisticRegression().fit(X, y)
"""


def test_a_job_cell_that_logs_a_model_with_mlflow_registers(tmp_path, workspace):
    """The cell never calls aieng: MLflow alone resumes the job's run (no stray ./mlflow.db)."""
    from mlflow.tracking import MlflowClient

    nb = write_notebook(
        tmp_path / "train.ipynb",
        [
            FIT,
            "import mlflow\nmlflow.log_param('solver', 'lbfgs')\n"
            "info = mlflow.sklearn.log_model(model, name='model')\nprint('RUN', info.run_id, mlflow.get_tracking_uri())",
        ],
    )
    job = aieng.run_job(str(nb))
    assert job.status == JobStatus.COMPLETED, job.error
    out = "".join(
        "".join(o.get("text", ""))
        for c in json.loads(open(job.output_path).read())["cells"]
        for o in c.get("outputs", [])
    )
    assert f"RUN {job.run_id} {workspace.tracking_uri}" in out
    version = aieng.register_model(job.run_id, "job-model")
    client = MlflowClient(tracking_uri=workspace.tracking_uri, registry_uri=workspace.tracking_uri)
    run = client.get_run(job.run_id)
    assert run.info.status == "FINISHED" and run.data.params["solver"] == "lbfgs"
    assert client.get_model_version("job-model", version.version).run_id == job.run_id
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_in_a_job_using_aieng_and_mlflow_both_write_the_jobs_run(tmp_path, workspace):
    from mlflow.tracking import MlflowClient

    nb = write_notebook(
        tmp_path / "both.ipynb",
        [
            "import aieng_nb as aieng, mlflow\nassert mlflow.active_run().info.run_id == aieng.active_run().id\n"
            "aieng.log(loss=1.0, step=0)\nmlflow.log_metric('loss', 0.5, step=1)",
        ],
    )
    job = aieng.run_job(str(nb))
    assert job.status == JobStatus.COMPLETED, job.error
    history = MlflowClient(tracking_uri=workspace.tracking_uri).get_metric_history(job.run_id, "loss")
    assert sorted((p.step, p.value) for p in history) == [(0, 1.0), (1, 0.5)]
