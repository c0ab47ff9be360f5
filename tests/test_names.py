"""One name validator (``aieng_nb.names``) with whole-string semantics: a trailing newline (which
``^...$`` let through) is refused for every kind of name, through every front door, and nothing
is created."""

from __future__ import annotations

import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import names, schedules
from aieng_nb.cli import main
from aieng_nb.exceptions import ValidationError

BAD = ["x\n", "x\r", "\nx", "x\n\n", "x\x00"]


@pytest.mark.parametrize("kind", ["model", "alias", "schedule", "snapshot", "contract", "experiment"])
def test_every_kind_refuses_a_trailing_newline_and_accepts_the_plain_name(kind) -> None:
    assert names.valid(kind, "fzm")
    for bad in BAD:
        assert not names.valid(kind, bad), (kind, bad)
    assert not names.valid(kind, None) and not names.valid(kind, 3)


def test_model_register_with_a_newline_name_exits_2_and_creates_nothing(workspace, capsys) -> None:
    with aieng.start_run(experiment="e") as run:
        pass
    assert main(["model", "register", run.id, "--name", "fzm\n"]) == 2
    assert "model name 'fzm\\n'" in capsys.readouterr().err
    from aieng_nb.registry.client import client

    assert client(workspace).search_registered_models() == []


def test_alias_with_a_newline_is_refused() -> None:
    from aieng_nb.registry.client import check_alias

    with pytest.raises(ValidationError, match="alias"):
        check_alias("challenger\n")
    assert check_alias("challenger") == "challenger"


def test_schedule_with_a_newline_is_refused_and_not_stored(workspace, tmp_path) -> None:
    from aieng_nb.jobs.notebook import write_notebook

    nb = write_notebook(tmp_path / "s.ipynb", ["print(1)"])
    with pytest.raises(ValidationError, match="schedule name"):
        schedules.add("nightly\n", str(nb), "0 3 * * *")
    assert schedules.list_schedules().to_dicts() == []


def test_snapshot_and_contract_with_a_newline_are_refused(workspace) -> None:
    df = pd.DataFrame({"a": [1, 2, 3]})
    with pytest.raises(ValidationError, match="snapshot name"):
        aieng.snapshot(df, name="train\n")
    with pytest.raises(ValidationError, match="contract name"):
        aieng.infer_contract(df, name="train\n")
    assert list(aieng.list_snapshots()) == []
    from aieng_nb.snapshots.index import REF_RE

    assert REF_RE.match("train@2") and not REF_RE.match("train\n")


def test_experiment_with_a_newline_is_refused_for_runs_and_jobs(workspace, tmp_path) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        aieng.start_run(experiment="exp\n")
    from aieng_nb.jobs.request import check_experiment

    with pytest.raises(ValidationError, match="control characters"):
        check_experiment("exp\n")
    assert aieng.list_runs() == []


def test_rest_ids_refuse_a_trailing_newline() -> None:
    from aieng_nb.server import safety

    for check, good in [(safety.run_id, "abc123"), (safety.job_id, "j1"), (safety.name, "nightly")]:
        assert check(good) == good
        with pytest.raises(ValidationError):
            check(good + "\n")
