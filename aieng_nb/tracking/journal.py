"""The metric journal: a write-ahead log of logged calls in memory the kernel keeps.

``aieng.log`` packs its call (by its key set's struct, see :mod:`aieng_nb.tracking.codec`) and
copies it into a memory-mapped segment file
(``buffers/<run>.wal.<seq>``, preallocated so a full disk cannot fault a write): the call returns
once the bytes are in the page cache, which outlives a killed process, so a SIGKILL loses nothing
(only a machine crash can lose what :meth:`Journal.sync` has not synced). The run's writer thread
reads the journal from its commit point, stores batches and moves the commit point
(``<run>.wal.commit``: segment, offset, and the automatic step there); a replay after a crash starts
there too, and the stores keep one copy of a point written twice, so a kill during a replay is
itself recoverable.

The queue is bounded (``journal_max_mb``): past it new points are dropped, with a warning naming
them, until the writer catches up. When the disk refuses a new segment, a few segments are kept in
memory instead (with a warning: those points die with the process).

>>> import tempfile, pathlib
>>> j = journal_for(pathlib.Path(tempfile.mkdtemp()), "run1")
>>> j.append((1.5, 0, {"loss": 0.5}))
>>> [rows for rows in j.pending()]
[[('loss', 0.5, 1500, 0, False)]]
>>> list(j.pending()); j.remove()
[]
"""

from __future__ import annotations

import marshal
import mmap
import os
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_bytes
from ..stores.base import MetricRow
from .codec import END, Schemas, parse
from .rows import Converter, plain_call, valid_step

SEGMENT_BYTES = 16 << 20  # one memory-mapped file; the caller maps only the one it writes
CHUNK_BYTES = 1 << 20  # what the writer reads at a time
MEMORY_SEGMENTS = 4  # segments kept in memory while the disk refuses new ones
DEFAULT_MAX_BYTES = 1 << 30
_dumps = marshal.dumps


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside aieng_nb (the user's logging call)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("aieng_nb."):
        frame, level = frame.f_back, level + 1
    return level


def _no_segment(data: bytes) -> None:
    raise ValueError("no segment mapped")


class Journal:
    """The write-ahead log of one run's metric calls. ``append`` is the caller's hot path."""

    def __init__(self, buffers: Path, name: str, max_bytes: int | None = None) -> None:
        self.dir = buffers
        self.name = name
        self.commit_path = buffers / f"{name}.wal.commit"
        self.end_path = buffers / f"{name}.wal.end"
        self.max_bytes = max_bytes
        self.lost: Counter[str] = Counter()  # points dropped because the queue was full
        self._lock = threading.Lock()
        self._seq = 0  # the segment the caller writes (0: none yet)
        self._mm: mmap.mmap | None = None
        self._memory: dict[int, mmap.mmap] = {}  # segments held in memory (the disk refused them)
        self._committed = self._read_commit()
        self._full = False
        self._why_memory = ""
        self.schemas = Schemas()  # key sets interned by this process (``schemas.table``: the hot path's)
        self._tables: dict[int, tuple[dict[int, Any], int]] = {}  # per segment: keys records read, up to where
        # the hot path's target: the current segment's ``mmap.write`` (raises ValueError when the
        # segment is full or there is none yet: then :meth:`append_slow` opens the next one)
        self.write: Callable[[bytes], Any] = _no_segment

    # --- the caller's side ----------------------------------------------------------------------

    def __len__(self) -> int:
        """Calls held in the process's own memory: none, every call is in the journal at once."""
        return 0

    def append(self, call: Any) -> None:
        """Journal one call ``(time, step, {key: value})``: packed by its key set's struct into the
        mapped segment (see :mod:`aieng_nb.tracking.codec`). ``aieng.log`` inlines this path (see
        :mod:`aieng_nb.tracking.active`). A list is taken as MLflow rows (:meth:`append_rows`)."""
        if type(call) is list:
            self.append_rows(call)
            return
        ts, step, metrics = call
        try:
            head, pack, pack_auto, n = self.schemas.table[tuple(metrics)]
            if step.__class__ is int:
                self.write(pack(head, ts, step, *metrics.values(), END))
                return
            if step is None:
                self.write(pack_auto(head + 1, ts, *metrics.values(), END))
                return
        except Exception:  # new keys, a value struct refuses, a full segment: the general path
            pass
        self.append_slow(call)

    def append_slow(self, call: Any) -> None:
        """Journal a call the fast path could not: a new key set, the next segment, a step that is not
        an int, odd values (marshalled whole, made plain first: marshal would write a NumPy scalar as
        its raw bytes), a full queue."""
        ts, step, metrics = call
        if step is not None and step.__class__ is not int:
            step = valid_step(step)  # NumPy integers; None here: not a step, refused at conversion
            if step is None:
                self._slow(call, None)
                return
        keys = tuple(metrics)
        entry = self.schemas.table.get(keys) or self._define(keys)
        data = None
        if entry is not None:
            head, pack, pack_auto, _ = entry
            try:
                if step is None:
                    data = pack_auto(head + 1, float(ts), *metrics.values(), END)
                else:
                    data = pack(head, float(ts), step, *metrics.values(), END)
            except Exception:  # a value that is not a number, a step out of range
                data = None
        self._slow(call, data)

    def _define(self, keys: tuple[Any, ...]) -> Any:
        """Intern a key set: its keys record goes into the journal before any call uses it."""
        with self._lock:
            found = self.schemas.table.get(keys)
            if found is not None:
                return found
            entry, record = self.schemas.define(keys)
            if entry is None or record is None or not self._write_locked(record):
                return None
            self.schemas.add(keys, entry, record)
            return entry

    def append_rows(self, rows: list[MetricRow]) -> None:
        """Journal MLflow rows as they are (a replay reads them back unchanged)."""
        self._slow([tuple(row) for row in rows], None)

    def _slow(self, call: Any, data: bytes | None) -> None:
        if data is None:
            data = _dumps(call if type(call) is list else plain_call(call))
        with self._lock:
            if not self._write_locked(data):
                self._drop(call)

    def _write_locked(self, data: bytes) -> bool:
        """Write ``data`` (under the lock), in the next segment when this one has no room. Callers on
        the lock-free fast path may fill the segment between any two steps here: a write that no
        longer fits raises before writing anything (``mmap.write``), and the next segment is opened."""
        for _ in range(64):
            if self._full:
                return False
            mm = self._mm
            if mm is not None and not mm.closed:
                try:
                    mm.write(data)
                    return True
                except ValueError:  # no room left (or closed): the next segment
                    pass
            if not self._open_next(len(data)):
                return False
        return False

    def _limit(self) -> int:
        if self.max_bytes is None:
            from .. import config

            self.max_bytes = int(float(config.get("journal_max_mb")) * (1 << 20))  # type: ignore[arg-type]
        return max(self.max_bytes, SEGMENT_BYTES)

    def _segment_path(self, seq: int) -> Path:
        return self.dir / f"{self.name}.wal.{seq:08d}"

    def _open_next(self, need: int) -> bool:
        """Map the next segment (under the lock); False when the queue is full."""
        seq = max(self._seq, self.segments()[-1] if self.segments() else 0, self._committed[0] - 1) + 1
        keys = self.schemas.block()  # every key set interned so far: a record decodes from its segment
        size = max(SEGMENT_BYTES, need + len(keys))
        if (seq - self._committed[0]) * SEGMENT_BYTES + size > self._limit():
            self._full = True
            return False
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._segment_path(seq), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, size)  # reserved now: a write to the map cannot hit a full disk
                mm = mmap.mmap(fd, size)
            except OSError:
                self._segment_path(seq).unlink(missing_ok=True)
                raise
            finally:
                os.close(fd)
        except OSError as exc:
            if len(self._memory) >= MEMORY_SEGMENTS:
                self._full = True
                return False
            mm = self._memory[seq] = mmap.mmap(-1, size)
            if not self._why_memory:
                self._why_memory = str(exc)
                warnings.warn(
                    f"aieng: cannot write the metrics journal in {self.dir} ({exc}); new points are kept in "
                    f"memory (up to {MEMORY_SEGMENTS * SEGMENT_BYTES >> 20} MB, lost if the process is killed) "
                    "until there is room on the disk",
                    RuntimeWarning,
                    stacklevel=_caller_level(),
                )
        mm.write(keys)
        old, self._mm, self._seq = self._mm, mm, seq
        if old is not None and not any(old is m for m in self._memory.values()):
            old.close()  # the writer reads finished segments from their files: not mapped, not resident
        self.write = mm.write
        return True

    def _drop(self, call: Any) -> None:
        """The queue is full (under the lock): count the call's points, warn about the first."""
        first = not self.lost
        keys = [row[0] for row in call] if type(call) is list else [str(key) for key in call[2]]
        self.lost.update(keys)
        self.write = _no_segment
        if first:
            warnings.warn(
                f"aieng: the metrics queue of {self.name[:12]} is full ({self._limit() >> 20} MB on disk: the "
                f"store is slow or down); new points are dropped, starting with {', '.join(map(repr, keys[:10]))}, "
                "until it catches up. The run records what was dropped (tag aieng.metrics_lost) and is not called "
                "FINISHED. Raise Aieng.journal_max_mb for a longer outage.",
                RuntimeWarning,
                stacklevel=_caller_level(),
            )

    def resume_if_room(self) -> None:
        """Start taking points again once the writer has made room (the writer's thread)."""
        if not self._full:
            return
        with self._lock:
            self._full = False
            if not self._open_next(0):
                return
        dropped = sum(self.lost.values())
        warnings.warn(
            f"aieng: the metrics queue of {self.name[:12]} has room again; {dropped:,} points were dropped "
            f"({', '.join(f'{k} ({n})' for k, n in self.lost.most_common(10))})",
            RuntimeWarning,
            stacklevel=2,
        )

    # --- the writer's side ----------------------------------------------------------------------

    def segments(self) -> list[int]:
        prefix = f"{self.name}.wal."
        found = set(self._memory)
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            names = []
        for name in names:
            tail = name[len(prefix) :]
            if name.startswith(prefix) and tail.isdigit():
                found.add(int(tail))
        return sorted(found)

    def _read_commit(self) -> tuple[int, int, int]:
        try:
            seq, offset, auto_step = (int(x) for x in self.commit_path.read_text().split())
            return seq, offset, auto_step
        except (FileNotFoundError, ValueError):
            segments = self.segments()
            return (segments[0] if segments else 1), 0, 0

    @property
    def committed(self) -> tuple[int, int, int]:
        """(segment, offset, automatic step) up to which the store holds every point."""
        return self._committed

    def commit(self, seq: int, offset: int, auto_step: int) -> None:
        """Record that the store holds everything before (seq, offset); finished segments go."""
        try:
            atomic_write_bytes(self.commit_path, f"{seq} {offset} {auto_step}".encode(), fsync=False)
        except OSError:  # a full disk: a replay sends these points again, which the store keeps once
            return
        self._committed = (seq, offset, auto_step)
        for old in self.segments():
            if old >= seq:
                break
            self._memory.pop(old, None)
            self._tables.pop(old, None)
            self._segment_path(old).unlink(missing_ok=True)

    def _chunk(self, seq: int, offset: int, size: int) -> tuple[bytes, bool]:
        """Bytes of segment ``seq`` from ``offset``; and whether the caller may still write there."""
        with self._lock:
            if seq == self._seq and self._mm is not None and not self._mm.closed:
                mm = self._mm
                return mm[offset : min(mm.tell(), offset + size)], True
            if seq in self._memory:
                return self._memory[seq][offset : offset + size], False
        try:
            with open(self._segment_path(seq), "rb") as fh:
                fh.seek(offset)
                return fh.read(size), False
        except FileNotFoundError:
            return b"", False

    def _table(self, seq: int, offset: int) -> dict[int, Any]:
        """The keys records of segment ``seq`` before ``offset`` (read from its start once: after a
        restart, a replay, or a reader that starts in the middle)."""
        table, known = self._tables.get(seq, (None, 0))
        if table is None:
            table = {}
        if known < offset:
            data, _ = self._chunk(seq, known, offset - known)
            parse(data, 1 << 62, table, keep=False)
        self._tables[seq] = (table, max(known, offset))
        return table

    def read(self, seq: int, offset: int, max_calls: int) -> tuple[list[Any], int, int]:
        """Up to ``max_calls`` records from (seq, offset), and the position after them."""
        out: list[Any] = []
        base = min(CHUNK_BYTES, max(4096, max_calls * 64))  # about what max_calls records take
        size = base
        while len(out) < max_calls:
            table = self._table(seq, offset)
            data, live = self._chunk(seq, offset, size)
            records, used, ended = parse(data, max_calls - len(out), table)
            out.extend(records)
            offset += used
            self._tables[seq] = (table, max(offset, self._tables[seq][1]))
            if records or (used and not ended):
                size = base
                continue
            if not ended and used == 0 and len(data) == size:
                size *= 2  # one record larger than a chunk
                continue
            if live:
                break  # the caller writes here: everything written so far was read
            later = [s for s in self.segments() if s > seq]
            if not later:
                break
            seq, offset = later[0], 0  # the rest of a finished segment was never written
        return out, seq, offset

    def pending(self, max_calls: int = 1000) -> Iterator[list[MetricRow]]:
        """Rows journaled but not committed (what a crash left behind), one batch at a time; each
        batch is committed when the next is asked for, so a kill during a replay resumes after the
        batches already stored."""
        seq, offset, auto_step = self._committed
        converter = Converter(auto_step)
        while True:
            records, seq, offset = self.read(seq, offset, max_calls)
            if not records:
                return
            rows = converter.rows(records)
            if rows:
                yield rows
            self.commit(seq, offset, converter.auto_step)

    def position(self) -> tuple[int, int]:
        """Where the caller writes next (segment, offset): the writer watches it to see a burst."""
        mm = self._mm
        return self._seq, (mm.tell() if mm is not None and not mm.closed else 0)

    def backlog_bytes(self) -> int:
        """About how many bytes are journaled but not yet stored."""
        seq, offset, _ = self._committed
        mm = self._mm
        tell = mm.tell() if mm is not None and not mm.closed else 0
        return max(0, (self._seq - seq) * SEGMENT_BYTES + tell - offset) if self._seq else 0

    def sync(self) -> None:
        """Write the current segment through to the disk (a machine crash then loses nothing)."""
        mm = self._mm
        if mm is not None and not mm.closed and not any(mm is m for m in self._memory.values()):
            mm.flush()

    def exists(self) -> bool:
        return bool(self.segments()) or self.commit_path.exists()

    def mark_end(self, status: str, end_ms: int, tags: dict[str, str]) -> None:
        """Remember how the run ended, for whoever stores the last points (this process or a replay)."""
        import json

        atomic_write_bytes(self.end_path, json.dumps({"status": status, "end_time": end_ms, "tags": tags}).encode())

    def end_marker(self) -> dict[str, Any] | None:
        import json

        try:
            return dict(json.loads(self.end_path.read_text()))
        except (FileNotFoundError, ValueError):
            return None

    def remove(self) -> None:
        with self._lock:
            if self._mm is not None and not self._mm.closed:
                self._mm.close()
            self._memory.clear()
            self._tables.clear()
            self.write = _no_segment
            for seq in self.segments():
                self._segment_path(seq).unlink(missing_ok=True)
            for path in (self.commit_path, self.end_path):
                path.unlink(missing_ok=True)
            self._seq, self._committed, self._full = 0, (1, 0, 0), False


def journal_for(buffers: Path, run_id: str) -> Journal:
    return Journal(buffers, run_id)
