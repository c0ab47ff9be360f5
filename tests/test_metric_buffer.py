"""The metric buffer over the real local store: conversion rules, the journal, flush and close."""

from __future__ import annotations

import math

import pytest

from aieng_nb.stores import open_store
from aieng_nb.tracking import buffer as metric_buffer
from aieng_nb.tracking.buffer import Journal, MetricBuffer, journal_for, valid_step


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


def test_journal_replays_only_what_was_not_committed_and_ignores_a_torn_tail(tmp_path):
    journal = Journal(tmp_path, "r")
    assert list(journal.pending()) == [] and not journal.exists()
    journal.append((0.01, 0, {"x": 1.0}))
    seq, offset, _ = journal.read(*journal.committed[:2], max_calls=1)[1:] + (0,)
    journal.commit(seq, offset, 1)
    journal.append((0.02, None, {"x": 2.0}))
    path = journal._segment_path(seq)
    with open(path, "r+b") as fh:  # a process killed mid-copy leaves half a record after the last one
        fh.seek(journal._mm.tell())
        fh.write(b")\x03\xe9")
    again = Journal(tmp_path, "r")  # another process replays
    assert list(again.pending()) == [[("x", 2.0, 20, 1, False)]]  # the step after the committed one
    assert list(Journal(tmp_path, "r").pending()) == []  # committed while replayed: once only
    journal.remove()
    assert not journal.exists()


def test_a_kill_during_the_replay_resumes_after_the_batches_stored(tmp_path):
    journal = Journal(tmp_path, "r")
    for i in range(2500):
        journal.append((1.0, i, {"x": float(i)}))
    replay = Journal(tmp_path, "r").pending(max_calls=1000)
    first = next(replay)  # stored; then the replaying process dies before asking for more
    second = next(replay)  # the first batch is committed only now
    del replay
    rest = [row for rows in Journal(tmp_path, "r").pending() for row in rows]
    assert [r[3] for r in first] == list(range(1000))
    assert [r[3] for r in rest] == list(range(1000, 2500))  # the second batch again, never the first
    assert len(second) == 1000


def test_segments_rotate_and_a_full_queue_drops_new_points_with_a_warning(tmp_path, monkeypatch):
    from aieng_nb.tracking import journal as metric_journal

    monkeypatch.setattr(metric_journal, "SEGMENT_BYTES", 4096)
    journal = Journal(tmp_path, "r", max_bytes=3 * 4096)
    with pytest.warns(RuntimeWarning, match="queue of r is full.*'lr'"):
        for i in range(2000):
            journal.append((1.0, i, {"lr": 0.5}))
    kept = [row for rows in Journal(tmp_path, "r").pending(max_calls=10_000) for row in rows]
    assert len(journal.segments()) <= 3 and 0 < len(kept) < 2000
    assert [r[3] for r in kept] == list(range(len(kept)))  # the oldest are kept, in order
    assert journal.lost["lr"] == 2000 - len(kept)
    journal.commit(journal.segments()[-1], 0, 0)  # the writer caught up: room again
    with pytest.warns(RuntimeWarning, match="room again"):
        journal.resume_if_room()
    journal.append((2.0, 5000, {"lr": 1.0}))
    assert journal.lost["lr"] == 2000 - len(kept)


def test_numpy_scalars_and_odd_values_are_journaled_as_the_numbers_they_are(tmp_path):
    import numpy as np

    journal = Journal(tmp_path, "r")
    journal.append((1.0, np.int64(3), {"a": np.float32(0.5)}))  # marshal alone would keep raw bytes
    journal.append((2.0, 4, {"i": np.int32(7), "f": np.float64(0.25), "b": True}))
    journal.append((3.0, np.int32(5), {"x": object()}))
    with pytest.warns(RuntimeWarning, match="not a float"):
        rows = [row for rows in journal.pending() for row in rows]
    assert rows == [
        ("a", 0.5, 1000, 3, False),
        ("i", 7.0, 2000, 4, False),
        ("f", 0.25, 2000, 4, False),
        ("b", 1.0, 2000, 4, False),
    ]


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


def test_close_stores_everything_and_removes_the_journal(store, run_id, workspace):
    buf = buffer_for(store, run_id, workspace)
    buf.calls.append((1.0, 0, {"x": 1.0}))
    buf.flush()
    assert buf.journal.exists() and buf.unstored() == 0  # written, then committed
    buf.calls.append((2.0, 1, {"x": 2.0}))
    assert buf.close(timeout=30)
    assert history(store, run_id, "x") == [(0, 1.0), (1, 2.0)]
    assert not buf.journal.exists()


def test_a_started_buffer_flushes_in_the_background_and_stops_on_close(store, run_id, workspace):
    from tests.waiting import wait_until

    buf = MetricBuffer(run_id, store, journal_for(workspace.buffers, run_id), 0.01, False).start()
    buf.calls.append((1.0, 0, {"x": 1.0}))
    wait_until(lambda: history(store, run_id, "x"), timeout=30, message="the background flush")
    buf.close()
    assert not buf._thread.is_alive()
    assert buf.lost_summary() == ""
