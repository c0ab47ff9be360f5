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

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from ..exceptions import ValidationError
from .digests import (  # noqa: F401 - the cache and its controls are re-exported
    _OBJECT_CACHE,
    CACHE_MAX_ROWS,
    _arrow_text_token,
    _digest_arrow_strings,
    _digest_numpy,
    clear_cache,
    digest_array,
)

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
