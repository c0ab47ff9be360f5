"""Finding, creating and opening the workspace folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from aieng_nb import config, workspace
from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.workspace import Workspace


def test_ensure_creates_the_folders_and_a_gitignore(tmp_path):
    ws = Workspace(tmp_path / "w" / ".aieng").ensure()
    for folder in (ws.root, ws.artifacts, ws.buffers, ws.locks):
        assert folder.is_dir()
    assert (ws.root / ".gitignore").read_text() == "*\n"
    assert ws.ensure() is ws  # idempotent


def test_ensure_keeps_a_users_gitignore(tmp_path):
    root = tmp_path / "mine" / ".aieng"
    root.mkdir(parents=True)
    (root / ".gitignore").write_text("mine\n")
    Workspace(root).ensure()
    assert (root / ".gitignore").read_text() == "mine\n"


def test_ensure_recreates_folders_deleted_meanwhile(tmp_path):
    ws = Workspace(tmp_path / ".aieng").ensure()
    ws.locks.rmdir()
    ws.ensure()
    assert ws.locks.is_dir()


def test_a_file_where_the_workspace_should_be_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValidationError, match="is not a folder"):
        Workspace(tmp_path / "file").ensure()


def test_well_known_paths_and_the_default_tracking_uri(tmp_path):
    ws = Workspace(tmp_path / ".aieng")
    assert ws.mlflow_db == ws.root / "mlflow.db"
    assert ws.audit_log.name == "audit.log" and ws.audit_head.name == "audit.head"
    assert ws.path("snapshots", "x") == ws.root / "snapshots" / "x"
    assert ws.tracking_uri == f"sqlite:///{ws.mlflow_db}"
    assert ws.is_local


def test_a_configured_tracking_uri_makes_it_remote(tmp_path, monkeypatch):
    monkeypatch.setenv("AIENG_TRACKING_URI", "http://127.0.0.1:5000")
    ws = Workspace(tmp_path / ".aieng")
    assert ws.tracking_uri == "http://127.0.0.1:5000"
    assert not ws.is_local


def test_find_workspace_walks_up_like_git(tmp_path):
    project = tmp_path / "proj"
    (project / ".aieng").mkdir(parents=True)
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert workspace.find_workspace(deep) == project / ".aieng"
    assert workspace.find_workspace(project) == project / ".aieng"


def test_a_file_named_aieng_is_not_a_workspace(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / ".aieng").write_text("not a folder")
    assert workspace.find_workspace(tmp_path / "x") == tmp_path / ".aieng"  # the folder above, not the file


def test_locate_prefers_the_configured_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path / "elsewhere"))
    assert workspace.locate() == (tmp_path / "elsewhere").resolve()
    assert not (tmp_path / "elsewhere").exists()  # locate creates nothing


def test_without_configuration_the_nearest_folder_upwards_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("AIENG_WORKSPACE")
    config.reset()
    (tmp_path / "proj" / ".aieng").mkdir(parents=True)
    (tmp_path / "proj" / "nb").mkdir()
    monkeypatch.chdir(tmp_path / "proj" / "nb")
    assert workspace.current().root == (tmp_path / "proj" / ".aieng").resolve()


def test_without_any_workspace_current_creates_one_here(tmp_path_factory, monkeypatch):
    monkeypatch.delenv("AIENG_WORKSPACE")
    config.reset()
    here = tmp_path_factory.mktemp("fresh")  # outside the test's own workspace folder
    monkeypatch.chdir(here)
    if workspace.find_workspace(here) is not None:
        pytest.skip("a .aieng folder above the test's tmp folder would be found first")
    ws = workspace.current()
    assert ws.root == here.resolve() / ".aieng" and ws.locks.is_dir()


def test_existing_refuses_a_missing_workspace_without_creating_it(tmp_path, monkeypatch):
    missing = tmp_path / "missing" / ".aieng"
    monkeypatch.setenv("AIENG_WORKSPACE", str(missing))
    with pytest.raises(NotFoundError, match="no aieng workspace at"):
        workspace.existing()
    assert not missing.exists()
    Workspace(missing).ensure()
    assert workspace.existing().root == Path(missing).resolve()


def test_a_workspace_given_its_uris_keeps_them_and_hands_them_to_job_processes(tmp_path, workspace) -> None:  # noqa: ANN001
    """What a server's ``--AiengServer.tracking_uri`` / ``database_url`` build: the URIs belong to
    that workspace (not the process's settings) and go to the kernels and detached processes of its jobs."""
    from aieng_nb.jobs.notebook import kernel_env
    from aieng_nb.jobs.records import JobRecord
    from aieng_nb.workspace import Workspace

    tracking, meta = f"sqlite:///{tmp_path / 't.db'}", f"sqlite:///{tmp_path / 'm.db'}"
    given = Workspace(tmp_path / "b" / ".aieng", configured_tracking_uri=tracking, configured_database_url=meta)
    assert (given.tracking_uri, given.database_url, given.is_local) == (tracking, meta, False)
    assert (workspace.tracking_uri, workspace.database_url) == (
        f"sqlite:///{workspace.mlflow_db}",
        f"sqlite:///{workspace.root / 'aieng.db'}",
    )
    env = kernel_env(JobRecord.new("nb.ipynb"), given)
    assert (env["AIENG_WORKSPACE"], env["AIENG_TRACKING_URI"], env["AIENG_DATABASE_URL"]) == (
        str(given.root),
        tracking,
        meta,
    )
