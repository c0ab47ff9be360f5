"""Inferring a contract from a sample that the next batch will not break by chance.

What is inferred, per column (the index is not part of a contract):

- the **dtype** (exact: ``int64`` data arriving as ``float64`` is a change worth a look);
- **nullability**: nullable only when the sample has nulls;
- **categories** (``isin``) for text, categorical and boolean-like columns with few distinct
  values, each seen often enough (on average ``MIN_PER_CATEGORY`` times) that a category the
  sample missed is unlikely; integer columns with at most ``MAX_INT_LEVELS`` values (class
  labels, codes) likewise;
- **numeric bounds** (``in_range``) widened by ``margin`` times the sample's range on each side
  (a next batch's extremes differ from this one's by chance), clipped at 0 for a column that
  is never negative; whole numbers for integer columns. Dates get no bounds (new data is later);
- **uniqueness** for key columns only: no nulls, no duplicates, an integer or text dtype, and a
  key-like name (``id``, ``*_id``, ``key``, ``uuid``, ``code``) or dense integer values
  (``max - min < 2 * rows``). Measurements that happen to be all distinct are not keys.

>>> import pandas as pd
>>> text = infer_yaml(pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}), name="demo")
>>> "in_range" in text and "unique: true" in text
True
"""

from __future__ import annotations

import math
import re
from typing import Any

MARGIN = 1.0
MAX_CATEGORIES = 50
MIN_PER_CATEGORY = 10
MAX_INT_LEVELS = 10
SMALL_SAMPLE = 50
TAIL = 0.05
TAIL_FACTOR = 2.0
_KEY_NAME = re.compile(r"(^|_)(id|key|uuid|guid|code)$|[a-z]Id$|ID$", re.IGNORECASE)


def _plain(value: Any) -> Any:
    """A YAML-safe Python scalar (numpy scalars unwrapped)."""
    if hasattr(value, "item"):
        value = value.item()
    return value


def _bounds(values: Any, integer: bool, margin: float) -> tuple[Any, Any] | None:
    """(low, high) for ``in_range``, or (low, None) for a non-negative column without a usable scale."""
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    margin *= max(1.0, SMALL_SAMPLE / len(arr))  # a few rows say little about the extremes
    lo, hi = float(arr.min()), float(arr.max())
    span = hi - lo
    if span <= 0:
        return None  # one value seen: no scale to widen it by
    q_lo, med, q_hi = (float(q) for q in np.quantile(arr, [TAIL, 0.5, 1 - TAIL]))
    # widen by a share of the range, or by the tail's own spread when the tail is long
    new_lo = lo - max(margin * span, TAIL_FACTOR * (q_lo - lo))
    top = hi + max(margin * span, TAIL_FACTOR * (hi - q_hi))
    new_hi: float | None = top
    if lo >= 0:
        # a count, a price, a size: never negative in the sample, not in the contract. Such columns
        # are often skewed (a next batch's largest value is a multiple of this one's): widen the top
        # on a ratio scale too, by the ratio of the maximum to the median
        new_lo = max(new_lo, 0.0)
        new_hi = max(top, hi * hi / med) if med > 0 else None
    if integer:
        return int(math.floor(new_lo)), (int(math.ceil(new_hi)) if new_hi is not None else None)
    return _round_out(new_lo, down=True), (_round_out(new_hi, down=False) if new_hi is not None else None)


def _round_out(x: float, *, down: bool) -> float:
    """``x`` rounded outwards to 4 significant digits (a readable YAML number, still outside the sample)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    digits = 3 - int(math.floor(math.log10(abs(x))))
    scale = 10.0**digits
    return float((math.floor if down else math.ceil)(x * scale) / scale)


def _is_key(name: Any, s: Any, nulls: int, kind: str) -> bool:
    import numpy as np

    n = len(s)
    if n < 2 or nulls or kind not in ("int", "text"):
        return False
    if not s.is_unique:
        return False
    if _KEY_NAME.search(str(name)):
        return True
    if kind == "int":
        values = s.to_numpy()
        return bool(int(np.max(values)) - int(np.min(values)) < 2 * n)
    return False


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


def _range_checks(bounds: tuple[Any, Any] | None) -> list[Any]:
    import pandera.pandas as pa

    if bounds is None:
        return []
    lo, hi = bounds
    return [pa.Check.ge(lo)] if hi is None else [pa.Check.in_range(lo, hi)]


def _column(name: Any, s: Any, margin: float) -> Any:
    import pandera.pandas as pa

    nulls = int(s.isna().sum())
    kind = _kind(s)
    checks: list[Any] = []
    valid = s.dropna() if nulls else s
    unique = _is_key(name, s, nulls, kind)
    if len(valid) and not unique:
        if kind in ("text", "category"):
            try:
                levels = valid.unique()
            except TypeError:  # unhashable objects (lists, dicts): no categories
                levels = None
            if levels is not None and len(levels) <= MAX_CATEGORIES and len(valid) >= MIN_PER_CATEGORY * len(levels):
                values = [_plain(v) for v in levels]
                if all(isinstance(v, (str, int, float, bool)) for v in values):
                    checks.append(pa.Check.isin(sorted(values, key=lambda v: (type(v).__name__, v))))
        elif kind == "int":
            levels = valid.unique()
            if len(levels) <= MAX_INT_LEVELS and len(valid) >= MIN_PER_CATEGORY * 2 * len(levels):
                checks.append(pa.Check.isin(sorted(int(v) for v in levels)))
            else:
                checks += _range_checks(_bounds(valid, True, margin))
        elif kind == "float":
            finite = valid[valid.abs() != float("inf")]
            checks += _range_checks(_bounds(finite, False, margin) if len(finite) else None)
    return pa.Column(str(s.dtype), checks=checks or None, nullable=bool(nulls), unique=unique, required=True)


def infer_schema(df: Any, *, name: str | None = None, margin: float = MARGIN) -> Any:
    """A pandera ``DataFrameSchema`` for frames like ``df`` (see module docs).

    >>> import pandas as pd
    >>> infer_schema(pd.DataFrame({"x": [float(i % 10) for i in range(100)]})).columns["x"].checks
    [<Check in_range: in_range(0.0, 18.0)>]
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
        raise ValidationError(f"margin must be a number between 0 and 10 (a share of the range), got {margin!r}")
    if len(df) == 0:
        raise ValidationError("cannot infer a contract from an empty frame (no rows)")
    columns = {c: _column(c, df[c], float(margin)) for c in df.columns}
    return pa.DataFrameSchema(columns, name=name, strict=False, coerce=False)


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
    aieng: dict[str, Any] = {"inferred_from": source or "a DataFrame", "rows": int(len(df)), "margin": margin}
    header = (
        f"# Data contract {name!r} (pandera DataFrameSchema YAML: pandera.io.from_yaml reads it).\n"
        "# Inferred by aieng_nb; edit freely: bounds, categories, nullable, unique, checks.\n"
        "# metadata.aieng.policy (warn | block | allow) sets how snapshots under this name are enforced.\n"
    )
    return schema_yaml(schema, aieng=aieng, header=header)
