"""Redaction: cells holding PII replaced by keyed-hash tokens (equal values give equal tokens)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .findings import ScanResult
from .keys import workspace_key
from .scan import scan, string_columns

if TYPE_CHECKING:
    from ..workspace import Workspace


def token(value: str, kind: str, key: bytes) -> str:
    """Keyed-hash token of a value: equal values give equal tokens; without the key it cannot be reversed.

    >>> token("ann@example.com", "email", b"k" * 32) == token("ann@example.com", "email", b"k" * 32)
    True
    """
    digest = hashlib.blake2b(value.encode("utf-8"), key=key, digest_size=10, person=b"aieng-pii").hexdigest()
    return f"<{kind}:{digest}>"


def redact(
    data: Any,
    *,
    key: bytes | None = None,
    regions: tuple[str, ...] = ("US", "GB"),
    detectors: Sequence[str] | None = None,
    workspace: Workspace | None = None,
) -> tuple[Any, ScanResult]:
    """Scan everything and replace each cell holding PII with its keyed-hash token.

    Returns ``(redacted_copy, scan_result)``; the input is not modified. The key is ``key``, else
    the redaction key of ``workspace`` (default: the current workspace). ``detectors`` as in
    :func:`~aieng_nb.privacy.scan`.

    >>> import pandas as pd
    >>> out, res = redact(pd.DataFrame({"mail": ["ann@example.com", "-"]}), key=b"k" * 32)
    >>> out["mail"][0].startswith("<email:"), out["mail"][1]
    (True, '-')
    """
    import pandas as pd

    series_name = None
    is_series = isinstance(data, pd.Series)
    if is_series:
        series_name = data.name
        data = data.to_frame(name=series_name if series_name is not None else "value")
    positions: dict[str, dict[str, np.ndarray]] = {}
    result = scan(data, mode="full", regions=regions, max_validate=None, detectors=detectors, _positions=positions)
    if not result.findings:
        return (data.iloc[:, 0] if is_series else data), result
    key = key if key is not None else workspace_key(workspace)
    out = data.copy(deep=False)
    for pos in string_columns(data):
        column = str(data.columns[pos])
        kinds = positions.get(column)
        if not kinds:
            continue
        col = data.iloc[:, pos]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = np.asarray(col.cat.codes)
            cats = list(col.cat.categories)
            done: set[int] = set()
            for kind in kinds:
                for c in np.unique(codes[kinds.get(kind, np.zeros(0, dtype=np.int64))]):
                    if int(c) not in done:
                        cats[c] = token(str(cats[c]), kind, key)
                        done.add(int(c))
            new = col.cat.rename_categories(cats)
        else:
            values = np.asarray(col, dtype=object).copy()
            done = set()
            for kind in kinds:
                for r in kinds.get(kind, ()):
                    v = values[r]
                    if r not in done and isinstance(v, str):
                        values[r] = token(v, kind, key)
                        done.add(int(r))
            new = pd.Series(values, index=col.index, name=col.name, dtype=col.dtype)
        out.isetitem(pos, new)
    if is_series:
        out = out.iloc[:, 0]
        out.name = series_name
    return out, result
