"""MLflow's own ``MLFLOW_TRACKING_URI`` against a real `mlflow server` on 127.0.0.1: an empty folder
lists the server's runs (creating nothing), a printed 12-character id prefix is found on the
server, ``AIENG_TRACKING_URI`` wins when both are set, and which one is used is said once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .test_remote_mlflow import mlflow_server  # noqa: F401 - the real server fixture

pytestmark = pytest.mark.slow


def _aieng(cwd, env, *args):
    return subprocess.run([sys.executable, "-m", "aieng_nb", *args], cwd=cwd, env=env, capture_output=True, text=True)


def _env(python_env, **extra):
    env = {k: v for k, v in python_env.items() if not k.startswith(("AIENG_", "MLFLOW_"))}
    return {**env, **extra}


def test_an_empty_folder_lists_and_finds_the_servers_runs_by_prefix(mlflow_server, tmp_path, python_env):  # noqa: F811
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.create_experiment(f"team-{tmp_path.name}")
    run_id = client.create_run(exp, run_name="teammate").info.run_id
    client.set_terminated(run_id)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = _env(python_env, MLFLOW_TRACKING_URI=mlflow_server)

    listed = _aieng(empty, env, "runs", "list")
    assert listed.returncode == 0, listed.stderr
    assert run_id[:12] in listed.stdout and "teammate" in listed.stdout
    assert listed.stderr == f"aieng: tracking server {mlflow_server} (from MLFLOW_TRACKING_URI)\n"
    shown = _aieng(empty, env, "runs", "show", run_id[:12], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["run_id"] == run_id
    reports = _aieng(empty, env, "reports", "--run", run_id[:12])
    assert reports.returncode == 0, reports.stderr
    assert list(empty.iterdir()) == []  # a read creates nothing

    missing = _aieng(empty, env, "runs", "show", "0123456789ab")
    assert missing.returncode != 0 and "no run with id '0123456789ab'" in missing.stderr
    assert missing.stderr.count("aieng: error: ") == 1
    # AIENG_TRACKING_URI wins over MLflow's variable (here a dead port), said once
    both = _env(python_env, AIENG_TRACKING_URI=mlflow_server, MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    won = _aieng(empty, both, "runs", "show", run_id[:12], "--json")
    assert won.returncode == 0, won.stderr
    assert won.stderr == (
        f"aieng: tracking server {mlflow_server} (from AIENG_TRACKING_URI, which wins over MLFLOW_TRACKING_URI)\n"
    )
    # without any server setting an empty folder still has nothing to read (and gets nothing made)
    local = _aieng(empty, _env(python_env), "runs", "list")
    assert local.returncode != 0 and list(empty.iterdir()) == []
