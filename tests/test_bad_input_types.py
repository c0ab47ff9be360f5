"""Bad input, second pass: wrong types in the Python API raise one-line AiengErrors and create
nothing; read-only CLI commands never create a workspace."""

from __future__ import annotations

import pytest

import aieng_nb as aieng
from aieng_nb.cli import main


@pytest.mark.parametrize(
    "call",
    [
        lambda: aieng.get_run(-1),
        lambda: aieng.list_reports(1.5),
        lambda: aieng.lineage(True),
        lambda: aieng.submit_job(True),
        lambda: aieng.submit_job("x.ipynb", []),
        lambda: aieng.list_pipeline_runs(True),
        lambda: aieng.list_snapshots([]),
        lambda: aieng.load_checkpoint(1.5),
        lambda: aieng.load_model(True),
        lambda: aieng.load_report(-1),
        lambda: aieng.list_runs(experiment={"a": 1}),
        lambda: aieng.list_runs(text=5),
    ],
    ids=[
        "get_run(-1)",
        "list_reports(1.5)",
        "lineage(True)",
        "submit_job(True)",
        "submit_job(parameters=[])",
        "list_pipeline_runs(True)",
        "list_snapshots([])",
        "load_checkpoint(1.5)",
        "load_model(True)",
        "load_report(-1)",
        "list_runs(experiment={})",
        "list_runs(text=5)",
    ],
)
def test_wrong_types_raise_one_line_aieng_errors(workspace, call) -> None:
    from aieng_nb.exceptions import AiengError

    with pytest.raises(AiengError) as err:
        call()
    assert "\n" not in str(err.value)
    from aieng_nb.jobs import store

    assert store.list_records(workspace=workspace) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["model", "list"],
        ["model", "status", "churn"],
        ["loop", "list"],
        ["contract", "list"],
        ["lineage", "m"],
        ["contract", "show", "x"],
        ["contract", "diff", "x"],
        ["contract", "validate", "S", "--contract", "x"],
        ["loop", "history", "x"],
        ["sweep", "list"],
    ],
)
def test_read_only_commands_create_no_workspace(tmp_path, monkeypatch, capsys, argv) -> None:
    import os

    from aieng_nb import config

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.setenv("AIENG_WORKSPACE", str(empty / ".aieng"))
    config.reset()
    code = main(argv)
    assert code in (0, 2), capsys.readouterr()
    assert os.listdir(empty) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda: aieng.set_tags(True),
        lambda: aieng.log_artifact(1.5),
        lambda: aieng.log_artifact([]),
    ],
    ids=["set_tags(True)", "log_artifact(1.5)", "log_artifact([])"],
)
def test_wrong_types_inside_a_run_raise_one_line_aieng_errors(workspace, call) -> None:
    from aieng_nb.exceptions import AiengError

    with aieng.start_run(experiment="types") as run:
        with pytest.raises(AiengError) as err:
            call()
    assert "\n" not in str(err.value)
    assert aieng.get_run(run.id).tags.get("a") is None
