"""Data snapshots: content-addressed, deduplicated, profiled and PII-guarded.

>>> import pandas as pd, aieng_nb as aieng                     # doctest: +SKIP
>>> rec = aieng.snapshot(pd.DataFrame({"x": [1, 2]}), name="train")   # doctest: +SKIP
>>> df = aieng.load("train")                                  # doctest: +SKIP
>>> aieng.list_snapshots()                                    # doctest: +SKIP
>>> aieng.get_snapshot("train@1")                             # doctest: +SKIP

Layout under the workspace (``.aieng/snapshots/``): ``objects/<ab>/<hash>/`` (data + ``meta.json``
with profile and PII findings), ``index.json`` (names -> versions -> hashes, hash -> runs),
``locks/``. The redaction key lives in ``.aieng/secrets/pii.key``, never in a snapshot.

``aieng.snapshots()`` (calling this package) is the spelling before ``aieng.list_snapshots()``: it
still lists, with a DeprecationWarning, for one release.
"""

from __future__ import annotations

from ..deprecation import callable_module
from .api import snapshot
from .catalog import delete, get_snapshot, list_snapshots, resolve, show
from .diff import SnapshotDiff, diff
from .gc import GCResult, gc
from .hashing import SUPPORTED, content_hash
from .loading import load
from .records import DeletedVersion, SnapshotDeletion, SnapshotList, SnapshotRecord, SnapshotVersion

__all__ = [
    "SUPPORTED",
    "DeletedVersion",
    "GCResult",
    "SnapshotDeletion",
    "SnapshotDiff",
    "SnapshotList",
    "SnapshotRecord",
    "SnapshotVersion",
    "content_hash",
    "delete",
    "diff",
    "gc",
    "get_snapshot",
    "list_snapshots",
    "load",
    "resolve",
    "show",
    "snapshot",
]

callable_module(__name__, list_snapshots, new="list_snapshots")
