"""The metric buffer over the real local store: conversion rules, the journal, flush and close."""

from __future__ import annotations

import math

import pytest

from aieng_nb import metric_buffer
from aieng_nb.metric_buffer import Journal, MetricBuffer, journal_for, valid_step
from aieng_nb.stores import open_store


@pytest.fixture
def store(workspace):
    s = open_store(workspace.tracking_uri, workspace.artifacts.as_uri())
    yield s
    s.close()


@pytest.fixture
def run_id(store):
    return store.create_run(store.get_or_create_experiment("buffer"), "b", {}, 0)


def buffer_for(store, run_id, workspace, journal_first=False) -> MetricBuffer:
    # no start(): nothing flushes behind the test's back, so every write below is the test's own
    return MetricBuffer(run_id, store, journal_for(workspace.buffers, run_id), 60.0, journal_first)


def history(store, run_id, key):
    return [(row[3], row[1]) for row in store.metric_history(run_id, key)]


@pytest.mark.parametrize(
    "step, expected", [(0, 0), (-3, -3), (2**63 - 1, 2**63 - 1), (2**63, None), (-(2**63), -(2**63))]
)
def test_valid_step_is_a_64_bit_integer(step, expected):
    assert valid_step(step) == expected


@pytest.mark.parametrize("step", [True, 1.0, "1", None])
def test_valid_step_refuses_other_types(step):
    assert valid_step(step) is None


def test_valid_step_takes_numpy_integers():
    import numpy as np

    assert valid_step(np.int64(7)) == 7


def test_journal_replays_only_what_was_not_committed(tmp_path):
    journal = Journal(tmp_path / "r.metrics.jsonl")
    assert list(journal.pending()) == [] and journal.size() == 0
    end_first = journal.append([("x", 1.0, 10, 0, False)])
    journal.commit(end_first)
    journal.append([("x", 2.0, 20, 1, False)])
    assert list(journal.pending()) == [[("x", 2.0, 20, 1, False)]]
    with open(journal.path, "ab") as fh:  # a crash mid-write leaves a torn last line
        fh.write(b'[["x", 3.0')
    assert list(journal.pending()) == [[("x", 2.0, 20, 1, False)]]
    journal.remove()
    assert not journal.path.exists() and not journal.offset_path.exists()


def test_flush_writes_what_was_buffered_and_counts_it(store, run_id, workspace):
    buf = buffer_for(store, run_id, workspace)
    buf.calls.append((1.0, 0, {"loss": 0.5, "acc": 0.9}))
    buf.calls.append((2.0, 1, {"loss": 0.25}))
    assert buf.unstored() == 3
    assert history(store, run_id, "loss") == []
    assert buf.flush() == 3
    assert history(store, run_id, "loss") == [(0, 0.5), (1, 0.25)]
    assert history(store, run_id, "acc") == [(0, 0.9)]
    assert buf.unstored() == 0 and buf.flush() == 0


def test_a_call_without_a_step_comes_after_the_latest_step(store, run_id, workspace):
    buf = buffer_for(store, run_id, workspace)
    for call in [(1.0, 5, {"x": 1.0}), (2.0, None, {"x": 2.0}), (3.0, None, {"x": 3.0})]:
        buf.calls.append(call)
    buf.flush()
    assert [s for s, _ in history(store, run_id, "x")] == [5, 6, 7]


def test_bad_values_drop_only_themselves_with_a_warning(store, run_id, workspace):
    buf = buffer_for(store, run_id, workspace)
    buf.calls.append((1.0, 0, {"x": math.inf, "y": "high", "z": math.nan, "ok": 1}))
    buf.calls.append((1.0, 2**64, {"ok": 2.0}))
    with pytest.warns(RuntimeWarning) as caught:
        buf.flush()
    text = " ".join(str(w.message) for w in caught)
    assert "infinity" in text and "not a float" in text and "not a 64-bit integer" in text
    assert buf.dropped == 3
    assert history(store, run_id, "ok") == [(0, 1.0)]
    assert math.isnan(history(store, run_id, "z")[0][1])  # NaN is stored, as MLflow does


def test_a_key_mlflow_refuses_is_renamed_once_with_a_warning(store, run_id, workspace):
    buf = buffer_for(store, run_id, workspace)
    bad = "loss (train)!"
    new = metric_buffer.mlflow_key(bad)
    assert new != bad
    buf.calls.append((1.0, 0, {bad: 1.0}))
    with pytest.warns(RuntimeWarning, match="is logged as"):
        buf.flush()
    assert history(store, run_id, new) == [(0, 1.0)]


def test_journal_first_commits_what_was_stored_and_close_removes_it(store, run_id, workspace):
    buf = buffer_for(store, run_id, workspace, journal_first=True)
    buf.calls.append((1.0, 0, {"x": 1.0}))
    buf.flush()
    assert buf.journal.size() > 0 and list(buf.journal.pending()) == []  # written, then committed
    buf.calls.append((2.0, 1, {"x": 2.0}))
    buf.close()
    assert history(store, run_id, "x") == [(0, 1.0), (1, 2.0)]
    assert not buf.journal.path.exists()


def test_a_started_buffer_flushes_in_the_background_and_stops_on_close(store, run_id, workspace):
    from tests.waiting import wait_until

    buf = MetricBuffer(run_id, store, journal_for(workspace.buffers, run_id), 0.01, False).start()
    buf.calls.append((1.0, 0, {"x": 1.0}))
    wait_until(lambda: history(store, run_id, "x"), timeout=30, message="the background flush")
    buf.close()
    assert not buf._thread.is_alive()
    assert buf.lost_summary() == ""
