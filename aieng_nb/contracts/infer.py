"""Inferring a contract from a sample that a next batch from the same source will not break by
chance, while real breaks (a changed dtype, nulls, values far out of range, a new category, a
repeated key) still fail it. The statistics are in :mod:`aieng_nb.contracts.evidence`; every check
is written with its reason under ``metadata.aieng.why`` (``aieng contract show`` prints them).

What is inferred, per column (the index is not part of a contract):

- the **dtype** (exact: ``int64`` data arriving as ``float64`` is a change worth a look), by a
  name pandera's YAML reads back as that dtype (none for Arrow timestamps, which it cannot name);
- **nullability**: not nullable only when no column of the sample has nulls and the sample is
  large enough to bound the null rate under ``evidence.NULL_RATE`` (rule of three), and the column
  is not a float column of whole numbers (an integer column widened for missing values);
- **levels** (``isin``) for text, categorical and integer columns with at most ``MAX_LEVELS``
  values, every one seen at least ``evidence.WELL_SAMPLED`` times, when the expected number of
  new levels in a same-size batch is small (Good-Turing;
  for integers also the levels just past the ends, and every integer between the ends is listed,
  or every point of the grid the levels keep to); none from a sample under
  ``evidence.MIN_LEVEL_ROWS`` rows;
- **bounds** (``in_range``) for numbers without levels, from the tails of the sample (extreme
  order statistics), floored at 0 only when negatives would have shown; whole numbers for
  integer columns. Dates get no bounds (new data is later);
- **uniqueness** for integer and text columns whose values are all distinct in a sample where a
  non-key would have repeated. Names do not count.

>>> import pandas as pd
>>> text = infer_yaml(pd.DataFrame({"id": range(100), "x": [i % 7 + 0.5 for i in range(100)]}), name="demo")
>>> "in_range" in text and "unique: true" in text and "why:" in text
True
"""

from __future__ import annotations

import math
from typing import Any

from . import evidence

MARGIN = 1.0
MAX_LEVELS = 100
# what reads a contract with pandera alone (pandera 0.35 has no ``pandera.io.from_yaml``)
READER = "pandera.io.pandas_io.from_yaml(path)"


def _plain(value: Any) -> Any:
    """A YAML-safe Python scalar (numpy scalars unwrapped)."""
    if hasattr(value, "item"):
        value = value.item()
    return value


def _round_out(x: float, *, down: bool, past: float) -> float:
    """``x`` rounded outwards to a step of 1/1000 of ``past`` (its distance from the sample's
    extreme, rounded down to a power of 10): a readable YAML number, still outside the sample, and
    moved by at most a thousandth of that distance, however far from 0 the values lie."""
    if not math.isfinite(x) or not (past > 0 and math.isfinite(past)):
        return float(x)
    step = 10.0 ** (math.floor(math.log10(past)) - 3)
    return float(round((math.floor if down else math.ceil)(x / step) * step, 12))


def _kind(s: Any) -> str:
    import pandas as pd

    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "time"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return "text"
    return "other"


def _levels(valid: Any, n: int, integer: bool = False) -> tuple[list[Any] | None, str]:
    """The sorted levels for ``isin`` and why, or (None, why not)."""
    try:
        counts = valid.value_counts(sort=False)
    except TypeError:  # unhashable objects (lists, dicts): no levels
        return None, "no isin: the values are not hashable"
    if len(counts) > MAX_LEVELS:
        return None, f"no isin: {len(counts)} distinct values (more than {MAX_LEVELS})"
    if n < evidence.MIN_LEVEL_ROWS:
        return None, (
            f"no isin: {n} rows: a level held by {evidence.RARE_LEVEL_SHARE:.1%} of rows is expected less than "
            f"once (a sample of {evidence.MIN_LEVEL_ROWS} rows needed)"
        )
    if len(counts) == 1 and integer:  # a number that never varied: no frequencies, no spacing to judge by
        return None, (
            f"no isin: one value in {n} rows: by the rule of succession a same-size batch holds "
            "another with a chance near 1/2 (a 0/1 flag whose 1s are rare)"
        )
    risk = evidence.new_level_risk(counts.to_numpy())
    rarest = int(counts.min())
    singles = int((counts == 1).sum())
    seen = f"{len(counts)} levels in {n} rows, the rarest seen {rarest}x ({singles} seen once)"
    if rarest < evidence.WELL_SAMPLED:  # a level that rare: the source has others as rare (evidence docs)
        return None, (
            f"no isin: {seen}: a level seen under {evidence.WELL_SAMPLED}x says the source has levels "
            "that rare, which a same-size batch may hold and this sample missed"
        )
    edge = ""
    if integer:
        counts = counts.sort_index()
        low, high = int(counts.index[0]), int(counts.index[-1])
        grid = evidence.level_grid(counts.index)
        if (high - low) // grid + 1 > MAX_LEVELS:
            return None, f"no isin: integer levels from {low} to {high} (more than {MAX_LEVELS} values between)"
        edge_risk, edge = evidence.edge_level_risk(counts.index, counts.to_numpy())
        risk += edge_risk
        edge = f"; {edge}" if edge else ""
    if risk > evidence.NEW_LEVEL_RISK:
        return None, f"no isin: {seen}{edge}: ~{risk:.2g} new levels expected in a batch of {n} rows"
    if integer:  # every integer between the ends: a value between two levels is not new (module docs)
        why = f"isin: {seen}{edge}: ~{risk:.2g} new levels expected in a batch of {n} rows (Good-Turing)"
        if grid > 1:
            chance = float(grid) ** -(len(counts) - 1)
            return list(range(low, high + 1, grid)), (
                f"{why}; every {grid}th integer from {low} to {high}: all {len(counts)} levels on that grid "
                f"(by chance: {chance:.2g})"
            )
        return list(
            range(low, high + 1)
        ), f"{why}; every integer from {low} to {high} (values between levels are not new)"
    values = [_plain(v) for v in counts.index]
    if not all(isinstance(v, (str, int, float, bool)) for v in values):
        return None, "no isin: levels that YAML cannot hold"
    why = f"isin: {seen}: ~{risk:.2g} new levels expected in a batch of {n} rows (Good-Turing)"
    return sorted(values, key=lambda v: (type(v).__name__, v)), why


def _range(
    valid: Any, integer: bool, margin: float, infinite: tuple[bool, bool] = (False, False)
) -> tuple[Any, list[str]]:
    """An ``in_range`` check and why; ``infinite``: the sample holds -inf / +inf, so that side is
    left open (``le`` / ``ge`` alone, or no check with both)."""
    import pandera.pandas as pa

    lo = evidence.lower_bound(valid, margin)
    hi = evidence.upper_bound(valid, margin)
    if lo is None or hi is None:
        return None, ["no in_range: one value seen, no scale to set bounds by"]
    if integer:  # the integers inside the bounds: no integer lies between a bound and its rounding
        low: Any = int(math.ceil(lo.value))
        high: Any = int(math.floor(hi.value))
    else:
        x_lo, x_hi = float(valid.min()), float(valid.max())
        low = _round_out(lo.value, down=True, past=x_lo - lo.value)
        high = _round_out(hi.value, down=False, past=hi.value - x_hi)
    why_low, why_high = f"in_range min {low}: {lo.why}", f"in_range max {high}: {hi.why}"
    if all(infinite):
        return None, ["no in_range: the sample holds -inf and +inf"]
    if infinite[0]:
        return pa.Check.le(high), ["no lower bound: the sample holds -inf", why_high]
    if infinite[1]:
        return pa.Check.ge(low), [why_low, "no upper bound: the sample holds +inf"]
    return pa.Check.in_range(low, high), [why_low, why_high]


def _column(name: Any, s: Any, margin: float, frame_nulls: bool = False) -> tuple[Any, list[str]]:
    import pandera.pandas as pa

    n = len(s)
    nulls = int(s.isna().sum())
    kind = _kind(s)
    valid = s.dropna() if nulls else s
    dtype, why_dtype = _dtype_name(s.dtype)
    why = [why_dtype]
    nullable = True
    if nulls:
        why.append(f"nullable: {nulls} nulls in {n} rows")
    else:
        widened = kind == "float" and _whole(valid)
        non_null, reason = evidence.null_evidence(n, frame_nulls, widened)
        nullable = not non_null
        why.append(reason)
    checks: list[Any] = []
    unique = False
    if kind in ("int", "text") and not nulls and n >= 2 and _all_distinct(valid):
        unique, reason = evidence.key_evidence(valid.to_numpy(), kind)
        why.append(f"unique: {reason}" if unique else f"not unique: all {n} values distinct, {reason}")
    if len(valid) and not unique and kind in ("text", "category", "int"):
        levels, reason = _levels(valid, len(valid), integer=kind == "int")
        why.append(reason)
        if levels is not None:
            checks.append(pa.Check.isin(levels))
    if len(valid) and not checks and kind in ("int", "float"):
        finite = valid[valid.abs() != float("inf")] if kind == "float" else valid
        if len(finite):
            infinite = (
                kind == "float" and bool((valid == -math.inf).any()),
                kind == "float" and bool((valid == math.inf).any()),
            )
            check, reasons = _range(finite.to_numpy(), kind == "int", margin, infinite)
            why += reasons
            if check is not None:
                checks.append(check)
    column = pa.Column(dtype, checks=checks or None, nullable=nullable, unique=unique, required=True)
    return column, why


def _column_name(name: Any) -> Any:
    """``name`` as the contract's YAML holds it: a str, int, float or bool (numpy's unwrapped: the
    frame's column still matches), or a tuple of them; anything else is refused in one line
    (a Timestamp YAML cannot write, a None or NaN pandera cannot look up)."""
    import numpy as np

    if isinstance(name, tuple):
        return tuple(_column_name(n) for n in name)
    plain = name.item() if isinstance(name, (np.integer, np.floating, np.bool_, np.str_)) else name
    if isinstance(plain, (str, bool, int, float)) and not (isinstance(plain, float) and math.isnan(plain)):
        return plain
    from ..exceptions import ValidationError

    raise ValidationError(
        f"column name {name!r} ({type(name).__name__}): a contract names columns by str, int, float or bool "
        "(or tuples of them); rename them first, e.g. df.columns = df.columns.astype(str)"
    )


def _dtype_name(dtype: Any) -> tuple[str | None, str]:
    """The name the contract gives ``dtype`` and why: pandas' name when pandera's YAML reads it back
    as this dtype, else pandera's own (text in an Arrow array: pandas' ``string[pyarrow]`` reads back
    as pandas' pyarrow-backed ``StringDtype``, ``arrow_string`` as the Arrow type), else None: no
    dtype asserted, since a contract pandera cannot read is no contract (``timestamp[ns][pyarrow]``)."""
    from pandera.engines import pandas_engine

    try:  # what pandera's YAML reader calls on a dtype name (private: its fallback is the engine's lookup)
        from pandera.io.pandas_io import _deserialize_dtype
    except ImportError:  # pragma: no cover - another pandera release
        _deserialize_dtype = pandas_engine.Engine.dtype

    try:
        engine = pandas_engine.Engine.dtype(dtype)
    except Exception:  # noqa: BLE001 - pandera and pandas raise TypeError, ValueError, NotImplementedError...
        return None, f"no dtype: pandera has no name for {dtype}"
    for name in dict.fromkeys((str(dtype), str(engine))):
        try:  # what the YAML holds is pandera's name for the dtype the name gives
            if _deserialize_dtype(str(pandas_engine.Engine.dtype(name))).check(engine):
                alias = f" (pandas calls it {dtype})" if name != str(dtype) else ""
                return name, f"dtype {name}: as in the sample{alias}"
        except Exception:  # noqa: BLE001 - the same: a name pandas cannot parse back
            continue
    return None, f"no dtype: pandera's YAML cannot name {dtype} (it does not read its name back)"


def _whole(valid: Any) -> bool:
    """Only whole numbers (a float column that could be integers: module docs of ``evidence``)."""
    import numpy as np

    x = valid.to_numpy(dtype=np.float64, na_value=np.nan)
    x = x[np.isfinite(x)]
    return bool(len(x)) and bool(np.all(x == np.floor(x)))


def _all_distinct(valid: Any) -> bool:
    try:
        return bool(valid.is_unique)
    except TypeError:
        return False


def infer_schema(df: Any, *, name: str | None = None, margin: float = MARGIN) -> Any:
    """A pandera ``DataFrameSchema`` for frames like ``df`` (see module docs).

    >>> import pandas as pd
    >>> infer_schema(pd.DataFrame({"x": [float(i % 10) for i in range(100)]})).columns["x"].checks
    [<Check in_range: in_range(-85.5, 94.5)>]
    """
    import pandas as pd
    import pandera.pandas as pa

    from ..exceptions import ValidationError

    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"a contract is inferred from a DataFrame, got {type(df).__name__}")
    if not df.columns.is_unique:
        raise ValidationError("the frame has duplicate column names: a contract needs unique column names")
    if not (isinstance(margin, (int, float)) and 0 <= margin <= 10):
        raise ValidationError(
            f"margin must be a number between 0 and 10 (a multiple of how far past the sample's extremes bounds reach), got {margin!r}"
        )
    if len(df) == 0:
        raise ValidationError("cannot infer a contract from an empty frame (no rows)")
    columns: dict[Any, Any] = {}
    why: dict[str, list[str]] = {}
    frame_nulls = bool(df.isna().to_numpy().any())
    for c in df.columns:
        columns[_column_name(c)], why[str(c)] = _column(c, df[c], float(margin), frame_nulls)
    return pa.DataFrameSchema(columns, name=name, strict=False, coerce=False, metadata={"aieng": {"why": why}})


def schema_yaml(schema: Any, *, aieng: dict[str, Any] | None = None, header: str = "") -> str:
    """pandera's YAML for ``schema`` with aieng_nb's settings under ``metadata.aieng``."""
    import yaml
    from pandera.io import pandas_io

    data = pandas_io.serialize_schema(schema)
    data.pop("version", None)  # pandera's version: not part of the contract's content
    meta = dict(schema.metadata or {})
    if aieng:
        meta["aieng"] = {**meta.get("aieng", {}), **aieng}
    if meta:
        data["metadata"] = meta
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return header + body


def infer_yaml(df: Any, *, name: str, margin: float = MARGIN, source: str | None = None) -> str:
    """The text of an inferred contract (pandera YAML with a short comment header)."""
    schema = infer_schema(df, name=name, margin=margin)
    why = (schema.metadata or {}).get("aieng", {}).pop("why", {})
    aieng: dict[str, Any] = {"inferred_from": source or "a DataFrame", "rows": int(len(df)), "margin": margin}
    aieng["why"] = why  # last: the reasons are long
    header = (
        f"# Data contract {name!r} (pandera DataFrameSchema YAML: {READER} reads it).\n"
        "# Inferred by aieng_nb; edit freely: bounds, categories, nullable, unique, checks.\n"
        "# metadata.aieng.policy (warn | block | allow) sets how snapshots under this name are enforced.\n"
    )
    return schema_yaml(schema, aieng=aieng, header=header)
