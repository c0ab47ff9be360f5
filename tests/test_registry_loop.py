"""The loop's configuration and front ends (fast: no kernels run here)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from aieng_nb import loop, schedules
from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.registry.gatefile import GateFileError

NB = Path(__file__).resolve().parents[1] / "notebooks" / "loop"


def _add(**kw):
    args = {"score": str(NB / "score.ipynb"), "retrain": str(NB / "train.ipynb"), "cron": "0 * * * *"}
    args.update(kw)
    return loop.add("churn", **args)


def test_add_creates_a_schedule_with_the_loop_hook():
    cfg = _add(retrain_params={"variant": "good"}, target="label")
    s = schedules.get(cfg.schedule)
    assert s.notebook == str(NB / "score.ipynb") and s.cron == "0 * * * *"
    assert s.parameters["model"] == "churn@champion"  # the scoring notebook declares `model`
    assert s.options["on_finish"] == loop.HOOK
    assert loop.get("churn").retrain_params == {"variant": "good"}
    assert loop.history("churn") == [] and str(loop.history("churn")) == "no loop events yet"
    assert loop.next_run("churn") is not None
    from aieng_nb.exceptions import ConflictError

    with pytest.raises(ConflictError, match="already has a loop"):
        _add()


def test_add_checks_notebooks_parameters_and_gates_now(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    bad = tmp_path / "no_data.ipynb"
    nbformat.write(nb, str(bad))
    with pytest.raises(ValidationError, match="must declare a parameter 'data'"):
        _add(retrain=str(bad))
    with pytest.raises(ValidationError, match="unknown"):
        _add(retrain_params={"nope": 1})
    gates = tmp_path / "g.toml"
    gates.write_text("[metrics]\nname = 1\n")
    with pytest.raises(GateFileError):
        _add(gates=str(gates))
    with pytest.raises(ValidationError, match="cron"):
        _add(cron="every hour")
    assert loop.list_loops() == []  # nothing half-created
    with pytest.raises(NotFoundError, match="no loop"):
        loop.history("churn")


def test_update_and_remove():
    _add()
    assert loop.update("churn", retrain_params={"variant": "worse"}).retrain_params == {"variant": "worse"}
    with pytest.raises(ValidationError):
        loop.update("churn", retrain_params={"nope": 1})
    loop.remove("churn")
    with pytest.raises(NotFoundError):
        schedules.get("loop-churn")
    assert loop.list_loops() == []


def test_cli_loop_add_list_history(capsys):
    from aieng_nb.cli import main

    argv = ["loop", "add", "churn", "--score", str(NB / "score.ipynb"), "--retrain", str(NB / "train.ipynb")]
    assert (
        main([*argv, "--cron", "*/5 * * * *", "-p", "variant", "biased", "-s", "fresh_path", "/data/today.parquet"])
        == 0
    )
    assert "schedule loop-churn" in capsys.readouterr().out
    assert main(["loop", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "churn" and listed[0]["retrain_params"] == {"variant": "biased"}
    assert schedules.get("loop-churn").parameters["fresh_path"] == "/data/today.parquet"
    assert main(["loop", "history", "churn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["loop", "history", "nope"]) == 2


def test_magic_loop_history(shell):
    from IPython.core.error import UsageError

    shell.run_line_magic(
        "aieng",
        f"loop add churn --score {NB / 'score.ipynb'} --retrain {NB / 'train.ipynb'} --cron '0 3 * * *' -p variant=good",
    )
    assert loop.get("churn").retrain_params == {"variant": "good"}
    assert shell.run_line_magic("aieng", "loop history churn") == []
    with pytest.raises(UsageError, match="no loop"):
        shell.run_line_magic("aieng", "loop history other")
