"""Executing one stored job (all its attempts) in whatever process runs it, as named steps: every
executor calls :func:`execute_job`; the job's MLflow run is created before the first attempt
(each call takes the job's workspace: a job run in workspace B keeps its MLflow run in B even
when the process's current workspace is A), each attempt runs in :mod:`aieng_nb.jobs.engine`, and
the finish closes the run with MLflow's status words, renders the output notebook's HTML
(nbconvert's lab template; the exporter is kept for the next job and warmed while the first
job's kernel runs), logs the artifacts, the checks verdict and the contract results.

>>> final = execute_job("20261201-120000-abc123")   # doctest: +SKIP
>>> run_status("COMPLETED"), run_status("STOPPED")
('FINISHED', 'KILLED')

A non-blocking job (:func:`aieng_nb.jobs.submit_job` validates and prepares it exactly as
``run_job`` does, then calls :func:`start_detached`) runs in its own process session
(:data:`DETACHED`, imported so that this module is not loaded twice), so it survives a kernel
interrupt or restart and the notebook stays free; ``stop_job`` stops it as it stops any job (a
stop request its watchdog sees). ``wait_job`` blocks until it ends.

>>> import aieng_nb as aieng
>>> job = aieng.submit_job("notebooks/03-train-job.ipynb", {"n_estimators": 20})   # doctest: +SKIP
>>> aieng.jobs.wait_job(job.job_id).status                                          # doctest: +SKIP
'COMPLETED'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .. import audit, config
from ..exceptions import ValidationError
from ..fsutil import atomic_write_text
from ..records import now
from ..tracking import lifecycle
from ..workspace import Workspace, current
from . import notebook as _notebook
from . import remote, store
from .display import Progress
from .engine import AttemptContext, execute_attempt
from .notebook import build_notebook, kernel_env
from .records import JobError, JobRecord, JobStatus, now_iso, run_status

HEARTBEAT_S = 5.0  # how often a running attempt says it is alive (one small record write)


def attempt_lost(record: JobRecord, *, finishing: bool = False) -> str | None:
    """Why a RUNNING attempt counts as lost, or None while it is alive (or not running): its
    process is gone (same host), or a cluster attempt sent no heartbeat for ``worker_timeout`` s.
    ``finishing``: the same question about an ended job whose finish has not been recorded."""
    from .. import config
    from ..records import iso

    if record.status != JobStatus.RUNNING and not (finishing and record.finished and not record.finished_at):
        return None
    last = record.heartbeat_at or record.started_at
    if store.owner_alive(record) is False:
        return f"worker lost: {record.host} (process {record.pid} died), last heartbeat {iso(last)}"
    timeout = float(config.get("worker_timeout"))  # type: ignore[arg-type]
    if record.executor_address and last is not None and (now() - last).total_seconds() > timeout:
        return f"worker lost: {record.host}, last heartbeat {iso(last)} (none for {timeout:g} s)"
    return None


def _start_attempt(
    job_id: str, ws: Workspace, expect: int | None = None, run_id: str | None = None, held: audit.Held | None = None
) -> JobRecord | None:
    """Start the next attempt (its ``job.start`` entry in the same commit). ``expect`` (a cluster
    task's attempt number) makes a task the cluster reran on its own (after losing a worker) a
    no-op, None: only the submitter decides retries. ``run_id``: the job's new run, stored with
    this write, and ``held`` the audit entries that go with it (the run's start)."""
    host, pid, started = store.process_identity()
    duplicate = [False]
    wrote = [False]

    def start(r: JobRecord) -> bool | None:
        if expect is not None and (r.attempts != expect - 1 or r.status in JobStatus.TERMINAL):
            duplicate[0] = True  # an attempt that already started: aieng's budget is the one that counts
            return False
        if run_id is not None and r.run_id is None:
            r.run_id = run_id
        if r.status == JobStatus.RUNNING and store.owner_alive(r) is False:
            # a previous attempt's process died under us (killed worker, crashed machine)
            lost = JobError(kind="worker_lost", message=f"attempt {r.attempts} lost: process {r.pid} on {r.host} died")
            r.history.append({"attempt": r.attempts, "status": JobStatus.FAILED, "error": lost.to_dict()})
            store.kill_kernel(r)
            if r.attempts >= r.max_attempts:  # the lost attempt used the last of the budget
                r.status, r.error = JobStatus.FAILED, lost.to_dict()
                return None
        if r.status in JobStatus.TERMINAL:
            return None
        if r.stop_requested_at is not None:
            r.status, r.finished_at = JobStatus.STOPPED, now()
            r.error = JobError(kind="stopped", message="stopped before it started").to_dict()
            return None
        r.attempts += 1
        r.status = JobStatus.RUNNING
        r.started_at = r.started_at or now()
        r.heartbeat_at = now()
        r.host, r.pid, r.pid_started = host, pid, started
        r.kernel_pid, r.cells_done, r.error, r.attempt_run_id = None, 0, None, None
        return None

    def entries(r: JobRecord) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = list(held.entries) if held is not None else []
        if r.status == JobStatus.RUNNING:
            out.append(job_entry("job.start", {"job_id": job_id, "attempt": r.attempts, "run_id": r.run_id}, r))
        wrote[0] = True
        return out

    record = store.mutate(job_id, start, ws, entries=entries)
    if held is not None and wrote[0]:
        held.done()
    return None if duplicate[0] else record


def job_entry(event: str, data: dict[str, Any], r: JobRecord) -> tuple[str, dict[str, Any], str | None]:
    """An audit entry about job ``r`` for :func:`store.mutate`'s ``entries``: its submitter is the
    actor, and a writer that is not the submitter (a cluster worker) names itself in the data; the
    entry is signed with this process's own key."""
    return (event, {**data, **remote.written_by(r)}, r.submitted_by)


def _record_attempt_run(job_id: str, attempt_run: str, ws: Workspace) -> JobRecord:
    """Store the attempt's child run (with a ``job.attempt`` entry naming it, in the same commit)."""

    def set_run(r: JobRecord) -> None:
        r.attempt_run_id = attempt_run

    def entries(r: JobRecord) -> list[tuple[Any, ...]]:
        data = {"job_id": job_id, "attempt": r.attempts, "attempt_run_id": attempt_run}
        return [job_entry("job.attempt", data, r)]

    return store.mutate(job_id, set_run, ws, entries=entries)


def settle(r: JobRecord, status: JobStatus, error: JobError | None) -> tuple[JobStatus, JobError | None]:
    """An attempt's outcome as written over the stored record ``r``: a stop request recorded before
    this write won (its caller was told the job is stopping), so the job ends STOPPED.

    >>> r = JobRecord.new("nb.ipynb"); r.stop_requested_at = "2026-12-07T10:00:00Z"
    >>> settle(r, JobStatus.COMPLETED, None)[0]
    <JobStatus.STOPPED: 'STOPPED'>
    """
    if r.stop_requested_at is not None and status != JobStatus.STOPPED:
        return JobStatus.STOPPED, JobError(kind="stopped", message="stopped on request")
    return status, error


def execute_job(
    job_id: str, workspace: Workspace | None = None, progress: Progress | None = None, *, attempt: int | None = None
) -> JobRecord:
    """Execute a stored job here (all attempts) and return its final record.

    ``attempt`` is set by cluster executors: the attempt number this task was submitted for; a
    task for an attempt that already started (a cluster rerunning a task itself) returns the
    record as it is, running nothing.

    If this process is interrupted (Ctrl-C) the job ends STOPPED; an unexpected error here ends it
    FAILED (with the error) before the exception propagates: never a record left RUNNING.
    """
    ws = workspace or current()
    progress = progress or Progress()
    record = store.load(job_id, ws)
    if record.finished:
        return record
    t0 = time.monotonic()
    if attempt is not None and record.attempts != attempt - 1:
        return record
    try:
        return _execute_job(job_id, ws, progress, t0, attempt)
    except BaseException as exc:
        interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))
        kind, status = ("stopped", JobStatus.STOPPED) if interrupted else ("error", JobStatus.FAILED)
        message = "interrupted" if interrupted else f"aieng_nb error: {type(exc).__name__}: {exc}"

        def abort(r: JobRecord) -> bool:
            if r.finished:
                return False
            store.kill_kernel(r)
            r.status, r.error = status, JobError(kind=kind, message=message).to_dict()
            r.history.append({"attempt": r.attempts, "status": status, "error": r.error})
            return True

        try:
            aborted = store.mutate(job_id, abort, ws)
            if not aborted.finished_at:
                # the real progress: a notebook's bar must not stay at "cell 8/9" after an interrupt
                finish(aborted, ws, progress, time.monotonic() - t0)
        except Exception:  # noqa: BLE001 - never mask the original exception
            pass
        raise


def _execute_job(job_id: str, ws: Workspace, progress: Progress, t0: float, expect: int | None) -> JobRecord:
    record = store.load(job_id, ws)
    with audit.deferred(ws) as held:  # the run's start entry commits with the first attempt's start
        if record.run_id is None:
            record = create_run(record, ws, save=False)
        progress.job_started(record)
        started = _start_attempt(job_id, ws, expect, record.run_id, held)
    while True:
        if started is None:
            return store.load(job_id, ws)  # another task runs (or ran) this attempt
        record = started
        if record.status != JobStatus.RUNNING:
            break
        # a job that may retry: each attempt logs into its own child run (metrics never mix)
        attempt_run = open_attempt_run(record, ws) if record.max_attempts > 1 and record.run_id else None
        if attempt_run:
            record = _record_attempt_run(job_id, attempt_run, ws)
        status, error = _run_attempt(record, ws, progress)
        entry = {
            "attempt": record.attempts,
            "status": status,
            "finished_at": now_iso(),
            "error": error.to_dict() if error else None,
            **({"run_id": attempt_run} if attempt_run else {}),
        }

        def end_attempt(
            r: JobRecord,
            status: JobStatus = status,
            error: JobError | None = error,
            entry: dict = entry,
            ran: JobRecord = record,
        ) -> None:
            # progress is written at most once a second while cells run: the final count is exact
            r.cells_done, r.cells_total = ran.cells_done, ran.cells_total
            if status == JobStatus.COMPLETED:
                r.cells_done = r.cells_total
            status, error = settle(r, status, error)
            r.error = error.to_dict() if error else None
            r.history.append({**entry, "status": status, "error": r.error})
            r.kernel_pid = None
            retry = status in (JobStatus.FAILED, JobStatus.TIMED_OUT) and r.attempts < r.max_attempts
            if error is not None and error.kind in PERMANENT_ERRORS:
                retry = False  # the same attempt would fail the same way
            # waiting for a retry is QUEUED (not final): `stop` still applies, `list` is not misled
            r.status = JobStatus.QUEUED if retry else status

        def retry(r: JobRecord) -> list[tuple[Any, ...]]:  # audited with the write that queues the retry
            if r.status != JobStatus.QUEUED:
                return []
            delay = r.retry_backoff * (2 ** (r.attempts - 1))
            return [job_entry("job.retry", {"job_id": job_id, "attempt": r.attempts, "delay_s": delay}, r)]

        record = store.mutate(job_id, end_attempt, ws, entries=retry)
        if attempt_run:
            close_attempt_run(attempt_run, record.history[-1]["status"], ws, adopt=record.status != JobStatus.QUEUED)
        if record.status == JobStatus.QUEUED:
            delay = record.retry_backoff * (2 ** (record.attempts - 1))
            if _sleep_unless_stopped(job_id, ws, delay):
                started = _start_attempt(job_id, ws)
                continue
            record = store.update(job_id, ws, status=JobStatus.STOPPED)
        break
    return finish(store.load(job_id, ws), ws, progress, time.monotonic() - t0)


def _sleep_unless_stopped(job_id: str, ws: Workspace, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if store.stop_requested(job_id, ws):
            return False
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))
    return not store.stop_requested(job_id, ws)


def _run_attempt(record: JobRecord, ws: Workspace, progress: Progress) -> tuple[JobStatus, JobError | None]:
    folder = store.job_dir(record.job_id, ws)  # paths derived from the id, not read from the record
    nb = build_notebook(record, remote.input_notebook(record, ws))  # the job folder's copy, else the object store's
    out = folder / "output.ipynb"
    ctx = AttemptContext(
        output_path=out,
        env=kernel_env(record, ws, run_id=record.attempt_run_id),
        cwd=remote.private_cwd(record, ws),
        python=_notebook.is_python(record.kernel_language),
        papermill_metadata={k: nb.metadata.papermill[k] for k in ("input_path", "output_path")},
        user_cells=nb.metadata["aieng"].pop("user_cells"),
    )
    job_id = record.job_id
    last_write = [time.monotonic()]

    def on_kernel_start(pid: int | None) -> None:
        store.update(job_id, ws, kernel_pid=pid)
        last_write[0] = time.monotonic()  # a record write too: progress follows a second later at most
        # papermill and jupyter_client are fully imported by now: safe to import nbconvert beside them
        warm_html_exporter()

    unwritten = [False]

    def write_progress_if_due() -> None:
        # at most one record write a second, yet the latest cell reaches the record within about a
        # second (the watchdog calls this too): readers (job show, the sidebar, stop) see live progress
        now = time.monotonic()
        if unwritten[0] and now - last_write[0] > 1.0:
            unwritten[0] = False
            last_write[0] = now
            store.update(job_id, ws, cells_done=record.cells_done, cells_total=record.cells_total)

    def on_cell(done: int, total: int) -> None:
        record.cells_done, record.cells_total = done, total
        progress.cell(record, done, total)
        unwritten[0] = True
        write_progress_if_due()

    ctx.on_kernel_start = on_kernel_start
    ctx.on_cell = on_cell
    done = threading.Event()
    deadline = time.monotonic() + record.timeout if record.timeout else None

    beat = [time.monotonic()]

    def watchdog() -> None:
        while not done.wait(0.1):
            try:
                write_progress_if_due()
                if time.monotonic() - beat[0] >= HEARTBEAT_S:
                    beat[0] = time.monotonic()
                    store.update(job_id, ws, heartbeat_at=now())
            except Exception:  # noqa: BLE001 - a full disk or a lost database must not stop the watchdog
                pass
            reason = None
            if store.stop_requested(job_id, ws):
                reason = "stopped"
            elif deadline is not None and time.monotonic() > deadline:
                reason = "job_timeout"
            if reason:
                ctx.abort_reason = reason
                ctx.kill_kernel()
                return

    dog = threading.Thread(target=watchdog, name=f"aieng-job-{job_id}-watchdog", daemon=True)
    dog.start()
    try:
        error = execute_attempt(nb, ctx, kernel_name=record.kernel_name or "python3", cell_timeout=record.cell_timeout)
    finally:
        done.set()
        dog.join()
    if error is not None and error.kind not in ("stopped",) and store.stop_requested(job_id, ws):
        error = JobError(kind="stopped", message="stopped on request", cell_index=error.cell_index)
    if error is None:
        return JobStatus.COMPLETED, None
    if error.kind == "stopped":
        return JobStatus.STOPPED, error
    if error.kind in ("job_timeout", "cell_timeout"):
        return JobStatus.TIMED_OUT, error
    return JobStatus.FAILED, error


LOG_NAME = "submit.log"
# the detached process: this module imported (not run as __main__, which would load it twice)
DETACHED = "import sys; from aieng_nb.jobs.execute import main; sys.exit(main())"


def start_detached(record: JobRecord, ws: Workspace) -> JobRecord:
    """Start the detached process for a prepared (CREATED) job and return the record it hands over
    (QUEUED, or RUNNING if the child already claimed it). What :func:`aieng_nb.jobs.submit_job` calls."""
    try:
        proc = _spawn(record.job_id, ws)
    except OSError as exc:
        store.update(record.job_id, ws, status=JobStatus.FAILED, finished_at=now())
        raise ValidationError(f"could not start the background job process: {exc}") from None
    return _hand_over(record.job_id, proc, ws)


def _spawn(job_id: str, ws: Workspace) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["AIENG_WORKSPACE"] = str(ws.root)
    env["AIENG_TRACKING_URI"] = ws.tracking_uri
    env["AIENG_DATABASE_URL"] = ws.database_url  # the job's record is in this database
    for name in ("AIENG_RUN_ID", "AIENG_JOB_ID"):  # a job submitted from a job is its own job
        env.pop(name, None)
    # this package must be importable in the child exactly as it is here (editable or PYTHONPATH)
    package_root = Path(__file__).resolve().parents[2]
    if package_root.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), env.get("PYTHONPATH", "")) if p)
    log = open(store.job_dir(job_id, ws) / LOG_NAME, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            [sys.executable, "-c", DETACHED, job_id, "--workspace", str(ws.root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(ws.root),
            start_new_session=True,  # not in the kernel's process group: Ctrl-C / interrupt spare it
            close_fds=True,
        )
    finally:
        log.close()


def _hand_over(job_id: str, proc: subprocess.Popen[bytes], ws: Workspace) -> JobRecord:
    """Make the child the job's owner (so crash recovery watches it, not us) and mark it QUEUED,
    unless the child already claimed it."""
    import psutil

    try:
        started: float | None = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        started = None

    def queue(r: JobRecord) -> bool:
        if r.status != JobStatus.CREATED:
            return False  # the child claimed it first (or already finished it)
        if started is None or proc.poll() is not None:
            # the child died before it claimed the job: nothing will run it
            r.status, r.finished_at = JobStatus.FAILED, now()
            tail = _log_tail(job_id, ws)
            r.error = {"kind": "runner_lost", "message": f"the background process exited at once: {tail}"}
            return True
        r.status, r.queued_at = JobStatus.QUEUED, now()
        r.pid, r.pid_started = proc.pid, started
        return True

    return store.mutate(job_id, queue, ws)


def _log_tail(job_id: str, ws: Workspace, lines: int = 3) -> str:
    try:
        text = (store.job_dir(job_id, ws) / LOG_NAME).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "no log"
    return " | ".join(text.strip().splitlines()[-lines:]) or "no output"


def main(argv: list[str] | None = None) -> int:
    """The detached process: execute one stored job with its recorded executor."""
    parser = argparse.ArgumentParser(prog="aieng-detached-job")
    parser.add_argument("job_id")
    parser.add_argument("--workspace", required=True)
    args = parser.parse_args(argv)
    os.environ["AIENG_WORKSPACE"] = args.workspace
    config.reset()
    ws = Workspace(Path(args.workspace)).ensure()
    from ..executors import get_executor

    # own the record now (the submitter may hand it over a moment later: it then leaves it alone)
    host, pid, started = store.process_identity()
    record = store.mutate(args.job_id, lambda r: _claim(r, host, pid, started), ws)
    if record.finished:
        return record.exit_code
    try:
        executor_cls = get_executor(record.executor or "local")
        with executor_cls(address=record.executor_address, parallel=1) as ex:
            (final,) = list(ex.run([record.job_id], ws, progress=None))
    except BaseException as exc:
        if not store.load(args.job_id, ws).finished:  # execute_job ends its own failures
            fail_job(args.job_id, ws, "error", f"background runner: {type(exc).__name__}: {exc}")
        raise
    return final.exit_code


def _claim(r: JobRecord, host: str, pid: int, started: float) -> bool:
    if r.finished:
        return False
    r.host, r.pid, r.pid_started = host, pid, started
    if r.status == JobStatus.CREATED:
        r.status, r.queued_at = JobStatus.QUEUED, now()
    return True


PERMANENT_ERRORS = ("no_kernel",)


def create_run(record: JobRecord, ws: Workspace, *, save: bool = True) -> JobRecord:
    """Create the job's MLflow run; returns the record with its ``run_id`` (stored, unless ``save``
    is False: the caller stores it with its next write, as the first attempt's start does)."""

    given = store.jobs_dir(ws, create=False) / record.job_id / "input.ipynb"  # derived from the id
    source = given if given.is_file() else record.notebook
    declared = {p.name: p.default for p in _notebook.notebook_parameters(source) if p.literal}
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
    """The job's last step: render and publish the output notebook's HTML, store what the kernel
    journaled, close the job's MLflow run with its status, log the checks verdict and contract
    results, with their audit entries in the job's finishing commit; returns the final record."""
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
