"""The run's metric writer: the caller journals, a background thread stores.

``aieng.log`` (and ``tr.step``, ``%aieng`` capture) append one call to the run's
:class:`~aieng_nb.tracking.journal.Journal` (``buffer.calls``): a memory copy into a mapped file, so
the call never waits for a store and a SIGKILL loses nothing. The writer thread wakes every
``flush_interval`` seconds, reads the journal from its commit point, converts calls to MLflow rows
(:mod:`aieng_nb.tracking.rows`) and stores them in batches sized for the store (``store.batch_rows``:
MLflow's 1,000 metrics per request for a server), moving the commit point after each.

When the store stops answering, the writer says so once, keeps the points in the journal (bounded
on disk, see ``journal_max_mb``) and retries every :data:`RETRY_SECONDS`; it says once when the
store is back. :meth:`MetricBuffer.close` waits for the drain (with a progress line) up to a timeout;
a run whose points are still queued then is finished by this thread when the store is back, or by
:func:`aieng_nb.tracking.lifecycle.recover` in the next process, with the end time it really had.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections import Counter, deque
from collections.abc import Callable

from ..stores.base import MetricRow, PointsRejected, TrackingStore
from ..stores.names import mlflow_key
from .journal import Journal, journal_for
from .rows import Converter, valid_step

__all__ = ["MAX_BACKLOG", "Journal", "MetricBuffer", "journal_for", "mlflow_key", "valid_step"]

RETRY_SECONDS = 1.0
# no call waits on the writer any more; kept for the names other modules import
MAX_BACKLOG = 1 << 62
DEFAULT_BATCH_ROWS = 1_000
PROGRESS_AFTER = 1.0  # close() prints a progress line once it has waited this long
# the writer stores in the caller's pauses: while the journal grows it waits QUIET seconds at a time
# (the GIL is the caller's), but never more than MAX_DEFER in a row, so it always makes progress
QUIET = 0.002
MAX_DEFER = 0.25


def _run(send: Callable[[], None], result: list[BaseException | None] | None) -> BaseException | None:
    """Call ``send``; its exception (or None) is returned and appended to ``result``."""
    error: BaseException | None = None
    try:
        send()
    except Exception as exc:
        error = exc
    if result is not None:
        result.append(error)
    return error


class MetricBuffer:
    """Stores what the run's journal holds, from a background thread."""

    def __init__(
        self, run_id: str, store: TrackingStore, journal: Journal, interval: float, journal_first: bool = True
    ) -> None:
        self.run_id = run_id
        self.store = store
        self.journal = journal
        self.calls = journal  # the hot path: ``buffer.calls.append((time, step, metrics))``
        self.interval = interval
        self.batch_rows = int(getattr(store, "batch_rows", DEFAULT_BATCH_ROWS))
        seq, offset, auto_step = journal.committed
        self._cursor = (seq, offset)
        self._converter = Converter(auto_step)
        # batches converted but not stored yet, oldest first: (rows, seq, offset, auto_step, send); a
        # failed batch stays here and is sent again as it was converted (the conversion keeps state)
        self._ready: deque[tuple[list[MetricRow], int, int, int, Callable[[], None] | None]] = deque()
        self._per_call = 2.0  # metrics per call, for batches of about batch_rows rows
        self.error: str | None = None  # why the store refuses writes now, None when healthy
        self.retry_at = 0.0
        self.rejected: Counter[str] = Counter()  # points a server refused as invalid
        self.written = 0
        self.on_drained: Callable[[], None] | None = None  # finishes a run that ended with points queued
        self._half_warned = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"aieng-writer-{run_id[:8]}", daemon=True)

    # compatibility: nothing in the caller's thread ever waits on these
    due = float("inf")
    limit = MAX_BACKLOG

    @property
    def lost(self) -> Counter[str]:
        """Points dropped because the queue was full, by key."""
        return self.journal.lost

    @property
    def dropped(self) -> int:
        """Bad steps and values dropped at conversion (each kind warned about once)."""
        return self._converter.dropped

    def start(self) -> MetricBuffer:
        self._thread.start()
        return self

    def wake(self) -> None:
        if not self._wake.is_set():
            self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set() or (self.error is not None and time.time() < self.retry_at):
                continue
            try:
                self._drain(self._yield_to_caller)
            except Exception as exc:  # never kill the thread: the points stay journaled
                self._converter.warn_once("drain", f"aieng: storing metrics failed, will retry: {exc}")
                self.retry_at = time.time() + RETRY_SECONDS
            if self.on_drained is not None and self.drained():
                self._finish_later()

    # --- draining --------------------------------------------------------------------------------

    def _convert_next(self) -> bool:
        """Read and convert the batch after the last one converted (and prepare its request);
        False when the journal holds nothing more."""
        seq, offset = self._ready[-1][1:3] if self._ready else self._cursor
        calls = max(1, int(self.batch_rows / self._per_call))
        records, seq2, offset2 = self.journal.read(seq, offset, max_calls=calls)
        if not records and (seq2, offset2) == (seq, offset):
            return False
        rows = self._converter.rows(records)
        if records:
            self._per_call = max(1.0, len(rows) / len(records))
        send = self.store.prepare_metrics(self.run_id, rows) if rows else None
        self._ready.append((rows, seq2, offset2, self._converter.auto_step, send))
        return True

    def _yield_to_caller(self) -> None:
        """Before each batch of the writer thread: wait while the caller is logging (the journal
        grows), up to MAX_DEFER, so converting and storing do not take the GIL from a burst."""
        deadline = time.monotonic() + MAX_DEFER
        position = self.journal.position()
        while time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(QUIET)
            now = self.journal.position()
            if now == position:
                return
            position = now

    def _drain(self, before_batch: Callable[[], None] | None = None) -> int:
        """Store what is journaled, batch by batch, in order; stops at the first failure (the points
        stay queued). To a server (``store.pipelined``) a batch is sent from a short-lived thread while
        this one converts the next and builds its request, so the server never waits for us."""
        written = 0
        pipelined = bool(getattr(self.store, "pipelined", False))
        with self._lock:
            while True:
                if before_batch is not None:
                    before_batch()
                if not self._ready and not self._convert_next():
                    break
                rows, seq, offset, auto_step, send = self._ready[0]
                error: BaseException | None = None
                if send is not None and pipelined:
                    result: list[BaseException | None] = []
                    sender = threading.Thread(target=_run, args=(send, result), name="aieng-send", daemon=True)
                    sender.start()
                    if len(self._ready) < 2:
                        self._convert_next()
                    sender.join()
                    error = result[0] if result else None
                elif send is not None:
                    error = _run(send, None)
                if isinstance(error, PointsRejected):
                    self._rejected(error)
                elif error is not None:
                    self._failed(error)
                    break
                self.journal.commit(seq, offset, auto_step)
                self._cursor = (seq, offset)
                self._ready.popleft()
                written += len(rows)
                self._recovered()
            self.written += written
        self.journal.resume_if_room()
        self._check_fill()
        return written

    def drained(self) -> bool:
        """Whether every journaled point is stored (reading the journal's end, not waiting)."""
        if self._ready:
            return False
        records, seq, offset = self.journal.read(*self._cursor, max_calls=1)
        return not records

    def flush(self) -> int:
        """Store what is journaled now, in this thread (an explicit wait, never a logging call's);
        syncs the journal first. Never raises for a store that refuses writes: see :attr:`error`."""
        self.journal.sync()
        return self._drain()

    def _failed(self, exc: BaseException) -> None:
        first = self.error is None
        self.error = f"{type(exc).__name__}: {exc}"[:500]
        self.retry_at = time.time() + RETRY_SECONDS
        if first:
            limit = self.journal._limit() >> 20
            warnings.warn(
                f"aieng: metrics of run {self.run_id[:12]} cannot be stored ({self.error}); they are queued on "
                f"disk (up to {limit:,} MB) and sent when the store answers again. Logging does not wait.",
                RuntimeWarning,
                stacklevel=4,
            )

    def _recovered(self) -> None:
        if self.error is not None:
            self.error = None
            self.retry_at = 0.0
            warnings.warn(
                f"aieng: the store answers again; the queued metrics of run {self.run_id[:12]} are being stored",
                RuntimeWarning,
                stacklevel=4,
            )

    def _check_fill(self) -> None:
        used, limit = self.journal.backlog_bytes(), self.journal._limit()
        if used >= limit // 2 and not self._half_warned:
            self._half_warned = True
            warnings.warn(
                f"aieng: the metrics queue of run {self.run_id[:12]} is half full ({used >> 20:,} of "
                f"{limit >> 20:,} MB{f': {self.error}' if self.error else ''}); past the limit new points are dropped",
                RuntimeWarning,
                stacklevel=4,
            )
        elif used < limit // 4:
            self._half_warned = False

    def _rejected(self, exc: PointsRejected) -> None:
        names = Counter(row[0] for row, _ in exc.rejected)
        self.rejected.update(names)
        reason = exc.rejected[0][1] if exc.rejected else ""
        warnings.warn(
            f"aieng: the tracking server refused {sum(names.values())} point(s) of {', '.join(map(repr, names))}"
            f" and they were dropped (the other points were stored): {reason[:300]}",
            RuntimeWarning,
            stacklevel=4,
        )

    # --- the end ---------------------------------------------------------------------------------

    def unstored(self) -> int:
        """Points journaled but not stored yet (reads the journal: for messages and tests)."""
        seq, offset = self._cursor
        count = 0
        while True:
            records, seq, offset = self.journal.read(seq, offset, max_calls=10_000)
            if not records:
                return count
            count += sum(len(r) if type(r) is list else len(r[2]) for r in records)

    def lost_summary(self) -> str:
        """What was lost, for the ``aieng.metrics_lost`` tag ('' when nothing)."""
        lost = self.lost
        if not lost:
            return ""
        keys = ", ".join(f"{k} ({n})" for k, n in lost.most_common(20))
        more = f" and {len(lost) - 20} more keys" if len(lost) > 20 else ""
        reason = f": {self.error}" if self.error else " (the queue on disk was full)"
        return f"{sum(lost.values())} metric points could not be stored{reason}; keys: {keys}{more}"

    def close(self, timeout: float | None = None, *, progress: bool = True) -> bool:
        """Wait until every journaled point is stored (at most ``timeout`` seconds, default
        ``end_timeout``), printing a progress line while it takes long; then stop the thread and
        remove the journal. Returns False when the store still does not take them: the thread keeps
        trying, and :attr:`on_drained` runs once it is done."""
        if timeout is None:
            from .. import config

            timeout = float(config.get("end_timeout"))  # type: ignore[arg-type]
        start = time.time()
        self.journal.sync()
        total, shown = self.journal.backlog_bytes(), 0.0
        while True:
            if self.error is None or time.time() >= self.retry_at:
                self._drain()
            if self.drained():
                break
            now = time.time()
            if now - start >= timeout:
                if shown:
                    print(file=sys.stderr)
                return False
            if progress and now - start >= PROGRESS_AFTER and now - shown >= 1.0:
                shown = now
                left = self.journal.backlog_bytes()
                why = f" (waiting for the store: ...{self.error[-160:]})" if self.error else ""
                print(
                    f"\raieng: storing the metrics of run {self.run_id[:12]}: {left / 1e6:,.1f} of "
                    f"{max(total, left) / 1e6:,.1f} MB left{why}, {timeout - (now - start):.0f} s before giving up",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
            if self.error is not None:
                time.sleep(min(0.2, max(0.0, self.retry_at - time.time())))
        if shown:
            print(file=sys.stderr)
        self.stop()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)
        self.journal.remove()
        return True

    def finish_when_stored(self, finish: Callable[[], None]) -> None:
        """Run ``finish`` (store the run's end) once the queued points are stored, from the writer."""
        self.on_drained = finish
        if not self._thread.is_alive() and not self._stop.is_set():
            self.start()

    def _finish_later(self) -> None:
        finish, self.on_drained = self.on_drained, None
        try:
            if finish is not None:
                finish()
        except Exception as exc:  # the store failed again: the journal and its end marker stay
            self.on_drained = finish
            self.retry_at = time.time() + RETRY_SECONDS
            self._converter.warn_once("finish", f"aieng: could not finish run {self.run_id[:12]} yet: {exc}")
            return
        self._stop.set()
        self.journal.remove()

    def stop(self) -> None:
        """Stop the writer without storing more (the points stay in the journal for a replay)."""
        self._stop.set()
        self._wake.set()
