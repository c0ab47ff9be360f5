"""The journal's record layout: interned key sets, struct records, and the general (marshalled) path."""

from __future__ import annotations

import math
import os
import threading
import time
import warnings

import pytest

import aieng_nb as aieng
from aieng_nb import tracking
from aieng_nb.tracking import active
from aieng_nb.tracking import codec as metric_codec
from aieng_nb.tracking import journal as metric_journal
from aieng_nb.tracking.journal import Journal
from aieng_nb.tracking.reads import metric_points
from aieng_nb.tracking.rows import Converter, plain_call


def _odd_calls():
    import numpy as np

    return [
        (1.0, 0, {"loss": 0.5, "acc": 0.25}),
        (1.5, 1, {"loss": float("nan"), "acc": float("inf")}),
        (2.0, None, {"loss": -0.0, "acc": 3}),
        (2.5, 7, {"acc": 0.125, "loss": 0.75}),  # the same keys in another order: another key set
        (3.0, 2**63 - 1, {"loss": 1.0}),
        (3.5, 2**63, {"loss": 1.0}),  # not a 64-bit step: refused
        (4.0, True, {"loss": 1.0}),  # a bool is not a step
        (4.5, np.int64(9), {"loss": np.float32(0.5), "b": True, "i": np.int32(4)}),
        (5.0, 10, {"loss": 10**400}),  # no float for it: refused
        (5.5, 11, {"loss": "0.5", "acc": "x"}),  # a numeric string is read as its number, as before
        (6.0, 12, {"loss": -float("inf")}),
        (6.5, 13, {f"k{i}": float(i) for i in range(70)}),  # more values than a struct record takes
        (7.0, None, {"métrique / ü": 2.0, "bad:key": 1.0}),
        (7.5, 14, {"loss": object()}),
        (8.0, 15, {}),
    ]


def _rows(calls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Converter().rows(calls)


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x[0] == y[0] and x[2:] == y[2:]
        assert (math.isnan(x[1]) and math.isnan(y[1])) or (
            x[1] == y[1] and math.copysign(1, x[1]) == math.copysign(1, y[1])
        )


def test_every_kind_of_call_reads_back_as_the_marshalled_call_would(tmp_path):
    journal = Journal(tmp_path, "r")
    calls = _odd_calls()
    for call in calls * 2:  # the second time, each key set is known: the struct record
        journal.append(call)
    read, _, _ = journal.read(*journal.committed[:2], max_calls=1000)
    assert len(read) == len(calls) * 2
    _same(_rows(read), _rows([plain_call(c) for c in calls * 2]))
    assert len(journal.schemas.table) == 5  # interned: the key sets of 1 to 64 values (not {}, not 70)


def test_aieng_log_stores_exactly_what_was_logged(workspace):
    run = aieng.start_run(name="codec")
    t0 = int(time.time() * 1000)
    for i in range(3):
        aieng.log(loss=0.5 + i, acc=float("nan"), step=i)
        aieng.log(loss=1.0 + i)  # the automatic step
        aieng.log(lr=0.1 * i, step=i)
        aieng.log(a=1.0, b=2.0, c=3.0, step=10 + i)
    with pytest.warns(RuntimeWarning, match="infinity"):
        aieng.log(loss=float("inf"), step=99)
        aieng.end_run()
    t1 = int(time.time() * 1000)
    points = metric_points(run.id, "loss")
    # a call without a step comes one after the latest step seen (10 + i after the first round)
    assert sorted((s, v) for s, v, _ in points) == [(0, 0.5), (1, 1.0), (1, 1.5), (2, 2.5), (11, 2.0), (12, 3.0)]
    assert all(t0 <= ts <= t1 for _, _, ts in points)
    acc = tracking.metric_history(run.id, "acc")
    assert [s for s, _ in acc] == [0, 1, 2] and all(math.isnan(v) for _, v in acc)
    assert tracking.metric_history(run.id, "c") == [(10, 3.0), (11, 3.0), (12, 3.0)]


def test_a_replay_from_the_middle_of_a_segment_reads_the_key_sets_from_its_start(tmp_path):
    journal = Journal(tmp_path, "r")
    for i in range(100):
        journal.append((float(i), i, {"x": float(i), "y": -float(i)}))
    records, seq, offset = journal.read(*journal.committed[:2], max_calls=40)
    journal.commit(seq, offset, 40)
    rows = [row for rows in Journal(tmp_path, "r").pending() for row in rows]  # another process
    assert [r[3] for r in rows[::2]] == list(range(40, 100))
    assert rows[:2] == [("x", 40.0, 40_000, 40, False), ("y", -40.0, 40_000, 40, False)]


def test_a_record_torn_by_a_kill_ends_the_segment_and_nothing_before_it_is_lost(tmp_path):
    journal = Journal(tmp_path, "r")
    for i in range(5):
        journal.append((1.0, i, {"x": float(i)}))
    end = journal._mm.tell()
    entry = journal.schemas.table[("x",)]
    whole = entry[1](entry[0], 1.0, 5, 5.0, metric_codec.END)
    journal._mm.write(whole[:-1] + b"\0")  # a copy cut short: the end byte never written
    journal._mm.flush()
    seq = journal.segments()[-1]
    rows = [row for rows in Journal(tmp_path, "r").pending() for row in rows]
    assert [r[3] for r in rows] == [0, 1, 2, 3, 4]
    assert journal._mm.tell() == end + len(whole) and seq == journal.segments()[-1]


def test_threads_logging_at_once_across_segments_lose_and_repeat_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(metric_journal, "SEGMENT_BYTES", 8192)
    journal = Journal(tmp_path, "r")

    def worker(t: int) -> None:
        for i in range(3000):
            keys = {f"t{t}": float(i)} if i % 2 else {f"t{t}": float(i), "shared": float(t)}
            journal.append((1.0, i, keys))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    calls = []
    seq, offset = journal.committed[:2]
    while True:
        records, seq, offset = journal.read(seq, offset, max_calls=5000)
        if not records:
            break
        calls += records
    assert len(journal.segments()) > 10  # the segments rotated while the threads logged
    for t in range(6):
        mine = [c for c in calls if f"t{t}" in c[2]]
        assert [c[1] for c in mine] == list(range(3000))  # each thread's calls, once, in its order
        assert all(c[2][f"t{t}"] == float(c[1]) for c in mine)
    assert len(calls) == 6 * 3000


def test_key_sets_past_the_limit_are_marshalled_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(metric_codec, "MAX_SCHEMAS", 3)
    journal = Journal(tmp_path, "r")
    for i in range(10):
        journal.append((1.0, i, {f"k{i}": float(i)}))
    assert len(journal.schemas.table) == 3
    rows = [row for rows in journal.pending() for row in rows]
    assert [(r[0], r[3]) for r in rows] == [(f"k{i}", i) for i in range(10)]


def test_calls_without_a_step_take_the_next_steps_on_the_fast_path(workspace):
    run = aieng.start_run(name="auto")
    for i in range(3):
        aieng.log(p=float(i), q=-float(i))  # two values, no step
        aieng.log(r=float(i))  # one value, no step
    aieng.log(p=9.0, q=9.0, r=9.0)  # three values, no step
    aieng.end_run()
    assert tracking.metric_history(run.id, "p") == [(0, 0.0), (2, 1.0), (4, 2.0), (6, 9.0)]
    assert tracking.metric_history(run.id, "r") == [(1, 0.0), (3, 1.0), (5, 2.0), (6, 9.0)]


def _call_shapes():
    import numpy as np

    return [
        ((), {"loss": 0.5, "acc": 0.25, "step": 0}),
        ((1,), {"loss": 0.75, "acc": 0.5}),  # the step given by position
        ((), {"step": 2, "loss": 1.0, "acc": 0.75}),  # the step first among the keywords
        ((), {"loss": 1.25, "acc": 1.0}),  # the automatic step
        ((), {"loss": float("nan"), "acc": -0.0, "step": 3}),
        ((), {"loss": 2, "acc": True, "step": 4}),  # an int and a bool as values
        ((), {"loss": np.float32(0.5), "acc": np.int32(4), "step": 5}),
        ((), {"loss": 1.0, "acc": 1.0, "step": np.int64(6)}),  # a NumPy step: the general path
        ((), {"loss": 1.0, "acc": 1.0, "step": 2**63}),  # not a 64-bit step: refused
        ((), {"loss": 1.0, "acc": 1.0, "step": True}),  # a bool is not a step
        ((), {"loss": "0.5", "acc": 1.0, "step": 7}),  # a numeric string is read as its number
        ((), {"loss": object(), "acc": 1.0, "step": 8}),
        ((), {"loss": 10**400, "acc": 1.0, "step": 9}),
        ((), {f"k{i}": float(i) for i in range(70)} | {"step": 10}),  # more values than a record takes
        ((), {"only": 3.0, "step": 11}),
        ((), {"step": 12}),  # no values
        ((13,), {"step": 13, "loss": 1.0}),  # the step twice
        (("x",), {"loss": 1.0}),
    ]


def _log_every_shape(log) -> tuple[list, dict]:
    run = aieng.start_run(name="shapes")
    outcomes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):  # the second time, each key set is interned
            time.sleep(0.002)  # a point equal to another in every field, time included, is stored once (as MLflow)
            for args, kwargs in _call_shapes():
                try:
                    log(*args, **kwargs)
                    outcomes.append(None)
                except Exception as exc:
                    outcomes.append(type(exc).__name__)
        aieng.end_run()
    keys = ["loss", "acc", "only", "k0", "k69"]
    return outcomes, {k: [(s, repr(v)) for s, v in tracking.metric_history(run.id, k)] for k in keys}


@pytest.mark.skipif(active._hotpath is None, reason="the install had no C compiler")
def test_the_c_fast_path_stores_and_refuses_exactly_what_the_python_log_does(workspace):
    assert aieng.log is active._hotpath.log
    fast = _log_every_shape(aieng.log)
    python = _log_every_shape(active._log_python)
    assert fast == python
    outcomes, history = fast
    assert outcomes.count(None) > 20 and "TypeError" in outcomes
    assert history["loss"][:4] == [(0, "0.5"), (0, "0.5"), (1, "0.75"), (1, "0.75")] and len(history["k69"]) == 2


def test_the_install_compiled_the_c_fast_path():
    """The test machines have a C compiler: the install built aieng.log's C path (hatch_build.py)."""
    if os.environ.get("AIENG_PURE_PYTHON"):
        pytest.skip("AIENG_PURE_PYTHON is set")
    assert active._hotpath is not None, "aieng_nb/tracking/_hotpath.c was not compiled at install"
    assert aieng.log is active._hotpath.log


def test_threads_calling_aieng_log_at_once_store_every_point_once(workspace):
    run = aieng.start_run(name="threads")

    def worker(t: int) -> None:
        for i in range(5000):
            aieng.log(**{f"t{t}": float(i), "shared": float(t)}, step=i)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    aieng.end_run()
    for t in range(4):
        assert tracking.metric_history(run.id, f"t{t}") == [(i, float(i)) for i in range(5000)]
    assert len(tracking.metric_history(run.id, "shared")) == 4 * 5000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_writes_into_its_parents_journal(workspace):
    """A forked child (a DataLoader worker) has no active run: aieng.log there says so, and the
    parent's points, logged before and after, are all stored."""
    run = aieng.start_run(name="fork")
    for i in range(100):
        aieng.log(loss=float(i), step=i)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: log a lot, report what happened, exit without cleanup
        os.close(read)
        try:
            for i in range(1000):
                aieng.log(loss=-1.0, step=i)
            outcome = b"logged"
        except Exception as exc:
            outcome = type(exc).__name__.encode()
        os.write(write, outcome)
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    outcome = os.read(read, 100)
    os.close(read)
    for i in range(100, 200):
        aieng.log(loss=float(i), step=i)
    aieng.end_run()
    assert outcome == b"NoActiveRunError"
    assert tracking.metric_history(run.id, "loss") == [(i, float(i)) for i in range(200)]


def test_a_slow_path_write_racing_the_fast_path_at_a_segment_end_never_raises(workspace, monkeypatch):
    """A call on the locked path (here a NumPy step) checks the room left in the segment while
    lock-free calls keep filling it: its write must go to the next segment, never raise in the
    caller's thread (which would kill a training thread and lose its points)."""
    import sys

    import numpy as np

    monkeypatch.setattr(metric_journal, "SEGMENT_BYTES", 4096)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads between almost any two steps
    errors: list[BaseException] = []
    run = aieng.start_run(name="race")
    log = active._log_python  # the path that showed it (the C path hands the locked path the same way)

    def fast() -> None:
        try:
            for i in range(200_000):
                log(loss=1.0, step=i)
        except BaseException as exc:
            errors.append(exc)

    def slow() -> None:
        try:
            for i in range(100_000):
                log(acc=1.0, step=np.int64(i))
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=fast), threading.Thread(target=slow)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        sys.setswitchinterval(interval)
    aieng.end_run()
    assert errors == []
    assert [s for s, _ in tracking.metric_history(run.id, "acc")] == list(range(100_000))
    assert [s for s, _ in tracking.metric_history(run.id, "loss")] == list(range(200_000))


def test_an_automatic_step_past_the_largest_step_drops_only_that_point(workspace):
    """After step 2**63 - 1 the automatic step has no 64-bit value: that point is refused with a
    warning, and every other point is stored and the run ends FINISHED (it used to block them all)."""
    run = aieng.start_run(name="overflow")
    for i in range(5):
        aieng.log(loss=float(i), step=i)
    aieng.log(s=1.0, step=2**63 - 1)
    with pytest.warns(RuntimeWarning, match="automatic step is past"):
        aieng.log(s=2.0)
        aieng.end_run()
    assert tracking.metric_history(run.id, "loss") == [(i, float(i)) for i in range(5)]
    assert tracking.metric_history(run.id, "s") == [(2**63 - 1, 1.0)]
    assert tracking.get_run(run.id).status == "FINISHED"
