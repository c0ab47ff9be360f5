"""Experiment tracking: a thin fluent API over a store, like MLflow's fluent module.

>>> import aieng_nb as aieng
>>> with aieng.start_run(experiment="churn", name="baseline") as run:  # doctest: +SKIP
...     aieng.log_params({"lr": 0.05})
...     for step in range(100):
...         aieng.log(loss=1 / (step + 1), step=step)

``aieng.log`` only appends to an in-process buffer; a background thread writes batches to the
store (see :mod:`aieng_nb.metric_buffer`). In a job's kernel (env ``AIENG_RUN_ID``), the
functions attach to the job's run instead of creating one.
"""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import audit, config, lifecycle
from .exceptions import MetricsNotStoredError, NoActiveRunError, NotFoundError, ValidationError
from .fsutil import user_name
from .metric_buffer import MAX_BACKLOG, MetricBuffer, journal_for, mlflow_key
from .models import TERMINAL_STATUSES, Comparison, RunRecord, RunTable
from .stores import open_store
from .stores.base import TrackingStore, encode_params, random_run_name
from .workspace import Workspace, current

RUN_ID_ENV = "AIENG_RUN_ID"
MAX_TAG_VALUE = 8000
DEFAULT_EXPERIMENT = "Default"

_time = time.time
# the active run's buffer, kept as module globals so aieng.log costs a few hundred nanoseconds
_calls: deque | None = None
_buffer: MetricBuffer | None = None
# past ``buffer.limit`` buffered calls (what the store writes in ~0.25 s at its measured speed, at
# most HIGH_WATER) aieng.log flushes in the caller's thread: a loop that logs faster than the store
# can write is slowed down instead of piling up memory and unsaved points, and the backlog one
# flush must drain stays inside the loss bound of a SIGKILL
HIGH_WATER = MAX_BACKLOG
# callbacks run at end_run before the status is set (the IPython extension attaches the notebook)
end_hooks: list[Callable[[Run], None]] = []


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
    ) -> None:
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self.experiment_id = experiment_id
        self.store = store
        self.owned = owned
        self.workspace = current()
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
        buffer = self.buffer
        now = _time()
        buffer.calls.append((now, step, metrics))
        if now > buffer.due or len(buffer.calls) > buffer.limit:
            _flush_here(buffer)

    def end(self, status: str = "FINISHED") -> None:
        if _state.run is self:
            end_run(status)

    def record(self) -> RunRecord:
        """The run as stored now (buffered metrics flushed first; warns when some cannot be stored)."""
        _flush_here(self.buffer)
        return self.store.get_run(self.id)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if _state.run is self:
            end_run("FAILED" if exc_type else "FINISHED")

    def __repr__(self) -> str:
        return f"<aieng Run {self.name!r} id={self.id} experiment={self.experiment!r}>"

    def _repr_html_(self) -> str:
        return self.record()._repr_html_()


class _State:
    def __init__(self) -> None:
        self.run: Run | None = None
        self.stack: list[Run] = []
        self.stores: dict[tuple[str, str], TrackingStore] = {}
        self.pending_seed: int | None = None
        self.atexit_registered = False


_state = _State()


def _store(ws: Workspace | None = None) -> TrackingStore:
    ws = ws or current()
    key = (ws.tracking_uri, ws.artifacts.as_uri())
    store = _state.stores.get(key)
    if store is None:
        store = _state.stores[key] = open_store(*key)
    return store


def _set_active(run: Run | None) -> None:
    global _calls, _buffer
    _state.run = run
    _buffer = run.buffer if run is not None else None
    _calls = _buffer.calls if _buffer is not None else None


def _attach_from_env() -> Run | None:
    """In a job's kernel, the job's run (created by the job runner) is the active run."""
    run_id = os.environ.get(RUN_ID_ENV)
    if not run_id:
        return None
    store = _store()
    record = store.get_run(run_id)
    run = Run(run_id, record.name, record.experiment, record.experiment_id, store, False, _flush_interval())
    _set_active(run)
    _register_atexit()
    return run


def active_run() -> Run | None:
    """The run this process is logging to, or None.

    >>> active_run() is None
    True
    """
    return _state.run or _attach_from_env()


def _require_run(what: str) -> Run:
    run = active_run()
    if run is None:
        raise NoActiveRunError(what)
    return run


def _flush_interval() -> float:
    value = float(config.get("flush_interval"))  # type: ignore[arg-type]
    if not 0 < value <= 60:
        raise ValidationError(f"flush_interval must be between 0 and 60 seconds, got {value}")
    return value


def _check_tags(tags: dict[str, Any] | None) -> dict[str, str]:
    out = {}
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(f"tag names must be non-empty strings, got {key!r}")
        text = str(value)
        if len(text) > MAX_TAG_VALUE:
            raise ValidationError(f"tag {key!r} is {len(text)} characters; MLflow holds at most {MAX_TAG_VALUE}")
        out[mlflow_key(key)] = text
    return out


def _check_params(params: dict[str, Any] | None) -> dict[str, str]:
    if params is not None and not isinstance(params, dict):
        raise ValidationError(f"params must be a dict, got {type(params).__name__}")
    return {mlflow_key(key): value for key, value in encode_params(params or {}).items()}


def _check_name(kind: str, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 250):
        raise ValidationError(f"{kind} must be a non-empty string of at most 250 characters, got {value!r}")


def start_run(
    name: str | None = None,
    experiment: str | None = None,
    tags: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    nested: bool = False,
) -> Run:
    """Start a run (or, in a job's kernel, return the job's run).

    >>> run = start_run(experiment="demo", name="first")  # doctest: +SKIP
    >>> end_run()  # doctest: +SKIP
    """
    _check_name("experiment", experiment)
    _check_name("run name", name)
    clean_tags = _check_tags(tags)
    clean_params = _check_params(params)
    interval = _flush_interval()
    attached = _state.run or _attach_from_env()
    if attached is not None and not attached.owned:
        if clean_params or clean_tags:
            attached.store.log_batch(attached.id, params=clean_params, tags=clean_tags)
        return attached
    parent = _state.run
    if parent is not None and not nested:
        raise ValidationError(
            f"run {parent.name!r} ({parent.id}) is still active: end it first (`%aieng end`) or pass nested=True"
        )
    ws = current()
    store = _store(ws)
    lifecycle.recover(ws)
    exp_name = experiment or (parent.experiment if parent else DEFAULT_EXPERIMENT)
    exp_id = store.get_or_create_experiment(exp_name)
    run_name = name or random_run_name()
    system_tags = {"mlflow.user": user_name(), **_source_tags(), "aieng.pid": str(os.getpid())}
    if parent is not None:
        system_tags["mlflow.parentRunId"] = parent.id
    run_id = store.create_run(exp_id, run_name, {**system_tags, **clean_tags}, int(time.time() * 1000))
    try:
        lifecycle.write_lease(ws, run_id, ws.tracking_uri)
        if _state.pending_seed is not None:
            clean_params.setdefault("seed", str(_state.pending_seed))
        if clean_params:
            store.log_batch(run_id, params=clean_params)
        audit.append("run.start", {"run_id": run_id, "experiment": exp_name, "name": run_name}, workspace=ws)
        run = Run(run_id, run_name, exp_name, exp_id, store, True, interval)
    except BaseException as exc:
        # never leave a half-started run RUNNING: say it failed to start, and why
        store.log_batch(run_id, tags={"aieng.end_reason": f"start failed: {exc}"[:MAX_TAG_VALUE]})
        store.set_status(run_id, "FAILED", int(time.time() * 1000))
        lifecycle.remove_lease(ws, run_id)
        raise
    _state.pending_seed = None
    if parent is not None:
        _state.stack.append(parent)
    _set_active(run)
    _register_atexit()
    if config.get("capture_environment"):
        thread = threading.Thread(target=_capture_environment, args=(run,), name="aieng-env", daemon=True)
        thread.start()
        run.background.append(thread)
    return run


def _source_tags() -> dict[str, str]:
    """MLflow's Source column: the notebook when we know it (not ``ipykernel_launcher.py``), else the script."""
    from .capture import notebook_path

    main = sys.modules.get("__main__")
    notebook = notebook_path(vars(main) if main is not None else None)
    if notebook is not None:
        return {"mlflow.source.type": "NOTEBOOK", "mlflow.source.name": str(notebook)}
    in_kernel = "ipykernel" in sys.modules
    script = sys.argv[0] if sys.argv and sys.argv[0] else "<interactive>"
    return {"mlflow.source.type": "NOTEBOOK" if in_kernel else "LOCAL", "mlflow.source.name": script}


def _capture_environment(run: Run) -> None:
    """Environment and git state as artifacts and tags; never raises into the user's work."""
    import json

    from . import capture

    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "aieng"
            folder.mkdir()
            env = capture.environment()
            (folder / "environment.json").write_text(json.dumps(env, indent=2, default=str))
            tags = {"aieng.python": env["python"], "aieng.platform": env["platform"]}
            git = capture.git_state()
            if git:
                diff = git.pop("diff")
                (folder / "git.json").write_text(json.dumps(git, indent=2))
                if diff:
                    (folder / "git.diff").write_text(diff)
                tags.update({"mlflow.source.git.commit": git["commit"], "aieng.git.dirty": str(git["dirty"]).lower()})
                if git["branch"]:
                    tags["mlflow.source.git.branch"] = git["branch"]
            run.store.log_artifact(run.id, str(folder))
            run.store.log_batch(run.id, tags=tags)
    except Exception as exc:
        warnings.warn(f"aieng: could not record the environment: {exc}", RuntimeWarning, stacklevel=1)


def end_run(status: str = "FINISHED") -> RunRecord | None:
    """End the active run with FINISHED (default), FAILED or KILLED; returns the stored run."""
    status = str(status).upper()
    if status not in TERMINAL_STATUSES:
        raise ValidationError(
            f"status must be one of {', '.join(s.lower() for s in TERMINAL_STATUSES)}, got {status!r}"
        )
    run = _state.run
    if run is None:
        raise NoActiveRunError("ending a run")
    if not run.owned:  # a job's run: the job runner sets its status
        run.buffer.close()
        _set_active(None)
        return None
    for thread in run.background:
        thread.join(timeout=60)
    for hook in list(end_hooks):
        try:
            hook(run)
        except Exception as exc:
            warnings.warn(f"aieng: end-of-run capture failed: {exc}", RuntimeWarning, stacklevel=2)
    final = _close_buffer(run, status)
    lifecycle.attach_cells(run.store, run.workspace, run.id)
    run.store.set_status(run.id, final, int(time.time() * 1000))
    # only once the status is stored: until then the run stays active and `end` can be retried
    lifecycle.remove_lease(run.workspace, run.id)
    _set_active(_state.stack.pop() if _state.stack else None)
    audit.append("run.end", {"run_id": run.id, "status": final}, workspace=run.workspace)
    if final != status:
        raise MetricsNotStoredError(
            f"run {run.name!r} ({run.id}) ended {final}, not {status}: {run.buffer.lost_summary()}"
        )
    return run.store.get_run(run.id)


def _close_buffer(run: Run, status: str) -> str:
    """Store every buffered point; returns the status to record.

    FINISHED with points the store still refuses raises MetricsNotStoredError and leaves the run
    active (the points stay buffered and retried; free space and end it again). Ending it FAILED or
    KILLED gives up on them instead. Points that could not be kept are named in the tag
    ``aieng.metrics_lost``, and such a run is never called FINISHED.
    """
    buffer = run.buffer
    if status == "FINISHED":
        buffer.close()
    else:
        try:
            buffer.close(retries=0)
        except MetricsNotStoredError:
            buffer.give_up()
            buffer.stop()
    tags = {}
    lost = buffer.lost_summary()
    if lost:
        tags["aieng.metrics_lost"] = lost[:MAX_TAG_VALUE]
    if buffer.rejected:
        names = ", ".join(f"{k} ({n})" for k, n in buffer.rejected.most_common(20))
        tags["aieng.metrics_rejected"] = f"points refused by the tracking server: {names}"[:MAX_TAG_VALUE]
    if tags:
        run.store.log_batch(run.id, tags=tags)
    return "FAILED" if lost and status == "FINISHED" else status


def _register_atexit() -> None:
    if not _state.atexit_registered:
        atexit.register(_at_exit)
        _state.atexit_registered = True


def _at_exit() -> None:
    """A process exiting with a run still active did not finish it: say so, never FINISHED."""
    while _state.run is not None:
        run = _state.run
        try:
            if run.owned:
                run.store.log_batch(run.id, tags={"aieng.end_reason": "process exited without end_run"})
                end_run("KILLED")
            else:
                run.buffer.close()
                _set_active(None)
        except Exception:
            _set_active(None)


def log(step: int | None = None, **metrics: float) -> None:
    """Log metrics at a step (default: one more than the previous call). Cheap: buffered.

    >>> log(loss=0.25, acc=0.9, step=10)  # doctest: +SKIP
    """
    calls = _calls
    if calls is None:
        _require_run("aieng.log").log(step, **metrics)
        return
    now = _time()
    calls.append((now, step, metrics))
    if now > _buffer.due or len(calls) > _buffer.limit:  # type: ignore[union-attr]
        _flush_here(_buffer)  # type: ignore[arg-type]


def _flush_here(buffer: MetricBuffer) -> None:
    """Flush in the logging thread: the oldest point is due (the flusher thread was not scheduled in
    time on a busy machine) or the buffer is full. Never raises: while the store refuses writes the
    points stay buffered and the warning repeats."""
    buffer.flush()
    buffer.warn_if_failing()


def log_metrics(metrics: dict[str, float], step: int | None = None, run_id: str | None = None) -> None:
    """Log a dict of metrics to the active run, or to ``run_id`` directly."""
    if run_id is None or (_state.run is not None and run_id == _state.run.id):
        buffer = _require_run("log_metrics").buffer
        now = _time()
        buffer.calls.append((now, step, dict(metrics)))
        if now > buffer.due or len(buffer.calls) > buffer.limit:
            _flush_here(buffer)
        return
    ws = current()
    store = _store(ws)
    run_id = store.resolve_run_id(run_id)
    buffer = MetricBuffer(run_id, store, journal_for(ws.buffers, run_id), 1.0, journal_first=False)
    buffer.calls.append((_time(), 0 if step is None else step, dict(metrics)))
    buffer.flush()
    if buffer.error is not None:
        raise MetricsNotStoredError(f"metrics for run {run_id} could not be stored: {buffer.error}")


def _target(run_id: str | None, what: str) -> tuple[str, TrackingStore]:
    if run_id is None:
        run = _require_run(what)
        return run.id, run.store
    store = _store()
    return store.resolve_run_id(run_id), store


def log_params(params: dict[str, Any], run_id: str | None = None) -> None:
    """Record parameters (values become strings, as in MLflow; a param cannot change later)."""
    encoded = _check_params(params)
    target, store = _target(run_id, "log_params")
    store.log_batch(target, params=encoded)
    audit.append("run.params", {"run_id": target, "params": encoded})


def log_param(key: str, value: Any, run_id: str | None = None) -> None:
    log_params({key: value}, run_id)


def set_tags(tags: dict[str, Any], run_id: str | None = None) -> None:
    clean = _check_tags(tags)
    target, store = _target(run_id, "set_tags")
    store.log_batch(target, tags=clean)
    audit.append("run.tags", {"run_id": target, "tags": clean})


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Attach a file or folder to the run; its SHA-256 goes to the audit trail."""
    import hashlib

    path = Path(local_path)
    if not path.exists():
        raise NotFoundError(f"no file or folder {str(path)!r} to log")
    if artifact_path and (artifact_path.startswith("/") or ".." in Path(artifact_path).parts):
        raise ValidationError(f"artifact_path must be relative inside the run, got {artifact_path!r}")
    target, store = _target(run_id, "log_artifact")
    store.log_artifact(target, str(path), artifact_path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digests = {str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files[:1000]}
    audit.append("run.artifact", {"run_id": target, "artifact_path": artifact_path or "", "sha256": digests})


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Save ``text`` as the artifact ``artifact_file`` (e.g. ``"notes/summary.md"``)."""
    rel = Path(artifact_file)
    if rel.is_absolute() or ".." in rel.parts or not rel.name:
        raise ValidationError(f"artifact_file must be a relative file name, got {artifact_file!r}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / rel.name
        path.write_text(text, encoding="utf-8")
        log_artifact(path, str(rel.parent) if str(rel.parent) != "." else None, run_id)


def log_dataset_input(
    name: str,
    digest: str,
    source: str,
    schema: dict | None = None,
    profile: dict | None = None,
    run_id: str | None = None,
) -> None:
    """Record a dataset as an input of the run (MLflow's dataset inputs, shown in its UI)."""
    target, store = _target(run_id, "log_dataset_input")
    store.log_dataset_input(target, name, digest, source, schema, profile)
    audit.append("run.input", {"run_id": target, "name": name, "digest": digest})


def flush() -> None:
    """Write buffered metrics of the active run now (a store that refuses writes is warned about, and
    its points stay buffered and retried)."""
    if _state.run is not None:
        _flush_here(_state.run.buffer)


def seed(value: int) -> dict[str, bool]:
    """Seed ``random``, NumPy and torch (if imported); recorded as the run's ``seed`` param.

    >>> seed(42)["random"]
    True
    """
    import random

    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ValidationError(f"seed must be an integer in [0, 2**32), got {value!r}")
    random.seed(value)
    seeded = {"random": True, "numpy": False, "torch": False}
    try:
        import numpy

        numpy.random.seed(value)
        seeded["numpy"] = True
    except ImportError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(value)
        seeded["torch"] = True
    run = active_run()
    if run is not None:
        libraries = ",".join(k for k, v in seeded.items() if v)
        run.store.log_batch(run.id, params={"seed": str(value)}, tags={"aieng.seeded": libraries})
        audit.append("run.seed", {"run_id": run.id, "seed": value, "libraries": libraries})
    else:
        _state.pending_seed = value
    return seeded


def get_run(run_id: str) -> RunRecord:
    """A run by id (or unambiguous id prefix)."""
    if _state.run is not None and _state.run.id.startswith(run_id):
        _state.run.buffer.flush()
    store = _store()
    return store.get_run(store.resolve_run_id(run_id))


def runs(
    experiment: str | None = None, last: int | None = None, status: str | None = None, metrics: list[str] | None = None
) -> RunTable:
    """Runs, newest first; filter by experiment and status; ``last`` limits the count; ``metrics``
    names the metric columns (default: each run's own metrics first, report summaries after)."""
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= 1_000_000):
        raise ValidationError(f"last must be an integer from 1 to 1,000,000, got {last!r}")
    if status is not None:
        status = status.upper()
        if status not in ("RUNNING", "SCHEDULED", *TERMINAL_STATUSES):
            raise ValidationError(f"unknown status {status!r}; use running, finished, failed or killed")
    flush()
    ws = current()
    if ws.is_local and not ws.mlflow_db.exists():  # nothing tracked yet: reading creates no store
        if experiment:
            raise NotFoundError(f"no experiment {experiment!r} (nothing has been tracked in this workspace yet)")
        return RunTable([])
    lifecycle.recover(ws)
    if metrics is not None and (isinstance(metrics, str) or not all(isinstance(m, str) and m for m in metrics)):
        raise ValidationError(f"metrics must be a list of metric names, got {metrics!r}")
    return RunTable(_store(ws).search_runs(experiment, status, last), metric_names=metrics)


def compare(*run_ids: str) -> Comparison:
    """Params and final metrics of two or more runs side by side, differences marked."""
    if len(run_ids) < 2:
        raise ValidationError("compare needs at least two run ids")
    return Comparison([get_run(r) for r in run_ids])


def create_run(
    experiment: str,
    name: str | None = None,
    tags: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> str:
    """Create a run this process does not own (a job's run); returns its id."""
    _check_name("experiment", experiment)
    store = _store()
    exp_id = store.get_or_create_experiment(experiment)
    all_tags = {"mlflow.user": user_name(), "mlflow.source.type": "JOB", **_check_tags(tags)}
    clean_params = _check_params(params)
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run_name = name or random_run_name()
    run_id = store.create_run(exp_id, run_name, all_tags, int(time.time() * 1000))
    if clean_params:
        store.log_batch(run_id, params=clean_params)
    audit.append("run.start", {"run_id": run_id, "experiment": experiment, "name": run_name, "owner": "job"})
    return run_id


def set_run_status(run_id: str, status: str) -> None:
    """Set a run's final status (FINISHED, FAILED, KILLED)."""
    status = status.upper()
    if status not in TERMINAL_STATUSES:
        raise ValidationError(f"status must be one of {', '.join(TERMINAL_STATUSES)}, got {status!r}")
    _store().set_status(run_id, status, int(time.time() * 1000))
    audit.append("run.end", {"run_id": run_id, "status": status})


def metric_history(run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) points of one metric."""
    flush()
    store = _store()
    return [(step, value) for _, value, _, step, _ in store.metric_history(store.resolve_run_id(run_id), key)]


def resume_run(run_id: str) -> Run:
    """Make an ended run (crashed, failed, killed) active again in this process, to continue it.

    Training resume uses this: metrics, artifacts and the final status land in the same run.

    >>> run = resume_run("3f2a")  # doctest: +SKIP
    """
    if _state.run is not None:
        if _state.run.id.startswith(run_id):
            return _state.run
        raise ValidationError(f"run {_state.run.name!r} ({_state.run.id}) is active: end it before resuming another")
    ws = current()
    store = _store(ws)
    lifecycle.recover(ws)  # a run whose process died is marked KILLED first
    run_id = store.resolve_run_id(run_id)
    record = store.get_run(run_id)
    if record.status == "RUNNING" and (ws.buffers / f"{run_id}.lease").exists():
        raise ValidationError(f"run {run_id} is still running in another process")
    store.set_status(run_id, "RUNNING", None)
    lifecycle.write_lease(ws, run_id, ws.tracking_uri)
    audit.append("run.resume", {"run_id": run_id, "previous_status": record.status}, workspace=ws)
    run = Run(run_id, record.name, record.experiment, record.experiment_id, store, True, _flush_interval())
    _set_active(run)
    _register_atexit()
    return run


def _reset() -> None:
    """Drop all module state (tests): stop flushers, close stores, forget the active run."""
    for run in [_state.run, *_state.stack]:
        if run is not None:
            run.buffer.stop()
            for thread in run.background:  # the environment capture still writes to the store
                thread.join(timeout=30)
    for store in _state.stores.values():
        store.close()
    _state.__init__()  # type: ignore[misc]
    _set_active(None)
