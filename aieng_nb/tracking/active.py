"""The active run of this process, its metric buffer, and the store cache (one store per workspace).

``aieng.log`` is the hot path: it looks its key set up in the run journal's interned key sets
(module global ``_schemas``), packs time, step and values with that key set's struct and copies the
bytes into the journal's mapped segment (``_calls.write``); everything else goes through :data:`state`.
Where the install compiled ``_hotpath.c`` (a C compiler was there), ``log`` is its C function: the
same record in one call, handing every other case to the Python ``log`` below (``AIENG_PURE_PYTHON=1``
keeps the Python one).
"""

from __future__ import annotations

import atexit
import importlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..exceptions import NoActiveRunError
from ..stores import open_store
from ..stores.base import TrackingStore
from ..workspace import Workspace, current
from . import lifecycle
from .buffer import MetricBuffer, journal_for
from .checks import flush_interval
from .codec import END
from .records import RunRecord

RUN_ID_ENV = "AIENG_RUN_ID"

_time = time.time
# the active run's buffer, kept as module globals so aieng.log costs a few hundred nanoseconds
_calls: Any = None  # the active run's Journal (its ``write`` is the hot path's target)
_schemas: Any = None  # its interned key sets: {keys: (header, pack, pack without step, count)}
_buffer: MetricBuffer | None = None


class Run:
    """A handle on a run: usable as a context manager, renders as HTML in Jupyter."""

    def __init__(
        self,
        run_id: str,
        name: str,
        experiment: str,
        experiment_id: str,
        store: TrackingStore,
        owned: bool,
        flush_interval: float,
        *,
        workspace: Workspace | None = None,
    ) -> None:
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self.experiment_id = experiment_id
        self.store = store
        self.owned = owned
        self.workspace = workspace or current()
        self.buffer = MetricBuffer(
            run_id,
            store,
            journal_for(self.workspace.buffers, run_id),
            flush_interval,
            journal_first=not self.workspace.is_local,
        ).start()
        self.background: list[threading.Thread] = []

    @property
    def cells_path(self) -> Path:
        return lifecycle.cells_path(self.workspace, self.id)

    def log(self, step: int | None = None, **metrics: float) -> None:
        self.buffer.calls.append((_time(), step, metrics))

    def end(self, status: str = "FINISHED") -> None:
        from .runs import end_run

        if state.run is self:
            end_run(status)

    def started_message(self) -> str:
        """What a front end says when the run starts."""
        return f"run {self.name!r} started ({self.id}) in experiment {self.experiment!r}"

    def params_message(self, values: dict[str, Any]) -> str:
        """What a front end says after ``values`` were recorded as this run's params."""
        shown = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in values.items())
        return f"recorded {shown} on run {self.name!r} ({self.id})"

    def record(self) -> RunRecord:
        """The run as stored now (buffered metrics flushed first; warns when some cannot be stored)."""
        flush_here(self.buffer)
        return self.store.get_run(self.id)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end("FAILED" if exc_type else "FINISHED")

    def __repr__(self) -> str:
        return f"<aieng Run {self.name!r} id={self.id} experiment={self.experiment!r}>"

    def _repr_html_(self) -> str:
        return self.record()._repr_html_()


class State:
    """What this process tracks: the active run, its parents (nested runs), the open stores."""

    def __init__(self) -> None:
        self.run: Run | None = None
        self.stack: list[Run] = []
        self.stores: dict[tuple[str, str], TrackingStore] = {}
        self.pending_seed: int | None = None
        self.atexit_registered = False


state = State()


def store(*, workspace: Workspace | None = None) -> TrackingStore:
    """The tracking store of ``workspace`` (default: the current one), opened once per process.

    >>> store().uri.startswith(("sqlite:", "http", "file:"))  # doctest: +SKIP
    True
    """
    ws = workspace or current()
    key = (ws.tracking_uri, ws.artifacts.as_uri())
    found = state.stores.get(key)
    if found is None:
        found = state.stores[key] = open_store(*key)
    return found


def set_active(run: Run | None) -> None:
    global _calls, _buffer, _schemas
    state.run = run
    _buffer = run.buffer if run is not None else None
    _calls = _buffer.calls if _buffer is not None else None
    _schemas = _calls.schemas.table if _calls is not None else None
    if _hotpath is not None:
        _hotpath.configure(_calls, _schemas, _log_python)


def _attach_from_env() -> Run | None:
    """In a job's kernel, the job's run (created by the job runner) is the active run."""
    run_id = os.environ.get(RUN_ID_ENV)
    if not run_id:
        return None
    ws = current()
    st = store(workspace=ws)
    record = st.get_run(run_id)
    run = Run(run_id, record.name, record.experiment, record.experiment_id, st, False, flush_interval(), workspace=ws)
    # what this kernel journals and cannot store before it exits (or is killed) is replayed by the
    # job runner, or any later recover, under this lease
    lifecycle.write_lease(ws, run_id, ws.tracking_uri, job=True)
    set_active(run)
    register_atexit()
    from .fluent import follow

    follow(run)
    return run


def active_run(*, attach: bool = True) -> Run | None:
    """The run this process is logging to, or None. In a job's kernel (env ``AIENG_RUN_ID``) the
    job's run is attached on first use; ``attach=False`` only looks (it never opens a store).

    >>> active_run() is None
    True
    """
    return state.run or (_attach_from_env() if attach else None)


def require_run(what: str) -> Run:
    run = active_run()
    if run is None:
        raise NoActiveRunError(what)
    return run


def log(step: int | None = None, **metrics: float) -> None:
    """Log metrics at a step (default: one after the largest step so far). Cheap: journaled.

    >>> log(loss=0.25, acc=0.9, step=10)  # doctest: +SKIP
    """
    # Journal.append, inlined for the common case: a key set seen before, an int step. No run, new
    # keys, a value struct refuses (not a number), another step, a full segment: the general path.
    try:
        head, pack, pack_auto, n = _schemas[tuple(metrics)]
        if step.__class__ is int:
            if n == 2:
                a, b = metrics.values()
                _calls.write(pack(head, _time(), step, a, b, END))
            elif n == 1:
                (a,) = metrics.values()
                _calls.write(pack(head, _time(), step, a, END))
            else:
                _calls.write(pack(head, _time(), step, *metrics.values(), END))
            return
        if step is None:
            if n == 2:
                a, b = metrics.values()
                _calls.write(pack_auto(head + 1, _time(), a, b, END))
            else:
                _calls.write(pack_auto(head + 1, _time(), *metrics.values(), END))
            return
    except Exception:
        pass
    _log_slow(step, metrics)


_log_python = log


def _load_hotpath() -> Any:
    if os.environ.get("AIENG_PURE_PYTHON"):
        return None
    try:
        hot: Any = importlib.import_module(f"{__package__}._hotpath")  # compiled at install, when it could be
    except ImportError:
        return None
    hot.configure(None, None, _log_python)
    return hot


_hotpath = _load_hotpath()
if _hotpath is not None:
    log = _hotpath.log  # noqa: F811 (the same function, in C)


def _forget_in_child() -> None:
    """A forked child (a DataLoader worker, a ``multiprocessing`` pool) shares the parent's mapped
    journal segment but not its write position: writing there would overwrite the parent's
    points, and ending the run is the parent's. The child has no active run (``aieng.log`` there
    says so; it may start its own), and does not attach to a job's run either."""
    if state.run is not None:
        os.environ.pop(RUN_ID_ENV, None)
        set_active(None)


os.register_at_fork(after_in_child=_forget_in_child)


def _log_slow(step: Any, metrics: dict[str, Any]) -> None:
    journal = _calls
    if journal is None:
        require_run("aieng.log").log(step, **metrics)
        return
    journal.append_slow((_time(), step, metrics))


def flush_here(buffer: MetricBuffer) -> None:
    """Store what the run journaled, in this thread (an explicit flush, never a logging call). Never
    raises: while the store refuses writes the points stay queued and the writer retries."""
    buffer.flush()


def flush() -> None:
    """Write buffered metrics of the active run now (a store that refuses writes is warned about, and
    its points stay buffered and retried)."""
    if state.run is not None:
        flush_here(state.run.buffer)


def close_job_run(run: Run) -> None:
    """Store what a job's run journaled (up to ``end_timeout``); its lease goes once all is stored,
    else it stays, and the job runner (or a later recover) replays the rest."""
    if run.buffer.close():
        lifecycle.remove_lease(run.workspace, run.id, cells=False)
    else:  # the writer keeps trying while this process lives; the lease covers its death
        run.buffer.finish_when_stored(lambda: lifecycle.remove_lease(run.workspace, run.id, cells=False))


def register_atexit() -> None:
    if not state.atexit_registered:
        atexit.register(_at_exit)
        state.atexit_registered = True


def _at_exit() -> None:
    """A process exiting with a run still active did not finish it: say so, never FINISHED."""
    from .runs import end_run

    while state.run is not None:
        run = state.run
        try:
            if run.owned:
                run.store.log_batch(run.id, tags={"aieng.end_reason": "process exited without end_run"})
                end_run("KILLED")
            else:
                close_job_run(run)
                set_active(None)
        except Exception:
            set_active(None)


def reset() -> None:
    """Drop all module state (tests): stop flushers, close stores, forget the active run."""
    from .fluent import forget

    forget()
    for run in [state.run, *state.stack]:
        if run is not None:
            run.buffer.stop()
            for thread in run.background:  # the environment capture still writes to the store
                thread.join(timeout=30)
    for opened in state.stores.values():
        opened.close()
    state.__init__()  # type: ignore[misc]
    set_active(None)
