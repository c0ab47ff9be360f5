"""The `aieng` command line: help, exit codes, --json."""

from __future__ import annotations

import json
import subprocess
import sys

import aieng_nb as aieng
from aieng_nb.cli import main


def test_help_and_version(capsys):
    # main() turns argparse's exit into a return code, so in-process callers get 0 back
    assert main(["--help"]) == 0
    assert "runs" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert "aieng_nb" in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2


def test_runs_list_show_compare_json(capsys):
    ids = []
    for lr in (0.1, 0.2):
        with aieng.start_run(experiment="cli", params={"lr": lr}) as run:
            aieng.log(acc=lr, step=0)
        ids.append(run.id)
    capsys.readouterr()
    assert main(["runs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listed] == ids[::-1]
    assert main(["runs", "show", ids[0][:8], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == {"lr": "0.1"}
    assert main(["runs", "compare", *ids, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {"section": "param", "key": "lr", "values": ["0.1", "0.2"], "differs": True} in rows
    assert main(["runs", "list"]) == 0
    assert "cli" in capsys.readouterr().out


def test_errors_are_one_line_with_exit_code_2(capsys):
    assert main(["runs", "show", "deadbeef"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aieng: error:") and err.count("\n") == 1
    assert main(["runs", "list", "--experiment", "missing"]) == 2


def test_bad_usage_exits_2():
    out = subprocess.run(
        [sys.executable, "-m", "aieng_nb.cli", "runs", "list", "--last", "x"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "invalid int" in out.stderr


def test_audit_verify_exit_codes(workspace, capsys):
    with aieng.start_run():
        pass
    assert main(["audit", "verify"]) == 0
    assert "OK" in capsys.readouterr().out
    from sqlalchemy import delete, update

    from aieng_nb.storage.tables import audit_entries

    with workspace.database().begin() as conn:  # the first entry deleted
        conn.execute(delete(audit_entries).where(audit_entries.c.pos == 0))
        conn.execute(update(audit_entries).values(pos=audit_entries.c.pos - 1))
    assert main(["audit", "verify", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False and result["bad_seq"] == 0
    assert main(["audit", "list", "--json"]) == 0


def test_recover_reports_nothing_to_do(capsys):
    assert main(["recover", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_console_script_is_installed(python_env):
    import shutil

    exe = shutil.which("aieng", path=python_env["PATH"])
    assert exe, "the aieng console script is not on PATH"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, env=python_env)
    assert out.returncode == 0 and "audit" in out.stdout
