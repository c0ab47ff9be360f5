"""Runs, comparisons and audit entries follow the record convention; CLI --json is their to_dict()."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone

import pytest

import aieng_nb as aieng
from aieng_nb import audit, tracking
from aieng_nb.audit import AuditEntry, VerifyResult
from aieng_nb.cli import main
from aieng_nb.records import utc
from aieng_nb.tracking.records import Comparison, RunRecord, RunStatus, RunTable
from aieng_nb.workspace import Workspace


def _two_runs() -> list[str]:
    ids = []
    for lr in (0.1, 0.2):
        with aieng.start_run(experiment="records", params={"lr": lr}) as run:
            aieng.log(acc=lr, step=0)
        ids.append(run.id)
    return ids


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert main(list(argv)) in (0, 1)
    return json.loads(capsys.readouterr().out)


def test_cli_json_of_runs_is_exactly_the_records_dicts(capsys):
    ids = _two_runs()
    assert _cli_json(capsys, "runs", "list", "--json") == aieng.list_runs(last=20).to_dicts()
    assert _cli_json(capsys, "runs", "show", ids[0], "--json") == aieng.get_run(ids[0]).to_dict()
    assert _cli_json(capsys, "runs", "compare", *ids, "--json") == aieng.compare(*ids).to_dict()
    listed = _cli_json(capsys, "runs", "list", "--json")
    assert isinstance(listed, list) and listed[0]["start_time"].endswith("Z")
    assert listed[0]["status"] == "FINISHED"


def test_cli_json_of_audit_is_exactly_the_records_dicts(capsys):
    _two_runs()
    assert _cli_json(capsys, "audit", "list", "--json") == audit.entries().to_dicts()
    assert _cli_json(capsys, "audit", "list", "--event", "run.", "--last", "2", "--json") == (
        audit.entries("run.", limit=2).to_dicts()
    )
    assert _cli_json(capsys, "audit", "verify", "--json") == audit.verify().to_dict()
    assert _cli_json(capsys, "recover", "--json") == []


def test_run_records_have_aware_times_and_mlflow_status_words():
    (run_id, _) = _two_runs()
    record = aieng.get_run(run_id)
    assert record.status is RunStatus.FINISHED and record.status == "FINISHED"
    assert record.start_time is not None and record.start_time.tzinfo is not None
    assert record.end_time is not None and record.end_time >= record.start_time
    assert abs((datetime.now(timezone.utc) - record.start_time).total_seconds()) < 600
    # MLflow's own client sees the same instant (milliseconds at the store boundary)
    from mlflow.tracking import MlflowClient

    info = MlflowClient(tracking_uri=tracking.current().tracking_uri).get_run(run_id).info
    assert record.start_time == utc(info.start_time, unit="ms")


def test_run_records_round_trip_and_old_shapes_still_load():
    (run_id, _) = _two_runs()
    record = aieng.get_run(run_id)
    assert RunRecord.from_dict(record.to_dict()) == record
    assert RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    old = {**record.to_dict(), "start_time": 1_700_000_000_000, "end_time": None, "status": "killed"}
    loaded = RunRecord.from_dict(old)
    assert loaded.start_time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert loaded.status is RunStatus.KILLED and loaded.end_time is None


def test_comparison_round_trips_and_marks_differences():
    ids = _two_runs()
    cmp = aieng.compare(*ids)
    assert Comparison.from_dict(cmp.to_dict()) == cmp
    assert cmp.run_ids == ids and cmp.names == [aieng.get_run(i).name for i in ids]
    lr = next(r for r in cmp.rows if r.key == "lr")
    assert lr.differs and lr.values == ["0.1", "0.2"]


def test_audit_records_round_trip_and_read_like_the_old_dicts():
    _two_runs()
    entries = audit.entries("run.start")
    assert len(entries) == 2 and all(isinstance(e, AuditEntry) for e in entries)
    first = entries[0]
    assert first["event"] == first.event == "run.start" and first.get("nope", 7) == 7
    assert first.ts.tzinfo is not None and first.to_dict()["ts"].endswith("Z")
    assert AuditEntry.from_dict(first.to_dict()) == first
    result = audit.verify()
    assert result.ok and VerifyResult.from_dict(result.to_dict()) == result
    assert "run.start" in str(entries) and "<table" in entries._repr_html_()
    since = audit.entries(since=first.ts)
    assert since and since[0].seq >= first.seq


def test_run_table_is_a_record_list_with_metric_columns():
    _two_runs()
    table = aieng.list_runs(metrics=["acc"])
    assert isinstance(table, RunTable) and table.columns()[-1] == "acc"
    assert "0.2" in str(table) and "<table" in table._repr_html_()
    assert str(RunTable([])) == "no runs"


def test_old_runs_spelling_warns_and_still_lists():
    _two_runs()
    with pytest.warns(DeprecationWarning, match=r"aieng\.list_runs\(\)"):
        old = aieng.runs(last=5)
    assert [r.run_id for r in old] == [r.run_id for r in aieng.list_runs(last=5)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aieng.list_runs()  # the new name does not warn


def test_every_tracking_function_serves_the_workspace_it_is_given(workspace, tmp_path):
    other = Workspace(tmp_path / "other" / ".aieng").ensure()
    with aieng.start_run(experiment="there", params={"a": 1}, workspace=other) as run:
        aieng.log(x=1.0, step=0)
    assert aieng.list_runs() == []  # nothing in the current workspace
    [listed] = aieng.list_runs(workspace=other)
    assert listed.run_id == run.id and listed.params == {"a": "1"}
    tracking.set_tags({"t": "v"}, run_id=run.id, workspace=other)
    tracking.log_params({"b": 2}, run_id=run.id, workspace=other)
    tracking.log_metrics({"y": 2.0}, step=1, run_id=run.id, workspace=other)
    record = tracking.get_run(run.id, workspace=other)
    assert record.tags["t"] == "v" and record.params["b"] == "2" and record.metrics["y"] == 2.0
    assert tracking.metric_history(run.id, "y", workspace=other) == [(1, 2.0)]
    assert [e.event for e in audit.entries(workspace=other)][:1] == ["run.start"]
    assert audit.verify(workspace=other).ok and not audit.entries(workspace=workspace)


def test_recover_returns_records_that_the_front_ends_only_print(shell, capsys):
    from aieng_nb.tracking import lifecycle
    from aieng_nb.tracking.lifecycle import Recovered, RecoveredRun

    done = lifecycle.recover()
    assert isinstance(done, Recovered) and done.to_dicts() == [] and str(done) == "recovered 0 run(s)"
    shell.run_line_magic("aieng", "recover")
    assert capsys.readouterr().out.strip() == "aieng: recovered 0 run(s)"
    one = RecoveredRun("abc", 12, RunStatus.KILLED)
    assert RecoveredRun.from_dict(one.to_dict()) == one and one["points"] == 12
    assert "abc: KILLED, 12 metric points replayed" in str(Recovered([one]))
