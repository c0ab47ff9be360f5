"""Several processes writing runs, metrics and audit entries into one workspace at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

import aieng_nb as aieng
from aieng_nb import audit

pytestmark = pytest.mark.slow

WRITER = """
import sys, aieng_nb as aieng
w = sys.argv[1]
for r in range(3):
    with aieng.start_run(experiment="shared", name=f"w{w}-r{r}", params={"writer": w}):
        for step in range(2000):
            aieng.log(loss=step * 0.5, step=step)
"""


def test_parallel_writers_lose_nothing(workspace, python_env):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(w)], env=python_env) for w in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    runs = aieng.list_runs(experiment="shared", last=100)
    assert sorted(r.name for r in runs) == sorted(f"w{w}-r{r}" for w in range(4) for r in range(3))
    assert all(r.status == "FINISHED" and r.metrics["loss"] == 1999 * 0.5 for r in runs)
    assert all(len(aieng.tracking.metric_history(r.run_id, "loss")) == 2000 for r in runs)
    assert len(audit.entries("run.start")) == 12 and len(audit.entries("run.end")) == 12
    assert audit.verify().ok
    # one experiment, created once despite the race
    from mlflow.tracking import MlflowClient

    assert len([e for e in MlflowClient(workspace.tracking_uri).search_experiments() if e.name == "shared"]) == 1
