"""An aieng run is MLflow's run: MLflow's own fluent API and client see one run in one store."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import pytest

import aieng_nb as aieng


@pytest.fixture(autouse=True)
def mlflow_state():
    """MLflow's fluent state as a fresh process has it (no URI, experiment or run), before and after."""
    import os

    import mlflow
    from mlflow.tracking import fluent

    def clean() -> None:
        # runs an earlier test left on MLflow's stack belong to that test's (deleted) workspace:
        # dropped, not ended (ending one would look it up in this test's store)
        fluent._active_run_stack.get().clear()
        mlflow.set_tracking_uri(None)
        fluent._active_experiment_id = None
        for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID"):
            os.environ.pop(name, None)  # mlflow.set_experiment sets MLFLOW_EXPERIMENT_ID

    clean()
    yield
    clean()


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _fit():
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    return LogisticRegression().fit(X, y), X, y


def test_inside_an_aieng_run_mlflow_is_on_the_same_run_and_store(workspace, tmp_path):
    import mlflow
    import pandas as pd

    model, X, _ = _fit()
    (tmp_path / "note.txt").write_text("hello")
    with aieng.start_run(experiment="x", name="a") as run:
        assert mlflow.active_run().info.run_id == aieng.active_run().id == run.id
        assert mlflow.get_tracking_uri() == workspace.tracking_uri
        mlflow.log_param("solver", "lbfgs")
        mlflow.log_metric("mlflow_metric", 0.5)
        mlflow.log_artifact(str(tmp_path / "note.txt"))
        mlflow.log_table(pd.DataFrame({"a": [1, 2]}), artifact_file="table.json")
        mlflow.log_input(mlflow.data.from_pandas(pd.DataFrame(X, columns=["f0", "f1", "f2"]), name="train"))
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2])
        assert info.run_id == run.id
    assert mlflow.active_run() is None
    assert mlflow.get_tracking_uri() == workspace.tracking_uri  # MLflow stays on the workspace's store
    stored = _client(workspace.tracking_uri).get_run(run.id)
    assert stored.info.status == "FINISHED"
    assert stored.data.params["solver"] == "lbfgs"
    assert stored.data.metrics["mlflow_metric"] == 0.5
    assert stored.inputs.dataset_inputs[0].dataset.name == "train"
    assert [m.model_id for m in stored.outputs.model_outputs] == [info.model_id]
    names = {f.path for f in _client(workspace.tracking_uri).list_artifacts(run.id)}
    assert {"note.txt", "table.json"} <= names
    # nothing strayed into MLflow's defaults in the working folder
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_registration_links_the_logged_model_as_mlflow_register_model_does(workspace):
    import mlflow

    model, X, _ = _fit()
    with aieng.start_run(experiment="x") as run:
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2])
    version = aieng.register_model(run.id, "churn")
    client = _client(workspace.tracking_uri)
    mv = client.get_model_version("churn", version.version)
    assert (mv.run_id, mv.source) == (run.id, f"models:/{info.model_id}")
    links = json.loads(client.get_logged_model(info.model_id).tags["mlflow.modelVersions"])
    assert links == [{"name": "churn", "version": int(version.version)}]
    aieng.register_model(run.id, "churn")  # a second version is appended, as MLflow does
    links = json.loads(client.get_logged_model(info.model_id).tags["mlflow.modelVersions"])
    assert [link["version"] for link in links] == [1, 2]


def test_sklearn_autolog_lands_in_the_aieng_run(workspace):
    import mlflow

    mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
    try:
        with aieng.start_run(experiment="auto") as run:
            _fit()
    finally:
        mlflow.sklearn.autolog(disable=True)
    client = _client(workspace.tracking_uri)
    stored = client.get_run(run.id)
    assert stored.data.params["C"] == "1.0"
    assert "training_score" in stored.data.metrics
    exp = client.get_experiment_by_name("auto")
    assert [r.info.run_id for r in client.search_runs([exp.experiment_id])] == [run.id]


def test_mlflow_evaluate_lands_in_the_aieng_run(workspace):
    import mlflow
    import pandas as pd

    model, X, y = _fit()
    data = pd.DataFrame(X, columns=["f0", "f1", "f2"]).assign(label=y)
    with aieng.start_run(experiment="eval") as run:
        info = mlflow.sklearn.log_model(model, name="model")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = mlflow.models.evaluate(
                info.model_uri, data, targets="label", model_type="classifier", evaluators=["default"]
            )
    stored = _client(workspace.tracking_uri).get_run(run.id)
    assert stored.data.metrics["accuracy_score"] == pytest.approx(result.metrics["accuracy_score"])


def test_points_from_aieng_log_and_mlflow_log_metric_are_all_stored_in_order(workspace):
    import mlflow

    with aieng.start_run(experiment="mixed") as run:
        for step in range(0, 20, 2):
            aieng.log(loss=float(step), step=step)
            mlflow.log_metric("loss", float(step + 1), step=step + 1)
    history = _client(workspace.tracking_uri).get_metric_history(run.id, "loss")
    assert [(p.step, p.value) for p in sorted(history, key=lambda p: p.step)] == [(s, float(s)) for s in range(20)]


def test_a_nested_mlflow_run_needs_nested_true_as_in_mlflow(workspace):
    import mlflow

    with aieng.start_run(experiment="outer") as run:
        with pytest.raises(Exception, match="nested=True"):
            mlflow.start_run()
        with mlflow.start_run(nested=True, run_name="child") as child:
            mlflow.log_metric("inner", 1.0)
        left_open = mlflow.start_run(nested=True, run_name="left-open")
        assert mlflow.active_run().info.run_id == left_open.info.run_id
    assert mlflow.active_run() is None
    client = _client(workspace.tracking_uri)
    for r in (child, left_open):
        stored = client.get_run(r.info.run_id)
        assert stored.data.tags["mlflow.parentRunId"] == run.id
        assert stored.info.experiment_id == run.experiment_id
        assert stored.info.status == "FINISHED"
    assert client.get_run(run.id).info.status == "FINISHED"


def test_the_users_tracking_uri_is_swapped_once_with_a_warning_and_given_back(workspace, tmp_path):
    import mlflow

    mine = f"sqlite:///{tmp_path / 'mine.db'}"
    mlflow.set_tracking_uri(mine)
    with pytest.warns(UserWarning, match="workspace's store") as caught:
        with aieng.start_run(experiment="x") as first:
            assert mlflow.get_tracking_uri() == workspace.tracking_uri
            mlflow.log_param("p", "1")
        with aieng.start_run(experiment="x"):
            pass
    assert len([w for w in caught if "workspace's store" in str(w.message)]) == 1
    assert mlflow.get_tracking_uri() == mine
    assert _client(workspace.tracking_uri).get_run(first.id).data.params["p"] == "1"
    assert not (tmp_path / "mine.db").exists()  # nothing went to the user's store


def test_an_earlier_set_experiment_is_kept_and_the_model_is_not_lost(workspace):
    import mlflow

    from aieng_nb.training.model_logging import log_model

    mlflow.set_tracking_uri(workspace.tracking_uri)
    theirs = mlflow.set_experiment("theirs").experiment_id
    model, X, _ = _fit()
    with aieng.start_run(experiment="ours") as run:
        record = log_model(model, run.id, "clf", input_example=X[:2])
        with mlflow.start_run(nested=True) as child:
            pass
    client = _client(workspace.tracking_uri)
    assert client.get_logged_model(record.model_id).source_run_id == run.id
    assert client.get_run(child.info.run_id).info.experiment_id == theirs  # MLflow's rule for new runs
    assert aieng.register_model(run.id, "kept").version == "1"
    assert mlflow.get_experiment(theirs).name == "theirs"
    from mlflow.tracking import fluent

    assert fluent._active_experiment_id == theirs


def test_a_user_mlflow_run_before_stays_active_after(workspace, tmp_path):
    import mlflow

    mlflow.set_tracking_uri(workspace.tracking_uri)
    with mlflow.start_run() as theirs:
        with aieng.start_run(experiment="inner") as run:
            assert mlflow.active_run().info.run_id == run.id
        assert mlflow.active_run().info.run_id == theirs.info.run_id
    assert _client(workspace.tracking_uri).get_run(run.id).info.status == "FINISHED"


def test_mlflow_imported_after_the_run_started_is_on_it(workspace, python_env, tmp_path):
    """A fresh process: the run starts before ``import mlflow`` (aieng never imports it itself)."""
    code = textwrap.dedent(
        """
        import sys
        import aieng_nb as aieng
        run = aieng.start_run(experiment="late")
        assert "mlflow" not in sys.modules
        import mlflow
        assert mlflow.active_run().info.run_id == run.id, mlflow.active_run()
        mlflow.log_param("late", "yes")
        print(mlflow.get_tracking_uri())
        aieng.end_run()
        assert mlflow.active_run() is None
        print(run.id)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=python_env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    uri, run_id = out.stdout.split()[-2:]
    assert uri == workspace.tracking_uri
    assert _client(uri).get_run(run_id).data.params["late"] == "yes"
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_a_process_exiting_mid_run_is_not_called_finished_by_mlflow(workspace, python_env, tmp_path):
    code = "import aieng_nb as aieng, mlflow\nrun = aieng.start_run(experiment='x')\nprint(run.id)\n"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=python_env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert _client(workspace.tracking_uri).get_run(out.stdout.split()[-1]).info.status == "KILLED"


def test_a_training_session_after_set_experiment_autologs_and_keeps_its_model(workspace):
    """Measured before: an earlier set_experiment made training drop the model (RuntimeWarning)."""
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from aieng_nb.training import find_model

    mlflow.set_tracking_uri(workspace.tracking_uri)
    mlflow.set_experiment("theirs")
    _, X, y = _fit()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with aieng.training(LogisticRegression(), name="clf", experiment="ours", telemetry=False) as tr:
            assert mlflow.active_run().info.run_id == tr.run_id
            tr.model.fit(X, y)
    stored = _client(workspace.tracking_uri).get_run(tr.run_id)
    assert stored.info.status == "FINISHED" and stored.data.params["C"] == "1.0"  # autolog's params
    assert find_model(tr.run_id) is not None
    assert aieng.register_model(tr.run_id, "clf").version == "1"
