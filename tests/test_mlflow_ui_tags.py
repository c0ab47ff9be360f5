"""What MLflow's own UI reads from our runs: the experiment kind and the run's source."""

from __future__ import annotations

import pytest

import aieng_nb as aieng
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.stores.base import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_experiments_we_create_open_as_model_development_in_the_fast_store(workspace):
    with aieng.start_run(experiment="churn"):
        pass
    with aieng.start_run():  # MLflow's own "Default" experiment gets the kind too
        pass
    client = _client(workspace.tracking_uri)
    for name in ("churn", "Default"):
        exp = client.get_experiment_by_name(name)
        assert exp.tags.get(EXPERIMENT_KIND_TAG) == EXPERIMENT_KIND == "custom_model_development"


def test_an_experiment_kind_set_by_someone_else_is_left_alone(workspace):
    client = _client(workspace.tracking_uri)
    with aieng.start_run(experiment="mine"):
        pass
    exp_id = client.get_experiment_by_name("mine").experiment_id
    client.set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, "genai_development")
    with aieng.start_run(experiment="mine"):
        pass
    assert client.get_experiment(exp_id).tags[EXPERIMENT_KIND_TAG] == "genai_development"


def test_the_mlflow_client_store_tags_new_and_untagged_experiments(tmp_path):
    from aieng_nb.stores.mlflow_client import MlflowClientStore

    uri = f"sqlite:///{tmp_path / 'other.db'}"
    store = MlflowClientStore(uri, (tmp_path / "art").as_uri())
    client = _client(uri)
    store.get_or_create_experiment("remote-exp")
    assert client.get_experiment_by_name("remote-exp").tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    plain = client.create_experiment("made-by-mlflow")
    store.get_or_create_experiment("made-by-mlflow")
    assert client.get_experiment(plain).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND


@pytest.mark.parametrize("how", ["AIENG_NOTEBOOK_PATH", "JPY_SESSION_NAME"])
def test_run_source_is_the_notebook_when_known(tmp_path, monkeypatch, how):
    nb = write_notebook(tmp_path / "analysis.ipynb", ["x = 1"])
    monkeypatch.setenv(how, str(nb))
    with aieng.start_run() as run:
        pass
    tags = aieng.get_run(run.id).tags
    assert tags["mlflow.source.name"] == str(nb.resolve())
    assert tags["mlflow.source.type"] == "NOTEBOOK"


def test_run_source_outside_a_notebook_is_the_script(monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("AIENG_NOTEBOOK_PATH", raising=False)
    with aieng.start_run() as run:
        pass
    tags = aieng.get_run(run.id).tags
    assert not tags["mlflow.source.name"].endswith(".ipynb")
    assert tags["mlflow.source.type"] in ("LOCAL", "NOTEBOOK")
