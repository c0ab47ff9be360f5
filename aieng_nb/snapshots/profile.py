"""Data profiles stored with each snapshot (JSON): schema, rows, nulls, numeric stats, top values.

Counts, null shares, min, max, mean and std are exact. Quantiles, top values and distinct
counts are computed on a fixed random sample of ``SAMPLE_ROWS`` rows when a table is larger
(the profile then says ``"sampled": true``), so profiling a large frame stays cheap.
Top values of columns where the PII guard found something are not stored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SAMPLE_ROWS = 200_000
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOP = 5


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _numeric_stats(arr: np.ndarray, sample: np.ndarray | None) -> dict[str, Any]:
    with np.errstate(all="ignore"):  # inf and overflow give None stats, not warnings
        return _numeric_stats_inner(arr, sample)


def _numeric_stats_inner(arr: np.ndarray, sample: np.ndarray | None) -> dict[str, Any]:
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        valid = arr[~nan] if nan.any() else arr
    else:
        valid = arr
    if not len(valid):
        return {}
    if valid.dtype.kind in "iu":
        valid_f = valid
    else:
        valid_f = valid.astype(np.float64, copy=False)
    out: dict[str, Any] = {
        "min": _num(valid.min()),
        "max": _num(valid.max()),
        "mean": _num(valid_f.mean(dtype=np.float64)),
        "std": _num(valid_f.std(dtype=np.float64, ddof=1)) if len(valid) > 1 else None,
    }
    q_src = valid
    if sample is not None:
        q_src = arr[sample]
        if q_src.dtype.kind == "f":
            q_src = q_src[~np.isnan(q_src)]
    if len(q_src):
        qs = np.quantile(q_src, QUANTILES)
        out["quantiles"] = {f"p{round(q * 100)}": _num(v) for q, v in zip(QUANTILES, qs, strict=False)}
    if arr.dtype.kind in "iuf":
        out["zeros"] = int((valid == 0).sum())
    return out


def _text_stats(values: Any, sample: np.ndarray | None, arrow: Any = None) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if arrow is None:
        obj = np.asarray(values, dtype=object)
        if sample is not None:
            obj = obj[sample]
        try:
            arrow = pa.array(obj, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrow = pa.array([None if v is None or v is pd_na() else str(v) for v in obj], type=pa.string())
    elif sample is not None:
        arrow = arrow.take(pa.array(sample))
    n = len(arrow) - arrow.null_count
    if not n:
        return {"distinct": 0, "top": []}
    vc = pc.value_counts(arrow.drop_null() if arrow.null_count else arrow)
    counts = vc.field("counts").to_numpy()
    order = np.argsort(-counts, kind="stable")[:TOP]
    values_list = vc.field("values").take(pa.array(order)).to_pylist()
    top = [
        [v if isinstance(v, str) else str(v), int(counts[i]), round(int(counts[i]) / n, 4)]
        for v, i in zip(values_list, order, strict=False)
    ]
    lengths = pc.utf8_length(arrow) if pa.types.is_string(arrow.type) else pc.binary_length(arrow)
    return {"distinct": len(vc), "top": top, "mean_length": _num(pc.mean(lengths).as_py())}


def _is_duration(dtype: Any) -> bool:
    import pandas as pd

    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        return bool(pa.types.is_duration(dtype.pyarrow_dtype))
    return bool(pd.api.types.is_timedelta64_dtype(dtype))


def pd_na() -> Any:
    import pandas as pd

    return pd.NA


def profile_frame(
    df: Any,
    *,
    arrow_columns: dict[int, Any] | None = None,
    hide_top: set[str] | None = None,
    nulls: list[int] | None = None,
) -> dict[str, Any]:
    """Profile of a DataFrame (see module docs).

    >>> import pandas as pd
    >>> p = profile_frame(pd.DataFrame({"x": [1.0, 2.0, None]}))
    >>> p["rows"], p["columns"][0]["null_share"], p["columns"][0]["mean"]
    (3, 0.3333, 1.5)
    """
    n = len(df)
    sample = None
    if n > SAMPLE_ROWS:
        sample = np.sort(np.random.default_rng(0).choice(n, size=SAMPLE_ROWS, replace=False))
    cols = []
    for pos in range(df.shape[1]):
        s = df.iloc[:, pos]
        name = df.columns[pos]
        null_count = nulls[pos] if nulls is not None and pos < len(nulls) else int(s.isna().sum())
        rec: dict[str, Any] = {
            "name": str(name),
            "dtype": str(s.dtype),
            "nulls": null_count,
            "null_share": round(null_count / n, 4) if n else 0.0,
        }
        try:
            _column_stats(rec, s, sample, (arrow_columns or {}).get(pos))
        except Exception as exc:  # a statistic must never fail a snapshot
            rec["stats_error"] = f"{type(exc).__name__}: {exc}"[:200]
        if hide_top and str(name) in hide_top and "top" in rec:
            rec["top"] = None
            rec["top_hidden"] = "PII found in this column"
        cols.append(rec)
    return {
        "kind": "table",
        "rows": n,
        "columns": cols,
        "memory_bytes": int(df.memory_usage(deep=False, index=True).sum()),
        "sampled": sample is not None,
        "sample_rows": SAMPLE_ROWS if sample is not None else n,
    }


def _column_stats(rec: dict[str, Any], s: Any, sample: np.ndarray | None, arrow: Any) -> None:
    """Add the kind and statistics of column ``s`` to ``rec`` (what was added before a failure stays).
    ``arrow``: the column's Arrow strings when the hash already converted them."""
    import pandas as pd

    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        rec["kind"] = "category"
        codes = np.asarray(s.cat.codes)
        valid = codes[codes >= 0]
        counts = np.bincount(valid, minlength=len(dtype.categories)) if len(valid) else np.zeros(0, dtype=int)
        order = np.argsort(-counts, kind="stable")[:TOP]
        rec["categories"] = len(dtype.categories)
        rec["distinct"] = int((counts > 0).sum())
        denom = max(len(valid), 1)
        rec["top"] = [
            [str(dtype.categories[i]), int(counts[i]), round(int(counts[i]) / denom, 4)] for i in order if counts[i]
        ]
    elif pd.api.types.is_bool_dtype(dtype):
        rec["kind"] = "bool"
        arr = s.dropna().to_numpy(dtype=bool)
        rec["true_share"] = round(float(arr.mean()), 4) if len(arr) else None
    elif pd.api.types.is_numeric_dtype(dtype):
        rec["kind"] = "numeric"
        if isinstance(dtype, pd.api.extensions.ExtensionDtype):
            arr = s.to_numpy(dtype="float64", na_value=np.nan)
        else:
            arr = s.to_numpy()
        rec.update(_numeric_stats(arr, sample))
    elif pd.api.types.is_datetime64_any_dtype(dtype) or _is_duration(dtype):
        rec["kind"] = "datetime" if pd.api.types.is_datetime64_any_dtype(dtype) else "timedelta"
        valid = s.dropna()
        if len(valid):
            rec["min"], rec["max"] = str(valid.min()), str(valid.max())
            index_type = pd.DatetimeIndex if rec["kind"] == "datetime" else pd.TimedeltaIndex
            ticks = index_type(valid).asi8
            rec["mean_ticks"] = _num(np.asarray(ticks, dtype=np.float64).mean())
            rec["std_ticks"] = _num(np.asarray(ticks, dtype=np.float64).std(ddof=1)) if len(valid) > 1 else None
    else:
        rec["kind"] = "text"
        if arrow is None:
            pa_arr = getattr(s.array, "_pa_array", None)
            if pa_arr is not None:
                arrow = pa_arr.combine_chunks()
        rec.update(_text_stats(s, sample, arrow))


def profile_array(arr: np.ndarray, dtype_name: str | None = None) -> dict[str, Any]:
    """Profile of an array or tensor: shape, dtype and value statistics."""
    flat = arr.reshape(-1)
    out: dict[str, Any] = {
        "kind": "array",
        "shape": list(arr.shape),
        "dtype": dtype_name or str(arr.dtype),
        "size": int(arr.size),
    }
    if dtype_name == "bfloat16":
        import torch

        flat = torch.from_numpy(flat.copy()).view(torch.bfloat16).float().numpy()
    if flat.dtype.kind in "biuf" and flat.size:
        sample = None
        if flat.size > SAMPLE_ROWS:
            sample = np.sort(np.random.default_rng(0).choice(flat.size, size=SAMPLE_ROWS, replace=False))
        data = flat.astype(np.float64) if flat.dtype.kind == "b" else flat
        out.update(_numeric_stats(data, sample))
        if flat.dtype.kind == "f":
            out["nans"] = int(np.isnan(flat).sum())
    return out


def profile_files(files: list[str], sizes: list[int]) -> dict[str, Any]:
    return {"kind": "files", "files": len(files), "bytes": int(sum(sizes)), "list": files[:50]}
