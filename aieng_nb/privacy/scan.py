"""``scan``: find PII in the text columns of a DataFrame or Series (see the package docs)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..exceptions import ValidationError
from .detectors import PluginDetector, select
from .findings import Finding, ScanResult
from .patterns import _VERSION_NAME, MODES, WEAK_KINDS, hints
from .routing import _scan_strings


def string_columns(df: Any) -> list[int]:
    """Positions of columns that hold text (object/str, string, categorical of strings)."""
    import pandas as pd

    out = []
    for pos in range(df.shape[1]):
        dtype = df.dtypes.iloc[pos]
        if isinstance(dtype, pd.CategoricalDtype):
            cdt = dtype.categories.dtype
            if cdt is np.dtype(object) or isinstance(cdt, pd.StringDtype):
                out.append(pos)
        elif dtype is np.dtype(object) or isinstance(dtype, pd.StringDtype):
            out.append(pos)
        elif isinstance(dtype, pd.ArrowDtype) and "string" in str(dtype):
            out.append(pos)
    return out


def _as_arrow(values: Any) -> Any:
    """Text values as an Arrow string array (non-strings in object columns are skipped as null)."""
    import pyarrow as pa

    arr = getattr(getattr(values, "array", values), "_pa_array", None)
    if arr is not None:
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        return arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    obj = np.asarray(values, dtype=object)
    try:
        return pa.array(obj, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([v if isinstance(v, str) else None for v in obj], type=pa.string())


def scan(
    data: Any,
    *,
    mode: str = "auto",
    full_threshold: int = 200_000,
    sample_rows: int = 100_000,
    regions: tuple[str, ...] = ("US", "GB"),
    max_validate: int | None = 1_000,
    detectors: Sequence[str] | None = None,
    _positions: dict[str, dict[str, np.ndarray]] | None = None,
    arrow_columns: dict[int, Any] | None = None,
) -> ScanResult:
    """Scan the text columns of a DataFrame (or a Series) for PII. See the package docs.

    ``detectors`` names the detectors to run (default: every one in ``plugins.pii_detectors``,
    the built-ins and those added by entry points). ``arrow_columns`` (column position -> Arrow
    string array of the whole column) lets a caller that already converted object columns (the
    snapshot hash does) skip converting them again.

    >>> import pandas as pd
    >>> scan(pd.Series(["4111 1111 1111 1111"], name="cc")).findings[0].kind
    'card'
    """
    import pandas as pd

    if mode not in MODES:
        raise ValidationError(f"unknown scan mode {mode!r}: use one of {', '.join(MODES)}")
    builtin, plugins = select(detectors)
    t0 = time.perf_counter()
    if isinstance(data, pd.Series):
        data = data.to_frame(name=data.name if data.name is not None else "value")
    n = len(data)
    rows = _sample_rows(n, mode, full_threshold, sample_rows)
    scanned_n = len(rows) if rows is not None else n
    findings: list[Finding] = []
    names: list[str] = []
    for pos in string_columns(data):
        column = str(data.columns[pos])
        names.append(column)
        col = data.iloc[:, pos]
        matches, nonnull = _column_matches(
            col, pos, column, rows, arrow_columns, builtin, plugins, regions, max_validate
        )
        hinted, anti = hints(column)
        hinted |= {d.kind for d in plugins if d.hinted(column)}
        weak = WEAK_KINDS | {d.kind for d in plugins if d.weak}
        for kind, (positions, scale) in matches.items():
            count = len(positions) * scale
            share = min(count / nonnull, 1.0) if nonnull else 0.0
            if anti and kind in weak and kind not in hinted and share < 0.5:
                continue
            if kind == "ip" and "ip" not in hinted and _VERSION_NAME.search(column.lower()):
                continue  # four-part version numbers look exactly like IPv4 addresses
            real = rows[positions] if rows is not None else positions
            if _positions is not None:
                _positions.setdefault(column, {})[kind] = real
            if rows is not None:
                count = round(count * n / scanned_n)
            positions5 = [int(p) for p in real[:5]]
            estimated = rows is not None or scale != 1.0
            findings.append(Finding(column, kind, int(count), round(share, 4), positions5, estimated, kind in hinted))
    mode_done = "sample" if rows is not None else "full"
    return ScanResult(findings, mode_done, n, scanned_n, names, time.perf_counter() - t0)


def _sample_rows(n: int, mode: str, full_threshold: int, sample_rows: int) -> np.ndarray | None:
    """The sorted row positions to scan, or None for every row."""
    sampled = mode == "sample" or (mode == "auto" and n > full_threshold)
    if sampled and n > sample_rows:
        return np.sort(np.random.default_rng(0).choice(n, size=sample_rows, replace=False))
    return None


def _column_matches(
    col: Any,
    pos: int,
    column: str,
    rows: np.ndarray | None,
    arrow_columns: dict[int, Any] | None,
    builtin: tuple[str, ...],
    plugins: list[PluginDetector],
    regions: tuple[str, ...],
    max_validate: int | None,
) -> tuple[dict[str, tuple[np.ndarray, float]], int]:
    """Per kind, the matching positions among the scanned cells and a count scale; plus the number of
    non-null scanned cells. Categorical columns are scanned once per category."""
    import pandas as pd

    def detect(arr: Any) -> dict[str, tuple[np.ndarray, float]]:
        found = _scan_strings(arr, column, regions=regions, max_validate=max_validate) if builtin else {}
        out = {kind: found[kind] for kind in builtin if kind in found}
        for det in plugins:
            hit = det.positions(arr, column)
            if len(hit):
                prev = out.get(det.kind)
                out[det.kind] = (np.union1d(prev[0], hit) if prev else hit, prev[1] if prev else 1.0)
        return out

    if isinstance(col.dtype, pd.CategoricalDtype):
        per_cat = detect(_as_arrow(col.cat.categories.to_series()))
        codes = np.asarray(col.cat.codes)
        if rows is not None:
            codes = codes[rows]
        return {k: (np.flatnonzero(np.isin(codes, v[0])), v[1]) for k, v in per_cat.items()}, int((codes >= 0).sum())
    arr = (arrow_columns or {}).get(pos)
    if arr is not None:
        arr = arr.take(rows) if rows is not None else arr
    elif rows is not None and pd.api.types.is_object_dtype(col.dtype):
        arr = _as_arrow(col.to_numpy()[rows])  # convert only the sampled cells
    else:
        arr = _as_arrow(col)
        if rows is not None:
            arr = arr.take(rows)
    return detect(arr), len(arr) - arr.null_count
