"""The replay's input, checked: the table (a DataFrame, a file or a snapshot), its columns and time
order, the options; every bad input is one :class:`~aieng_nb.exceptions.ValidationError` line.

>>> parse_policies("static, periodic:3")
['static', 'periodic:3']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import ValidationError
from ..workspace import Workspace


def load(data: Any, workspace: Workspace | None) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    from pathlib import Path

    if not isinstance(data, str | Path):
        raise ValidationError(f"data must be a DataFrame, a file or a snapshot name, got {type(data).__name__}")
    path = Path(data).expanduser()
    if path.is_file():
        if not path.name.endswith((".parquet", ".pq", ".csv", ".csv.gz", ".txt")):
            raise ValidationError(f"{path}: read .csv, .csv.gz or .parquet files (or give a snapshot name)")
        try:
            return pd.read_parquet(path) if path.name.endswith((".parquet", ".pq")) else pd.read_csv(path)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - pandas' and pyarrow's parse errors: one line naming the file
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValidationError(f"{path}: not a readable table ({detail[:200]})") from None
    from .. import snapshots
    from ..workspace import existing

    try:
        frame = snapshots.load(str(data), workspace=workspace or existing())  # a missing workspace stays missing
    except Exception as exc:  # noqa: BLE001 - one line naming both readings of DATA
        raise ValidationError(f"{data!r} is neither a file nor a snapshot ({exc})") from None
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"snapshot {data!r} is a {type(frame).__name__}, not a table")
    return frame


def parse_policies(policies: Sequence[str] | str) -> list[str]:
    if not isinstance(policies, str) and not all(isinstance(p, str) for p in policies):
        raise ValidationError(f"policies must be names (static, periodic:K, loop), got {policies!r}")
    items = [p.strip() for p in (policies.split(",") if isinstance(policies, str) else policies) if p.strip()]
    for p in items:
        if p in ("static", "loop"):
            continue
        k = p.split(":", 1)[1] if p.startswith("periodic:") else ""
        if not (k.isdigit() and int(k) >= 1):
            raise ValidationError(f"unknown policy {p!r}: use static, periodic:K (K >= 1 batches) or loop")
    if not items or len(set(items)) != len(items):
        raise ValidationError(f"policies must be distinct and at least one, got {policies!r}")
    return items


def whole(what: str, value: Any, low: int) -> int:
    """``value`` as an int (a numpy integer too) at least ``low``, else one clear error."""
    import operator

    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or number < low:
        raise ValidationError(f"{what} must be a whole number >= {low}, got {value!r}")
    return number


def check_columns(frame: Any, time_column: str, target: str, sensitive: str | None) -> None:
    dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if dup:
        raise ValidationError(f"the data has duplicate column names: {dup[:10]}; rename them so each is unique")
    for role, col in (("time column", time_column), ("target", target), ("sensitive column", sensitive)):
        try:
            absent = col is not None and col not in frame.columns
        except TypeError:  # a list or a dict: one column name is wanted
            absent = True
        if absent:
            raise ValidationError(f"{role} {col!r} is not in the data (columns: {list(frame.columns)[:30]})")
    if target == time_column or sensitive in (target, time_column):
        raise ValidationError(f"the time column, the target and the sensitive column must differ (time column "
                              f"{time_column!r}, target {target!r}, sensitive {sensitive!r})")  # fmt: skip


def ordered(frame: Any, time_column: str, target: str) -> Any:
    """The rows with a target and a time, in time order (a row without a time has no place in it)."""
    import numpy as np

    y = frame[target]
    if y.dtype.kind in "iuf" and np.isinf(y.to_numpy(dtype=float, na_value=np.nan)).any():
        raise ValidationError(f"target {target!r} holds infinite values: drop or fix those rows")
    frame = frame[y.notna() & frame[time_column].notna()]
    try:
        return frame.sort_values(time_column, kind="stable").reset_index(drop=True)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in frame[time_column]})
        raise ValidationError(
            f"time column {time_column!r} mixes values that cannot be ordered ({', '.join(kinds[:5])})"
        ) from None


def free_name(name: str, taken: set[str], n: int) -> str:
    """``name`` (and ``name_0`` .. ``name_{n-1}``), underscored until no column of the data holds it."""
    while name in taken or any(f"{name}_{i}" in taken for i in range(n)):
        name += "_"
    return name
