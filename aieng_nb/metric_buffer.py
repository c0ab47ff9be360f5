"""In-process metric buffering with a bounded loss window.

``aieng.log`` appends one tuple to a deque (thread-safe, ~0.1 us). A daemon thread wakes every
``flush_interval`` seconds and writes what is buffered in **slices**: each slice is one store
transaction sized to take about :data:`SLICE_SECONDS`, so a SIGKILL can only lose the slice being
written, never a long transaction's worth of points. The thread may not be scheduled on a busy
machine, so the logging thread also keeps a deadline (:attr:`MetricBuffer.due`, the oldest
unflushed point's time plus :data:`MAX_AGE`) and flushes synchronously once it has passed: points
logged more than about a second before a kill are stored whatever the load and the rate.

When the store refuses writes (a full disk, a server down), the points stay buffered, bounded by
:data:`MAX_PENDING_ROWS`, and are retried every :data:`RETRY_SECONDS`; a warning repeats while it
lasts and :meth:`MetricBuffer.close` raises if they still cannot be stored. For stores that can lag
or fail (a remote server), every batch is appended to a journal under ``buffers/`` before it is
sent and the committed offset is recorded after, so points survive a killed kernel and are
replayed by :func:`aieng_nb.lifecycle.recover`. A batch a server refuses is split so that only the
points it rejects are dropped, with a warning naming them.
"""

from __future__ import annotations

import json
import math
import threading
import time
import warnings
from collections import Counter, deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .fsutil import append_bytes, atomic_write_text
from .stores.base import MetricRow, PointsRejected, TrackingStore
from .stores.names import mlflow_key

__all__ = ["MAX_AGE", "Journal", "MetricBuffer", "journal_for", "mlflow_key", "valid_step"]

# the caller's thread flushes itself once the oldest unflushed point is this old (seconds)
MAX_AGE = 0.4
# one store transaction should take about this long; the slice size adapts to the store's speed
SLICE_SECONDS = 0.05
MIN_SLICE, MAX_SLICE = 200, 1_000
# the logging thread also flushes once the buffer holds more calls than the store (at the speed
# measured just now, load included) writes in this long, and never lets it grow past MAX_BACKLOG.
# On a machine starved by other work the store's speed swings tenfold from one transaction to the
# next (it was seen at ~1,300 points/s): a small backlog is what keeps the time to drain it, and so
# what a SIGKILL can lose, under a second. Transactions of 1,000 calls still cost only a few
# percent of throughput against larger ones.
BACKLOG_SECONDS = 0.2
MAX_BACKLOG = 1_000
# points kept in memory while the store refuses writes (~100 bytes each); older ones are dropped
MAX_PENDING_ROWS = 1_000_000
RETRY_SECONDS = 1.0
WARN_EVERY = 10.0


_MIN_STEP, _MAX_STEP = -(2**63), 2**63


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


class _StoreFailed(Exception):
    """Internal: the store refused a write; the rows are kept in ``pending``."""


class MetricBuffer:
    """Buffers ``(time, step, {key: value})`` calls and flushes them to a store in bounded slices."""

    def __init__(
        self, run_id: str, store: TrackingStore, journal: Journal, interval: float, journal_first: bool
    ) -> None:
        self.run_id = run_id
        self.store = store
        self.journal = journal
        # remote stores can lag or fail: journal before sending; the local SQLite write is itself durable
        self.journal_first = journal_first
        self.interval = interval
        self.calls: deque[tuple[float, int | None, dict[str, Any]]] = deque()
        # when the logging thread must flush itself (read by ``aieng.log`` on every call)
        self.due = time.time() + MAX_AGE
        # ... or once it holds more than this many calls (adapted to the store's measured speed)
        self.limit = MAX_BACKLOG
        self._rate = 0.0  # calls written per second, load included (moving average)
        # rows a failed write left behind, oldest first, with the journal offset that covers them
        self.pending: deque[tuple[list[MetricRow], int | None]] = deque()
        self.pending_rows = 0
        self.error: str | None = None  # why the store refuses writes now, None when healthy
        self.retry_at = 0.0
        self.lost: Counter[str] = Counter()  # points dropped because the store refused them too long
        self.rejected: Counter[str] = Counter()  # points a server refused as invalid
        self.dropped = 0  # bad steps and values, dropped at conversion with a warning
        self._slice = MAX_SLICE
        self._auto_step = 0
        self._keys: dict[str, str] = {}
        self._warned: set[str] = set()
        self._last_warning = 0.0
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and wake(): the flusher's sleep ends early
        self._thread = threading.Thread(target=self._loop, name=f"aieng-flush-{run_id[:8]}", daemon=True)

    def start(self) -> MetricBuffer:
        """Start the background flusher (a buffer used for one direct write needs none)."""
        self._thread.start()
        return self

    def wake(self) -> None:
        """Have the flusher write now (the logging thread's buffer passed its mark): cheaper for
        that thread than flushing itself, and a no-op while a wake-up is already pending."""
        if not self._wake.is_set():
            self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except Exception as exc:  # never kill the thread: the points stay buffered
                self._warn_once("flush", f"aieng: metrics flush failed, will retry: {exc}")

    def _warn_once(self, tag: str, message: str) -> None:
        if tag not in self._warned:
            self._warned.add(tag)
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    # --- conversion ------------------------------------------------------------------------------

    def _rows(self, calls: list[tuple[float, int | None, dict[str, Any]]]) -> list[MetricRow]:
        """MLflow rows from buffered calls; a bad step or value drops only itself, with a warning."""
        rows: list[MetricRow] = []
        keys = self._keys
        append = rows.append
        for ts, raw_step, metrics in calls:
            if raw_step is None:
                step = self._auto_step
            elif type(raw_step) is int and _MIN_STEP <= raw_step < _MAX_STEP:  # the common case, no call
                step = raw_step
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
            if step >= self._auto_step:
                self._auto_step = step + 1
            ms = int(ts * 1000)
            for key, value in metrics.items():
                name = keys.get(key)
                if type(value) is float and name is not None and value - value == 0.0:  # finite float
                    append((name, value, ms, step, False))
                    continue
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
                    append((name, number, ms, step, True))
                elif math.isinf(number):
                    self.dropped += 1
                    self._warn_once(
                        f"inf:{key}",
                        f"aieng: metric {key!r} is {number} at step {step}; MLflow cannot store infinity, point not logged",
                    )
                else:
                    append((name, number, ms, step, False))
        return rows

    def _take_slice(self) -> list[tuple[float, int | None, dict[str, Any]]]:
        calls = self.calls
        out = []
        try:
            for _ in range(min(len(calls), self._slice)):
                out.append(calls.popleft())
        except IndexError:  # emptied meanwhile by another flush
            pass
        return out

    # --- writing ---------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write everything buffered so far, one bounded transaction per slice; returns the points written.

        Never raises for a store that refuses writes: the points stay buffered (see :attr:`error`).
        """
        with self._flush_lock:
            written = 0
            try:
                written += self._retry_pending()
                while True:
                    t0 = time.perf_counter()
                    batch = self._take_slice()
                    if not batch:
                        break
                    try:
                        rows = self._rows(batch)
                    except BaseException:  # an interrupt (Ctrl-C in the logging thread): keep the calls
                        self.calls.extendleft(reversed(batch))
                        raise
                    if rows:
                        written += self._write_new(rows)
                    self._measure(len(batch), time.perf_counter() - t0)
            except _StoreFailed:
                if time.time() < self.retry_at:
                    self._park_calls()
            finally:
                self._set_due()
            return written

    def _set_due(self) -> None:
        if self.error is not None:
            self.due = self.retry_at
            return
        now = time.time()
        try:
            oldest = self.calls[0][0]
        except IndexError:
            oldest = now - 0.05  # a point appended right now may carry a time read a moment ago
        self.due = min(oldest, now) + MAX_AGE

    def _journal(self, rows: list[MetricRow]) -> int | None:
        """Append ``rows`` to the journal; None when it cannot be written (a full disk): the rows are
        then only in memory (and, for a remote store, still sent: stored there is safer than held here)."""
        try:
            return self.journal.append(rows)
        except OSError as exc:
            self._warn_once("journal", f"aieng: cannot write the metrics journal {self.journal.path}: {exc}")
            return None

    def _write_new(self, rows: list[MetricRow]) -> int:
        offset = self._journal(rows) if self.journal_first else None  # journaled before it is sent
        self._write(rows, offset)
        return len(rows)

    def _measure(self, n_calls: int, seconds: float) -> None:
        """Size the next slice (one transaction of about SLICE_SECONDS) and the backlog limit from the
        speed just seen: wall time, so a machine busy with other work gives smaller slices."""
        rate = n_calls / max(seconds, 1e-6)
        # a slowdown is believed at once, a speed-up slowly: the limit errs on the small side
        self._rate = rate if not self._rate or rate < self._rate else 0.8 * self._rate + 0.2 * rate
        self._slice = max(MIN_SLICE, min(MAX_SLICE, int(self._rate * SLICE_SECONDS)))
        self.limit = max(MIN_SLICE, min(MAX_BACKLOG, int(self._rate * BACKLOG_SECONDS)))

    def _write(self, rows: list[MetricRow], offset: int | None) -> None:
        try:
            self.store.log_batch(self.run_id, rows)
        except PointsRejected as exc:
            self._rejected(exc)
        except BaseException as exc:
            if offset is None and not self.journal_first:
                offset = self._journal(rows)  # survive a crash while the store is down
            self._keep(rows, offset)  # also on an interrupt: the next flush sends them
            if not isinstance(exc, Exception):
                raise
            self._failed(exc)
            raise _StoreFailed from exc
        self._commit(offset)
        self._recovered()

    def _commit(self, offset: int | None) -> None:
        if offset is not None and not self.pending:
            try:
                self.journal.commit(offset)
            except OSError:  # replaying a sent batch again is harmless (MLflow keeps one copy)
                pass

    def _retry_pending(self) -> int:
        if not self.pending:
            return 0
        if time.time() < self.retry_at:
            raise _StoreFailed
        written = 0
        while self.pending:
            rows, offset = self.pending.popleft()
            self.pending_rows -= len(rows)
            self._write(rows, offset)
            written += len(rows)
        return written

    def _park_calls(self) -> None:
        """While the store refuses writes, buffered calls become pending rows (bounded, journaled
        where the disk allows) instead of growing the call buffer."""
        while True:
            batch = self._take_slice()
            if not batch:
                return
            rows = self._rows(batch)
            if rows:
                self._keep(rows, self._journal(rows))

    def _keep(self, rows: list[MetricRow], offset: int | None) -> None:
        self.pending.append((rows, offset))
        self.pending_rows += len(rows)
        while self.pending_rows > MAX_PENDING_ROWS and len(self.pending) > 1:
            old, _ = self.pending.popleft()
            self.pending_rows -= len(old)
            self.lost.update(row[0] for row in old)

    def _failed(self, exc: BaseException) -> None:
        first = self.error is None
        self.error = f"{type(exc).__name__}: {exc}"[:500]
        self.retry_at = time.time() + RETRY_SECONDS
        if first:
            self._last_warning = 0.0
        self.warn_if_failing()

    def _recovered(self) -> None:
        if self.error is not None:
            self.error = None
            self.retry_at = 0.0
            warnings.warn(
                f"aieng: metrics of run {self.run_id[:12]} are being stored again", RuntimeWarning, stacklevel=3
            )

    def _rejected(self, exc: PointsRejected) -> None:
        names = Counter(row[0] for row, _ in exc.rejected)
        self.rejected.update(names)
        reason = exc.rejected[0][1] if exc.rejected else ""
        warnings.warn(
            f"aieng: the tracking server refused {sum(names.values())} point(s) of {', '.join(map(repr, names))}"
            f" and they were dropped (the other points were stored): {reason[:300]}",
            RuntimeWarning,
            stacklevel=3,
        )

    def warn_if_failing(self) -> None:
        """Repeat the warning about unstored points (at most every WARN_EVERY seconds) while it lasts."""
        if self.error is None:
            return
        now = time.time()
        if now - self._last_warning < WARN_EVERY:
            return
        self._last_warning = now
        lost = sum(self.lost.values())
        warnings.warn(
            f"aieng: metrics of run {self.run_id[:12]} cannot be stored ({self.error}); "
            f"{self.pending_rows + len(self.calls):,} points are kept in memory and retried every "
            f"{RETRY_SECONDS:g} s (at most {MAX_PENDING_ROWS:,}"
            + (f"; {lost:,} older points already dropped" if lost else "")
            + "). Free disk space or fix the server; end_run() fails until they are stored.",
            RuntimeWarning,
            stacklevel=3,
        )

    # --- the end ---------------------------------------------------------------------------------

    def unstored(self) -> int:
        """Points not stored yet (buffered calls count as the points they hold)."""
        return self.pending_rows + sum(len(m) for _, _, m in list(self.calls))

    def lost_summary(self) -> str:
        """What was lost, for the ``aieng.metrics_lost`` tag ('' when nothing)."""
        lost = self.lost
        if not lost:
            return ""
        keys = ", ".join(f"{k} ({n})" for k, n in lost.most_common(20))
        more = f" and {len(lost) - 20} more keys" if len(lost) > 20 else ""
        reason = f": {self.error}" if self.error else ""
        return f"{sum(lost.values())} metric points could not be stored{reason}; keys: {keys}{more}"

    def give_up(self) -> None:
        """Count every unstored point as lost (a run ended FAILED/KILLED while the store refuses writes)."""
        with self._flush_lock:
            self._park_calls()
            for rows, _ in self.pending:
                self.lost.update(row[0] for row in rows)
            self.pending.clear()
            self.pending_rows = 0

    def close(self, *, retries: int = 2) -> None:
        """Flush what is left (retrying a refusing store a few times), then stop the thread.

        Raises :class:`~aieng_nb.exceptions.MetricsNotStoredError` when points still cannot be stored;
        the thread then keeps retrying and ``close`` can be called again.
        """
        from .exceptions import MetricsNotStoredError

        for attempt in range(retries + 1):
            self.retry_at = 0.0  # retry now
            self.flush()
            if self.error is None and not self.pending:
                break
            if attempt < retries:
                time.sleep(RETRY_SECONDS / 2)
        else:
            raise MetricsNotStoredError(
                f"{self.unstored():,} metric points of run {self.run_id[:12]} could not be stored ({self.error}). "
                "Free disk space or fix the tracking server and call end_run() again; "
                "end_run('killed') gives up and records what was lost on the run"
            )
        self.stop()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)
        self.flush()
        if self.error is None and not self.pending and not self.calls:
            self.journal.remove()

    def stop(self) -> None:
        """Stop the background thread without writing (the points stay in the journal, if any)."""
        self._stop.set()
        self._wake.set()


def journal_for(buffers: Path, run_id: str) -> Journal:
    return Journal(buffers / f"{run_id}.metrics.jsonl")
