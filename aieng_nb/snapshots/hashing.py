"""Content hashes of data: xxh3_128 over canonical value buffers, never over file bytes.

The snapshot id is a function of the data alone: column names, dtypes, values and index.
It does not depend on how pyarrow or pandas would serialize the frame, on chunking, or on
memory layout. The canonical encoding (format version ``1``) is:

* a JSON header: kind, shape, and per column ``[name_type, name, dtype_token, null_count]``;
* per column a 16-byte xxh3_128 digest of its values:

  - fixed-width numpy data (ints, floats, bools, ``datetime64``/``timedelta64`` as int64 ticks):
    the little-endian value bytes;
  - nullable extension arrays (``Int64``, ``boolean``, ``Float64``...): the values with nulls
    set to zero, then the null mask (one byte per row);
  - strings and bytes (object, ``string``, ``string[pyarrow]``): three streams hashed separately
    (UTF-8 data, int64 lengths, null mask), so chunking does not matter;
  - categoricals: the codes, then the digest of the categories;
  - tz-aware datetimes: the UTC ticks (the zone is in the dtype token);
* the index the same way (a ``RangeIndex`` is just its start/stop/step).

A pure-Python reference implementation of the string encoding lives in the tests, so a
pyarrow upgrade that changed its buffers would be caught.

>>> import pandas as pd
>>> h = content_hash(pd.DataFrame({"a": [1, 2]}))
>>> len(h), h == content_hash(pd.DataFrame({"a": [1, 2]}))
(32, True)
"""

from __future__ import annotations

import ctypes
import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from ..exceptions import ValidationError

FORMAT = 1
SUPPORTED = (
    "pandas DataFrame or Series, numpy ndarray, torch Tensor (CPU), "
    "or a path (str/pathlib.Path) to an existing file or folder"
)


@dataclass
class HashResult:
    """A content hash plus the work done on the way (reused when the data is written)."""

    digest: str
    kind: str
    # object columns converted to Arrow while hashing: column position -> pyarrow array
    arrow_columns: dict[int, Any] = field(default_factory=dict)
    # per column canonical dtype token, for the schema and for restoring dtypes on load
    tokens: list[str] = field(default_factory=list)
    # per column null count (None, NaN, NaT, NA), reused by the profile
    nulls: list[int] = field(default_factory=list)


def _name_key(name: Any) -> list[Any]:
    if name is None or isinstance(name, (str, bool, int, float)):
        return [type(name).__name__, name]
    if isinstance(name, tuple):
        return ["tuple", [_name_key(n) for n in name]]
    if isinstance(name, (np.integer, np.floating, np.bool_)):
        return _name_key(name.item())
    raise ValidationError(
        f"column or index name {name!r} of type {type(name).__name__} is not supported: use str, int, float or tuples"
    )


def name_key(name: Any) -> list[Any]:
    """A JSON form of a column, index or Series name that keeps its type (see :func:`name_from_key`)."""
    return _name_key(name)


def name_from_key(key: list[Any]) -> Any:
    """Inverse of :func:`name_key`.

    >>> name_from_key(name_key(("a", 1)))
    ('a', 1)
    """
    kind, value = key
    if kind == "tuple":
        return tuple(name_from_key(k) for k in value)
    return {"int": int, "float": float, "bool": bool}.get(kind, lambda v: v)(value)


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


def _index_parts(index: Any, what: str) -> tuple[list[Any], list[bytes]]:
    import pandas as pd

    if isinstance(index, pd.RangeIndex):
        return [["range", index.start, index.stop, index.step, _name_key(index.name)]], []
    if isinstance(index, pd.MultiIndex):
        header, digests = [], []
        for level in range(index.nlevels):
            values = index.get_level_values(level)
            token, digest, nulls, _ = digest_array(values, f"{what} level {level}")
            header.append(["level", _name_key(index.names[level]), token, nulls])
            digests.append(digest)
        return header, digests
    token, digest, nulls, _ = digest_array(index, what)
    return [["index", _name_key(index.name), token, nulls]], [digest]


def hash_frame(df: Any, *, kind: str = "frame", known_text: dict[int, Any] | None = None) -> HashResult:
    """Content hash of a DataFrame (names, dtypes, values, index).

    ``known_text``: column position -> an Arrow string/binary array holding exactly that object
    column's values (as read from storage), hashed instead of converting the Python objects again.
    """
    if not df.columns.is_unique:
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise ValidationError(f"duplicate column names {dupes}: snapshots need unique column names")
    result = HashResult("", kind)
    header: list[Any] = []
    digests: list[bytes] = []
    for pos in range(df.shape[1]):
        name = df.columns[pos]
        known = (known_text or {}).get(pos)
        if known is not None and df.dtypes.iloc[pos] == np.dtype(object):
            digest, nulls = _digest_arrow_strings(known)
            token, pa_arr = _arrow_text_token(known.type), None
        else:
            token, digest, nulls, pa_arr = digest_array(df.iloc[:, pos], repr(name))
        if pa_arr is not None:
            result.arrow_columns[pos] = pa_arr
        result.tokens.append(token)
        result.nulls.append(nulls)
        header.append([_name_key(name), token, nulls])
        digests.append(digest)
    iheader, idigests = _index_parts(df.index, "index")
    # zero columns: the (empty) column index type is not data, pandas and Parquet disagree about it
    plain = _plain_columns(df.columns) or df.shape[1] == 0
    cheader, cdigests = ([], []) if plain else _index_parts(df.columns, "columns")
    head = {
        "v": FORMAT,
        "kind": kind,
        "shape": list(df.shape),
        "columns": header,
        "index": iheader,
        "columns_index": cheader or [[_name_key(n) for n in df.columns.names]],
    }
    result.digest = _finish(head, digests + idigests + cdigests)
    return result


def _plain_columns(columns: Any) -> bool:
    import pandas as pd

    return not isinstance(columns, pd.MultiIndex) and columns.dtype == object


def hash_series(series: Any) -> HashResult:
    frame = series.to_frame(name="__series__")
    res = hash_frame(frame, kind="series")
    res.digest = hash_series_digest(res.digest, series.name)
    return res


def hash_series_digest(frame_digest: str, name: Any) -> str:
    """A Series' id: the id of its one-column frame (column ``__series__``) plus its name."""
    return _finish({"v": FORMAT, "series_name": _name_key(name)}, [bytes.fromhex(frame_digest)])


def hash_ndarray(arr: np.ndarray, *, kind: str = "ndarray", dtype_name: str | None = None) -> HashResult:
    if arr.dtype.kind not in "biufcmM":
        raise ValidationError(
            f"numpy arrays of dtype {arr.dtype} are not supported: use a numeric, bool or datetime array"
        )
    head = {"v": FORMAT, "kind": kind, "dtype": dtype_name or str(arr.dtype), "shape": list(arr.shape)}
    return HashResult(_finish(head, [_digest_numpy(arr)]), kind, tokens=[dtype_name or str(arr.dtype)])


def _finish(head: dict[str, Any], digests: list[bytes]) -> str:
    h = xxhash.xxh3_128(json.dumps(head, sort_keys=True, separators=(",", ":"), default=str).encode())
    for d in digests:
        h.update(d)
    return h.hexdigest()


def file_digest(path: Path, chunk: int = 1 << 22) -> str:
    """xxh3_128 of a file's bytes (streamed)."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_files(root: Path) -> list[Path]:
    """Regular files under ``root`` (sorted, symlinks skipped so nothing outside is read)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            if p.is_symlink() or not p.is_file():
                continue
            out.append(p)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def hash_path(path: Path) -> HashResult:
    """A file: its bytes and name. A folder: the relative paths and bytes of its files."""
    if path.is_file():
        head = {"v": FORMAT, "kind": "file", "name": path.name, "size": path.stat().st_size}
        return HashResult(_finish(head, [bytes.fromhex(file_digest(path))]), "file")
    entries = [[p.relative_to(path).as_posix(), p.stat().st_size, file_digest(p)] for p in tree_files(path)]
    head = {"v": FORMAT, "kind": "folder", "files": entries}
    return HashResult(_finish(head, []), "folder")


def content_hash(obj: Any) -> str:
    """The content id of any supported object (see :data:`SUPPORTED`)."""
    return hash_object(obj).digest


def hash_object(obj: Any) -> HashResult:
    import sys

    kind = classify(obj)
    if kind == "frame":
        return hash_frame(obj)
    if kind == "series":
        return hash_series(obj)
    if kind == "ndarray":
        return hash_ndarray(obj)
    if kind == "tensor":
        arr, dtype_name = tensor_to_numpy(obj)
        return hash_ndarray(arr, kind="tensor", dtype_name=dtype_name)
    assert kind in ("file", "folder"), kind
    del sys
    return hash_path(Path(obj))


def classify(obj: Any) -> str:
    """``frame``, ``series``, ``ndarray``, ``tensor``, ``file`` or ``folder``; else a ValidationError."""
    import sys

    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(obj, pd.DataFrame):
            return "frame"
        if isinstance(obj, pd.Series):
            return "series"
    if isinstance(obj, np.ndarray):
        return "ndarray"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        return "tensor"
    if isinstance(obj, (str, os.PathLike)):
        p = Path(obj)
        if p.is_file():
            return "file"
        if p.is_dir():
            return "folder"
        raise ValidationError(f"no file or folder at {str(obj)!r}: a string is snapshotted as a path to existing data")
    raise ValidationError(
        f"cannot snapshot a {type(obj).__module__}.{type(obj).__qualname__}: supported are {SUPPORTED}"
    )


def tensor_to_numpy(tensor: Any) -> tuple[np.ndarray, str]:
    """A CPU tensor as a numpy array plus its torch dtype name (bfloat16 travels as int16 bits)."""
    import torch

    if tensor.device.type != "cpu":
        raise ValidationError(f"tensor is on {tensor.device}: move it to the CPU first (tensor.cpu())")
    if tensor.layout != torch.strided:
        raise ValidationError(f"sparse tensors ({tensor.layout}) are not supported: use tensor.to_dense()")
    t = tensor.detach().contiguous()
    name = str(t.dtype).removeprefix("torch.")
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy(), name
    try:
        return t.numpy(), name
    except TypeError as exc:
        raise ValidationError(f"tensor dtype {name} is not supported: {exc}") from None
