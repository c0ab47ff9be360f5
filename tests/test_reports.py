"""The shared report object, check rules, storage on runs, listing (API, magic, CLI)."""

from __future__ import annotations

import json
import math

import pytest

from aieng_nb import audit, tracking
from aieng_nb.exceptions import NoActiveRunError, NotFoundError, ValidationError
from aieng_nb.reports import Report, Section, list_reports, load_report_html
from aieng_nb.reports.checks import Rule, evaluate, parse_rules


def _report(**kw) -> Report:
    base = dict(kind="monitor", title="T", metrics={"drift_share": 0.4, "nan_metric": math.nan})
    base.update(kw)
    rep = Report(**base)
    rep.checks = evaluate(parse_rules(["drift_share > 0.3"]), rep.metrics)
    return rep


def test_rules_parse_and_evaluate() -> None:
    assert Rule.parse("accuracy_drop>0.05") == Rule("accuracy_drop", ">", 0.05)
    assert Rule.parse(" drift_score.age >= 1e-1 ") == Rule("drift_score.age", ">=", 0.1)
    assert [str(r) for r in parse_rules("a > 1; b <= 2")] == ["a > 1", "b <= 2"]
    assert parse_rules({"gap": 0.1}) == [Rule("gap", ">", 0.1)]
    res = evaluate(parse_rules(["a < 0.5", "b >= 2", "c > 0"]), {"a": 0.4, "b": 1, "c": math.nan})
    assert [r.passed for r in res] == [False, True, False]
    assert "could not be computed" in res[2].message
    for bad in ["a >> 1", "a > x", "> 1", "a = 1"]:
        with pytest.raises(ValidationError, match="bad check rule"):
            Rule.parse(bad)
    with pytest.raises(ValidationError, match="threshold must be a number"):
        parse_rules({"a": "high"})
    (unknown,) = evaluate(parse_rules("zz > 1"), {"a": 1.0})  # a failed check, not an exception
    assert not unknown.passed and unknown.value is None
    assert "no metric 'zz'" in unknown.message and "Available: a" in unknown.message


def test_report_shape_json_and_html(tmp_path) -> None:
    rep = _report(title="<script>alert(1)</script>")
    rep.sections.append(Section("S", "<p>body</p>"))
    assert not rep.passed and rep.summary()["failed_checks"] == ["drift_share > 0.3"]
    data = json.loads(rep.json())
    assert data["metrics"]["nan_metric"] is None and data["passed"] is False
    assert rep.to_dict() == rep.dict()
    html = rep._repr_html_()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "FAILED 1/1" in html and "<p>body</p>" in html
    page = rep.save_html(tmp_path / "r.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "</html>" in page
    assert json.loads(rep.save_json(tmp_path / "r.json").read_text())["kind"] == "monitor"
    assert "no checks" in Report("explain", "E").html()


def test_attach_needs_a_run() -> None:
    with pytest.raises(NoActiveRunError):
        _report().log()


def test_attach_list_load_and_cli(capsys) -> None:
    from aieng_nb.cli import main

    with tracking.start_run(experiment="rep") as run:
        first = _report()
        first.log()
        second = Report("fairness", "F", metrics={"gap": 0.01})
        second.log()
    assert first.name != second.name
    assert tracking.get_run(run.id).tags["aieng.checks"] == "failed"  # a later passing report keeps it failed
    fails = [e for e in audit.entries("checks.fail") if e["data"]["run_id"] == run.id]
    assert [e["data"]["report"] for e in fails] == [first.name]
    entries = list_reports(run.id)
    assert [(e.kind, e.passed) for e in entries] == [("monitor", False), ("fairness", True)]
    assert [e.kind for e in list_reports(run.id, kind="fairness")] == ["fairness"]
    assert [e.name for e in list_reports()] == [first.name, second.name]  # no active run: recent runs
    assert "drift_share" in load_report_html(run.id, first.name)
    with pytest.raises(NotFoundError):
        load_report_html(run.id, "monitor-nope")
    with pytest.raises(ValidationError):
        load_report_html(run.id, "../etc")
    assert main(["reports", "--run", run.id, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["name"] for o in out] == [first.name, second.name] and out[0]["failed"] == ["drift_share > 0.3"]
    assert main(["reports", "--failed"]) == 0
    text = capsys.readouterr().out
    assert first.name in text and second.name not in text and "FAILED" in text
    assert main(["reports", "--run", "0000nope"]) == 2


def test_public_api_is_plain_functions() -> None:
    import importlib.util
    import inspect

    import aieng_nb as aieng
    import aieng_nb.reports.explainability
    import aieng_nb.reports.fairness_report  # noqa: F401 - importing the kind modules must not shadow the functions

    for func in (aieng.monitor, aieng.explain, aieng.fairness, aieng.list_reports, aieng.get_report, aieng.load_report):
        assert inspect.isfunction(func), func
    assert (
        importlib.util.find_spec("aieng_nb.explain") is None and importlib.util.find_spec("aieng_nb.fairness") is None
    )
    assert aieng.explain.torch_model is aieng.torch_model is not None  # the old attribute spelling still works
    assert aieng.monitor.__module__ == "aieng_nb.reports.monitoring"
    assert aieng.list_reports() == []
    with pytest.warns(DeprecationWarning, match=r"aieng.reports\(\) is deprecated.*aieng.list_reports\(\)"):
        assert aieng.reports() == []


def test_log_inside_an_active_run_is_idempotent() -> None:
    import numpy as np
    import pandas as pd

    from aieng_nb.reports.monitoring import monitor

    rng = np.random.default_rng(4)
    ref, cur = pd.DataFrame({"a": rng.normal(0, 1, 2000)}), pd.DataFrame({"a": rng.normal(2, 1, 2000)})
    with tracking.start_run(experiment="idem") as run:
        rep = monitor(ref, cur, checks=["drift_share > 0.3"], evidently=False)  # attaches itself
        folder = rep.log()
        assert rep.log() == folder == f"reports/{rep.name}"
    created = [e for e in audit.entries("report.create") if e["data"]["run_id"] == run.id]
    fails = [e for e in audit.entries("checks.fail") if e["data"]["run_id"] == run.id]
    assert len(created) == 1 and len(fails) == 1
    assert [e.name for e in list_reports(run.id)] == [rep.name]
