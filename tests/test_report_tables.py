"""A report's per-column / per-feature numbers: its by_item.json table read back (reports/tables.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pytest

from aieng_nb import tracking
from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.reports import Report, ReportTable, get_report, get_report_table, list_reports
from aieng_nb.reports.monitoring import monitor


def _frames(n: int = 1500) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"age": rng.normal(40, 5, n), "income": rng.normal(0, 1, n), "city": rng.choice(["a", "b"], n)})
    return ref, ref.assign(income=ref.income + 2.0)


def test_a_monitor_reports_drift_per_column_in_its_table_and_its_listing_counts_them() -> None:
    ref, cur = _frames()
    with tracking.start_run(experiment="tables") as run:
        rep = monitor(ref, cur)
    scores = {c: r.score for c, r in rep.drift_result.by_column().items()}
    table = get_report_table(f"{run.id[:10]}/{rep.name}")  # a run id prefix is enough
    assert (table.run_id, table.name, table.kind, table.source) == (run.id, rep.name, "monitor", "by_item.json")
    assert {i.item: i.value for i in table.items if i.metric == "drift_score"} == pytest.approx(scores)
    assert [i.item for i in table.by_metric()["drift_score"]] == list(scores)  # the report's order
    assert get_report(table.report_id).items == len(table.items) == len(scores)
    assert ReportTable.from_dict(json.loads(json.dumps(table.to_dict()))) == table
    # the run keeps the headline numbers only
    assert not [k for k in tracking.get_run(run.id).metrics if "drift_score" in k]


def test_feature_importances_and_a_report_without_per_item_numbers() -> None:
    with tracking.start_run(experiment="tables") as run:
        explain = Report("explain", "E", metrics={"baseline_score": 0.9, "importance.f0": 0.3, "importance.f1": 0.1})
        explain.log()
        plain = Report("fairness", "F", metrics={"gap": 0.02})
        plain.log()
    table = get_report_table(f"{run.id}/{explain.name}")
    assert [(i.metric, i.item, i.value) for i in table.items] == [("importance", "f0", 0.3), ("importance", "f1", 0.1)]
    empty = get_report_table(f"{run.id}/{plain.name}")
    assert empty.items == [] and empty.kind == "fairness"
    assert {e.name: e.items for e in list_reports(run.id)} == {explain.name: 2, plain.name: 0}


def test_a_report_stored_before_tables_is_read_from_its_summary() -> None:
    with tracking.start_run(experiment="tables") as run:
        rep = Report("monitor", "Old", metrics={"drift_share": 0.5, "drift_score.age": 0.7})
        rep.log()
    # as stored before tables: no by_item.json, no item count in the index tag
    record = tracking.get_run(run.id)
    folder = Path(unquote(urlparse(record.artifact_uri).path)) / "reports" / rep.name
    (folder / "by_item.json").unlink()
    tag = f"aieng.report.{rep.name}"
    index = json.loads(record.tags[tag])
    del index["items"]
    tracking.set_tags({tag: json.dumps(index)}, run_id=run.id)
    assert get_report(f"{run.id}/{rep.name}").items is None
    table = get_report_table(f"{run.id}/{rep.name}")
    assert table.source == "summary.json" and [(i.metric, i.item, i.value) for i in table.items] == [
        ("drift_score", "age", 0.7)
    ]
    shutil.rmtree(folder)  # no files at all: the report is gone
    with pytest.raises(NotFoundError):
        get_report_table(f"{run.id}/{rep.name}")


def test_bad_and_unknown_report_ids() -> None:
    with tracking.start_run(experiment="tables") as run:
        pass
    for bad in ("no-slash", f"{run.id}/../x", f"{run.id}/"):
        with pytest.raises(ValidationError):
            get_report_table(bad)
    with pytest.raises(NotFoundError):
        get_report_table(f"{run.id}/monitor-20260101-000000-000000")
