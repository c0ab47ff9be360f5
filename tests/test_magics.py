"""%aieng in a real IPython InteractiveShell."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

import aieng_nb as aieng
from aieng_nb import audit, tracking


def magic(shell, line, cell=None):
    if cell is None:
        return shell.run_line_magic("aieng", line)
    return shell.run_cell_magic("aieng", line, cell)


def test_the_users_session_from_the_issue(shell, capsys):
    magic(shell, "start --experiment churn --name baseline --tag owner=ana")
    shell.run_cell("lr = 0.05")
    magic(shell, "param lr depth=6")
    shell.run_cell("import aieng_nb as aieng\nfor s in range(100): aieng.log(loss=1/(s+1), step=s)")
    status = magic(shell, "status")
    assert status.status == "RUNNING" and status.params == {"lr": "0.05", "depth": "6"}
    assert status.metrics["loss"] == pytest.approx(0.01)
    run_id = status.run_id
    magic(shell, "end")
    table = magic(shell, "runs --experiment churn --last 10")
    assert [r.run_id for r in table] == [run_id] and table[0].status == "FINISHED"
    assert magic(shell, f"show {run_id[:10]}").tags["owner"] == "ana"
    assert "started" in capsys.readouterr().out


def test_cells_are_captured_with_outcome_and_the_error_is_untouched(shell, workspace):
    magic(shell, "start")
    ok = shell.run_cell("x = 41 + 1")
    failing = shell.run_cell("raise KeyError('k')")
    assert ok.success and isinstance(failing.error_in_exec, KeyError)
    run_id = tracking.active_run().id
    magic(shell, "end")
    from mlflow.tracking import MlflowClient

    path = MlflowClient(workspace.tracking_uri).download_artifacts(run_id, "aieng/cells.jsonl", str(workspace.root))
    cells = [json.loads(line) for line in open(path)]
    by_source = {c["source"]: c for c in cells}
    assert by_source["x = 41 + 1"]["outcome"] == "ok"
    assert by_source["raise KeyError('k')"]["outcome"] == "error"
    assert by_source["raise KeyError('k')"]["error"] == "KeyError"
    assert all(c["duration_s"] >= 0 and "execution_count" in c for c in cells)


def test_a_capture_failure_is_a_warning_and_never_breaks_the_cell(shell, workspace):
    magic(shell, "start")
    run = tracking.active_run()
    shell._aieng_capture._files[run.id] = open(workspace.root / "closed.txt", "w")
    shell._aieng_capture._files[run.id].close()  # writing to it raises
    with pytest.warns(RuntimeWarning, match="cell capture failed"):
        result = shell.run_cell("y = 5")
    assert result.success and shell.user_ns["y"] == 5
    shell._aieng_capture._files.pop(run.id)
    magic(shell, "end")


def test_track_runs_the_cell_in_a_new_run_and_marks_failure(shell):
    assert magic(shell, "track --name fe", "z = 3\nz * 2") == 6  # the last expression is the cell's value
    assert shell.user_ns["z"] == 3
    result = shell.run_cell("%%aieng track --name broken\nraise ValueError('no')")
    assert not result.success and isinstance(result.error_in_exec, ValueError)  # papermill sees the failure
    runs = {r.name: r for r in aieng.list_runs()}
    assert runs["fe"].status == "FINISHED"
    assert runs["broken"].status == "FAILED"
    assert tracking.active_run() is None


def test_track_with_a_syntax_error_creates_no_run(shell):
    result = shell.run_cell("%%aieng track --name bad\nx = (")
    assert not result.success
    assert aieng.list_runs() == []


def test_track_understands_ipython_syntax(shell):
    magic(shell, "track --name magic-inside", "%config Aieng.capture_cells = True\nw = 1")
    assert shell.user_ns["w"] == 1 and aieng.list_runs()[0].status == "FINISHED"


def test_track_inside_an_active_run_uses_it(shell):
    magic(shell, "start --name outer")
    magic(shell, "track", "import aieng_nb as aieng\naieng.log(inside=1.0, step=0)")
    record = magic(shell, "status")
    assert record.name == "outer" and record.metrics == {"inside": 1.0}
    magic(shell, "end")
    assert len(aieng.list_runs()) == 1


def test_track_with_a_name_inside_an_active_run_is_a_child_run_that_ends_with_the_cell(shell):
    magic(shell, "start --name outer")
    outer = tracking.active_run().id
    magic(shell, "track --name feature-eng", "import aieng_nb as aieng\naieng.log(rows=10.0, step=0)")
    assert tracking.active_run().id == outer  # back in the outer run
    child = {r.name: r for r in aieng.list_runs()}["feature-eng"]
    assert child.status == "FINISHED" and child.metrics == {"rows": 10.0}
    assert child.tags["mlflow.parentRunId"] == outer
    magic(shell, "end")


def test_monitor_reference_accepts_a_snapshot_name(shell):
    import pandas as pd

    aieng.snapshot(pd.DataFrame({"a": range(50)}), name="train")
    shell.user_ns["scored_df"] = pd.DataFrame({"a": range(50)})
    rep = magic(shell, "monitor --reference train --current scored_df --no-evidently --no-log")
    assert rep.kind == "monitor" and rep.passed
    with pytest.raises(UsageError, match="no variable 'nothing' in the notebook and no snapshot"):
        magic(shell, "monitor --reference nothing --current scored_df --no-evidently --no-log")


def test_end_with_status_failed(shell):
    magic(shell, "start")
    magic(shell, "end --status failed")
    assert aieng.list_runs()[0].status == "FAILED"


def test_seed_records_the_seed(shell):
    magic(shell, "start")
    magic(shell, "seed 42")
    assert magic(shell, "status").params["seed"] == "42"
    magic(shell, "end")


def test_compare_shows_both_runs(shell):
    ids = []
    for lr in (0.1, 0.2):
        magic(shell, "start")
        magic(shell, f"param lr={lr}")
        ids.append(tracking.active_run().id)
        magic(shell, "end")
    cmp = magic(shell, f"compare {ids[0]} {ids[1]}")
    assert cmp.run_ids == ids
    assert any(r.key == "lr" and r.differs for r in cmp.rows)


BAD_INPUT = [
    ("", "usage"),
    ("bogus", "unknown subcommand"),
    ("strat", "Did you mean 'start'"),
    ("start --experiment", "expected one argument"),
    ("start --tag owner", "KEY=VALUE"),
    ("start --bogus", "unrecognized"),
    ("start --name '", "quotation"),
    ("end", "needs an active run"),
    ("end --status done", "invalid choice"),
    ("param", "required"),
    ("param lr", "%aieng start"),  # no run yet: say how to start one, not an internal name
    ("param lr=1", "%aieng start"),
    ("seed", "required"),
    ("seed abc", "invalid int"),
    ("seed -5", "seed must be"),
    ("track --name x", "cell magic"),
    ("runs --last 0", "at least 1"),
    ("runs --last 99999999999999999999", "1,000,000"),
    ("audit list --last 0", "positive"),
    ("start --tag k=" + "v" * 9000, "at most 8000"),
    ("runs --last many", "invalid int"),
    ("runs --status done", "invalid choice"),
    ("runs --experiment nope", "no experiment"),
    ("show", "required"),
    ("show zzz", "not a run id"),
    ("show abcdef", "no run"),
    ("compare abc", "at least two"),
    ("audit", "required"),
    ("audit nuke", "invalid choice"),
    ("audit anchor", "say where to anchor"),
    ("audit verify --anchor nonsense", "bad anchor"),
    ("help nothing", "unknown subcommand"),
]


@pytest.mark.parametrize("line, message", BAD_INPUT)
def test_bad_input_is_one_usage_error_line_and_creates_nothing(shell, workspace, line, message):
    with pytest.raises(UsageError, match=message) as info:
        magic(shell, line)
    assert "\n" not in str(info.value)
    assert tracking.active_run() is None
    assert audit.entries(workspace=workspace) == []
    assert aieng.list_runs() == []


@pytest.mark.parametrize(
    "line, message",
    [("param not_defined_anywhere", "no variable"), ("param 3x", "neither"), ("param =5", "empty name")],
)
def test_bad_params_in_a_run_are_one_line_and_record_nothing(shell, line, message):
    magic(shell, "start")
    with pytest.raises(UsageError, match=message) as info:
        magic(shell, line)
    assert "\n" not in str(info.value)
    assert magic(shell, "status").params == {}
    magic(shell, "end")


def test_param_echoes_what_it_recorded(shell, capsys):
    magic(shell, "start --name echo")
    shell.run_cell("lr = 0.05")
    magic(shell, "param lr depth=6 name=abc")
    out = capsys.readouterr().out
    assert "recorded lr=0.05, depth=6, name='abc'" in out and "'echo'" in out
    magic(shell, "end")


def test_bad_input_while_a_run_is_active_leaves_it_alone(shell):
    magic(shell, "start --name keep")
    with pytest.raises(UsageError):
        magic(shell, "start --name second")
    with pytest.raises(UsageError):
        magic(shell, "param lr=1 missing_var")
    record = magic(shell, "status")
    assert record.name == "keep" and record.params == {}
    magic(shell, "end")
    assert len(aieng.list_runs()) == 1


def test_line_subcommands_refuse_a_cell_body(shell):
    with pytest.raises(UsageError, match="not a cell magic"):
        magic(shell, "start", "x = 1")
    assert tracking.active_run() is None


def test_help_and_question_mark(shell, capsys):
    magic(shell, "help")
    assert "%aieng start" in capsys.readouterr().out
    magic(shell, "help start")
    assert "--experiment" in capsys.readouterr().out
    doc = shell.find_line_magic("aieng").__doc__
    assert "Subcommands" in doc and "%aieng runs" in doc
    info = shell.object_inspect("%aieng")
    assert info["found"] and "Subcommands" in (info.get("docstring") or "")


def test_tab_completion_of_subcommands_and_options(shell):
    from IPython.core.completer import provisionalcompleter

    with provisionalcompleter():
        subs = {c.text for c in shell.Completer.completions("%aieng st", 9)}
        opts = {c.text for c in shell.Completer.completions("%aieng start --ex", 17)}
    assert {"start", "status"} <= subs
    assert "--experiment" in opts


def test_config_through_percent_config(shell):
    shell.run_line_magic("config", "Aieng.flush_interval = 0.05")
    from aieng_nb import config

    assert config.get("flush_interval") == 0.05
    magic(shell, "start")
    assert tracking.active_run().buffer.interval == 0.05
    magic(shell, "end")


def test_capture_can_be_switched_off(shell, workspace):
    shell.run_line_magic("config", "Aieng.capture_cells = False")
    magic(shell, "start")
    run_id = tracking.active_run().id
    shell.run_cell("q = 1")
    magic(shell, "end")
    from mlflow.tracking import MlflowClient

    assert "aieng/cells.jsonl" not in {
        a.path for a in MlflowClient(workspace.tracking_uri).list_artifacts(run_id, "aieng")
    }


def test_notebook_file_is_attached_when_its_path_is_known(shell, workspace, tmp_path, monkeypatch):
    import nbformat

    nb_path = tmp_path / "analysis.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), nb_path)
    shell.user_ns["__session__"] = str(nb_path)
    magic(shell, "start")
    run_id = tracking.active_run().id
    magic(shell, "end")
    record = aieng.get_run(run_id)
    assert record.tags["aieng.notebook"] == str(nb_path)
    from mlflow.tracking import MlflowClient

    assert "aieng/notebook/analysis.ipynb" in {
        a.path for a in MlflowClient(workspace.tracking_uri).list_artifacts(run_id, "aieng/notebook")
    }


def test_unknown_notebook_path_degrades_gracefully(shell):
    shell.user_ns.pop("__session__", None)
    magic(shell, "start")
    run_id = tracking.active_run().id
    magic(shell, "end")
    assert aieng.get_run(run_id).tags["aieng.notebook"] == "unknown"


def test_audit_subcommand(shell, capsys):
    magic(shell, "start")
    magic(shell, "end")
    capsys.readouterr()
    magic(shell, "audit verify")
    assert capsys.readouterr().out.startswith("OK: 2 entries")
    listing = magic(shell, "audit list --event run.")
    assert "run.start" in str(listing) and "<table" in listing._repr_html_()
    assert [e["event"] for e in listing] == ["run.start", "run.end"]
    run_id = aieng.list_runs()[0].run_id
    magic(shell, f"audit anchor --run {run_id}")
    anchor = aieng.get_run(run_id).tags["aieng.audit.head"]
    assert anchor in capsys.readouterr().out
    magic(shell, f"audit verify --anchor {anchor}")
    assert capsys.readouterr().out.startswith("OK: ")


def test_aieng_lines_mid_cell_display_their_result_like_the_last_line(shell):
    from IPython.utils.capture import capture_output

    cell = (
        "%aieng start --experiment mid --name first\n"
        "%aieng status                 # not the last line: shown anyway\n"
        "runs = %aieng runs --last 5   # an assignment shows nothing\n"
        "%aieng seed 3\n"
        "x = 1\n"
    )
    with capture_output() as cap:
        result = shell.run_cell(cell)
    assert result.success, result.error_in_exec
    shown = [o.data for o in cap.outputs]
    assert len(shown) == 1 and "text/html" in shown[0]  # the status record, once; the listing not
    assert "aieng-run" in shown[0]["text/html"] and "first" in shown[0]["text/plain"]
    assert "seeded" in cap.stdout and isinstance(shell.user_ns["runs"], aieng.tracking.records.RunTable)
    # the last line is displayed by IPython as before (once), and %%aieng track cells do the same
    with capture_output() as cap:
        shell.run_cell("%%aieng track\n%aieng status\ny = 2\n")
    assert [("text/html" in o.data) for o in cap.outputs] == [True]
    with capture_output() as cap:
        shell.run_cell("%aieng runs --last 1\n%aieng end\n")
    assert len(cap.outputs) == 1 and "first" in cap.outputs[0].data["text/plain"]
    shell.run_line_magic("unload_ext", "aieng_nb")
    assert not any(type(t).__name__ == "ShowMidCellResults" for t in shell.ast_transformers)
    shell.run_line_magic("load_ext", "aieng_nb")
