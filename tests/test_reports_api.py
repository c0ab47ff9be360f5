"""The reports service layer: records, --json = to_dicts(), get/load, deprecated spellings, plug-ins."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import plugins, tracking
from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.reports import Report, ReportEntry, get_report, list_reports, load
from aieng_nb.reports.checks import CheckResult, evaluate, parse_rules
from aieng_nb.reports.loading import StoredReport, from_dict
from aieng_nb.reports.monitoring import monitor
from tests.plugin_packages import install_plugin_package


def _frames(shift: float = 1.0, n: int = 1500) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return ref, ref.assign(a=ref.a + shift)


def _stored_pair() -> tuple[str, Report, Report]:
    with tracking.start_run(experiment="api") as run:
        failing = Report("monitor", "M", metrics={"drift_share": 0.9})
        failing.checks = evaluate(parse_rules("drift_share > 0.3"), failing.metrics)
        failing.log()
        passing = Report("fairness", "F", metrics={"gap": 0.01})
        passing.checks = evaluate(parse_rules("gap > 0.1"), passing.metrics)
        passing.log()
    return run.id, failing, passing


def test_cli_json_is_exactly_the_listing_to_dicts(capsys) -> None:
    from aieng_nb.cli import main

    run_id, failing, _ = _stored_pair()
    for argv, kwargs in (
        ([], {}),
        (["--run", run_id], {"run_id": run_id}),
        (["--failed"], {"failed": True}),
        (["--kind", "fairness"], {"kind": "fairness"}),
    ):
        assert main(["reports", *argv, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == list_reports(**kwargs).to_dicts()
    assert [e["report_id"] for e in list_reports(failed=True).to_dicts()] == [f"{run_id}/{failing.name}"]


def test_report_records_round_trip_and_use_the_record_convention() -> None:
    run_id, failing, passing = _stored_pair()
    entries = list_reports(run_id)
    assert isinstance(entries, list) and len(entries) == 2
    for entry in entries:
        data = entry.to_dict()
        assert data["report_id"] == f"{run_id}/{entry.name}" and data["created_at"].endswith("Z")
        assert ReportEntry.from_dict(json.loads(json.dumps(data))) == entry
    assert entries[0].created_at.tzinfo is not None and entries[0].created == pytest.approx(failing.created, abs=1e-3)
    check = failing.checks[0]
    assert CheckResult.from_dict(json.loads(json.dumps(check.to_dict()))) == check
    data = failing.to_dict()
    assert data["report_id"] == failing.report_id == f"{run_id}/{failing.name}" and data["created_at"].endswith("Z")
    again = from_dict(json.loads(failing.json()))
    assert again.to_dict() == data  # the report's dict form round-trips through the stored summary
    assert "<table" in entries._repr_html_() and "FAILED" in str(entries)


def test_get_report_and_load_from_a_run_and_from_a_folder(tmp_path) -> None:
    run_id, failing, passing = _stored_pair()
    entry = get_report(f"{run_id[:8]}/{failing.name}")
    assert (entry.run_id, entry.name, entry.passed) == (run_id, failing.name, False)
    assert aieng.get_report(entry.report_id) == entry
    stored = aieng.load_report(entry.report_id)
    assert isinstance(stored, StoredReport) and stored.kind == "monitor" and not stored.passed
    assert [c.rule for c in stored.failed_checks] == ["drift_share > 0.3"]
    assert stored.html() == failing.html() and stored.metrics == failing.metrics
    assert stored.log(run_id) == f"reports/{failing.name}"  # already on that run: not stored twice
    with pytest.raises(NotFoundError):
        get_report(f"{run_id}/monitor-nope")
    for bad in ("no-slash", f"{run_id}/../x", "/name"):
        with pytest.raises(ValidationError):
            get_report(bad)
    passing.save_json(tmp_path / "rep" / "summary.json")
    passing.save_html(tmp_path / "rep" / "report.html")
    from_folder = load(tmp_path / "rep")
    assert from_folder.passed and from_folder.metrics == {"gap": 0.01} and from_folder.html() == passing.html()
    assert load(str(tmp_path / "rep" / "summary.json")).name == passing.name
    with pytest.raises(NotFoundError):
        load(tmp_path / "missing.json")


def test_a_summary_stored_before_the_record_convention_still_loads(tmp_path) -> None:
    old = {"kind": "monitor", "title": "old", "name": "monitor-x", "run_id": "r1", "created": 1.5e9, "passed": True,
           "metrics": {"drift_share": 0.0}, "checks": [{"rule": "drift_share >= 0.5", "metric": "drift_share",
           "value": 0.0, "passed": True, "message": "ok"}], "notes": [], "details": {}}  # fmt: skip
    (tmp_path / "summary.json").write_text(json.dumps(old))
    rep = load(tmp_path / "summary.json")
    assert rep.created == 1.5e9 and rep.passed and rep.report_id == "r1/monitor-x"
    assert "no checks" not in rep.html() and "old" in rep.html()  # drawn from the data without a stored page


def test_deprecated_reports_call_warns_and_still_lists(capsys) -> None:
    run_id, failing, passing = _stored_pair()
    with pytest.warns(DeprecationWarning, match="use aieng.list_reports"):
        old = aieng.reports(run_id, "monitor")
    assert old == list_reports(run_id, kind="monitor") and [e.name for e in old] == [failing.name]


def test_magic_reports_returns_the_core_listing(shell) -> None:
    run_id, failing, _ = _stored_pair()
    out = shell.run_line_magic("aieng", f"reports --run {run_id} --kind monitor")
    assert out == list_reports(run_id, kind="monitor") and out[0].name == failing.name


def test_report_kinds_and_drift_tests_are_registry_plugins() -> None:
    assert {"monitor", "explain", "fairness"} <= set(plugins.report_kinds.names())
    assert plugins.report_kinds.get("monitor") is aieng.monitor
    assert {"ks", "chisquare", "z", "wasserstein", "psi", "jensenshannon"} <= set(plugins.drift_tests.names())
    ref, cur = _frames()
    with pytest.raises(ValidationError, match=r"unknown drift method 'kss' \(did you mean 'ks'\?\)"):
        monitor(ref, cur, method="kss", evidently=False, log=False)


ENERGY_SOURCE = """
import numpy as np
from aieng_nb.reports.drift_tests import DriftTest, DriftScore

def _mean_gap(sample, threshold):
    ref, cur = np.asarray(sample.reference, float), np.asarray(sample.current, float)
    return DriftScore(abs(cur.mean() - ref.mean()) / (ref.std() or 1.0), note="mean gap in reference stds")

MEAN_GAP = DriftTest("mean_gap", _mean_gap, 0.5, numeric_only=True)
"""


def test_a_drift_test_from_an_entry_point_is_used_by_monitor(tmp_path, monkeypatch) -> None:
    install_plugin_package(
        tmp_path,
        monkeypatch,
        "aieng_test_drift",
        ENERGY_SOURCE,
        {"aieng_nb.drift_tests": {"mean_gap": "aieng_test_drift:MEAN_GAP"}},
    )
    monkeypatch.setattr(plugins.drift_tests, "_loaded", dict(plugins.drift_tests._loaded))
    assert "mean_gap" in plugins.drift_tests.names()
    ref, cur = _frames(shift=1.0)
    rep = monitor(ref, cur, method="mean_gap", evidently=False, log=False)
    cols = rep.drift_result.by_column()
    assert cols["a"].method == "mean_gap" and cols["a"].drifted and cols["a"].score == pytest.approx(1.0, abs=0.1)
    assert not cols["b"].drifted and cols["a"].note == "mean gap in reference stds"
    assert rep.drifted_columns == ["a"] and "mean_gap" in rep.html()
    per_column = monitor(ref, cur, per_column_method={"b": "mean_gap"}, evidently=False, log=False)
    assert per_column.drift_result.by_column()["b"].method == "mean_gap"
    assert per_column.drift_result.by_column()["a"].method == "wasserstein"  # the default choice elsewhere


def test_every_public_reports_function_takes_a_keyword_only_workspace() -> None:
    import inspect

    from aieng_nb.reports import job_monitor, storage
    from aieng_nb.workspace import current

    for func in (aieng.monitor, aieng.explain, aieng.fairness, list_reports, get_report, load, storage.attach,
                 storage.load_report_html, storage.run_for_job, job_monitor.run_job_monitor, Report.log):  # fmt: skip
        param = inspect.signature(func).parameters["workspace"]
        assert param.kind is param.KEYWORD_ONLY and param.default is None, func
    run_id, failing, _ = _stored_pair()
    ws = current()
    assert list_reports(run_id, workspace=ws) == list_reports(run_id)
    assert get_report(failing.report_id, workspace=ws).name == failing.name
    assert load(failing.report_id, workspace=ws).metrics == failing.metrics


def test_a_report_attached_in_another_workspace_is_stored_there_only(tmp_path) -> None:
    from aieng_nb import audit
    from aieng_nb.reports import attach
    from aieng_nb.workspace import Workspace

    other = Workspace(tmp_path / "other" / ".aieng").ensure()
    with aieng.start_run(experiment="there", workspace=other) as run:
        pass
    report = Report("monitor", "M", metrics={"drift_share": 0.9})
    report.checks = evaluate(parse_rules("drift_share > 0.3"), report.metrics)
    folder = attach(report, run.id, workspace=other)
    [entry] = list_reports(run.id, workspace=other)
    assert entry.kind == "monitor" and not entry.passed and folder.endswith(entry.name)
    stored = tracking.get_run(run.id, workspace=other)
    assert stored.metrics["monitor.drift_share"] == 0.9 and stored.tags["aieng.checks"] == "failed"
    assert load(entry.report_id, workspace=other).stored_html  # its page, read from the other store
    assert "report.create" in [e.event for e in audit.entries(workspace=other)]
    assert aieng.list_runs() == [] and list(list_reports()) == []  # nothing in the current workspace
