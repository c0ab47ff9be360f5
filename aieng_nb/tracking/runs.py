"""Starting and ending runs: the runs this process owns, and the runs it only creates (jobs)."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from .. import audit, config, plugins
from ..exceptions import MetricsNotStoredError, NoActiveRunError, ValidationError
from ..fsutil import user_name
from ..stores.base import random_run_name
from ..workspace import Workspace, current
from . import active, fluent, lifecycle
from .active import Run, state
from .checks import MAX_TAG_VALUE, check_name, check_params, check_tags, flush_interval, terminal_status
from .records import RunRecord
from .writes import close_metrics

DEFAULT_EXPERIMENT = "Default"


def _now_ms() -> int:
    return int(time.time() * 1000)


def start_run(
    name: str | None = None,
    experiment: str | None = None,
    tags: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    nested: bool = False,
    *,
    workspace: Workspace | None = None,
) -> Run:
    """Start a run in ``workspace`` (default: the current one), or, in a job's kernel, return the job's run.

    >>> run = start_run(experiment="demo", name="first")  # doctest: +SKIP
    >>> end_run()  # doctest: +SKIP
    """
    check_name("experiment", experiment)
    check_name("run name", name)
    clean_tags = check_tags(tags)
    clean_params = check_params(params)
    interval = flush_interval()
    attached = active.active_run()
    if attached is not None and not attached.owned:
        if clean_params or clean_tags:
            attached.store.log_batch(attached.id, params=clean_params, tags=clean_tags)
        return attached
    parent = state.run
    if parent is not None and not nested:
        raise ValidationError(
            f"run {parent.name!r} ({parent.id}) is still active: end it first (`%aieng end`) or pass nested=True"
        )
    ws = workspace or (parent.workspace if parent else current())
    store = active.store(workspace=ws)
    lifecycle.recover(workspace=ws)
    exp_name = experiment or (parent.experiment if parent else DEFAULT_EXPERIMENT)
    exp_id = store.get_or_create_experiment(exp_name)
    run_name = name or random_run_name()
    system_tags = {"mlflow.user": user_name(), **_source_tags(), "aieng.pid": str(os.getpid())}
    if parent is not None:
        system_tags["mlflow.parentRunId"] = parent.id
    run_id = store.create_run(exp_id, run_name, {**system_tags, **clean_tags}, _now_ms())
    try:
        lifecycle.write_lease(ws, run_id, ws.tracking_uri)
        if state.pending_seed is not None:
            clean_params.setdefault("seed", str(state.pending_seed))
        if clean_params:
            store.log_batch(run_id, params=clean_params)
        audit.append("run.start", {"run_id": run_id, "experiment": exp_name, "name": run_name}, workspace=ws)
        run = Run(run_id, run_name, exp_name, exp_id, store, True, interval, workspace=ws)
    except BaseException as exc:
        # never leave a half-started run RUNNING: say it failed to start, and why
        store.log_batch(run_id, tags={"aieng.end_reason": f"start failed: {exc}"[:MAX_TAG_VALUE]})
        store.set_status(run_id, "FAILED", _now_ms())
        lifecycle.remove_lease(ws, run_id)
        raise
    state.pending_seed = None
    if parent is not None:
        state.stack.append(parent)
    active.set_active(run)
    active.register_atexit()
    fluent.follow(run)
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
    record_environment(run.id, workspace=run.workspace)


def record_environment(
    run_id: str, cwd: str | os.PathLike[str] | None = None, *, workspace: Workspace | None = None
) -> None:
    """Environment (``aieng/environment.json``) and the git state of ``cwd`` (default: the current
    folder) as artifacts and tags of run ``run_id``; a warning, never an error, when it fails.
    Interactive runs record it at start, job runs (``cwd``: the notebook's folder) at creation."""
    import json

    from . import capture

    try:
        store = active.store(workspace=workspace)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "aieng"
            folder.mkdir()
            env = capture.environment()
            (folder / "environment.json").write_text(json.dumps(env, indent=2, default=str))
            tags = {"aieng.python": env["python"], "aieng.platform": env["platform"]}
            git = capture.git_state(cwd)
            if git:
                diff = git.pop("diff")
                (folder / "git.json").write_text(json.dumps(git, indent=2))
                if diff:
                    (folder / "git.diff").write_text(diff)
                tags.update({"mlflow.source.git.commit": git["commit"], "aieng.git.dirty": str(git["dirty"]).lower()})
                if git["branch"]:
                    tags["mlflow.source.git.branch"] = git["branch"]
            store.log_artifact(run_id, str(folder))
            store.log_batch(run_id, tags=tags)
    except Exception as exc:
        warnings.warn(f"aieng: could not record the environment: {exc}", RuntimeWarning, stacklevel=1)


def end_run(status: str = "FINISHED") -> RunRecord | None:
    """End the active run with FINISHED (default), FAILED or KILLED; returns the stored run."""
    status = terminal_status(status, lower=True)
    run = state.run
    if run is None:
        raise NoActiveRunError("ending a run")
    if not run.owned:  # a job's run: the job runner sets its status
        active.close_job_run(run)
        fluent.leave(run, status, last=True)
        active.set_active(None)
        return None
    for thread in run.background:
        thread.join(timeout=60)
    for hook in list(plugins.end_hooks):
        try:
            hook(run)
        except Exception as exc:
            warnings.warn(f"aieng: end-of-run capture failed: {exc}", RuntimeWarning, stacklevel=2)
    end_ms = _now_ms()
    final = close_metrics(run, status, end_ms)
    if final is None:  # points still queued for a store that does not answer: finished once stored
        active.set_active(state.stack.pop() if state.stack else None)
        return None
    lifecycle.attach_cells(run.store, run.workspace, run.id)
    run.store.set_status(run.id, final, end_ms)
    # only once the status is stored: until then the run stays active and `end` can be retried
    lifecycle.remove_lease(run.workspace, run.id)
    fluent.leave(run, final, last=not state.stack)
    active.set_active(state.stack.pop() if state.stack else None)
    audit.append("run.end", {"run_id": run.id, "status": final}, workspace=run.workspace)
    if final != status:
        raise MetricsNotStoredError(
            f"run {run.name!r} ({run.id}) ended {final}, not {status}: {run.buffer.lost_summary()}"
        )
    return run.store.get_run(run.id)


def resume_run(run_id: str, *, workspace: Workspace | None = None) -> Run:
    """Make an ended run (crashed, failed, killed) active again in this process, to continue it.

    Training resume uses this: metrics, artifacts and the final status land in the same run.

    >>> run = resume_run("3f2a")  # doctest: +SKIP
    """
    if state.run is not None:
        if state.run.id.startswith(run_id):
            return state.run
        raise ValidationError(f"run {state.run.name!r} ({state.run.id}) is active: end it before resuming another")
    ws = workspace or current()
    store = active.store(workspace=ws)
    lifecycle.recover(workspace=ws)  # a run whose process died is marked KILLED first
    run_id = store.resolve_run_id(run_id)
    record = store.get_run(run_id)
    if record.status == "RUNNING" and (ws.buffers / f"{run_id}.lease").exists():
        raise ValidationError(f"run {run_id} is still running in another process")
    store.set_status(run_id, "RUNNING", None)
    lifecycle.write_lease(ws, run_id, ws.tracking_uri)
    audit.append("run.resume", {"run_id": run_id, "previous_status": record.status.value}, workspace=ws)
    run = Run(run_id, record.name, record.experiment, record.experiment_id, store, True, flush_interval(), workspace=ws)
    active.set_active(run)
    active.register_atexit()
    fluent.follow(run)
    return run


def create_run(
    experiment: str,
    name: str | None = None,
    tags: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
    *,
    workspace: Workspace | None = None,
) -> str:
    """Create a run this process does not own (a job's run); returns its id."""
    check_name("experiment", experiment)
    store = active.store(workspace=workspace)
    exp_id = store.get_or_create_experiment(experiment)
    all_tags = {"mlflow.user": user_name(), "mlflow.source.type": "JOB", **check_tags(tags)}
    clean_params = check_params(params)
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run_name = name or random_run_name()
    run_id = store.create_run(exp_id, run_name, all_tags, _now_ms())
    if clean_params:
        store.log_batch(run_id, params=clean_params)
    audit.append(
        "run.start",
        {"run_id": run_id, "experiment": experiment, "name": run_name, "owner": "job"},
        workspace=workspace,
    )
    return run_id


def set_run_status(run_id: str, status: str, *, workspace: Workspace | None = None) -> None:
    """Set a run's final status (FINISHED, FAILED, KILLED)."""
    status = terminal_status(status)
    active.store(workspace=workspace).set_status(run_id, status, _now_ms())
    audit.append("run.end", {"run_id": run_id, "status": status}, workspace=workspace)
