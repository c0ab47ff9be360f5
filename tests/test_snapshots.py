"""Data snapshots: store, dedup, names, load, integrity, crashes, concurrency, profile, diff, gc, lineage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import audit
from aieng_nb import snapshots as snaps
from aieng_nb.exceptions import IntegrityError, NotFoundError, ValidationError
from aieng_nb.snapshots.objects import ObjectStore


def every_dtype_frame(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "i64": rng.integers(-5, 5, n),
            "u8": rng.integers(0, 255, n).astype(np.uint8),
            "f64": [1.5, np.nan, -0.25, 3.0, np.inf, 0.0][:n],
            "f32": rng.standard_normal(n).astype(np.float32),
            "b": [True, False] * (n // 2),
            "obj": ["a", None, "ü", "", "long text", "x"][:n],
            "bytes": [b"\x00\x01", None, b"", b"x", b"y", b"z"][:n],
            "cat": pd.Categorical(
                ["lo", "hi", "lo", None, "mid", "hi"][:n], categories=["lo", "mid", "hi"], ordered=True
            ),
            "cat_int": pd.Categorical([3, 1, 3, 2, 1, 1][:n]),
            "dt": pd.to_datetime(["2024-01-01", None, "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01"][:n]),
            "dt_tz": pd.to_datetime(["2024-01-01 10:00"] * n).tz_localize("Europe/Berlin"),
            "dt_s": pd.Series(pd.to_datetime(["2024-01-01"] * n)).astype("datetime64[s]").to_numpy(),
            "td": pd.to_timedelta([1, 2, None, 4, 5, 6][:n], unit="s"),
            "Int64": pd.array([1, None, 3, 4, None, 6][:n], dtype="Int64"),
            "boolean": pd.array([True, None, False, True, True, None][:n], dtype="boolean"),
            "Float64": pd.array([0.5, None, 1.5, 2.5, 3.5, None][:n], dtype="Float64"),
            "string": pd.array(["a", None, "c", "d", "e", "f"][:n], dtype="string"),
            "string_pa": pd.array(["a", None, "c", "d", "e", "f"][:n], dtype="string[pyarrow]"),
        },
        index=pd.Index([f"r{i}" for i in range(n)], name="row"),
    )
    df.columns.name = "features"
    return df


# --- round trips -------------------------------------------------------------------------------------


def test_every_common_dtype_round_trips_exactly(workspace):
    df = every_dtype_frame()
    rec = aieng.snapshot(df, name="all")
    back = aieng.load("all")
    pd.testing.assert_frame_equal(back, df)
    assert list(back.dtypes.astype(str)) == list(df.dtypes.astype(str))
    assert back["cat"].cat.categories.tolist() == ["lo", "mid", "hi"] and back["cat"].cat.ordered
    assert rec.stored and rec.ref == "all@1" and rec.shape == [6, len(df.columns)]
    assert not any("stats_error" in c for c in rec.profile["columns"])


@pytest.mark.parametrize(
    "index",
    [
        pd.RangeIndex(10, 22, 2),
        pd.MultiIndex.from_product([["a", "b"], [1, 2, 3]], names=["k", "n"]),
        pd.DatetimeIndex(pd.date_range("2024-01-01", periods=6, tz="UTC"), name="when"),
        pd.Index([5, 3, 1, 0, 2, 4], dtype="int64"),
    ],
)
def test_indexes_round_trip(workspace, index):
    df = pd.DataFrame({"x": np.arange(6.0)}, index=index)
    aieng.snapshot(df, name="idx")
    pd.testing.assert_frame_equal(aieng.load("idx"), df)


def test_arrow_backed_columns_round_trip(workspace):
    import pyarrow as pa

    df = pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="int64[pyarrow]"),
            "f": pd.array([1.5, None, float("nan")], dtype="float64[pyarrow]"),
            "b": pd.array([True, None, False], dtype="bool[pyarrow]"),
            "s": pd.array(["x", None, "z"], dtype=pd.ArrowDtype(pa.string())),
            "bin": pd.array([b"x", None, b""], dtype=pd.ArrowDtype(pa.binary())),
            "ts": pd.array(
                [pd.Timestamp("2024-01-01"), None, pd.Timestamp("2024-01-02")],
                dtype=pd.ArrowDtype(pa.timestamp("us", tz="UTC")),
            ),
            "d": pd.array([pd.Timestamp("2024-01-01").date(), None, None], dtype=pd.ArrowDtype(pa.date32())),
            "dur": pd.array([pd.Timedelta(1, "s"), None, pd.Timedelta(0)], dtype=pd.ArrowDtype(pa.duration("ms"))),
        }
    )
    rec = aieng.snapshot(df, name="arrow")
    pd.testing.assert_frame_equal(aieng.load("arrow"), df)
    assert not any("stats_error" in c for c in rec.profile["columns"])
    assert snaps.content_hash(df) != snaps.content_hash(df.astype({"i": "Int64"}))
    with pytest.raises(ValidationError, match="Arrow-backed columns may be"):
        aieng.snapshot(pd.DataFrame({"l": pd.array([[1], [2]], dtype=pd.ArrowDtype(pa.list_(pa.int64())))}), name="x")


@pytest.mark.parametrize(
    "df",
    [
        pd.DataFrame(),
        pd.DataFrame(index=range(3)),
        pd.DataFrame(index=pd.RangeIndex(2, 10, 3, name="r")),
        pd.DataFrame(columns=["a", "b"]),
    ],
)
def test_empty_frames_round_trip(workspace, df):
    rec = aieng.snapshot(df, name="empty")
    pd.testing.assert_frame_equal(aieng.load(rec.id), df)


def test_non_string_column_names_and_series_round_trip(workspace):
    df = pd.DataFrame({0: [1, 2], 1: ["a", "b"]})
    aieng.snapshot(df, name="intcols")
    pd.testing.assert_frame_equal(aieng.load("intcols"), df)
    wide = pd.DataFrame({("a", "x"): [1, 2], ("a", "y"): [3.0, 4.0], ("b", "x"): ["p", "q"]})
    aieng.snapshot(wide, name="multicols")
    pd.testing.assert_frame_equal(aieng.load("multicols"), wide)
    for series in (
        pd.Series([1.0, None], name="price"),
        pd.Series(["x", "y"]),
        pd.Series(pd.Categorical(["a", "b"]), name=3),
        pd.Series([1, 2], name=np.int64(5)),
        pd.Series([1.0], name=("a", 1)),
        pd.Series([True], name=2.5),
    ):
        aieng.snapshot(series, name="s")
        pd.testing.assert_series_equal(aieng.load("s"), series)


def test_numpy_and_torch_round_trip(workspace):
    import torch

    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    aieng.snapshot(arr, name="arr")
    back = aieng.load("arr")
    assert back.dtype == arr.dtype and back.shape == arr.shape and np.array_equal(back, arr)
    for t in (torch.randn(3, 4), torch.arange(6, dtype=torch.int64), torch.randn(2, 2).to(torch.bfloat16)):
        aieng.snapshot(t, name="t")
        got = aieng.load("t")
        assert isinstance(got, torch.Tensor) and got.dtype == t.dtype and torch.equal(got, t)
    assert snaps.show("arr").profile["shape"] == [2, 3, 4]


def test_files_and_folders_are_hashed_by_content_and_relative_paths(workspace, tmp_path):
    folder = tmp_path / "raw"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "sub" / "b.bin").write_bytes(os.urandom(1000))
    rec = aieng.snapshot(folder, name="raw")
    stored = aieng.load("raw")
    assert sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()) == ["a.csv", "sub/b.bin"]
    assert (stored / "sub" / "b.bin").read_bytes() == (folder / "sub" / "b.bin").read_bytes()
    # a copy elsewhere is the same content; a renamed file inside is not
    copy = tmp_path / "elsewhere"
    os.rename(folder, copy)
    assert aieng.snapshot(str(copy), name="raw2").id == rec.id
    (copy / "a.csv").rename(copy / "renamed.csv")
    assert aieng.snapshot(copy, name="raw3").id != rec.id
    single = aieng.snapshot(copy / "renamed.csv")  # a path defaults its name to the file name
    assert single.name == "renamed.csv" and aieng.load("renamed.csv").read_text() == "x,y\n1,2\n"


def test_unsupported_objects_get_a_clear_error_and_nothing_is_written(workspace):
    for obj, match in [
        ({"a": 1}, "supported are pandas DataFrame"),
        ("no/such/file.csv", "no file or folder"),
        (pd.DataFrame({"m": [1, "a"]}), "convert it first"),
        (np.array([object(), 1], dtype=object), "not supported"),
    ]:
        with pytest.raises(ValidationError, match=match):
            aieng.snapshot(obj, name="bad")
    with pytest.raises(ValidationError, match="give the snapshot a name"):
        aieng.snapshot(pd.DataFrame({"a": [1]}))
    with pytest.raises(ValidationError, match="bad snapshot name"):
        aieng.snapshot(pd.DataFrame({"a": [1]}), name="../escape")
    assert list(ObjectStore(workspace.path("snapshots")).hashes()) == []
    assert len(aieng.list_snapshots()) == 0


# --- content addressing, dedup and names ----------------------------------------------------------------


def test_same_content_is_stored_once_under_any_name_and_a_re_snapshot_writes_nothing(workspace, monkeypatch):
    # how much faster the warm re-snapshot is gets measured in benchmarks/bench_snapshots.py
    from aieng_nb.snapshots import api, codec

    df = pd.DataFrame({"x": np.arange(200_000), "s": [f"v{i % 100}" for i in range(200_000)]})
    first = aieng.snapshot(df, name="train")
    assert first.stored
    store = ObjectStore(workspace.path("snapshots"))
    objects = workspace.path("snapshots", "objects")
    files_before = {str(p): p.stat().st_mtime_ns for p in objects.rglob("*")}

    def no_write(*a, **kw):
        raise AssertionError("a re-snapshot of stored content must not write data")

    monkeypatch.setattr(codec, "write_table", no_write)
    monkeypatch.setattr(api, "_write_object", no_write)
    again = aieng.snapshot(df.copy(), name="train")
    other = aieng.snapshot(df, name="other-name")
    assert again.id == other.id == first.id and again.stored is False and other.stored is False
    assert (again.ref, other.ref) == ("train@1", "other-name@1")  # same content: no new version
    assert list(store.hashes()) == [first.id]
    assert {str(p): p.stat().st_mtime_ns for p in objects.rglob("*")} == files_before  # nothing new or rewritten
    assert [e["data"]["name"] for e in audit.entries("snapshot.create")] == ["train", "other-name"]


def test_names_are_versioned_pointers_and_refs_resolve(workspace):
    v1 = aieng.snapshot(pd.DataFrame({"a": [1]}), name="t")
    v2 = aieng.snapshot(pd.DataFrame({"a": [2]}), name="t")
    v3 = aieng.snapshot(pd.DataFrame({"a": [1]}), name="t")  # back to v1's content: a new version, same object
    assert [v1.version, v2.version, v3.version] == [1, 2, 3] and v3.id == v1.id and not v3.stored
    assert aieng.load("t")["a"].tolist() == [1]
    assert aieng.load("t@2")["a"].tolist() == [2]
    assert aieng.load("t@latest")["a"].tolist() == [1]
    assert aieng.load(v2.id[:8])["a"].tolist() == [2]
    assert [(r.name, r.version) for r in aieng.list_snapshots("t")] == [("t", 1), ("t", 2), ("t", 3)]
    with pytest.raises(NotFoundError, match="no version 7"):
        aieng.load("t@7")
    with pytest.raises(NotFoundError, match="names: t"):
        aieng.load("nope")


def test_hash_ignores_memory_layout_but_sees_every_difference():
    base = pd.DataFrame({"a": np.arange(5), "b": list("abcde")})
    h = snaps.content_hash(base)
    assert snaps.content_hash(base.copy()) == h
    assert snaps.content_hash(pd.concat([base.iloc[:2], base.iloc[2:]])) == h  # different blocks and buffers
    assert snaps.content_hash(base[["a", "b"]].iloc[::1]) == h
    variants = [
        base.rename(columns={"a": "A"}),
        base.astype({"a": "int32"}),
        base.assign(b=base["b"].astype("category")),
        base.assign(b=base["b"].astype("string")),
        base.set_axis(list("vwxyz")),
        base[["b", "a"]],
        base.iloc[:4],
        base.assign(a=[0, 1, 2, 3, 5]),
        base.assign(b=["a", "b", "c", "d", None]),
        base.assign(b=[s.encode() for s in "abcde"]),
    ]
    hashes = {snaps.content_hash(v) for v in variants}
    assert h not in hashes and len(hashes) == len(variants)


# --- storage integrity ------------------------------------------------------------------------------------


def _object_file(workspace, digest: str, name: str = "data.parquet") -> Path:
    return ObjectStore(workspace.path("snapshots")).dir(digest) / name


def test_a_corrupted_object_is_detected_on_load(workspace):
    rec = aieng.snapshot(pd.DataFrame({"x": np.arange(1000)}), name="c")
    path = _object_file(workspace, rec.id)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="corrupted"):
        aieng.load("c")


def test_a_consistently_rewritten_object_fails_the_content_hash(workspace):
    """Even with matching file checksums, data that hashes differently is refused."""
    rec = aieng.snapshot(pd.DataFrame({"x": [1, 2, 3]}), name="c")
    store = ObjectStore(workspace.path("snapshots"))
    path = _object_file(workspace, rec.id)
    pd.DataFrame({"x": [1, 2, 4]}).to_parquet(path)
    meta = store.meta(rec.id)
    from aieng_nb.snapshots.hashing import file_digest

    meta["files"]["data.parquet"] = {"size": path.stat().st_size, "xxh3": file_digest(path)}
    store.write_meta(rec.id, meta)
    with pytest.raises(IntegrityError, match="hashes to"):
        aieng.load("c")
    assert aieng.load("c", verify=False)["x"].tolist() == [1, 2, 4]


def test_a_full_disk_mid_write_leaves_nothing_visible(workspace, monkeypatch):
    from aieng_nb.snapshots import codec

    def full_disk(table, path):
        path.write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    real = codec.write_table
    monkeypatch.setattr(codec, "write_table", full_disk)
    with pytest.raises(OSError, match="No space left"):
        aieng.snapshot(pd.DataFrame({"x": [1, 2]}), name="full")
    objects = workspace.path("snapshots", "objects")
    assert list(objects.rglob("*.parquet")) == [] and list(objects.glob(".tmp-*")) == []
    assert len(aieng.list_snapshots()) == 0
    monkeypatch.setattr(codec, "write_table", real)
    assert aieng.snapshot(pd.DataFrame({"x": [1, 2]}), name="full").stored  # the next try works


def test_a_killed_writer_leaves_no_visible_object_and_gc_cleans_up(workspace, python_env, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time, pandas as pd
            from aieng_nb.snapshots import codec
            real = codec.write_table
            def slow(table, path):
                real(table, path)
                print("written", flush=True)
                time.sleep(60)
            codec.write_table = slow
            import aieng_nb as aieng
            aieng.snapshot(pd.DataFrame({"x": range(1000)}), name="killed")
            """
        )
    )

    def killed_writer():
        proc = subprocess.Popen([sys.executable, str(script)], env=python_env, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "written"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    killed_writer()
    store = ObjectStore(workspace.path("snapshots"))
    assert list(store.hashes()) == [] and len(store.temp_dirs(older_than=0)) == 1
    with pytest.raises(NotFoundError):
        aieng.load("killed")
    # gc removes a dead writer's temp folder at once, whatever the grace
    result = snaps.gc()
    assert result.temp_removed == 1 and store.temp_dirs(older_than=0) == [] and result.removed == []
    # ... and so does the next write
    killed_writer()
    assert len(store.temp_dirs(older_than=0)) == 1
    rec = aieng.snapshot(pd.DataFrame({"x": range(1000)}), name="killed")
    assert rec.stored and aieng.load("killed")["x"].tolist() == list(range(1000))
    assert store.temp_dirs(older_than=0) == []
    assert not list((workspace.path("snapshots", "locks", "inflight")).glob("*.lock"))


def test_concurrent_processes_snapshotting_the_same_data(workspace, python_env, tmp_path):
    script = tmp_path / "snap.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, numpy as np, pandas as pd, aieng_nb as aieng
            df = pd.DataFrame({"x": np.arange(300_000), "s": np.arange(300_000).astype(str).astype(object)})
            rec = aieng.snapshot(df, name=sys.argv[1])
            print(rec.id, rec.stored)
            """
        )
    )
    procs = [
        subprocess.Popen([sys.executable, str(script), f"n{i % 2}"], env=python_env, stdout=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ids = {o[0] for o in outs}
    assert len(ids) == 1 and [o[1] for o in outs].count("True") == 1  # written exactly once
    store = ObjectStore(workspace.path("snapshots"))
    assert list(store.hashes()) == list(ids) and store.temp_dirs(older_than=0) == []
    assert {(r.name, r.version) for r in aieng.list_snapshots()} == {("n0", 1), ("n1", 1)}
    df = aieng.load("n0")
    assert len(df) == 300_000 and df["s"].iloc[-1] == "299999"
    assert audit.verify().ok


# --- profile, diff, gc, records ------------------------------------------------------------------------------


def test_profile_has_schema_nulls_stats_and_top_values(workspace):
    df = pd.DataFrame(
        {
            "age": [20.0, 30.0, None, 40.0],
            "city": ["Oslo", "Oslo", "Rome", None],
            "ok": [True, False, True, True],
            "when": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", None]),
        }
    )
    prof = aieng.snapshot(df, name="p").profile
    cols = {c["name"]: c for c in prof["columns"]}
    assert prof["rows"] == 4 and not prof["sampled"]
    assert cols["age"]["null_share"] == 0.25 and cols["age"]["mean"] == 30.0 and cols["age"]["min"] == 20.0
    assert cols["age"]["quantiles"]["p50"] == 30.0 and cols["age"]["std"] == pytest.approx(10.0)
    assert cols["city"]["distinct"] == 2 and cols["city"]["top"][0][:2] == ["Oslo", 2]
    assert cols["ok"]["true_share"] == 0.75 and cols["when"]["max"].startswith("2024-03-01")
    meta = json.loads((ObjectStore(workspace.path("snapshots")).dir(snaps.resolve("p")[0]) / "meta.json").read_text())
    assert meta["profile"] == prof  # stored as JSON with the snapshot
    rec = snaps.show("p")
    assert "age" in rec._repr_html_() and "<table>" in rec._repr_html_()
    assert "city" in rec.text() and "Oslo" in rec.text()


def test_large_frames_profile_on_a_sample_but_exact_counts():
    from aieng_nb.snapshots.profile import SAMPLE_ROWS, profile_frame

    n = SAMPLE_ROWS * 2
    df = pd.DataFrame({"x": np.arange(n, dtype=float)})
    df.loc[::4, "x"] = np.nan
    prof = profile_frame(df)
    col = prof["columns"][0]
    assert prof["sampled"] and prof["sample_rows"] == SAMPLE_ROWS
    assert col["nulls"] == n // 4 and col["max"] == n - 1 and col["min"] == 1.0
    assert col["quantiles"]["p50"] == pytest.approx(n / 2, rel=0.02)


def test_diff_reports_schema_rows_stats_and_drift(workspace):
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"age": rng.normal(40, 5, 1000), "city": rng.choice(["a", "b"], 1000), "gone": 1, "typed": 1})
    b = pd.DataFrame({"age": rng.normal(50, 5, 1200), "city": rng.choice(["a", "b"], 1200), "new": 1.0, "typed": 1.0})
    aieng.snapshot(a, name="train")
    aieng.snapshot(b, name="train")
    d = snaps.diff("train@1", "train@2")
    assert d.added == ["new"] and d.removed == ["gone"]
    assert d.changed == [{"name": "typed", "from": "int64", "to": "float64"}]
    assert (d.rows_a, d.rows_b) == (1000, 1200)
    cols = {c.name: c for c in d.columns}
    assert cols["age"].drift and cols["age"].deltas["mean"] == pytest.approx(10, abs=1)
    assert not cols["city"].drift and d.drifted == ["age"]
    assert "DRIFT" in str(d) and "added columns: new" in str(d) and json.dumps(d.to_dict())
    assert snaps.diff("train@1", "train@1").identical


def test_gc_removes_only_unreferenced_objects(workspace):
    kept = aieng.snapshot(pd.DataFrame({"a": [1]}), name="keep")
    loose = aieng.snapshot(pd.DataFrame({"a": [2]}), name="loose")
    assert snaps.delete("loose").versions == [1]
    dry = snaps.gc(dry_run=True, grace=0)
    assert dry.removed == [loose.id] and dry.freed_bytes > 0 and dry.kept == 1
    store = ObjectStore(workspace.path("snapshots"))
    assert store.exists(loose.id)  # dry run removes nothing
    assert snaps.gc(grace=3600).removed == []  # too young
    done = snaps.gc(grace=0)
    assert done.removed == [loose.id] and not store.exists(loose.id) and store.exists(kept.id)
    assert audit.entries("snapshot.gc")[-1]["data"]["removed"] == [loose.id]


def test_audit_trail_records_snapshot_events(workspace):
    df = pd.DataFrame({"email": ["a@example.com", "b"]})
    rec = aieng.snapshot(df, name="e")
    aieng.snapshot(df, name="e")  # nothing new: no event
    entries = audit.entries("snapshot.")
    assert [e["event"] for e in entries] == ["snapshot.create"]
    data = entries[0]["data"]
    assert data["hash"] == rec.id and data["name"] == "e" and data["version"] == 1 and data["new_object"]
    assert data["pii_findings"][0]["kind"] == "email" and "a@example.com" not in json.dumps(entries.to_dicts())
    assert audit.verify().ok


def test_listing_shows_names_versions_sizes_and_users(workspace):
    aieng.snapshot(pd.DataFrame({"a": range(10)}), name="one")
    listing = aieng.list_snapshots()
    row = listing[0]
    assert (row.name, row.version, row.shape, row.kind) == ("one", 1, [10, 1], "frame")
    assert row.bytes > 0 and row.used_by == [] and row.created is not None and row.created.tzinfo is not None
    text = str(listing)
    assert "one" in text and "10 x 1" in text and row.snapshot_id[:12] in text
    page = listing._repr_html_()
    assert "<table class='aieng-table" in page and "<td>one</td>" in page
    assert aieng.snapshots is snaps and callable(aieng.snapshots)


# --- lineage ----------------------------------------------------------------------------------------------


def test_a_snapshot_in_an_active_run_is_an_mlflow_dataset_input(workspace):
    from mlflow.tracking import MlflowClient

    df = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    with aieng.start_run(experiment="lineage") as run:
        rec = aieng.snapshot(df, name="train")
        aieng.load("train")  # loading again in the same run records nothing twice
    outside = aieng.snapshot(df, name="train")
    assert rec.used_by == [run.id] and outside.used_by == [run.id]
    assert aieng.list_snapshots()[0].used_by == [run.id]
    inputs = MlflowClient(workspace.tracking_uri).get_run(run.id).inputs.dataset_inputs
    assert len(inputs) == 1
    ds = inputs[0].dataset
    assert ds.digest == rec.id and ds.name == "train"
    assert "x" in ds.schema
    with aieng.start_run(experiment="lineage") as run2:
        aieng.load("train@1")
    assert snaps.show("train").used_by == [run.id, run2.id]
    assert audit.entries("snapshot.create")[0]["data"]["run_id"] == run.id
    # a run keeps its inputs alive through gc even without a name
    snaps.delete("train")
    assert snaps.gc(grace=0).removed == [] and aieng.load(rec.id).equals(df)


def test_a_writer_that_loses_the_rename_race_returns_the_existing_object(workspace, monkeypatch):
    """Where file locks do not hold (some network disks), a second writer must not fail or duplicate."""
    from contextlib import contextmanager

    store = ObjectStore(workspace.path("snapshots"))
    first = aieng.snapshot(pd.DataFrame({"x": [1, 2]}), name="a")
    before = (store.dir(first.id) / "data.parquet").read_bytes()
    real_exists = ObjectStore.exists
    calls = []

    @contextmanager
    def no_lock(self, name):
        yield

    def exists_late(self, digest):  # the pre-checks miss the object, as if the other writer were not done
        calls.append(digest)
        return real_exists(self, digest) if len(calls) > 2 else False

    monkeypatch.setattr(ObjectStore, "lock", no_lock)
    monkeypatch.setattr(ObjectStore, "exists", exists_late)
    assert store.put(first.id, lambda tmp: (tmp / "data.parquet").write_bytes(b"other") and {}) is False
    assert (store.dir(first.id) / "data.parquet").read_bytes() == before
    assert store.temp_dirs(older_than=0) == []


def _unreferenced_old_object(workspace, df):
    """Snapshot ``df`` and delete its name: the object is unreferenced, so gc(grace=0) removes it."""
    rec = aieng.snapshot(df, name="old", pii="allow")
    snaps.delete("old")
    return rec


def test_gc_between_the_exists_check_and_the_tag_never_leaves_a_dangling_name(workspace, monkeypatch):
    from aieng_nb.snapshots.index import Index

    df = pd.DataFrame({"x": [1, 2, 3]})
    old = _unreferenced_old_object(workspace, df)
    real_tag = Index.tag
    removed = []

    def gc_first(self, *a, **kw):  # a concurrent gc runs after snapshot() found the object, before the tag
        if not removed:
            removed.extend(snaps.gc(grace=0).removed)
        return real_tag(self, *a, **kw)

    monkeypatch.setattr(Index, "tag", gc_first)
    rec = aieng.snapshot(df, name="new", pii="allow")
    # the object is in flight (found by this snapshot, not tagged yet): gc keeps it, whatever the grace
    assert removed == [] and rec.id == old.id and not rec.stored
    assert ObjectStore(workspace.path("snapshots")).exists(rec.id)
    assert aieng.load("new").equals(df)
    assert audit.entries("snapshot.create")[-1]["data"]["name"] == "new"


def test_gc_during_the_pii_scan_of_an_existing_object_does_not_leave_a_meta_only_object(workspace, monkeypatch):
    from aieng_nb import privacy

    df = pd.DataFrame({"x": ["a", "b"]})
    old = _unreferenced_old_object(workspace, df)  # stored unscanned (allow): a warn snapshot scans it
    real_scan = privacy.scan
    removed = []

    def gc_during_scan(*a, **kw):
        if not removed:
            removed.extend(snaps.gc(grace=0).removed)
        return real_scan(*a, **kw)

    monkeypatch.setattr(privacy, "scan", gc_during_scan)
    rec = aieng.snapshot(df, name="new")
    assert removed == [] and rec.id == old.id  # in flight: never collected
    store = ObjectStore(workspace.path("snapshots"))
    store.verify_files(rec.id)  # data files present, not just a recreated meta.json
    assert aieng.load("new").equals(df) and rec.pii["scanned"]


def test_gc_with_no_grace_never_collects_an_in_flight_write(workspace, monkeypatch):
    from aieng_nb.snapshots.index import Index

    real_tag = Index.tag
    results = []

    def always_gc(self, *a, **kw):  # gc --grace 0 between the object's write and its tag
        results.append(snaps.gc(grace=0))
        return real_tag(self, *a, **kw)

    monkeypatch.setattr(Index, "tag", always_gc)
    rec = aieng.snapshot(pd.DataFrame({"x": [1]}), name="n")
    monkeypatch.setattr(Index, "tag", real_tag)
    assert [r.removed for r in results] == [[]] and results[0].kept == 1
    assert aieng.load("n").equals(pd.DataFrame({"x": [1]})) and rec.stored
    assert snaps.gc(grace=0).removed == []  # tagged now: referenced


def test_concurrent_large_snapshots_survive_gc_with_no_grace(workspace, python_env, tmp_path):
    script = tmp_path / "snap.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, numpy as np, pandas as pd, aieng_nb as aieng
            df = pd.DataFrame({"x": np.arange(400_000) + int(sys.argv[1]) * 10**7, "y": np.random.rand(400_000)})
            print("ready", flush=True)
            rec = aieng.snapshot(df, name=f"big{sys.argv[1]}", pii="allow")
            print(rec.id, flush=True)
            """
        )
    )
    procs = [
        subprocess.Popen([sys.executable, str(script), str(i)], env=python_env, stdout=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    collected = []
    while any(p.poll() is None for p in procs):
        collected += snaps.gc(grace=0).removed
        time.sleep(0.02)
    outs = [p.communicate()[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert collected == []
    for i in range(3):
        assert len(aieng.load(f"big{i}")) == 400_000
    assert audit.verify().ok


def test_a_lineage_failure_keeps_the_snapshot_and_its_audit_entry(workspace, monkeypatch, caplog):
    from aieng_nb import tracking

    real_log = tracking.log_dataset_input

    def remote_down(**kw):
        raise ConnectionError("tracking server unreachable")

    df = pd.DataFrame({"x": [1.0, 2.0]})
    with aieng.start_run(experiment="lineage") as run:
        monkeypatch.setattr(tracking, "log_dataset_input", remote_down)
        with caplog.at_level("WARNING", logger="aieng_nb.snapshots"):
            rec = aieng.snapshot(df, name="train")
        assert rec.ref == "train@1" and rec.used_by == []
        assert "recording it as an input of run" in caplog.text and "tracking server unreachable" in caplog.text
        (entry,) = audit.entries("snapshot.create")
        assert entry["data"]["name"] == "train" and entry["data"]["version"] == 1
        assert entry["data"]["run_id"] == run.id
        monkeypatch.setattr(tracking, "log_dataset_input", real_log)
        aieng.load("train")  # lineage is retried on the next use in the run
    assert snaps.show("train").used_by == [run.id]
    assert audit.verify().ok


def test_store_locks_are_the_shared_fsutil_lock(workspace, monkeypatch):
    from contextlib import contextmanager

    from aieng_nb import fsutil

    taken = []
    real = fsutil.locked

    @contextmanager
    def spy(path):
        taken.append(Path(path).name)
        with real(path):
            yield

    monkeypatch.setattr(fsutil, "locked", spy)
    aieng.snapshot(pd.DataFrame({"x": [1]}), name="l")
    assert "index.lock" in taken and any(n.startswith("object-") for n in taken)
    assert (workspace.path("snapshots", "locks") / "index.lock").is_file()


def test_delete_versions_and_names_then_gc(workspace):
    v1 = aieng.snapshot(pd.DataFrame({"a": [1]}), name="t")
    v2 = aieng.snapshot(pd.DataFrame({"a": [2]}), name="t")
    snaps.delete("t@2")
    assert aieng.load("t")["a"].tolist() == [1]  # latest live version
    with pytest.raises(NotFoundError, match="t@2 was deleted"):
        aieng.load("t@2")
    v3 = aieng.snapshot(pd.DataFrame({"a": [3]}), name="t")
    assert v3.version == 3  # numbers are never reused
    assert [r.version for r in aieng.list_snapshots("t")] == [1, 3]
    assert snaps.gc(grace=0).removed == [v2.id]
    snaps.delete("t")
    with pytest.raises(NotFoundError, match="was deleted"):
        aieng.load("t")
    assert len(aieng.list_snapshots()) == 0 and sorted(snaps.gc(grace=0).removed) == sorted([v1.id, v3.id])
    assert [e["data"]["versions"] for e in audit.entries("snapshot.delete")] == [[2], [1, 3]]
    for bad in ("nope", "t@9", "../x"):
        with pytest.raises((NotFoundError, ValidationError)):
            snaps.delete(bad)
    again = aieng.snapshot(pd.DataFrame({"a": [1]}), name="t")  # a deleted name can be used again
    assert again.version == 4 and again.stored


def test_folder_versions_share_unchanged_file_bytes(workspace, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "big.bin").write_bytes(os.urandom(200_000))
    (folder / "small.txt").write_text("v1")
    v1 = aieng.snapshot(folder, name="data")
    (folder / "small.txt").write_text("v2")
    v2 = aieng.snapshot(folder, name="data")
    assert v1.id != v2.id and v2.version == 2
    p1, p2 = aieng.load("data@1") / "big.bin", aieng.load("data@2") / "big.bin"
    assert p1.stat().st_ino == p2.stat().st_ino  # stored once, hard-linked into both versions
    assert not os.access(p1, os.W_OK) or os.geteuid() == 0  # read-only (root may write anyway)
    assert (p1.stat().st_mode & 0o222) == 0
    assert (aieng.load("data@1") / "small.txt").read_text() == "v1"
    store = ObjectStore(workspace.path("snapshots"))
    snaps.delete("data@1")
    done = snaps.gc(grace=0)
    assert done.removed == [v1.id] and done.blobs_removed == 1  # only v1's small.txt bytes go
    assert (aieng.load("data") / "big.bin").stat().st_size == 200_000
    snaps.delete("data")
    assert snaps.gc(grace=0).blobs_removed == 2
    assert [p for p in store.blobs.rglob("*") if p.is_file()] == []


def test_a_corrupted_file_snapshot_is_detected(workspace, tmp_path):
    (tmp_path / "f.csv").write_text("a,b\n1,2\n")
    aieng.snapshot(tmp_path / "f.csv", name="f")
    stored = aieng.load("f")
    os.chmod(stored, 0o644)
    stored.write_text("a,b\n1,3\n")
    with pytest.raises(IntegrityError, match="corrupted"):
        aieng.load("f")


def test_categoricals_of_any_category_type_round_trip(workspace):
    cats = [f"c{i}" for i in range(50)]
    d = pd.to_datetime(["2024-01-01", "2024-02-01"])
    others = [
        d,
        d.tz_localize("UTC"),
        pd.to_timedelta([1, 2], unit="s"),
        pd.Index([True, False]),
        pd.Index([1.5, 2.5]),
        pd.Index(["a", "b"], dtype="string[pyarrow]"),
        pd.Index([b"a", b"b"]),
    ]
    frames = [pd.DataFrame({"c": pd.Categorical([c[1], c[0]], categories=c)}) for c in others]
    frames += [
        pd.DataFrame({"c": pd.Categorical(["c3", "c1", None], categories=list(reversed(cats)), ordered=True)}),
        pd.DataFrame({"c": pd.Categorical([3, 1, 3], categories=list(range(50)))}),
        pd.DataFrame({"c": pd.Categorical([], categories=cats)}),
        pd.DataFrame({"x": [1, 2]}, index=pd.CategoricalIndex(["c1", "c2"], categories=cats, name="k")),
    ]
    for df in frames:
        rec = aieng.snapshot(df, name="cats", pii="allow")
        pd.testing.assert_frame_equal(aieng.load(rec.id), df)
