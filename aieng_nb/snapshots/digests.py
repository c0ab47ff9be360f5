"""Digests of one column's values in the canonical encoding (see :mod:`.hashing` for the format).

Fixed-width numpy data, nullable extension arrays, Arrow text and object columns; object columns
converted to Arrow are cached by their pointer array so re-hashing the same frame is cheap.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Any

import numpy as np
import xxhash

from ..exceptions import ValidationError


def _le(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr


def _digest_bytes(*parts: Any) -> bytes:
    h = xxhash.xxh3_128()
    for part in parts:
        h.update(part)
    return h.digest()


def _digest_numpy(arr: np.ndarray, has_nan: bool | None = None) -> bytes:
    if arr.dtype.kind in "mM":
        arr = arr.view("i8")
    elif arr.dtype.kind in "fc":
        # every NaN hashes as the canonical quiet NaN (Parquet and pandas do not keep NaN payloads or signs)
        if has_nan is None:
            has_nan = bool(np.isnan(arr).any())
        if has_nan:
            arr = np.where(np.isnan(arr), np.array(np.nan, dtype=arr.dtype), arr)
    return xxhash.xxh3_128_digest(_le(arr).view(np.uint8).data)


def _digest_arrow_strings(chunked: Any) -> tuple[bytes, int]:
    """Digest of a (chunked) Arrow string/binary array, independent of chunking and offsets."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(chunked, pa.Array):
        chunked = pa.chunked_array([chunked], type=chunked.type)
    data, lengths, mask = xxhash.xxh3_128(), xxhash.xxh3_128(), xxhash.xxh3_128()
    nulls = 0
    for chunk in chunked.chunks:
        if len(chunk) == 0:
            continue
        if chunk.null_count:
            nulls += chunk.null_count
            mask.update(chunk.is_null().to_numpy(zero_copy_only=False).view(np.uint8))
            chunk = pc.fill_null(
                chunk, "" if pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type) else b""
            )
        _, offsets_buf, data_buf = chunk.buffers()[:3]
        width = np.int64 if pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type) else np.int32
        offsets = np.frombuffer(
            offsets_buf, dtype=width, count=len(chunk) + 1, offset=chunk.offset * np.dtype(width).itemsize
        )
        start, end = int(offsets[0]), int(offsets[-1])
        if data_buf is not None and end > start:
            data.update(memoryview(data_buf)[start:end])
        lengths.update(np.ascontiguousarray(np.diff(offsets), dtype="<i8").data)
    return data.digest() + lengths.digest() + mask.digest(), nulls


def _object_to_arrow(values: np.ndarray, label: str) -> tuple[Any, str]:
    """An object column of str (or bytes) and nulls as an Arrow array, or a clear error."""
    import pyarrow as pa

    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is not None:
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return arr, "object:str"
        if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
            return arr, "object:bytes"
        if pa.types.is_null(arr.type):
            return pa.array(values, type=pa.string(), from_pandas=True), "object:str"
    kinds = sorted({type(v).__name__ for v in values[:1000] if v is not None})
    raise ValidationError(
        f"column {label} has dtype object holding {', '.join(kinds)}: snapshots support object columns of "
        "str or bytes (with None/NaN); convert it first, e.g. df[col].astype(str) or a numeric dtype"
    )


def digest_array(values: Any, label: str = "values") -> tuple[str, bytes, int, Any]:
    """Canonical (dtype token, 16..48-byte digest, null count, arrow array or None) of one column's values."""
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        ctoken, cdigest, _, _ = digest_array(cats, f"{label} categories")
        codes = np.asarray(values.codes if hasattr(values, "codes") else values.cat.codes)
        nulls = int((codes < 0).sum())
        token = f"category[ordered={bool(dtype.ordered)},{ctoken}]"
        return token, _digest_bytes(_digest_numpy(codes), cdigest), nulls, None
    if isinstance(dtype, pd.DatetimeTZDtype):
        arr = values.array if hasattr(values, "array") else values
        ticks = np.asarray(arr.asi8)
        nulls = int(pd.isna(arr).sum())
        return f"datetime64[{dtype.unit}, {dtype.tz}]", _digest_numpy(ticks), nulls, None
    if isinstance(dtype, pd.StringDtype) or (isinstance(dtype, pd.ArrowDtype) and _is_arrow_text(dtype)):
        arr = values.array if hasattr(values, "array") else values
        pa_arr = getattr(arr, "_pa_array", None)
        if pa_arr is None:
            pa_arr, _ = _object_to_arrow(np.asarray(arr, dtype=object), label)
        digest, nulls = _digest_arrow_strings(pa_arr)
        storage = getattr(dtype, "storage", "pyarrow")
        na = "nan" if getattr(dtype, "na_value", pd.NA) is not pd.NA else "NA"
        token = f"string[{storage},{na}]" if isinstance(dtype, pd.StringDtype) else str(dtype)
        return token, digest, nulls, None
    if isinstance(dtype, pd.ArrowDtype):
        return _digest_arrow_primitive(values, dtype, label)
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        arr = values.array if hasattr(values, "array") else values
        data, mask = getattr(arr, "_data", None), getattr(arr, "_mask", None)
        if isinstance(data, np.ndarray) and isinstance(mask, np.ndarray):  # BaseMaskedArray
            nulls = int(mask.sum())
            if nulls:
                data = np.where(mask, np.zeros(1, dtype=data.dtype), data)
            return str(dtype), _digest_bytes(_digest_numpy(data), _digest_numpy(mask) if nulls else b""), nulls, None
        raise ValidationError(
            f"column {label} has dtype {dtype} which snapshots do not support; supported: numeric, bool, "
            "str/object, string, category, datetime (with or without tz), timedelta and nullable (Int64, boolean, Float64)"
        )
    arr = np.asarray(values)
    if arr.dtype.kind in "biufmM":
        if arr.dtype.kind == "f":
            nulls = int(np.isnan(arr).sum()) if arr.size else 0
        elif arr.dtype.kind in "mM":
            nulls = int(np.isnat(arr).sum()) if arr.size else 0
        else:
            nulls = 0
        return str(arr.dtype), _digest_numpy(arr, has_nan=nulls > 0 if arr.dtype.kind == "f" else None), nulls, None
    if arr.dtype.kind == "O":
        key, pinned = _pointer_key(arr)
        hit = _OBJECT_CACHE.get(key)
        if hit is not None:
            _OBJECT_CACHE.move_to_end(key)
            return hit[1], hit[2], hit[3], None
        pa_arr, token = _object_to_arrow(arr, label)
        digest, nulls = _digest_arrow_strings(pa_arr)
        _remember(key, pinned, token, digest, nulls)
        return token, digest, nulls, pa_arr
    raise ValidationError(f"column {label} has dtype {arr.dtype} which snapshots do not support")


# Object columns cost a conversion of every Python string; unchanged ones are recognised without it.
# Key: the column's pointer array (xxh3 of the PyObject addresses). A copy of that array is kept, which
# keeps the very same (immutable) str/bytes objects alive, so no address can be reused by another object:
# equal pointers then mean equal content. Bounded by rows; ``clear_cache()`` releases everything.
_OBJECT_CACHE: OrderedDict[tuple[int, bytes], tuple[np.ndarray, str, bytes, int]] = OrderedDict()
CACHE_MAX_ROWS = 20_000_000


def _pointer_key(arr: np.ndarray) -> tuple[tuple[int, bytes], np.ndarray]:
    arr = np.ascontiguousarray(arr.reshape(-1))
    raw = (ctypes.c_char * (arr.size * arr.itemsize)).from_address(arr.ctypes.data) if arr.size else b""
    return (arr.size, xxhash.xxh3_128_digest(raw)), arr


def _remember(key: tuple[int, bytes], pinned: np.ndarray, token: str, digest: bytes, nulls: int) -> None:
    if key[0] < 10_000:  # small columns are cheap to convert; do not pin them
        return
    _OBJECT_CACHE[key] = (pinned.copy(), token, digest, nulls)
    total = sum(k[0] for k in _OBJECT_CACHE)
    while _OBJECT_CACHE and total > CACHE_MAX_ROWS:
        old, _ = _OBJECT_CACHE.popitem(last=False)
        total -= old[0]


def clear_cache() -> None:
    """Forget the object-column hash cache (and release the strings it keeps alive)."""
    _OBJECT_CACHE.clear()


def _arrow_text_token(typ: Any) -> str:
    import pyarrow as pa

    return "object:bytes" if pa.types.is_binary(typ) or pa.types.is_large_binary(typ) else "object:str"


def _is_arrow_text(dtype: Any) -> bool:
    import pyarrow as pa

    t = dtype.pyarrow_dtype
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _digest_arrow_primitive(values: Any, dtype: Any, label: str) -> tuple[str, bytes, int, Any]:
    """``int64[pyarrow]``, ``double[pyarrow]``, ``bool[pyarrow]``, timestamps, durations, dates: values
    with nulls set to zero, then the null mask (independent of chunking)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = dtype.pyarrow_dtype
    ok = (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_duration(t)
        or pa.types.is_date(t)
    )
    if not ok:
        raise ValidationError(
            f"column {label} has dtype {dtype} which snapshots do not support; Arrow-backed columns may be "
            "integer, floating, bool, string, binary, timestamp, duration or date"
        )
    arr = values.array if hasattr(values, "array") else values
    chunked = arr._pa_array
    combined = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
    nulls = combined.null_count
    mask = b""
    if nulls:
        mask = _digest_numpy(combined.is_null().to_numpy(zero_copy_only=False))
        combined = pc.fill_null(combined, pa.scalar(False if pa.types.is_boolean(t) else 0, type=t))
    if pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_date64(t):
        combined = combined.cast(pa.int64())
    elif pa.types.is_date32(t):
        combined = combined.cast(pa.int32())
    data = np.asarray(combined.to_numpy(zero_copy_only=False))
    return str(dtype), _digest_bytes(_digest_numpy(data), mask), nulls, None
