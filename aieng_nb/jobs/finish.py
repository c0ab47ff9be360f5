"""Finishing a job: its MLflow run (created before the first attempt, closed with MLflow's status
words), the output notebook's HTML and artifacts, the checks verdict and the contract results.

>>> run_status("COMPLETED"), run_status("STOPPED")
('FINISHED', 'KILLED')

Formerly ``render.py``: The HTML rendering of a job's output notebook (nbconvert's lab template; the exporter and its
compiled templates are kept for the next job, and warmed while the first job's kernel runs).

>>> warm_html_exporter   # doctest: +ELLIPSIS
<function warm_html_exporter at ...>

Formerly ``tracking_bridge.py``: The few tracking calls the job runner makes, in one place (``aieng_nb.tracking`` does the work).

Each takes the job's workspace: a job run in workspace B keeps its MLflow run in B even when the
process's current workspace is A.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from .. import audit
from ..fsutil import atomic_write_text
from ..records import now
from ..tracking import lifecycle
from ..workspace import Workspace, current
from . import params as _params
from . import remote, store
from .display import Progress
from .records import JobError, JobRecord, JobStatus, run_status

pass

PERMANENT_ERRORS = ("no_kernel",)


def create_run(record: JobRecord, ws: Workspace, *, save: bool = True) -> JobRecord:
    """Create the job's MLflow run; returns the record with its ``run_id`` (stored, unless ``save``
    is False: the caller stores it with its next write, as the first attempt's start does)."""

    given = store.jobs_dir(ws, create=False) / record.job_id / "input.ipynb"  # derived from the id
    source = given if given.is_file() else record.notebook
    declared = {p.name: p.default for p in _params.notebook_parameters(source) if p.literal}
    run_params = {**declared, **record.parameters}
    tags = {
        "aieng.job_id": record.job_id,
        "aieng.job.notebook": record.notebook,
        "aieng.job.notebook_sha256": record.notebook_sha256,
        "aieng.job.executor": record.executor,
        "mlflow.source.type": "NOTEBOOK",  # MLflow's Source column shows the job's notebook
        "mlflow.source.name": record.notebook,
        **{k: str(v) for k, v in record.tags.items()},
    }
    if record.sweep_id:
        tags["aieng.sweep_id"] = record.sweep_id
    if record.schedule:
        tags["aieng.schedule"] = record.schedule
    if record.submitted_by:  # whoever creates it, the run is the submitter's
        tags["mlflow.user"] = record.submitted_by
    name = f"{Path(record.notebook).stem}-{record.job_id[-6:]}"
    run_id = open_run(
        record.experiment or "jobs",
        ws,
        name=name,
        tags=tags,
        params={k: _param_str(v) for k, v in run_params.items()},
        parent_run_id=record.parent_run_id,
    )
    # where it ran, like an interactive run: packages, Python, hardware, and the notebook's git commit;
    # in a thread while the kernel starts (reading ~260 packages' metadata took ~0.7 s here), joined by finish
    thread = threading.Thread(
        target=record_environment, args=(run_id, str(Path(record.notebook).resolve().parent), ws), name="aieng-env"
    )
    thread.start()
    _environment_threads[run_id] = thread
    if not save:
        record.run_id = run_id
        return record
    return store.update(record.job_id, ws, run_id=run_id)


_environment_threads: dict[str, threading.Thread] = {}


def open_attempt_run(record: JobRecord, ws: Workspace) -> str:
    """The running attempt's own run, a child of the job's run (``mlflow.parentRunId``): what the
    kernel logs into, so the metrics of two attempts never mix. The submitter is its ``mlflow.user``."""
    tags = {
        "aieng.job_id": record.job_id,
        "aieng.job.attempt": str(record.attempts),
        "mlflow.source.type": "NOTEBOOK",
        "mlflow.source.name": record.notebook,
    }
    if record.submitted_by:
        tags["mlflow.user"] = record.submitted_by
    name = f"{Path(record.notebook).stem}-{record.job_id[-6:]}-attempt-{record.attempts}"
    return open_run(record.experiment or "jobs", ws, name=name, tags=tags, parent_run_id=record.run_id)


def close_attempt_run(run_id: str, status: JobStatus | str, ws: Workspace, *, adopt: bool = False) -> None:
    """Store what the attempt's kernel journaled and close its run with MLflow's word for ``status``;
    ``adopt``: it decided the job, so the job's run takes its metrics (:func:`adopt_attempt`)."""
    try:
        lifecycle.replay_job_run(ws, run_id)
        set_status(run_id, run_status(status), ws)
        parent = get_run(run_id, ws).tags.get("mlflow.parentRunId") if adopt else None
        if parent:
            adopt_attempt(run_id, parent, ws)
    except Exception:  # noqa: BLE001 - the job's record is what matters; recovery closes it later
        pass


def adopt_attempt(run_id: str, parent_run_id: str, ws: Workspace) -> None:
    """Copy the final attempt's metrics (every point), new params and own tags onto the job's run,
    so the job's run reads as the attempt that decided it (sweeps, pipelines, reproduce read it);
    the other attempts stay in their own child runs."""
    from ..tracking import active

    st = active.store(workspace=ws)
    child, parent = st.get_run(run_id), st.get_run(parent_run_id)
    rows = [row for key in (child.metrics or {}) for row in st.metric_history(run_id, key)]
    params = {k: v for k, v in (child.params or {}).items() if k not in (parent.params or {})}
    tags = {k: v for k, v in (child.tags or {}).items() if not k.startswith(("mlflow.", "aieng.job"))}
    if rows or params or tags:
        st.log_batch(parent_run_id, rows, params, tags)


def _param_str(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def finish(record: JobRecord, ws: Workspace, progress: Progress, elapsed: float) -> JobRecord:

    recording = _environment_threads.pop(record.run_id or "", None)
    if recording is not None:
        recording.join(timeout=120)

    warnings: list[str] = []
    folder = store.jobs_dir(ws, create=False) / record.job_id  # derived from the id, never a stored path
    out: Path | None = folder / "output.ipynb"
    given = folder / "input.ipynb"
    html: Path | None = None
    if out is not None and out.is_file():
        try:
            html = render_html(out, out.with_suffix(".html"))
        except Exception as exc:  # noqa: BLE001 - the job's outcome does not depend on the rendering
            warnings.append(f"HTML rendering failed: {exc}")
        try:  # for readers on other machines (a no-op when the object store is this folder)
            for path in (p for p in (out, html) if p is not None):
                remote.publish(ws, record.job_id, path.name, path)
        except Exception as exc:  # noqa: BLE001
            warnings.append(f"storing the output notebook failed: {type(exc).__name__}: {exc}")
    checks_failed: bool | None = None
    with audit.deferred(ws) as held:  # the run's entries commit with the job's finish: one commit
        if record.run_id:
            try:
                # points the kernel journaled and could not store before it exited (or was killed)
                lifecycle.replay_job_run(ws, record.run_id)
                if given.is_file():
                    log_artifact(str(given), "notebook/input", record.run_id, ws)
                if out is not None and out.is_file():
                    log_artifact(str(out), "notebook/output", record.run_id, ws)
                if html is not None:
                    log_artifact(str(html), "notebook/output", record.run_id, ws)
                tags = {"aieng.job.status": record.status, "aieng.job.attempts": str(record.attempts)}
                set_tags(tags, record.run_id, ws)
                # set by a --monitor spec or by reports the notebook attached itself (aieng.monitor(...))
                verdict = (get_run(record.run_id, ws).tags or {}).get("aieng.checks")
                if verdict is not None:
                    checks_failed = verdict == "failed"
                set_status(record.run_id, run_status(record.status), ws)
            except Exception as exc:  # noqa: BLE001 - keep the job record truthful even if the store hiccups
                warnings.append(f"tracking failed: {type(exc).__name__}: {exc}")

        from ..contracts.jobs import any_failed, collect

        contract_results = collect(record.job_id, record.tags, ws)
        if any_failed(contract_results):
            checks_failed = True

        def fin(r: JobRecord) -> None:
            r.contract_results = contract_results
            r.finished_at = now()
            r.duration_s = round(elapsed, 3)
            # the submitter's job folder (where readers find it, fetched from the object store when a
            # worker without that folder rendered it)
            r.html_path = (
                None if html is None else str(Path(r.output_path).with_suffix(".html") if r.output_path else html)
            )
            r.checks_failed = checks_failed
            r.kernel_pid = None
            if warnings:
                r.tags = {**r.tags, "aieng.warnings": "; ".join(warnings)}

        def entries(r: JobRecord) -> list[tuple[Any, ...]]:
            done = {
                "job_id": r.job_id,
                "status": r.status,
                "attempts": r.attempts,
                "run_id": r.run_id,
                "error": r.error_summary or None,
                "checks_failed": checks_failed,
            }
            return [*held.entries, ("job.finish", {**done, **remote.written_by(r)}, r.submitted_by)]

        record = store.mutate(record.job_id, fin, ws, entries=entries)
        held.done()
    progress.job_finished(record)
    return record


def fail_job(
    job_id: str, workspace: Workspace | None, kind: str, message: str, status: JobStatus = JobStatus.FAILED
) -> JobRecord:
    """End a job that did not finish on its own (its cluster lost it: FAILED; stopped while its
    worker was gone: STOPPED) and close its run."""
    ws = workspace or current()

    lost_run: list[str] = []

    def fail(r: JobRecord) -> bool:
        if r.finished:
            return False
        store.kill_kernel(r)
        r.status = status
        r.error = JobError(kind=kind, message=message).to_dict()
        entry = {"attempt": r.attempts, "status": status, "error": r.error}
        if r.attempt_run_id and not any(h.get("run_id") == r.attempt_run_id for h in r.history):
            entry["run_id"] = r.attempt_run_id  # a lost attempt's own run: nobody else closes it
            lost_run[:] = [r.attempt_run_id]
        r.history.append(entry)
        return True

    record = store.mutate(job_id, fail, ws)
    for run_id in lost_run:
        close_attempt_run(run_id, status, ws)
    if record.finished and record.finished_at:
        return record
    return finish(record, ws, Progress(), 0.0)


_exporter_lock = threading.Lock()
_exporter: Any = None
_warm_thread: threading.Thread | None = None


def _get_exporter() -> Any:
    global _exporter
    with _exporter_lock:
        if _exporter is None:
            import nbformat
            from nbconvert import HTMLExporter

            exporter = HTMLExporter()
            exporter.from_notebook_node(nbformat.v4.new_notebook())  # loads and compiles the templates
            _exporter = exporter
        return _exporter


def warm_html_exporter() -> None:
    """Import nbconvert and compile its templates in a background thread while the first job's
    kernel runs (the runner thread is idle then, waiting on the kernel)."""
    global _warm_thread
    if _exporter is None and _warm_thread is None:
        _warm_thread = threading.Thread(target=_get_exporter, name="aieng-html-warmup", daemon=True)
        _warm_thread.start()


def render_html(nb_path: Path, html_path: Path) -> Path:
    """An HTML rendering of the output notebook (nbconvert's lab template; the exporter and its
    compiled templates are kept for the next job)."""
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    exporter = _get_exporter()
    with _exporter_lock:
        body, _ = exporter.from_notebook_node(nb)
    atomic_write_text(html_path, body)
    return html_path


def _tracking():  # type: ignore[no-untyped-def]
    from .. import tracking

    return tracking


def open_run(
    experiment: str,
    ws: Workspace,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> str:
    return _tracking().create_run(
        experiment, name=name, tags=tags, params=params, parent_run_id=parent_run_id, workspace=ws
    )


def record_environment(run_id: str, cwd: str, ws: Workspace) -> None:
    """The run's ``aieng/environment.json`` and git state, as an interactive run records them."""
    from .. import config
    from ..tracking.runs import record_environment as record

    if config.get("capture_environment"):
        record(run_id, cwd, workspace=ws)


def log_artifact(path: str, artifact_path: str | None, run_id: str, ws: Workspace) -> None:
    _tracking().log_artifact(path, artifact_path, run_id=run_id, workspace=ws)


def set_tags(tags: dict[str, str], run_id: str, ws: Workspace) -> None:
    _tracking().set_tags(tags, run_id=run_id, workspace=ws)


def log_metrics(metrics: dict[str, float], run_id: str, ws: Workspace) -> None:
    _tracking().log_metrics(metrics, run_id=run_id, workspace=ws)


def set_status(run_id: str, status: str, ws: Workspace) -> None:
    _tracking().set_run_status(run_id, status, workspace=ws)


def get_run(run_id: str, ws: Workspace):  # type: ignore[no-untyped-def]
    return _tracking().get_run(run_id, workspace=ws)


def tracking_uri(ws: Workspace) -> str:
    return ws.tracking_uri
