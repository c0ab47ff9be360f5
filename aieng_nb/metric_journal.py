"""The metric journal: batches of metric rows appended before they are sent to a store that can lag
or fail (a remote server), with the offset committed after, so a killed kernel's points are replayed
by :func:`aieng_nb.lifecycle.recover`.

>>> import tempfile, pathlib
>>> j = journal_for(pathlib.Path(tempfile.mkdtemp()), "run1")
>>> end = j.append([("loss", 0.5, 0, 0, False)])
>>> list(j.pending())
[[('loss', 0.5, 0, 0, False)]]
>>> j.commit(end); list(j.pending())
[]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from .fsutil import append_bytes, atomic_write_text
from .stores.base import MetricRow


class Journal:
    """Append-only batches of metric rows for one run, with a committed offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset_path = path.with_suffix(".offset")

    def append(self, rows: list[MetricRow]) -> int:
        """Append one batch; returns the journal's size after it. A failed write (a full disk)
        is cut off again, so a torn line never hides the batches appended after it."""
        return append_bytes(self.path, json.dumps(rows, separators=(",", ":")).encode() + b"\n", fsync=False)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def commit(self, offset: int) -> None:
        atomic_write_text(self.offset_path, str(offset))

    def pending(self) -> Iterable[list[MetricRow]]:
        """Batches written but not committed (what a crash left behind)."""
        try:
            start = int(self.offset_path.read_text())
        except (FileNotFoundError, ValueError):
            start = 0
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            fh.seek(start)
            for line in fh:
                try:
                    yield [tuple(row) for row in json.loads(line)]  # type: ignore[misc]
                except ValueError:  # a torn last line from the crash
                    return

    def remove(self) -> None:
        for path in (self.path, self.offset_path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def journal_for(buffers: Path, run_id: str) -> Journal:
    return Journal(buffers / f"{run_id}.metrics.jsonl")
