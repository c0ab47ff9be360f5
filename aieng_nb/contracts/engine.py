"""Validating a frame against a contract: pandera's ``validate(lazy=True)``, minus the work a
snapshot has already done.

For each column, the built-in checks a contract usually holds (dtype, nullability, uniqueness,
``in_range`` / ``ge`` / ``le`` / ``gt`` / ``lt``, ``isin`` / ``notin``) are first decided from
column statistics: null counts the snapshot's hash already counted, min/max, and the distinct
values of text columns from the Arrow arrays the hash already built. A column whose checks all
pass that way needs nothing more. Every other column (a possible failure, a check the shortcut
does not know, a custom or regex column, coercion, frame-level checks) goes to pandera, which
produces the failure cases, so failures are always pandera's own. ``shortcut=False`` hands the
whole frame to pandera.

>>> import pandas as pd, pandera.pandas as pa
>>> schema = pa.DataFrameSchema({"x": pa.Column("int64", pa.Check.in_range(0, 9))})
>>> out = validate_frame(pd.DataFrame({"x": [1, 2, 30]}), schema)
>>> out.passed, [(c.column, c.check, c.failures) for c in out.checks if not c.passed]
(False, [('x', 'in_range(0, 9)', 1)])
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

MAX_CASES_PER_CHECK = 10
MAX_CASES = 200
_RANGE = {"in_range", "greater_than_or_equal_to", "less_than_or_equal_to", "greater_than", "less_than"}
_SETS = {"isin", "notin"}
MAX_DISTINCT = 100_000  # more distinct values than this: leave isin/notin to pandera


@dataclass
class CheckOutcome:
    """One check of the contract on this data: how many values (or columns) failed it."""

    column: str
    check: str
    failures: int = 0
    examples: list[Any] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failures == 0

    @property
    def rule(self) -> str:
        return f"{self.column}: {self.check}"


@dataclass
class Outcome:
    """Everything a validation found: per-check counts, capped failure cases, column notes."""

    checks: list[CheckOutcome]
    cases: Any  # pandas DataFrame: column, check, failure_case, index (capped); None: no failures
    rows: int
    columns: int
    extra_columns: list[str]
    seconds: float
    pandera_columns: int  # columns pandera had to look at (0: the statistics decided everything)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[CheckOutcome]:
        return [c for c in self.checks if not c.passed]


def contract_checks(schema: Any) -> list[CheckOutcome]:
    """Every check a schema makes, named as pandera names them in its failure cases."""
    out: list[CheckOutcome] = []
    for name, col in schema.columns.items():
        column = str(name)
        if col.required:
            out.append(CheckOutcome(column, "column_in_dataframe"))
        if col.dtype is not None:
            out.append(CheckOutcome(column, f"dtype('{col.dtype}')"))
        if not col.nullable:
            out.append(CheckOutcome(column, "not_nullable"))
        if col.unique:
            out.append(CheckOutcome(column, "field_uniqueness"))
        out += [CheckOutcome(column, _check_name(chk)) for chk in col.checks]
    out += [CheckOutcome("(frame)", _check_name(chk)) for chk in schema.checks]
    return out


def _check_name(check: Any) -> str:
    return str(check.error or check.name)


# ---------------------------------------------------------------------------- the shortcut
def _frame_level(schema: Any) -> bool:
    """Whether the schema has anything beyond per-column checks (then pandera sees the whole frame)."""
    return bool(
        schema.coerce
        or schema.strict
        or schema.ordered
        or schema.unique
        or schema.checks
        or schema.index is not None
        or schema.add_missing_columns
        or schema.unique_column_names
        or schema.drop_invalid_rows
        or schema.dtype is not None
        or any(col.regex or col.coerce or col.drop_invalid_rows for col in schema.columns.values())
    )


def _min_max(series: Any) -> tuple[Any, Any] | None:
    import numpy as np
    import pandas as pd

    if not (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)):
        return None
    if isinstance(series.dtype, np.dtype):
        arr = series.to_numpy()
        if arr.dtype.kind == "f":
            if not len(arr) or np.isnan(arr).all():
                return None, None
            with np.errstate(all="ignore"):
                return np.nanmin(arr), np.nanmax(arr)
        if not len(arr):
            return None, None
        return arr.min(), arr.max()
    valid = series.dropna()  # nullable extension dtypes (Int64, Float64, ...)
    if not len(valid):
        return None, None
    return valid.min(), valid.max()


def _distinct(series: Any, arrow: Any) -> list[Any] | None:
    if arrow is not None:
        import pyarrow.compute as pc

        uniq = pc.unique(arrow.drop_null() if arrow.null_count else arrow)
        return uniq.to_pylist() if len(uniq) <= MAX_DISTINCT else None
    try:
        uniq = series.dropna().unique()
    except TypeError:
        return None
    return list(uniq) if len(uniq) <= MAX_DISTINCT else None


def _object_counts(series: Any) -> tuple[int, list[Any]] | None:
    """An object column's null count and distinct non-null values in one hashing pass (None when
    its values are not hashable): 2-3x cheaper than building an Arrow array to ask the same."""
    import pandas as pd

    try:
        counts = series.value_counts(dropna=False, sort=False)
    except TypeError:
        return None
    keys = counts.index
    missing = pd.isna(keys)
    nulls = int(counts.to_numpy()[missing].sum()) if missing.any() else 0
    return nulls, list(keys[~missing]) if missing.any() else list(keys)


def _range_ok(name: str, stats: dict[str, Any], lo: Any, hi: Any) -> bool:
    if lo is None:  # no values: nothing fails
        return True
    if name == "in_range":
        ok_lo = lo >= stats["min_value"] if stats.get("include_min", True) else lo > stats["min_value"]
        ok_hi = hi <= stats["max_value"] if stats.get("include_max", True) else hi < stats["max_value"]
        return bool(ok_lo and ok_hi)
    if name == "greater_than_or_equal_to":
        return bool(lo >= stats["min_value"])
    if name == "greater_than":
        return bool(lo > stats["min_value"])
    if name == "less_than_or_equal_to":
        return bool(hi <= stats["max_value"])
    return bool(hi < stats["max_value"])  # less_than


_DTYPE_OK: dict[tuple[str, str, Any], bool] = {}


def _dtype_ok(want: Any, have: Any) -> bool:
    """pandera's dtype check of ``have`` (a pandas dtype) against ``want``, remembered: pandera's
    ``Engine.dtype`` costs ~0.2 ms a column (it retries importing geopandas every time)."""
    key = (type(want).__name__, str(want), have)
    found = _DTYPE_OK.get(key)
    if found is None:
        from pandera.engines import pandas_engine

        try:
            found = bool(want.check(pandas_engine.Engine.dtype(have)))
        except TypeError:
            found = False
        if len(_DTYPE_OK) > 4096:
            _DTYPE_OK.clear()
        _DTYPE_OK[key] = found
    return found


def _column_passes(col: Any, series: Any, nulls: int | None, arrow: Any) -> bool:
    """True only when every check of ``col`` provably passes on ``series`` (False: ask pandera)."""
    try:
        if col.dtype is not None and not _dtype_ok(col.dtype, series.dtype):
            return False
    except TypeError:  # an unhashable dtype
        return False
    needs_nulls = not col.nullable and nulls is None
    distinct: list[Any] | None = None
    if arrow is None and series.dtype == object and (needs_nulls or any(c.name in _SETS for c in col.checks)):
        found = _object_counts(series)  # one pass gives the null count and, for isin, the distinct values
        if found is not None:
            nulls = found[0] if nulls is None else nulls
            distinct = found[1] if len(found[1]) <= MAX_DISTINCT else None
    if arrow is not None and nulls is None:
        nulls = arrow.null_count
    if not col.nullable:
        if nulls is None:
            nulls = int(series.isna().sum())
        if nulls:
            return False
    if col.unique and not series.is_unique:
        return False
    bounds: tuple[Any, Any] | None = None
    for chk in col.checks:
        if not chk.ignore_na or chk.raise_warning or chk.groupby is not None or chk.groups is not None:
            return False
        stats = chk.statistics or {}
        if chk.name in _RANGE:
            bounds = bounds if bounds is not None else _min_max(series)
            if bounds is None:
                return False
            try:
                if not _range_ok(chk.name, stats, *bounds):
                    return False
            except TypeError:
                return False
        elif chk.name in _SETS:
            distinct = distinct if distinct is not None else _distinct(series, arrow)
            if distinct is None:
                return False
            allowed = stats.get("allowed_values") if chk.name == "isin" else stats.get("forbidden_values")
            try:
                values = set(allowed or [])
                inside = [v in values for v in distinct]
            except TypeError:
                return False
            if (chk.name == "isin" and not all(inside)) or (chk.name == "notin" and any(inside)):
                return False
        else:
            return False
    return True


# ---------------------------------------------------------------------------- validation
def validate_frame(
    df: Any,
    schema: Any,
    *,
    nulls: list[int] | None = None,
    arrow_columns: dict[int, Any] | None = None,
    shortcut: bool = True,
) -> Outcome:
    """Validate ``df`` against a pandera ``schema``; ``nulls`` and ``arrow_columns`` (by column
    position) are what a snapshot's hash computed, reused by the shortcut."""
    import pandera.errors as perr

    t0 = time.perf_counter()
    checks = contract_checks(schema)
    positions = {str(c): i for i, c in enumerate(df.columns)}
    extra = [str(c) for c in df.columns if str(c) not in {str(k) for k in schema.columns}]
    if shortcut and not _frame_level(schema):
        todo = []
        by_pos = [s for _, s in df.items()]  # cheaper than df.iloc[:, pos] column by column
        for name, col in schema.columns.items():
            pos = positions.get(str(name))
            if pos is None:
                todo.append(name)
                continue
            series = by_pos[pos]
            n_null = nulls[pos] if nulls is not None and pos < len(nulls) else None
            arrow = (arrow_columns or {}).get(pos)
            if not _column_passes(col, series, n_null, arrow):
                todo.append(name)
        target = schema.select_columns(todo) if todo else None
    else:
        todo = list(schema.columns)
        target = schema
    cases = None  # nothing failed: no empty DataFrame to build (a millisecond at 10k rows)
    if target is not None:
        try:
            # without coercion pandera changes nothing: no defensive copy of the whole frame
            target.validate(df, lazy=True, inplace=not (schema.coerce or _frame_level(schema)))
        except perr.SchemaErrors as exc:
            cases = _tally(exc.failure_cases, checks, schema)
        except perr.SchemaError as exc:  # pandera raises one error for some frame-level problems
            cases = _tally(getattr(exc, "failure_cases", None), checks, schema, message=str(exc))
    return Outcome(
        checks=checks,
        cases=cases,
        rows=len(df),
        columns=df.shape[1],
        extra_columns=extra,
        seconds=time.perf_counter() - t0,
        pandera_columns=len(todo),
    )


def _tally(fc: Any, checks: list[CheckOutcome], schema: Any, message: str | None = None) -> Any:
    """Count pandera's failure cases per check (filling ``checks``); return capped cases."""
    import pandas as pd

    if fc is None or not len(fc):
        row = CheckOutcome("(frame)", message or "schema error", 1, [message])
        checks.append(row)
        return pd.DataFrame({"column": ["(frame)"], "check": [row.check], "failure_case": [message], "index": [None]})
    fc = fc.copy()
    missing = fc["check"] == "column_in_dataframe"
    fc.loc[missing, "column"] = fc.loc[missing, "failure_case"]
    fc["column"] = fc["column"].astype(str)
    fc["check"] = fc["check"].astype(str)
    by_key = {(c.column, c.check): c for c in checks}
    counts = fc.groupby(["column", "check"], sort=False).size()
    capped = fc.groupby(["column", "check"], sort=False).head(MAX_CASES_PER_CHECK).head(MAX_CASES)
    for (column, check), count in counts.items():
        found = by_key.get((column, check))
        if found is None:  # a check pandera added (e.g. a frame-level one): keep it visible
            found = CheckOutcome(column, check)
            checks.append(found)
            by_key[(column, check)] = found
        row = found
        row.failures = int(count)
    for (column, check), group in capped.groupby(["column", "check"], sort=False):
        by_key[(column, check)].examples = [_plain(v) for v in group["failure_case"].head(5).tolist()]
    out = capped[["column", "check", "failure_case", "index"]].reset_index(drop=True)
    out["failure_case"] = [_plain(v) for v in out["failure_case"]]
    out["index"] = [_plain(v) for v in out["index"]]
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
