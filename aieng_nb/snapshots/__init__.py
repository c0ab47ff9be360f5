"""Data snapshots: content-addressed, deduplicated, profiled and PII-guarded.

>>> import pandas as pd, aieng_nb as aieng                     # doctest: +SKIP
>>> rec = aieng.snapshot(pd.DataFrame({"x": [1, 2]}), name="train")   # doctest: +SKIP
>>> df = aieng.load("train")                                  # doctest: +SKIP
>>> aieng.snapshots()                                         # doctest: +SKIP

Layout under the workspace (``.aieng/snapshots/``): ``objects/<ab>/<hash>/`` (data + ``meta.json``
with profile and PII findings), ``index.json`` (names -> versions -> hashes, hash -> runs),
``locks/``. The redaction key lives in ``.aieng/secrets/pii.key``, never in a snapshot.

``aieng_nb.snapshots`` is also callable: ``aieng.snapshots()`` lists the named versions.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .api import load, snapshot
from .catalog import delete, list_snapshots, resolve, show
from .diff import SnapshotDiff, diff
from .gc import GCResult, gc
from .hashing import SUPPORTED, content_hash
from .records import SnapshotList, SnapshotRecord

__all__ = [
    "SUPPORTED",
    "GCResult",
    "SnapshotDiff",
    "SnapshotList",
    "SnapshotRecord",
    "content_hash",
    "delete",
    "diff",
    "gc",
    "list_snapshots",
    "load",
    "resolve",
    "show",
    "snapshot",
]


class _CallableModule(types.ModuleType):
    """``aieng.snapshots()`` lists snapshots while ``aieng.snapshots.load`` etc. stay reachable."""

    def __call__(self, name: str | None = None, **kwargs: Any) -> SnapshotList:
        return list_snapshots(name, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
