"""``%aieng contract ...`` / ``%aieng validate`` and ``aieng contract ...`` over the real core."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError

from aieng_nb.cli import main as cli


def _frame(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame({"x": np.linspace(0, 10, n), "c": ["a", "b", "c"] * (n // 3)})


def test_magic_contract_flow(shell, workspace) -> None:
    shell.user_ns["df"] = _frame()
    shell.run_line_magic("aieng", "snapshot df --name train")
    con = shell.run_line_magic("aieng", "contract infer train")
    assert con.ref == "train@1" and (workspace.root.parent / "contracts" / "train.yaml").is_file()
    assert "train" in str(shell.run_line_magic("aieng", "contract list"))
    assert shell.run_line_magic("aieng", "contracts")[0].name == "train"
    assert "isin" in shell.run_line_magic("aieng", "contract show train").text
    shell.user_ns["bad"] = _frame().assign(c="zzz")
    rep = shell.run_line_magic("aieng", "validate bad train")
    assert rep.kind == "validation" and not rep.passed and "zzz" in rep._repr_html_()
    assert shell.run_line_magic("aieng", "validate snapshot:train@1").passed
    with pytest.raises(UsageError, match="blocked"):
        shell.run_line_magic("aieng", "snapshot bad --name train --contract-policy block")
    rec = shell.run_line_magic("aieng", "snapshot bad --name train")
    assert rec.contract["passed"] is False
    shell.user_ns["wider"] = _frame(90).assign(x=np.linspace(0, 50, 90))
    shell.run_line_magic("aieng", "contract infer wider --var --name train")
    diff = shell.run_line_magic("aieng", "contract diff train@1 train@2")
    assert "bounds" in diff.kinds()


def test_magic_bad_input_is_one_line(shell, workspace) -> None:
    for line, words in [
        ("contract infer ghost", "no snapshot 'ghost'"),
        ("contract show nope", "no contract 'nope'"),
        ("contract frob", "invalid choice"),
        ("validate missing_var train", "no variable named"),
        ("contract infer df --var", "--var needs --name"),
    ]:
        with pytest.raises(UsageError) as err:
            shell.run_line_magic("aieng", line)
        assert words in str(err.value) and "\n" not in str(err.value).strip()
    assert not (workspace.root.parent / "contracts").exists()


def test_reports_list_validation(shell, capsys) -> None:
    import aieng_nb as aieng

    aieng.infer_contract(_frame(), name="t")
    with aieng.start_run(experiment="x") as run:
        aieng.validate(_frame().assign(x=-100.0), "t")
        listed = shell.run_line_magic("aieng", "reports --kind validation")
    assert len(listed) == 1 and not listed[0].passed
    assert cli(["reports", "--run", run.id, "--kind", "validation", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["kind"] == "validation" and entry["passed"] is False


def test_cli_contract_commands(workspace, capsys) -> None:
    import aieng_nb as aieng

    aieng.snapshot(_frame(), name="train")
    assert cli(["contract", "infer", "train", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ref"] == "train@1" and out["columns"] == ["x", "c"]
    assert cli(["contract", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "train"
    assert cli(["contract", "show", "train"]) == 0
    assert "schema_type: dataframe" in capsys.readouterr().out
    assert cli(["contract", "validate", "train"]) == 0
    assert "passed" in capsys.readouterr().out
    aieng.snapshot(_frame().assign(c="q"), name="train")
    assert cli(["contract", "validate", "train@2"]) == 1
    assert "c: isin" in capsys.readouterr().out
    aieng.infer_contract(_frame().assign(extra=1.0), name="train")
    assert cli(["contract", "diff", "train@1", "train@2", "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert [c["kind"] for c in diff["changes"]] == ["column_added"]
    assert cli(["contract", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aieng: error: no contract 'nope'") and err.count("\n") == 1
    assert cli(["contract", "infer", "ghost"]) == 2
    assert "no snapshot 'ghost'" in capsys.readouterr().err
    assert not (workspace.root.parent / "contracts" / "ghost.yaml").exists()
    (workspace.root.parent / "contracts" / "bad.yaml").write_text("columns: [\n")
    assert cli(["contract", "list", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert "not valid YAML" in listed["bad"]["error"] and listed["train"]["version"] == 2


def test_config_policy_blocks_in_the_notebook(shell, workspace) -> None:
    import aieng_nb as aieng

    aieng.infer_contract(_frame(600), name="cfg")  # enough rows for not-null (rule of three)
    shell.user_ns["bad"] = _frame().assign(x=np.nan)
    shell.run_line_magic("config", "Aieng.contract_policy = 'block'")
    with pytest.raises(UsageError, match="x: not_nullable"):
        shell.run_line_magic("aieng", "snapshot bad --name cfg")
    from aieng_nb.snapshots.index import open_stores

    assert open_stores(workspace)[2].read()["names"] == {}
    rec = shell.run_line_magic("aieng", "snapshot bad --name cfg --contract-policy warn")
    assert rec.contract["passed"] is False and "FAILED" in rec._repr_html_()
