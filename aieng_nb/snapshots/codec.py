"""Writing each kind of object into an object folder and reading it back equal to the original.

Tables go to Parquet (zstd) with pyarrow's pandas metadata, plus our own per-column dtype
record so that what pyarrow does not restore (``string[pyarrow]``, ``datetime64[s]``,
categoricals of numbers) is restored here. Arrays and tensors go to ``.npy``; files and
folders are copied byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import IntegrityError
from .hashing import HashResult, tensor_to_numpy, tree_files

COMPRESSION = "zstd"
SERIES_COLUMN = "__series__"
# without a side folder (never in the store), categories up to this many are kept in the JSON record
MAX_STORED_CATEGORIES = 100_000


def _dtype_record(dtype: Any, side: Callable[[Any], str] | None = None) -> dict[str, Any]:
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        rec: dict[str, Any] = {"kind": "category", "ordered": bool(dtype.ordered), "categories_dtype": str(cats.dtype)}
        if side is not None:  # the categories in their own small Parquet file next to the data
            rec["categories_file"] = side(cats)
            rec["categories_record"] = _dtype_record(cats.dtype)
        elif len(cats) <= MAX_STORED_CATEGORIES:
            rec["categories"] = json.loads(pd.Series(cats).to_json(orient="values", date_unit="ns"))
        return rec
    if isinstance(dtype, pd.StringDtype):
        return {"kind": "string", "storage": dtype.storage, "na_nan": dtype.na_value is not pd.NA}
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        schema = pa.schema([pa.field("x", dtype.pyarrow_dtype)])
        return {"kind": "arrow", "type": str(dtype.pyarrow_dtype), "schema": schema.serialize().to_pybytes().hex()}
    return {"kind": "plain", "dtype": str(dtype)}


def _restore(values: Any, rec: dict[str, Any], folder: Path | None = None) -> Any:
    """Cast loaded values back to the recorded dtype when pyarrow restored a different one."""
    import pandas as pd

    if rec["kind"] == "category":
        if "categories" in rec:
            cats = pd.Index(pd.Series(rec["categories"]).astype(rec["categories_dtype"]))
        elif "categories_file" in rec and folder is not None:
            stored = pd.read_parquet(folder / rec["categories_file"])["categories"]
            cats = pd.Index(_restore(stored, rec["categories_record"])).rename(None)
        elif isinstance(values.dtype, pd.CategoricalDtype):
            cats = values.dtype.categories
        else:
            return values
        target: Any = pd.CategoricalDtype(cats, ordered=rec["ordered"])
        if isinstance(values.dtype, pd.CategoricalDtype) and values.dtype == target:
            return values
        if isinstance(values.dtype, pd.CategoricalDtype) and values.dtype.categories.dtype != cats.dtype:
            values = values.astype(cats.dtype)
        elif not isinstance(values.dtype, pd.CategoricalDtype) and values.dtype != cats.dtype:
            # Parquet keeps some dictionary types only as their storage (e.g. durations as int64 ticks)
            values = values.astype(cats.dtype)
        return values.astype(target)
    if rec["kind"] == "string":
        target = pd.StringDtype(rec["storage"], na_value=np.nan if rec.get("na_nan") else pd.NA)
    elif rec["kind"] == "arrow":
        import pyarrow as pa

        target = pd.ArrowDtype(pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(rec["schema"]))).field(0).type)
        if isinstance(values.dtype, pd.ArrowDtype) and values.dtype == target:
            return values
    else:
        target = pd.api.types.pandas_dtype(rec["dtype"])
    if values.dtype == target and str(values.dtype) == str(target):
        if not isinstance(target, pd.StringDtype) or values.dtype.storage == target.storage:
            return values
    return values.astype(target)


def frame_restore_info(df: Any, side_dir: Path | None = None) -> dict[str, Any]:
    """What ``read_frame`` needs to restore dtypes exactly (large category lists go to ``side_dir``)."""
    import pandas as pd

    written: list[str] = []

    def side(cats: Any) -> str:
        assert side_dir is not None
        name = f"categories-{len(written)}.parquet"
        pd.DataFrame({"categories": cats}).to_parquet(side_dir / name, index=False)
        _fsync(side_dir / name)
        written.append(name)
        return name

    writer = side if side_dir is not None else None
    info: dict[str, Any] = {"columns": [_dtype_record(df.dtypes.iloc[i], writer) for i in range(df.shape[1])]}
    if df.shape[1] == 0:
        info["empty_columns"] = "range" if isinstance(df.columns, pd.RangeIndex) else str(df.columns.dtype)
        if isinstance(df.index, pd.RangeIndex):  # a table with no columns keeps no row count
            info["range_index"] = [df.index.start, df.index.stop, df.index.step, df.index.name]
    if isinstance(df.index, pd.MultiIndex):
        info["index"] = [_dtype_record(df.index.get_level_values(i).dtype, writer) for i in range(df.index.nlevels)]
    elif not isinstance(df.index, pd.RangeIndex):
        info["index"] = [_dtype_record(df.index.dtype, writer)]
        freq = getattr(df.index, "freqstr", None)
        if freq:
            info["index_freq"] = freq
    return info


def frame_to_table(df: Any, hashed: HashResult) -> Any:
    """The Arrow table to store; object string columns already converted while hashing are reused."""
    import pandas as pd
    import pyarrow as pa

    reuse = {pos: arr for pos, arr in hashed.arrow_columns.items() if pa.types.is_string(arr.type)}
    if not reuse:
        return pa.Table.from_pandas(df, preserve_index=None)
    # zero-copy: swap the converted columns in as pyarrow-backed strings, then mark them object again
    # in the pandas metadata so that they load back as object columns
    patched = df.copy(deep=False)
    for pos, arr in reuse.items():
        patched.isetitem(
            pos, pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([arr])), index=df.index, copy=False)
        )
    table = pa.Table.from_pandas(patched, preserve_index=None)
    meta = json.loads(table.schema.metadata[b"pandas"])
    names = {str(df.columns[pos]) for pos in reuse}
    for col in meta["columns"]:
        if col.get("field_name") in names and col.get("numpy_type") == "string":
            col["numpy_type"] = "object"
            col["metadata"] = None
    schema_meta = dict(table.schema.metadata)
    schema_meta[b"pandas"] = json.dumps(meta).encode()
    return table.replace_schema_metadata(schema_meta)


def write_table(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression=COMPRESSION)


def _types_mapper(info: dict[str, Any]) -> Any:
    """Arrow strings straight to ``string[pyarrow]`` (zero-copy) when that is the only text dtype stored."""
    import pandas as pd
    import pyarrow as pa

    recs = list(info.get("columns", [])) + list(info.get("index", []))
    pyarrow_strings = any(r["kind"] == "string" and r["storage"] == "pyarrow" and not r.get("na_nan") for r in recs)
    other_text = any(
        (r["kind"] == "string" and (r["storage"] != "pyarrow" or r.get("na_nan")))
        or (r["kind"] == "plain" and r["dtype"] == "object")
        for r in recs
    )
    if not pyarrow_strings or other_text:
        return None
    mapping = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}
    return mapping.get


def read_frame(path: Path, info: dict[str, Any], text_arrays: dict[int, Any] | None = None) -> Any:
    """Read a stored table back to pandas with the recorded dtypes.

    ``text_arrays`` (optional, filled in): column position -> the Arrow array read for each object
    column of strings or bytes, so the caller can verify the content hash without converting again.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        df = table.to_pandas(types_mapper=_types_mapper(info))
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise IntegrityError(f"snapshot data at {path} cannot be read ({exc}); the object is corrupted") from None
    if text_arrays is not None:
        fields = [c.get("field_name") for c in (table.schema.pandas_metadata or {}).get("columns", [])]
        for pos, rec in enumerate(info.get("columns", [])):
            if rec["kind"] != "plain" or rec["dtype"] != "object" or pos >= len(fields):
                continue
            try:
                column = table.column(fields[pos])
            except KeyError:
                continue
            if (
                pa.types.is_string(column.type)
                or pa.types.is_binary(column.type)
                or pa.types.is_large_string(column.type)
            ):
                text_arrays[pos] = column
    for pos, rec in enumerate(info.get("columns", [])):
        column = df.iloc[:, pos]
        restored = _restore(column, rec, path.parent)
        if restored is not column:
            df.isetitem(pos, restored)
    recs = info.get("index")
    if recs:
        if isinstance(df.index, pd.MultiIndex):
            levels = [_restore(pd.Series(df.index.get_level_values(i)), rec, path.parent) for i, rec in enumerate(recs)]
            df.index = pd.MultiIndex.from_arrays([pd.Index(lv) for lv in levels], names=df.index.names)
        else:
            name = df.index.name
            df.index = pd.Index(_restore(pd.Series(df.index), recs[0], path.parent), name=name)
    if "empty_columns" in info and df.shape[1] == 0:
        kind = info["empty_columns"]
        if "range_index" in info:
            start, stop, step, name = info["range_index"]
            df = pd.DataFrame(index=pd.RangeIndex(start, stop, step, name=name))
        df.columns = pd.RangeIndex(0) if kind == "range" else pd.Index([], dtype=kind)
    if info.get("index_freq"):
        try:
            df.index.freq = info["index_freq"]
        except ValueError:  # the stored values no longer conform: leave freq unset
            pass
    return df


def write_array(arr: np.ndarray, path: Path) -> None:
    with open(path, "wb") as fh:
        np.save(fh, np.require(arr, requirements="C"), allow_pickle=False)


def read_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise IntegrityError(f"snapshot data at {path} cannot be read ({exc}); the object is corrupted") from None


def tensor_array(tensor: Any) -> tuple[np.ndarray, str]:
    return tensor_to_numpy(tensor)


def numpy_to_tensor(arr: np.ndarray, dtype_name: str) -> Any:
    import torch

    t = torch.from_numpy(np.array(arr, copy=True))
    if dtype_name == "bfloat16":
        t = t.view(torch.bfloat16)
    return t


def copy_path(src: Path, dest_dir: Path, blobs: Path | None = None) -> list[str]:
    """Copy a file (as ``files/<name>``) or a folder's regular files (as ``files/<relpath>``).

    With ``blobs`` (the store's blob folder), each file's bytes are kept once there, under their
    xxh3 digest, and hard-linked into the object: a folder snapshotted again with one file changed
    stores one new file. Stored files are read-only. Where hard links do not work, files are copied.
    """
    files_dir = dest_dir / "files"
    files_dir.mkdir(parents=True)
    pairs = [(src, Path(src.name))] if src.is_file() else [(p, p.relative_to(src)) for p in tree_files(src)]
    for path, rel in pairs:
        target = files_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if blobs is None:
            shutil.copyfile(path, target)
            _fsync(target)
            continue
        blob = _blob(path, blobs)
        try:
            os.link(blob, target)
        except FileNotFoundError:  # gc removed an unused blob just now: copy the source
            shutil.copyfile(path, target)
            _fsync(target)
        except OSError:  # no hard links here (some file systems): a copy
            shutil.copyfile(blob, target)
            _fsync(target)
    return [rel.as_posix() for _, rel in pairs]


def _blob(path: Path, blobs: Path) -> Path:
    """The blob holding ``path``'s bytes, created atomically (copy, fsync, rename) when new."""
    import tempfile

    from .hashing import file_digest

    digest = file_digest(path)
    blob = blobs / digest[:2] / digest
    if blob.is_file() and blob.stat().st_size == path.stat().st_size:
        return blob
    blob.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=blob.parent, prefix=".tmp-", suffix=".blob")
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        _fsync(Path(tmp))
        if file_digest(Path(tmp)) != digest:  # the source changed while we copied it
            raise IntegrityError(f"{path} changed while it was being snapshotted; try again")
        os.chmod(tmp, 0o444)
        os.replace(tmp, blob)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return blob


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
