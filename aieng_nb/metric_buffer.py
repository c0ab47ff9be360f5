"""In-process metric buffering with a background flusher.

``aieng.log`` appends one tuple to a deque (thread-safe, ~0.1 us); a daemon thread wakes every
``flush_interval`` seconds, turns the calls into MLflow metric rows and writes them in one
batch. For the local SQLite store that write is durable within a flush interval. For stores
that can lag or fail (a remote server), batches are first appended to a journal file under
``buffers/`` and the committed offset is recorded after each successful write, so points
survive a killed kernel and are replayed by :func:`aieng_nb.lifecycle.recover`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import warnings
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .fsutil import atomic_write_text
from .stores.base import MetricRow, TrackingStore

_ALLOWED = re.compile(r"[^A-Za-z0-9_\-. /]")
MAX_KEY = 250


def mlflow_key(key: str) -> str:
    """Map a metric or param name to one MLflow can hold, deterministically and without collisions.

    A valid name is kept. Otherwise characters MLflow rejects become ``_`` and a short hash of
    the original is appended, so ``loss@val`` never merges with a real ``loss_val``; names over
    250 characters are cut before the hash.

    >>> mlflow_key("loss")
    'loss'
    >>> mlflow_key("loss@val")
    'loss_val-0d066e'
    >>> len(mlflow_key("x" * 300))
    250
    """
    text = str(key)
    mapped = _ALLOWED.sub("_", text)
    if mapped == text and 0 < len(text) <= MAX_KEY:
        return text
    suffix = hashlib.sha1(text.encode()).hexdigest()[:6]
    return f"{mapped[: MAX_KEY - 7]}-{suffix}"


def valid_step(step: Any) -> int | None:
    """``step`` as an int MLflow can store (64-bit), or None when it is not one."""
    import operator

    if isinstance(step, bool):
        return None
    try:
        value = operator.index(step)  # ints and NumPy integers, not floats or strings
    except TypeError:
        return None
    return value if -(2**63) <= value < 2**63 else None


class Journal:
    """Append-only batches of metric rows for one run, with a committed offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset_path = path.with_suffix(".offset")

    def append(self, rows: list[MetricRow]) -> int:
        with open(self.path, "ab") as fh:
            fh.write(json.dumps(rows, separators=(",", ":")).encode() + b"\n")
            fh.flush()
            return fh.tell()

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


class MetricBuffer:
    """Buffers ``(time, step, {key: value})`` calls and flushes them to a store in batches."""

    def __init__(
        self, run_id: str, store: TrackingStore, journal: Journal, interval: float, journal_first: bool
    ) -> None:
        self.run_id = run_id
        self.store = store
        self.journal = journal
        # remote stores can lag or fail: journal before sending; the local SQLite write is itself durable
        self.journal_first = journal_first
        self._unsent = False
        self.interval = interval
        self.calls: deque[tuple[float, int | None, dict[str, Any]]] = deque()
        self._auto_step = 0
        self._keys: dict[str, str] = {}
        self._warned: set[str] = set()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"aieng-flush-{run_id[:8]}", daemon=True)
        self.dropped = 0

    def start(self) -> MetricBuffer:
        """Start the background flusher (a buffer used for one direct write needs none)."""
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception as exc:  # never kill the thread: the journal keeps the points
                self._warn_once("flush", f"aieng: metrics flush failed, will retry: {exc}")

    def _warn_once(self, tag: str, message: str) -> None:
        if tag not in self._warned:
            self._warned.add(tag)
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def _rows(self, calls: list[tuple[float, int | None, dict[str, Any]]]) -> list[MetricRow]:
        """MLflow rows from buffered calls; a bad step or value drops only itself, with a warning."""
        rows: list[MetricRow] = []
        keys = self._keys
        for ts, raw_step, metrics in calls:
            if raw_step is None:
                step = self._auto_step
            else:
                checked = valid_step(raw_step)
                if checked is None:
                    self.dropped += len(metrics)
                    self._warn_once(
                        f"step:{raw_step!r}", f"aieng: step {raw_step!r} is not a 64-bit integer; not logged"
                    )
                    continue
                step = checked
            # like W&B: a call without a step comes one after the latest step seen
            self._auto_step = max(self._auto_step, step + 1)
            ms = int(ts * 1000)
            for key, value in metrics.items():
                name = keys.get(key)
                if name is None:
                    name = keys[key] = mlflow_key(key)
                    if name != key:
                        self._warn_once(
                            f"key:{key}", f"aieng: metric {key!r} is logged as {name!r} (MLflow's key rules)"
                        )
                try:
                    number = float(value)
                except (TypeError, ValueError, OverflowError):
                    self.dropped += 1
                    self._warn_once(
                        f"type:{key}", f"aieng: metric {key!r} value {value!r:.40} is not a float; not logged"
                    )
                    continue
                if math.isnan(number):
                    rows.append((name, number, ms, step, True))
                elif math.isinf(number):
                    self.dropped += 1
                    self._warn_once(
                        f"inf:{key}",
                        f"aieng: metric {key!r} is {number} at step {step}; MLflow cannot store infinity, point not logged",
                    )
                else:
                    rows.append((name, number, ms, step, False))
        return rows

    def flush(self) -> int:
        """Write everything buffered so far; returns the number of points written."""
        with self._flush_lock:
            if self._unsent:
                self._replay()
            calls = self.calls
            n = len(calls)
            batch = [calls.popleft() for _ in range(n)]
            rows = self._rows(batch)
            if not rows:
                return 0
            if self.journal_first:
                offset = self.journal.append(rows)
            try:
                self.store.log_batch(self.run_id, rows)
            except BaseException:
                # keep the points: journaled now (or already), replayed on the next flush or by recover()
                if not self.journal_first:
                    self.journal.append(rows)
                self._unsent = True
                raise
            if self.journal_first:
                self.journal.commit(offset)
            return len(rows)

    def _replay(self) -> None:
        """Send journaled batches that a failed write left behind, then mark them committed."""
        for rows in self.journal.pending():
            self.store.log_batch(self.run_id, rows)
        self.journal.commit(self.journal.size())
        self._unsent = False

    def close(self) -> None:
        """Stop the thread and flush what is left."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)
        self.flush()
        self.journal.remove()


def journal_for(buffers: Path, run_id: str) -> Journal:
    return Journal(buffers / f"{run_id}.metrics.jsonl")
