"""Paged listings (aieng_nb.server.pages) and the store interface's paging and text filter (``search_runs``)."""

from __future__ import annotations

import math

import pytest

import aieng_nb as aieng
from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.server import pages


def _runs(names: list[str], experiment: str = "pages", **params: object) -> list[str]:
    ids = []
    for name in names:
        with aieng.start_run(experiment=experiment, name=name, params=params or None) as run:
            aieng.log(loss=0.5, step=0)
        ids.append(run.id)
    return ids


def test_runs_page_offsets_totals_and_order() -> None:
    ids = _runs([f"r{i}" for i in range(5)])
    first = pages.runs_page(limit=2)
    assert (first.total, len(first.items), first.next_offset) == (5, 2, 2)
    last = pages.runs_page(offset=4, limit=2)
    assert len(last.items) == 1 and last.next_offset is None
    everything = [r["run_id"] for p in (0, 2, 4) for r in pages.runs_page(offset=p, limit=2).items]
    assert everything == list(reversed(ids))  # newest first, no run twice
    assert pages.runs_page(offset=10).items == []


def test_runs_page_filters() -> None:
    _runs(["alpha", "beta"], experiment="one", lr=0.1)
    _runs(["gamma"], experiment="two", lr=0.7)
    assert pages.runs_page(experiment="two").total == 1
    assert [r["name"] for r in pages.runs_page(text="ALPH").items] == ["alpha"]
    assert pages.runs_page(text="lr=0.7").total == 1  # a param, key=value (value as a prefix)
    assert pages.runs_page(text="lr=0.").total == 3
    assert pages.runs_page(text="0.7").total == 0  # plain text is not matched against param values
    assert pages.runs_page(text="two").total == 1  # the experiment name
    assert pages.runs_page(status="finished").total == 3
    assert pages.runs_page(status="RUNNING").total == 0
    with pytest.raises(NotFoundError):
        pages.runs_page(experiment="missing")
    with pytest.raises(ValidationError):
        pages.runs_page(status="sleeping")


def test_like_wildcards_in_text_are_literal() -> None:
    _runs(["100%_done", "1000xdone"])
    assert [r["name"] for r in pages.runs_page(text="100%_").items] == ["100%_done"]
    assert pages.runs_page(text="_").total == 1


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"limit": 2},
        {"offset": 1, "limit": 2},
        {"offset": 5},
        {"text": "B"},
        {"text": "lr=0.3"},
        {"text": "lr=0.9"},
        {"text": "other"},
        {"experiment": "pages"},
        {"status": "FINISHED", "limit": 1},
        {"status": "RUNNING"},
    ],
)
def test_both_stores_page_and_filter_alike(kw: dict) -> None:
    """The store interface's paging and text filter: the fast SQL store and MLflow's client over
    the same file give the same page and the same total."""
    from aieng_nb import tracking
    from aieng_nb.stores.mlflow_client import MlflowClientStore
    from aieng_nb.stores.sqlite_fast import SqliteFastStore

    _runs(["a", "b", "c"], lr=0.3)
    _runs(["d"], experiment="other")
    fast = tracking.store()
    assert isinstance(fast, SqliteFastStore)
    slow = MlflowClientStore(fast.uri, fast.artifact_root)
    fast_runs, fast_total = fast.search_runs(**kw)
    slow_runs, slow_total = slow.search_runs(**kw)
    assert fast_total == slow_total
    assert [r.to_dict() for r in fast_runs] == [r.to_dict() for r in slow_runs]
    assert fast.experiment_counts() == slow.experiment_counts()
    with pytest.raises(NotFoundError):
        fast.search_runs("missing")
    with pytest.raises(NotFoundError):
        slow.search_runs("missing")


def test_list_runs_filters_text_through_the_store() -> None:
    _runs(["alpha", "beta"], lr=0.1)
    assert [r.name for r in aieng.list_runs(text="alp")] == ["alpha"]
    assert [r.name for r in aieng.list_runs(text="lr=0.1", last=1)] == ["beta"]
    with pytest.raises(ValidationError):
        aieng.list_runs(text="x" * 1001)


def test_a_read_creates_no_paging_index(workspace) -> None:  # noqa: ANN001
    """The panel's GETs never write: the index comes with the first write (or the server's start)."""
    import sqlite3

    from aieng_nb import tracking
    from aieng_nb.stores.run_pages import INDEX_NAME

    _runs(["a"])
    tracking._reset()
    with sqlite3.connect(workspace.mlflow_db) as conn:
        conn.execute(f"DROP INDEX {INDEX_NAME}")
    assert pages.runs_page().total == 1
    with sqlite3.connect(workspace.mlflow_db) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert INDEX_NAME not in indexes
    tracking.store().prepare()
    with sqlite3.connect(workspace.mlflow_db) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert INDEX_NAME in indexes


@pytest.mark.parametrize("offset,limit", [(-1, 10), (0, 0), (0, 1001), ("0", 10), (0, True), (0.5, 10)])
def test_bad_pages_are_validation_errors(offset: object, limit: object) -> None:
    with pytest.raises(ValidationError):
        pages.check_page(offset, limit)


def test_metric_histories_downsample_and_keep_the_last_point() -> None:
    with aieng.start_run(experiment="hist") as run:
        for step in range(100):
            aieng.log(loss=float(step), step=step)
    out = pages.metric_histories([run.id], "loss", max_points=10)
    points = out["histories"][0]["points"]
    assert len(points) == 10 and points[0]["step"] == 0 and points[-1]["step"] == 99
    assert len(pages.metric_histories([run.id], "loss", max_points=1000)["histories"][0]["points"]) == 100
    with pytest.raises(ValidationError):
        pages.metric_histories([], "loss")
    with pytest.raises(ValidationError):
        pages.metric_histories([run.id], "loss", max_points=1)


def test_finite_turns_nan_and_infinity_into_none() -> None:
    assert pages.finite({"a": [math.nan, 1.0, {"b": math.inf}]}) == {"a": [None, 1.0, {"b": None}]}


def test_audit_page_newest_first_with_filters() -> None:
    _runs(["x"])
    page = pages.audit_page(event="run.")
    seqs = [e["seq"] for e in page.items]
    assert seqs == sorted(seqs, reverse=True) and all(e["event"].startswith("run.") for e in page.items)
    assert pages.audit_page(text="no-such-thing").total == 0


def test_jobs_schedules_snapshots_pages(tmp_path) -> None:  # noqa: ANN001
    import pandas as pd

    from aieng_nb import schedules
    from aieng_nb.jobs.notebook import write_notebook

    assert pages.jobs_page().total == 0
    with pytest.raises(ValidationError):
        pages.jobs_page(status="bogus")
    nb = write_notebook(tmp_path / "nb.ipynb", ["print(x)"], parameters="x = 1")
    schedules.add("nightly", str(nb), "0 3 * * *")
    (item,) = pages.schedules_page().items
    assert item["name"] == "nightly" and item["next_run"].endswith("+00:00")
    aieng.snapshot(pd.DataFrame({"a": [1, 2]}), name="first")
    aieng.snapshot(pd.DataFrame({"a": [1, 2, 3]}), name="second")
    names = [r["name"] for r in pages.snapshots_page().items]
    assert names == ["second", "first"]
    assert [r["name"] for r in pages.snapshots_page(text="firs").items] == ["first"]
