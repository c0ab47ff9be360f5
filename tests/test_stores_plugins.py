"""Tracking stores are found by URI scheme in aieng_nb.plugins.stores, third-party ones through entry points."""

from __future__ import annotations

import pytest

import aieng_nb as aieng
from aieng_nb import plugins, tracking
from aieng_nb.exceptions import ValidationError
from aieng_nb.stores import open_store, scheme_of
from aieng_nb.stores.mlflow_client import MlflowClientStore
from aieng_nb.stores.sqlite_fast import SqliteFastStore
from tests.plugin_packages import install_plugin_package

STORE_PACKAGE = '''
from aieng_nb.stores.sqlite_fast import open_sqlite_store

opened = []


def open_store(uri, artifact_root):
    """memo:///path/to/db: a SQLite file under another scheme; remembers what it opened."""
    opened.append(uri)
    return open_sqlite_store("sqlite:///" + uri.split(":///", 1)[1], artifact_root)
'''


def test_builtin_schemes_resolve_through_the_registry(workspace, tmp_path):
    assert {"sqlite", "http", "https", "file"} <= set(plugins.stores.names())
    assert isinstance(open_store(workspace.tracking_uri, workspace.artifacts.as_uri()), SqliteFastStore)
    file_store = open_store((tmp_path / "mlruns").as_uri(), (tmp_path / "art").as_uri())
    assert isinstance(file_store, MlflowClientStore)
    assert scheme_of("postgresql+psycopg2://u@h/db") == "postgresql"


def test_an_unknown_scheme_names_the_known_ones(workspace):
    with pytest.raises(ValidationError, match=r"unknown tracking URI scheme 'nosuch'.*known: .*sqlite"):
        open_store("nosuch://x", workspace.artifacts.as_uri())


def test_a_store_from_an_entry_point_is_found_by_its_scheme_and_used_end_to_end(workspace, tmp_path, monkeypatch):
    install_plugin_package(
        tmp_path,
        monkeypatch,
        "aieng_memo_store",
        STORE_PACKAGE,
        {"aieng_nb.stores": {"memo": "aieng_memo_store:open_store"}},
    )
    import aieng_memo_store

    assert "memo" in plugins.stores.names()
    uri = f"memo:///{tmp_path / 'memo.db'}"
    monkeypatch.setenv("AIENG_TRACKING_URI", uri)
    tracking._reset()
    with aieng.start_run(experiment="plugged", params={"p": 1}) as run:
        aieng.log(loss=0.25, step=0)
    assert aieng_memo_store.opened == [uri]
    [listed] = aieng.list_runs(experiment="plugged")
    assert listed.run_id == run.id and listed.metrics == {"loss": 0.25} and listed.status == "FINISHED"
    assert (tmp_path / "memo.db").exists()
    # the data is MLflow's: its own client reads it through the plain sqlite URI
    from mlflow.tracking import MlflowClient

    assert MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'memo.db'}").get_run(run.id).data.params == {"p": "1"}
