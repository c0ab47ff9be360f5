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
    ],
    ids=["get_run(-1)", "list_reports(1.5)", "lineage(True)", "submit_job(True)", "submit_job(parameters=[])"],
)
def test_wrong_types_raise_one_line_aieng_errors(workspace, call) -> None:
    from aieng_nb.exceptions import AiengError

    with pytest.raises(AiengError) as err:
        call()
    assert "\n" not in str(err.value)
    from aieng_nb.jobs import store

    assert store.list_records(workspace=workspace) == []


@pytest.mark.parametrize(
    "argv", [["model", "list"], ["model", "status", "churn"], ["loop", "list"], ["contract", "list"], ["lineage", "m"]]
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
