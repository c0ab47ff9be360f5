"""Background work of reports (Evidently's attachment), so a verdict does not wait for it.

Tasks run one at a time, in submission order, on one worker thread. Nothing is lost at the end:

* reading a report's ``attachments`` (or ``report.wait()``) waits for that report's tasks;
* ending a run waits for every pending task first (a :data:`aieng_nb.tracking.end_hooks` hook),
  so a report attached to the run has all its files before the run is FINISHED;
* a job's kernel calls :func:`wait_all` in its final injected cell, before the job completes;
* at interpreter exit the worker finishes its queue (``concurrent.futures`` joins it).

>>> fut = submit(sum, [1, 2, 3])
>>> wait_all() >= 0 and fut.result()
6
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Iterator
from typing import Any

_lock = threading.Lock()
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_pending: set[concurrent.futures.Future[Any]] = set()


def _discard(fut: concurrent.futures.Future[Any]) -> None:
    with _lock:
        _pending.discard(fut)


def _wait_for_run_end(run: Any) -> None:
    wait_all()


def submit(fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
    """Run ``fn(*args)`` on the report worker thread; returns its Future."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="aieng-report")
            from .. import tracking

            if _wait_for_run_end not in tracking.end_hooks:
                tracking.end_hooks.append(_wait_for_run_end)
        fut = _executor.submit(fn, *args)
        _pending.add(fut)
    fut.add_done_callback(_discard)
    return fut


def pending() -> int:
    """How many tasks are queued or running."""
    with _lock:
        return len(_pending)


def wait_all(timeout: float | None = None) -> int:
    """Wait for every queued task (at most ``timeout`` seconds); returns how many were waited for.
    Called from the worker thread itself it returns at once (a task cannot wait for itself)."""
    if threading.current_thread().name.startswith("aieng-report"):
        return 0
    with _lock:
        futures = list(_pending)
    if futures:
        concurrent.futures.wait(futures, timeout)
    return len(futures)


class Attachments(dict):  # type: ignore[type-arg]
    """A report's attachment files (name -> text or bytes). Reading it waits for the files still
    being computed in the background; :meth:`ready` reads without waiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._futures: list[concurrent.futures.Future[Any]] = []

    def add_pending(self, fut: concurrent.futures.Future[Any]) -> None:
        self._futures.append(fut)

    @property
    def pending(self) -> bool:
        """Whether files are still being computed. Inside a task (the report worker storing the
        report's files) the earlier tasks are done (FIFO), so nothing is pending from there."""
        if threading.current_thread().name.startswith("aieng-report"):
            return False
        return any(not f.done() for f in self._futures)

    def wait(self, timeout: float | None = None) -> None:
        if threading.current_thread().name.startswith("aieng-report"):
            return  # inside a task: the earlier tasks (FIFO) are done; waiting on itself would hang
        concurrent.futures.wait(self._futures, timeout)

    def ready(self) -> dict[str, str | bytes]:
        """The attachments present now, without waiting."""
        return dict(dict.items(self))

    # reading waits
    def __getitem__(self, key: str) -> Any:
        self.wait()
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.wait()
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self.wait()
        return iter(dict(dict.items(self)))

    def __len__(self) -> int:
        self.wait()
        return super().__len__()

    def get(self, key: str, default: Any = None) -> Any:
        self.wait()
        return super().get(key, default)

    def keys(self) -> Any:
        self.wait()
        return dict(dict.items(self)).keys()

    def items(self) -> Any:
        self.wait()
        return dict(dict.items(self)).items()

    def values(self) -> Any:
        self.wait()
        return dict(dict.items(self)).values()

    def __repr__(self) -> str:
        state = ", computing in the background" if self.pending else ""
        return f"Attachments({sorted(dict.keys(self))}{state})"

    def __reduce__(self) -> Any:  # pickles/copies as a plain dict of what is there
        self.wait()
        return (dict, (dict(dict.items(self)),))
