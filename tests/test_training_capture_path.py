"""The capture path of a training session: who writes the points, in what batches, and the records.

The training thread's ``tr.step`` only journals (a copy into a memory-mapped file); the run's writer
thread converts and writes, with multi-row INSERTs; the training thread never writes, even when that
thread falls behind. No timing assertions here: the costs are in benchmarks/bench_training.py.
"""

from __future__ import annotations

import json
import math
import threading
import time
import warnings
from datetime import datetime, timezone

import pytest

import aieng_nb as aieng
import aieng_nb.training
from aieng_nb import tracking
from aieng_nb.stores import sqlite_fast
from aieng_nb.training import CheckpointInfo, ModelRecord, TrainingRecord, TrainingSession
from aieng_nb.widgets.charts import Series


@pytest.fixture
def writer_threads(monkeypatch):
    """Names of the threads that called the store's ``log_batch`` (the real method still runs)."""
    names: list[str] = []
    real = sqlite_fast.SqliteFastStore.log_batch

    def spy(self, run_id, metrics=(), params=None, tags=None):
        if metrics:
            names.append(threading.current_thread().name)
        return real(self, run_id, metrics, params, tags)

    monkeypatch.setattr(sqlite_fast.SqliteFastStore, "log_batch", spy)
    return names


def _wait_for(predicate, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_the_writer_thread_stores_every_step_and_the_training_thread_writes_nothing(writer_threads):
    n = 5_000
    with aieng.training(name="writer", log_model=False, telemetry=False, live=False) as tr:
        for i in range(n):
            tr.step(loss=float(i))
        # reading through tracking would store in this thread: watch the journal instead
        assert _wait_for(tr.run.buffer.drained)
        during = list(writer_threads)
    assert during and all(name.startswith("aieng-writer") for name in during), during
    history = tracking.metric_history(tr.run_id, "loss")
    assert [v for _, v in history] == [float(i) for i in range(n)]  # every step's loss, in order
    assert [s for s, _ in history] == list(range(n))


def test_steps_are_journaled_on_disk_at_once_even_when_the_writer_never_runs(writer_threads):
    from aieng_nb.tracking.journal import Journal
    from aieng_nb.tracking.rows import Converter

    n = 20_000
    with aieng.training(name="stalled", log_model=False, telemetry=False, live=False) as tr:
        buffer = tr.run.buffer
        buffer.stop()  # a writer that never gets scheduled
        buffer._thread.join(timeout=30)
        for i in range(n):
            tr.step(loss=float(i))
        assert writer_threads == []  # the training thread never writes to the store
        assert len(buffer.calls) == 0  # nothing waits in the process's memory (what a SIGKILL loses)
        # what a replay after a SIGKILL now would find: every step, in order, from the files
        replay = Journal(buffer.journal.dir, buffer.journal.name)
        seq, offset, _ = replay.committed
        rows = Converter().rows(replay.read(seq, offset, max_calls=10 * n)[0])
        assert [(r[3], r[1]) for r in rows if r[0] == "loss"] == [(i, float(i)) for i in range(n)]
    assert len(tracking.metric_history(tr.run_id, "loss")) == n


def test_step_timestamps_are_wall_clock_milliseconds():
    before = time.time()
    with aieng.training(name="clock", log_model=False, telemetry=False, live=False) as tr:
        for _ in range(3):
            tr.step(loss=1.0)
    after = time.time()
    from mlflow.tracking import MlflowClient

    from aieng_nb.workspace import current

    points = MlflowClient(current().tracking_uri).get_metric_history(tr.run_id, "loss")
    assert len(points) == 3
    assert all(before * 1000 - 50 <= p.timestamp <= after * 1000 + 50 for p in points)


def test_a_batch_larger_than_one_insert_is_stored_whole_with_nan_and_the_latest_value():
    rows_n = sqlite_fast.ROWS_PER_INSERT * 2 + 17
    run = aieng.start_run(name="rows")
    store = run.buffer.store
    ms = int(time.time() * 1000)
    rows = [("m", float(i), ms + i, i, False) for i in range(rows_n)]
    rows[5] = ("m", float("nan"), ms + 5, 5, True)
    rows.append(("other", 2.5, ms, 0, False))
    store.log_batch(run.id, rows)
    aieng.end_run()
    from mlflow.tracking import MlflowClient

    from aieng_nb.workspace import current

    client = MlflowClient(current().tracking_uri)
    history = sorted(client.get_metric_history(run.id, "m"), key=lambda m: m.step)
    assert len(history) == rows_n
    assert math.isnan(history[5].value) and history[6].value == 6.0
    latest = client.get_run(run.id).data.metrics
    assert latest["m"] == float(rows_n - 1) and latest["other"] == 2.5


def test_bad_steps_and_values_still_drop_only_themselves():
    with aieng.training(name="bad", log_model=False, telemetry=False, live=False) as tr:
        tr.step(loss=1.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tr.step(loss=float("inf"))
            tr.step(loss="x")  # type: ignore[arg-type]
            tr.step(loss=3)  # an int is stored as a float
            tracking.flush()
    values = [v for _, v in tracking.metric_history(tr.run_id, "loss")]
    assert values == [1.0, 3.0]
    assert any("infinity" in str(w.message) for w in caught) and any("not a float" in str(w.message) for w in caught)


def test_aieng_training_is_callable_without_a_deprecation_warning():
    assert type(aieng_nb.training).__name__.startswith("CallableModule")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session = aieng.training(name="call", log_model=False, telemetry=False, live=False)
    assert isinstance(session, TrainingSession)
    assert aieng_nb.training.LightningCallback.__name__ == "LightningCallback"


def test_records_have_aware_datetimes_and_iso_strings_in_json():
    with aieng.training(name="times", log_model=False, telemetry=False, live=False) as tr:
        tr.step(loss=1.0)
    record = tr.record()
    assert isinstance(record.started, datetime) and record.started.tzinfo is not None
    assert record.ended is not None and record.ended >= record.started
    data = record.to_dict()
    assert data["started"].endswith("Z") and data["ended"].endswith("Z")
    assert json.loads(json.dumps(data)) == data
    assert TrainingRecord.from_dict(data) == record
    assert tr.record().ended == record.ended  # the end time is fixed once the session ends


def test_records_stored_in_the_old_shape_still_load():
    old = {
        "run_id": "r1",
        "name": "mlp",
        "framework": "pytorch",
        "status": "FINISHED",
        "started": "2026-11-30T10:00:00Z",
        "ended": "2026-11-30T10:05:00Z",
        "steps": 12,
        "checkpoints": [
            {"name": "epoch-1", "step": 6, "epoch": 1, "artifact_path": "checkpoints/epoch-1.pt", "created": "2026-11-30T10:01:00Z"},
            {"name": "epoch-2", "step": 12, "epoch": 2, "artifact_path": "checkpoints/epoch-2.pt", "created": 1764496920.0},
        ],
        "model": {"model_id": "m-1", "model_uri": "models:/m-1", "name": "mlp", "flavor": "pytorch",
                  "run_id": "r1", "step": 12, "kind": "final", "future_field": 1},
    }  # fmt: skip
    record = TrainingRecord.from_dict(old)
    assert record.started == datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
    assert all(isinstance(c, CheckpointInfo) and c.created.tzinfo is not None for c in record.checkpoints)
    assert record.checkpoints[1].created == datetime.fromtimestamp(1764496920.0, timezone.utc)
    assert isinstance(record.model, ModelRecord) and record.model.kind == "final"
    assert record.to_dict()["checkpoints"][1]["created"].endswith("Z")


def test_checkpoint_index_entries_carry_aware_creation_times():
    import torch

    net = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with aieng.training(net, opt, name="ck", checkpoint="epoch", keep=2, log_model=False, telemetry=False) as tr:
        for _ in range(2):
            tr.step(loss=0.5)
            tr.epoch()
    created = [c.created for c in tr.checkpoints]
    assert len(created) == 2 and all(c.tzinfo is not None for c in created) and created[0] <= created[1]
    assert tr.load_checkpoint().weight.shape == net.weight.shape  # the latest, found by (step, created)


@pytest.mark.parametrize("n", [1, 1999, 2001, 9000])
def test_series_extend_keeps_what_adding_one_by_one_keeps(n):
    points = [(i, math.sin(i / 50)) for i in range(n)]
    one, bulk = Series("a"), Series("b")
    for step, value in points:
        one.add(step, value)
    for start in range(0, n, 333):
        bulk.extend(points[start : start + 333])
    assert bulk.points == one.points and bulk.stride == one.stride and bulk.last == one.last


def test_series_extend_skips_values_it_cannot_draw():
    s = Series("x")
    s.extend([(0, 1.0), (1, float("nan")), (2, "bad"), (3, float("inf")), (4, 2)])
    assert s.points == [(0, 1.0), (4, 2.0)] and s.last == (4, 2.0)
