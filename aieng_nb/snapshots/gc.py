"""Garbage collection: remove objects that no name version and no run references.

Objects and temp folders of writes in flight (see :mod:`.objects`) are never collected, whatever
the grace; other unreferenced objects younger than ``grace`` seconds are kept too. The temp
folders of writers that died are removed at once.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from .. import audit
from ..records import Record
from ..workspace import Workspace


@dataclass
class GCResult(Record):
    """What :func:`gc` removed (``removed``: snapshot ids, the content hashes) or would remove."""

    removed: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    temp_removed: int = 0
    blobs_removed: int = 0
    kept: int = 0
    dry_run: bool = False

    def __str__(self) -> str:
        from .records import human_bytes

        verb = "would remove" if self.dry_run else "removed"
        lines = [
            f"{verb} {len(self.removed)} unreferenced objects ({human_bytes(self.freed_bytes)}), "
            f"{self.temp_removed} interrupted writes, {self.blobs_removed} unused file blobs; kept {self.kept}"
        ]
        lines += [f"  {h}" for h in self.removed]
        return "\n".join(lines)


def gc(*, dry_run: bool = False, grace: float = 600.0, workspace: Workspace | None = None) -> GCResult:
    """Delete unreferenced snapshot objects (``dry_run`` only lists them).

    >>> print(gc(dry_run=True))   # doctest: +SKIP
    would remove 0 unreferenced objects (0 B), 0 interrupted writes; kept 3
    """
    import time

    from .index import open_stores

    ws, store, index = open_stores(workspace)
    result = GCResult(dry_run=dry_run)
    with store.lock("index"):
        refs = index.referenced()
        now = time.time()
        candidates = list(store.hashes())
        # read after listing: a write that made an object we listed had marked it in flight before
        live_tokens, in_flight = store.live_writes()
        for digest in candidates:
            if digest in refs or digest in in_flight:  # in-flight writes are never collected
                result.kept += 1
                continue
            meta = store.meta(digest)
            if now - float(meta.get("created") or 0) < grace:
                result.kept += 1
                continue
            result.removed.append(digest)
            if dry_run:
                result.freed_bytes += int(meta.get("bytes") or 0)
            else:
                result.freed_bytes += store.remove(digest)
        temps = store.stale_temps(grace, live_tokens)
        result.temp_removed = len(temps)
        if not dry_run:
            for tmp in temps:
                shutil.rmtree(tmp, ignore_errors=True)
            # file bytes no object links to any more (only after the objects above are gone); while a
            # write is in flight its blobs may not be linked yet, so they wait for the next gc
            if not live_tokens:
                for blob in store.unused_blobs(older_than=grace):
                    size = blob.stat().st_size
                    blob.unlink(missing_ok=True)
                    result.blobs_removed += 1
                    result.freed_bytes += size
    if not dry_run and (result.removed or result.temp_removed or result.blobs_removed):
        audit.append(
            "snapshot.gc",
            {
                "removed": result.removed,
                "freed_bytes": result.freed_bytes,
                "temp_removed": result.temp_removed,
                "blobs_removed": result.blobs_removed,
            },
            workspace=ws,
        )
    return result
