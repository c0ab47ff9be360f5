"""Metrics under pressure: nothing flushed by a logging call, SIGKILL, replays, full disks, MLflow's name rules."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
import warnings
from pathlib import Path

import pytest

import aieng_nb as aieng
from aieng_nb import audit, config, tracking
from aieng_nb.exceptions import MetricsNotStoredError
from aieng_nb.stores.names import is_valid_name, mlflow_key
from aieng_nb.stores.sqlite_fast import SqliteFastStore
from aieng_nb.tracking import buffer as metric_buffer
from aieng_nb.tracking import lifecycle


def _stored_steps(ws, run_id: str, key: str = "x") -> list[int]:
    conn = sqlite3.connect(f"file:{ws.mlflow_db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT step FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY step", (run_id, key))
        return [r[0] for r in rows]
    finally:
        conn.close()


@pytest.fixture
def no_flusher(monkeypatch):
    """The background flusher practically never runs: what gets stored is what the caller's thread wrote."""
    monkeypatch.setenv("AIENG_FLUSH_INTERVAL", "60")
    config.reset()


def test_a_logging_call_never_writes_to_the_store(workspace, no_flusher):
    run = aieng.start_run(name="journal-only")
    for thread in run.background:
        thread.join(timeout=60)
    for i in range(20_000):
        aieng.log(x=float(i), step=i)
    run.log(x=-1.0, step=20_000)
    aieng.log_metrics({"x": -2.0}, step=20_001)
    assert _stored_steps(workspace, run.id) == []  # all in the journal, none written by the caller
    assert run.buffer.unstored() == 20_002
    aieng.end_run()
    assert _stored_steps(workspace, run.id) == list(range(20_002))


class _RecordingStore(SqliteFastStore):
    """The real fast store, also recording the size of every metrics transaction."""

    def __init__(self, *args):
        super().__init__(*args)
        self.batches: list[int] = []

    def log_batch(self, run_id, metrics=(), params=None, tags=None):
        super().log_batch(run_id, metrics, params, tags)
        if metrics:
            self.batches.append(len(metrics))


def test_a_large_backlog_is_stored_in_batches_sized_for_the_store(workspace):
    from aieng_nb.stores.schema import create_from_shipped_schema

    ws = workspace
    assert create_from_shipped_schema(ws.mlflow_db, ws.artifacts.as_uri())
    store = _RecordingStore(ws.tracking_uri, ws.artifacts.as_uri())
    store.batch_rows = 1000  # as for a server
    exp = store.get_or_create_experiment("slices")
    run_id = store.create_run(exp, "slices", {}, 0)
    buffer = metric_buffer.MetricBuffer(run_id, store, metric_buffer.journal_for(ws.buffers, run_id), 60)
    for i in range(50_000):
        buffer.calls.append((time.time(), i, {"x": float(i), "y": 1.0}))
    assert buffer.flush() == 100_000
    assert len(store.batches) >= 100 and max(store.batches) <= 1000
    assert _stored_steps(ws, run_id) == list(range(50_000))
    store.close()


# --- names: MLflow's own rules, the same for both stores ------------------------------------------


@pytest.mark.parametrize("name", ["val:acc", "ünï", "loss", "a/b", "with space", "x-y.z_1"])
def test_names_mlflow_accepts_are_kept(workspace, name):
    from mlflow.utils.validation import _validate_metric_name

    _validate_metric_name(name)  # MLflow accepts it ...
    assert mlflow_key(name) == name  # ... so we keep it
    with aieng.start_run() as run, warnings.catch_warnings():
        warnings.simplefilter("error")  # and say nothing
        aieng.log(**{name: 1.0}, step=0)
    assert aieng.get_run(run.id).metrics == {name: 1.0}


@pytest.mark.parametrize("name", ["a//b", "/abs", ".", "a/", "loss@val", "../up", "x" * 300, ""])
def test_names_mlflow_rejects_are_mapped_to_names_it_accepts(workspace, name):
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_metric_name

    if len(name) <= 250:
        with pytest.raises(MlflowException):
            _validate_metric_name(name)
    assert not is_valid_name(name)
    mapped = mlflow_key(name)
    _validate_metric_name(mapped)
    assert len(mapped) <= 250 and mapped == mlflow_key(name) and is_valid_name(mapped)
    with aieng.start_run() as run:
        aieng.log(**{name: 1.0, "ok": 2.0}, step=0)
        with pytest.warns(RuntimeWarning, match="logged as"):
            aieng.flush()
    assert aieng.get_run(run.id).metrics == {mapped: 1.0, "ok": 2.0}


def test_the_name_rules_are_the_installed_mlflows(workspace):
    from mlflow.utils import validation

    for name in ["a//b", "/abs", ".", "a/", "val:acc", "ünï", "a b", "a@b", "..", "a/./b", "tab\there"]:
        expected = bool(validation.validate_param_and_metric_name(name)) and not validation.path_not_unique(name)
        assert is_valid_name(name) is expected, name


# --- leases ------------------------------------------------------------------------------------------


def test_a_zombie_process_counts_as_dead_for_its_run_lease(workspace):
    import sys

    run = aieng.start_run(name="zombie")
    for thread in run.background:
        thread.join(timeout=60)
    run.buffer.stop()
    tracking._set_active(None)  # this process forgets the run, as if it had died
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lease_path = workspace.buffers / f"{run.id}.lease"
        lease = __import__("json").loads(lease_path.read_text())
        lease.update(pid=child.pid, process_start=lifecycle._process_start(child.pid))
        lease_path.write_text(__import__("json").dumps(lease))
        assert not lifecycle.lease_is_dead(lease)  # alive
        child.kill()
        deadline = time.time() + 10
        import psutil

        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.time() < deadline:
            time.sleep(0.05)
        assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE  # killed, not reaped
        assert lifecycle.lease_is_dead(lease)
        assert [d["run_id"] for d in lifecycle.recover()] == [run.id]
        assert aieng.get_run(run.id).status == "KILLED"
    finally:
        child.kill()
        child.wait()


# --- MLflow data MLflow's own code reads -----------------------------------------------------------


def test_default_experiment_creation_time_is_when_the_workspace_was_made(workspace):
    from mlflow.tracking import MlflowClient

    before = time.time() * 1000
    aieng.list_runs()  # opens (creates) the store
    exp = MlflowClient(workspace.tracking_uri).get_experiment("0")
    assert before - 5000 <= exp.creation_time <= time.time() * 1000


def test_dataset_inputs_resolve_with_mlflows_own_functions(workspace):
    import json

    import mlflow.data
    import numpy as np
    import pandas as pd
    from mlflow.tracking import MlflowClient
    from mlflow.types import Schema

    df = pd.DataFrame(
        {
            "i": np.arange(3, dtype="int64"),
            "i32": np.arange(3, dtype="int32"),
            "f": [0.1, None, 0.3],
            "s": ["a", "b", "c"],
            "b": [True, False, True],
            "t": pd.to_datetime(["2024-01-01"] * 3),
        }
    )
    with aieng.start_run() as run:
        aieng.snapshot(df, name="train")
    ds = MlflowClient(workspace.tracking_uri).get_run(run.id).inputs.dataset_inputs[0].dataset
    schema = Schema.from_json(json.dumps(json.loads(ds.schema)["mlflow_colspec"]))
    types = {c.name: c.type.name for c in schema.inputs}
    assert types == {"i": "long", "i32": "integer", "f": "double", "s": "string", "b": "boolean", "t": "datetime"}
    assert [c.required for c in schema.inputs] == [True, True, False, True, True, True]
    source = mlflow.data.get_source(ds)
    assert source._get_source_type() == "local"
    folder = Path(source.uri.removeprefix("file://"))
    assert (folder / "meta.json").is_file() and ds.digest in folder.name


# --- a full disk ------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MB tmpfs mounted for this test (needs root; skipped with the reason otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode:
        pytest.skip(f"could not mount a tmpfs: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> Path:
    """Fill the disk to the last byte. Unbuffered writes: a buffered file could raise "no space"
    again when it is closed and flushes what it still holds."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (256 * 1024, 4096, 512, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_under_the_journal_is_told_and_loses_nothing_journaled(small_disk, monkeypatch, no_flusher):
    from aieng_nb.tracking import journal as metric_journal

    monkeypatch.setattr(metric_journal, "SEGMENT_BYTES", 256 * 1024)
    monkeypatch.setenv("AIENG_WORKSPACE", str(small_disk / ".aieng"))
    config.reset()
    config.settings().capture_environment = False
    tracking._reset()
    ws = tracking.current()
    run = aieng.start_run(name="full-disk")
    for i in range(1000):
        aieng.log(x=float(i), step=i)
    aieng.flush()
    assert _stored_steps(ws, run.id) == list(range(1000))
    for i in range(1000, 20_000):  # journaled, not stored yet
        aieng.log(x=float(i), step=i)
    filler = _fill(small_disk)
    n = 20_000  # past the current segment: the next ones cannot be made on the full disk
    with pytest.warns(RuntimeWarning) as caught:
        for i in range(20_000, 20_000 + n):
            aieng.log(x=float(i), step=i)  # never raises, never waits, even with the disk full
        aieng.flush()
    text = " ".join(str(w.message) for w in caught)
    assert "cannot write the metrics journal" in text and "kept in memory" in text  # the user is told
    assert "cannot be stored" in text  # the SQLite store on the same disk refuses too
    assert run.buffer.error is not None and not run.buffer.lost

    # nothing already stored is damaged, and the audit trail is not falsely alarmed
    conn = sqlite3.connect(f"file:{ws.mlflow_db}?mode=ro", uri=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    try:
        audit.append("test.full", {"i": 1}, workspace=ws)
    except OSError:
        pass
    assert audit.verify(workspace=ws).ok, audit.verify(workspace=ws)

    # space comes back: every point, journaled before or kept in memory since, is stored once
    filler.unlink()
    (small_disk / "filler-tail").unlink(missing_ok=True)
    record = aieng.end_run()
    assert record is not None and record.status == "FINISHED"
    assert _stored_steps(ws, run.id) == list(range(20_000 + n))
    assert "aieng.metrics_lost" not in record.tags


def test_points_the_queue_cannot_hold_are_named_and_the_run_is_not_finished(small_disk, monkeypatch, no_flusher):
    from aieng_nb.tracking import journal as metric_journal

    monkeypatch.setattr(metric_journal, "SEGMENT_BYTES", 64 * 1024)
    monkeypatch.setattr(metric_journal, "MEMORY_SEGMENTS", 1)
    monkeypatch.setenv("AIENG_WORKSPACE", str(small_disk / ".aieng"))
    config.reset()
    config.settings().capture_environment = False
    tracking._reset()
    run = aieng.start_run(name="overflow")
    aieng.log(x=0.0, step=0)
    aieng.flush()
    filler = _fill(small_disk)
    with pytest.warns(RuntimeWarning, match="is full.*'x'"):
        for i in range(1, 50_001):
            aieng.log(x=float(i), step=i)
    assert sum(run.buffer.lost.values()) > 0
    filler.unlink()
    (small_disk / "filler-tail").unlink(missing_ok=True)
    with pytest.raises(MetricsNotStoredError, match="ended FAILED"):
        aieng.end_run()
    record = aieng.get_run(run.id)
    assert record.status == "FAILED"
    assert "metric points could not be stored" in record.tags["aieng.metrics_lost"]
    assert "x (" in record.tags["aieng.metrics_lost"]
    assert aieng.active_run() is None
