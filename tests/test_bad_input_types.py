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
        lambda: aieng.list_runs(metrics=5),
        lambda: aieng.list_runs(workspace=3),
        lambda: aieng.list_jobs(workspace=3),
        lambda: aieng.get_run("x", workspace=3),
        lambda: aieng.list_reports(workspace=3),
        lambda: aieng.list_snapshots(workspace=3),
        lambda: aieng.list_models(workspace=3),
        lambda: aieng.list_jobs(sweep_id=3),
        lambda: aieng.list_jobs(schedule=3),
        lambda: aieng.list_jobs(recover="x"),
        lambda: aieng.list_reports(failed="x"),
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
        "list_runs(metrics=5)",
        "list_runs(workspace=3)",
        "list_jobs(workspace=3)",
        "get_run(workspace=3)",
        "list_reports(workspace=3)",
        "list_snapshots(workspace=3)",
        "list_models(workspace=3)",
        "list_jobs(sweep_id=3)",
        "list_jobs(schedule=3)",
        "list_jobs(recover='x')",
        "list_reports(failed='x')",
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


def test_a_folder_path_is_a_workspace(workspace, tmp_path) -> None:
    import os

    run = aieng.start_run(experiment="paths")
    aieng.end_run()
    for given in (str(workspace.root), workspace.root):
        assert [r.run_id for r in aieng.list_runs(workspace=given)] == [run.id]
        assert aieng.get_run(run.id, workspace=given).run_id == run.id
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert len(aieng.list_runs(workspace=str(elsewhere / ".aieng"))) == 0
    assert len(aieng.list_jobs(workspace=str(elsewhere / ".aieng"))) == 0
    assert os.listdir(elsewhere) == []  # a reader given a path creates nothing there
