"""%aieng snapshot | snapshots | diff in a real IPython shell, and the ``aieng snapshots`` CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError

import aieng_nb as aieng
from aieng_nb.cli import main as cli_main
from aieng_nb.snapshots.objects import ObjectStore


def magic(shell, line):
    return shell.run_line_magic("aieng", line)


def test_the_users_session_from_the_issue(shell, capsys):
    shell.run_cell(
        "import pandas as pd, numpy as np\ntrain_df = pd.DataFrame({'age': np.arange(100.0), 'city': ['Oslo', 'Rome'] * 50})"
    )
    rec = magic(shell, "snapshot train_df --name train")
    assert rec.ref == "train@1" and rec.stored
    shell.run_cell("scored = train_df.assign(email=['ann@example.com'] * 100, age=train_df.age * 2)")
    red = magic(shell, "snapshot scored --name scored --pii redact")
    assert red.pii["redacted"]
    shell.run_cell("train_df2 = train_df.assign(age=train_df.age + 50)")
    magic(shell, "snapshot train_df2 --name train")
    listing = magic(shell, "snapshots")
    assert [(r.name, r.version) for r in listing] == [("scored", 1), ("train", 1), ("train", 2)]
    assert "train" in listing._repr_html_()
    df = shell.ev("__import__('aieng_nb').load('train@1')")
    pd.testing.assert_frame_equal(df, shell.user_ns["train_df"])
    d = magic(shell, "diff train@1 train@2")
    assert d.drifted == ["age"] and "DRIFT" in d._repr_html_()
    shown = magic(shell, "snapshots --show train@2")
    assert shown.version == 2 and shown.profile["rows"] == 100
    # the notebook display of a record is the HTML profile
    fmt = shell.display_formatter.format(rec)[0]
    assert "text/html" in fmt and "age" in fmt["text/html"]


def test_variable_name_is_the_default_name_and_paths_work(shell, tmp_path):
    shell.user_ns["features"] = np.ones((3, 2))
    assert magic(shell, "snapshot features").ref == "features@1"
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    rec = magic(shell, f"snapshot {data} --path --name rawcsv")
    assert rec.kind == "file" and aieng.load("rawcsv").read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize(
    "line,match",
    [
        ("snapshot nope --name x", "no variable named 'nope'"),
        ("snapshot shell_obj --name x", "cannot snapshot a"),
        ("snapshot df --name x --pii strict", "invalid choice: 'strict'"),
        ("snapshot df --name bad/name", "bad snapshot name"),
        ("snapshot", "required: VAR"),
        ("snapshot 1df", "not a variable name"),
        ("snapshot df --name x --bogus", "unrecognized arguments"),
        ("diff train@1", "required: REF_B"),
        ("diff nope@1 nope@2", "no snapshot 'nope@1'"),
        ("snapshots --dry-run", "--dry-run goes with --gc"),
        ("snapshots --show zzz", "no snapshot 'zzz'"),
        ("snapshot blocked --name x --pii block", "PII found, snapshot blocked"),
    ],
)
def test_bad_input_is_a_one_line_usage_error_and_writes_nothing(shell, workspace, line, match):
    shell.user_ns["df"] = pd.DataFrame({"a": [1]})
    shell.user_ns["shell_obj"] = object()
    shell.user_ns["blocked"] = pd.DataFrame({"email": ["ann@example.com"]})
    with pytest.raises(UsageError, match=match) as info:
        magic(shell, line)
    assert "\n" not in str(info.value)
    assert list(ObjectStore(workspace.path("snapshots")).hashes()) == []


def test_rm_and_gc_from_the_magic(shell, workspace, capsys):
    shell.user_ns["df"] = pd.DataFrame({"a": [1]})
    magic(shell, "snapshot df --name x")
    magic(shell, "snapshots --gc --dry-run")
    assert "would remove 0" in capsys.readouterr().out
    magic(shell, "snapshots --rm x")
    assert "deleted x@1" in capsys.readouterr().out
    assert len(magic(shell, "snapshots")) == 0


# --- CLI ---------------------------------------------------------------------------------------------


def test_cli_list_show_diff_gc(workspace, capsys):
    aieng.snapshot(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), name="t")
    aieng.snapshot(pd.DataFrame({"x": [10.0, 20.0, 30.0], "y": 1}), name="t")
    assert cli_main(["snapshots", "list"]) == 0
    out = capsys.readouterr().out
    assert "t" in out and "3 x 1" in out and "3 x 2" in out
    assert cli_main(["snapshots", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["version"]) for r in rows] == [("t", 1), ("t", 2)]
    assert cli_main(["snapshots", "show", "t@1"]) == 0
    assert "mean 2" in capsys.readouterr().out
    assert cli_main(["snapshots", "show", "t", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 2
    assert cli_main(["snapshots", "diff", "t@1", "t@2"]) == 0
    out = capsys.readouterr().out
    assert "added columns: y" in out and "DRIFT" in out
    assert cli_main(["snapshots", "diff", "t@1", "t@2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == ["y"]
    assert cli_main(["snapshots", "gc", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == []
    assert cli_main(["snapshots", "rm", "t@1"]) == 0
    assert "deleted t@1" in capsys.readouterr().out
    assert cli_main(["snapshots", "list", "--json"]) == 0
    assert [r["version"] for r in json.loads(capsys.readouterr().out)] == [2]
    assert cli_main(["snapshots", "show", "missing"]) == 2
    assert "no snapshot 'missing'" in capsys.readouterr().err


def test_cli_in_a_subprocess(workspace, python_env):
    aieng.snapshot(pd.DataFrame({"x": [1]}), name="sub")
    out = subprocess.run(
        [sys.executable, "-m", "aieng_nb.cli", "snapshots", "list", "--json"],
        env=python_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)[0]["name"] == "sub"
