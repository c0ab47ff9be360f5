"""Content hash stability and round-trip properties (hypothesis) over dtypes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aieng_nb as aieng
from aieng_nb.snapshots import content_hash

# --- a reference implementation of the canonical encoding, with no pyarrow in it ---------------------------


def _ref_strings(values: list[str | None]) -> bytes:
    data = b"".join(v.encode("utf-8") for v in values if v is not None)
    lengths = np.array([len(v.encode("utf-8")) if v is not None else 0 for v in values], dtype="<i8")
    nulls = [v is None for v in values]
    mask = np.array(nulls, dtype=np.uint8).tobytes() if any(nulls) else b""
    return xxhash.xxh3_128_digest(data) + xxhash.xxh3_128_digest(lengths.tobytes()) + xxhash.xxh3_128_digest(mask)


def _ref_hash(columns: dict[str, tuple[str, list]], nrows: int) -> str:
    """Format 1, for int64/float64/bool/str columns and a default RangeIndex, written from the spec."""
    header, digests = [], []
    for name, (kind, values) in columns.items():
        if kind == "str":
            nulls = sum(v is None for v in values)
            header.append([["str", name], "object:str", nulls])
            digests.append(_ref_strings(values))
        else:
            arr = np.array(values, dtype={"int64": "<i8", "float64": "<f8", "bool": "|b1"}[kind])
            nulls = int(np.isnan(arr).sum()) if kind == "float64" else 0
            header.append([["str", name], kind, nulls])
            digests.append(xxhash.xxh3_128_digest(arr.tobytes()))
    head = {
        "v": 1,
        "kind": "frame",
        "shape": [nrows, len(columns)],
        "columns": header,
        "index": [["range", 0, nrows, 1, ["NoneType", None]]],
        "columns_index": [[["NoneType", None]]],
    }
    h = xxhash.xxh3_128(json.dumps(head, sort_keys=True, separators=(",", ":")).encode())
    for d in digests:
        h.update(d)
    return h.hexdigest()


GOLDEN_COLUMNS = {
    "id": ("int64", [1, 2, 3, 4]),
    "score": ("float64", [0.5, float("nan"), -1.25, 1e300]),
    "flag": ("bool", [True, False, False, True]),
    "name": ("str", ["Ann", None, "Zoë", ""]),
}
# pinned: if this changes, every stored snapshot id changes (bump hashing.FORMAT instead)
GOLDEN = "d701eb6ec8bd3ffcf18f5135d650904d"


def _golden_frame() -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(v, dtype=object if t == "str" else t) for k, (t, v) in GOLDEN_COLUMNS.items()})


def test_hash_matches_the_pyarrow_free_reference_implementation():
    assert content_hash(_golden_frame()) == _ref_hash(GOLDEN_COLUMNS, 4)


def test_hash_is_pinned_across_library_versions():
    assert _ref_hash(GOLDEN_COLUMNS, 4) == GOLDEN
    assert content_hash(_golden_frame()) == GOLDEN


def test_hash_does_not_depend_on_arrow_chunking_or_string_storage_offsets():
    import pyarrow as pa

    values = ["a", None, "bcd", "", "é" * 3] * 20
    whole = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(values)])))
    chunks = pa.chunked_array([pa.array(values[:7]), pa.array(values[7:50]), pa.array(values[50:])])
    chunked = pd.Series(pd.arrays.ArrowStringArray(chunks))
    sliced = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(["pad"] + values).slice(1)])))
    assert (
        content_hash(whole.to_frame("s")) == content_hash(chunked.to_frame("s")) == content_hash(sliced.to_frame("s"))
    )


def test_nan_payloads_and_block_layout_do_not_change_the_hash():
    a = np.array([1.0, np.nan, 3.0])
    b = a.copy()
    b.view(np.uint64)[1] = 0xFFF8000000000001  # a negative NaN with a payload
    assert content_hash(pd.DataFrame({"x": a})) == content_hash(pd.DataFrame({"x": b}))
    wide = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=list("abc"))
    split = pd.DataFrame({c: wide[c].to_numpy().copy() for c in "abc"})
    assert content_hash(wide) == content_hash(split)


def test_hashing_a_million_rows_sees_every_row_and_every_column():
    # throughput is measured in benchmarks/bench_snapshots.py (bench_hash), not asserted here
    df = pd.DataFrame({f"f{i}": np.random.default_rng(i).standard_normal(1_000_000) for i in range(4)})
    digest = content_hash(df)
    assert digest == content_hash(df.copy())
    for row in (0, 499_999, 999_999):
        changed = df.copy()
        changed.iloc[row, 3] = np.nextafter(changed.iloc[row, 3], np.inf)  # the smallest possible change
        assert content_hash(changed) != digest
    assert content_hash(df[["f1", "f0", "f2", "f3"]]) != digest  # column order counts


# --- round-trip properties -------------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)


def _column(kind: str, n: int) -> st.SearchStrategy:
    opt = lambda s: st.one_of(st.none(), s)  # noqa: E731
    if kind == "int64":
        return st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="int64")
        )
    if kind == "int8":
        return st.lists(st.integers(-128, 127), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="int8"))
    if kind == "uint32":
        return st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="uint32"))
    if kind == "float64":
        return st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="float64")
        )
    if kind == "float32":
        return st.lists(st.floats(width=32), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="float32"))
    if kind == "bool":
        return st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="bool"))
    if kind == "object":
        return st.lists(opt(TEXT), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=object))
    if kind == "bytes":
        return st.lists(opt(st.binary(max_size=6)), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=object))
    if kind in ("string", "string[pyarrow]"):
        return st.lists(opt(TEXT), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=kind))
    if kind == "category":
        return st.tuples(st.lists(opt(st.sampled_from(["a", "b", "c"])), min_size=n, max_size=n), st.booleans()).map(
            lambda t: pd.Series(pd.Categorical(t[0], categories=["c", "a", "b", "unused"], ordered=t[1]))
        )
    if kind == "category_int":
        return st.lists(st.sampled_from([10, 20, 30]), min_size=n, max_size=n).map(
            lambda v: pd.Series(pd.Categorical(v))
        )
    stamps = st.integers(-(2**62), 2**62)
    if kind == "datetime":
        return st.lists(opt(stamps), min_size=n, max_size=n).map(
            lambda v: pd.Series(
                np.array([x if x is not None else np.iinfo(np.int64).min for x in v], dtype="i8").view("M8[ns]")
            )
        )
    if kind == "datetime_tz":
        return st.lists(st.integers(0, 2**61), min_size=n, max_size=n).map(
            lambda v: pd.Series(
                pd.to_datetime(np.array(v, dtype="i8").view("M8[ns]")).tz_localize("UTC").tz_convert("Asia/Tokyo")
            )
        )
    if kind == "timedelta":
        return st.lists(opt(stamps), min_size=n, max_size=n).map(
            lambda v: pd.Series(
                np.array([x if x is not None else np.iinfo(np.int64).min for x in v], dtype="i8").view("m8[ns]")
            )
        )
    if kind == "Int64":
        return st.lists(opt(st.integers(-(2**63), 2**63 - 1)), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="Int64")
        )
    if kind == "boolean":
        return st.lists(opt(st.booleans()), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="boolean"))
    if kind in ("int64[pyarrow]", "double[pyarrow]", "bool[pyarrow]"):
        inner = {
            "int64[pyarrow]": st.integers(-(2**63), 2**63 - 1),
            "double[pyarrow]": st.floats(),
            "bool[pyarrow]": st.booleans(),
        }[kind]
        return st.lists(opt(inner), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=kind))
    if kind == "Float64":
        return st.lists(opt(st.floats(allow_nan=False)), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="Float64")
        )
    raise AssertionError(kind)


KINDS = [
    "int64", "int8", "uint32", "float64", "float32", "bool", "object", "bytes", "string", "string[pyarrow]",
    "category", "category_int", "datetime", "datetime_tz", "timedelta", "Int64", "boolean", "Float64",
    "int64[pyarrow]", "double[pyarrow]", "bool[pyarrow]",
]  # fmt: skip


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
    cols = {f"c{i}_{k}": draw(_column(k, n)).reset_index(drop=True) for i, k in enumerate(kinds)}
    df = pd.DataFrame(cols)
    if draw(st.booleans()):
        df.index = pd.Index(draw(st.lists(TEXT, min_size=n, max_size=n)), name="key", dtype=object)
    return df


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(df=frames())
def test_any_frame_round_trips_and_keeps_its_hash(workspace, df):
    rec = aieng.snapshot(df, name="prop", pii="allow")
    back = aieng.load(rec.id)  # load verifies the content hash of what it read
    pd.testing.assert_frame_equal(back, df)
    assert content_hash(back) == rec.id == content_hash(df.copy())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    arr=st.sampled_from(["<f8", "<f4", "<i4", "|u1", "|b1", "<c16", "<M8[ns]"]).flatmap(
        lambda dt: st.tuples(st.just(dt), st.lists(st.integers(0, 4), min_size=0, max_size=3), st.integers(0, 2**31))
    )
)
def test_any_numpy_array_round_trips(workspace, arr):
    dtype, shape, seed = arr
    raw = np.random.default_rng(seed).integers(
        0, 255, size=int(np.prod(shape)) * np.dtype(dtype).itemsize, dtype=np.uint8
    )
    a = (
        raw.view(dtype).reshape(shape)
        if np.dtype(dtype).kind not in "bf"
        else raw[: int(np.prod(shape))].astype(dtype).reshape(shape)
    )
    rec = aieng.snapshot(a, name="arr")
    back = aieng.load(rec.id)
    assert back.dtype == a.dtype and back.shape == a.shape
    assert np.array_equal(back, a, equal_nan=a.dtype.kind in "fc")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool", "bfloat16", "float16", "uint8"])
def test_torch_dtypes_round_trip(workspace, dtype):
    import torch

    t = (torch.arange(12).reshape(3, 4) % 3).to(getattr(torch, dtype))
    rec = aieng.snapshot(t, name="t")
    back = aieng.load(rec.id)
    assert back.dtype == t.dtype and torch.equal(back, t)


def test_the_object_column_cache_never_returns_a_stale_hash():
    from aieng_nb.snapshots import hashing

    hashing.clear_cache()
    vocab = np.array([f"v{i}" for i in range(1000)], dtype=object)
    df = pd.DataFrame({"s": vocab[np.arange(50_000) % 1000]})
    first = content_hash(df)
    assert len(hashing._OBJECT_CACHE) == 1 and content_hash(df) == first  # second call: cache hit
    df.loc[7, "s"] = "changed in place"  # same array, one pointer changed
    changed = content_hash(df)
    assert changed != first
    df.loc[7, "s"] = "v7"
    assert content_hash(df) == first
    fresh = pd.DataFrame({"s": [str(x) for x in df["s"]]})  # equal content, all new objects
    assert content_hash(fresh) == first
    hashing.clear_cache()
    assert content_hash(df) == first and content_hash(df.iloc[:10]) != first
