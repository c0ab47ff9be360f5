"""Running notebook jobs: prepare a record, hand it to an executor, execute attempts, finish the run.

>>> import aieng_nb as aieng
>>> job = aieng.run_job("notebooks/03-train-job.ipynb", {"n_estimators": 20})   # doctest: +SKIP
>>> job.status, job.run_id, job.output_path                                       # doctest: +SKIP
('COMPLETED', '5f0c...', '.aieng/jobs/20261126-.../output.ipynb')
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shutil
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import audit, config
from ..exceptions import ValidationError
from ..fsutil import atomic_write_text
from ..textutil import clip
from ..workspace import Workspace, current
from . import params as _params
from . import records
from .engine import AttemptContext, execute_attempt
from .kernels import resolve_kernel
from .progress import Progress, resolve
from .records import MAX_RETRIES, JobError, JobRecord, JobStatus, now_iso
from .table import JobTable

_ENV_PACKAGES = ("numpy", "pandas", "scikit-learn", "papermill", "mlflow", "aieng_nb")


def file_sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def environment_summary() -> dict[str, str]:
    """Python and key package versions (what `reproduce` compares)."""
    from importlib import metadata

    env = {"python": platform.python_version()}
    for name in _ENV_PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return env


def monitor_spec_from_notebook(nb: Mapping[str, Any]) -> Any:
    return (nb.get("metadata", {}).get("aieng") or {}).get("monitor")


def prepare_job(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    parameters_file: str | os.PathLike[str] | None = None,
    allow_unknown: bool = False,
    timeout: float | None = None,
    cell_timeout: float | None = None,
    retries: int = 0,
    retry_backoff: float = 1.0,
    executor: str = "local",
    address: str | None = None,
    experiment: str | None = None,
    kernel_name: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    monitor: Any = None,
    sweep_id: str | None = None,
    parent_run_id: str | None = None,
    schedule: str | None = None,
    tags: Mapping[str, str] | None = None,
    contracts: Any = None,
    contract_policy: str | None = None,
    workspace: Workspace | None = None,
    dry_run: bool = False,
) -> JobRecord:
    """Validate the notebook and parameters and store a CREATED job record (nothing runs yet).

    Every check runs before anything is written: a refused job leaves no record, folder or audit
    entry. ``dry_run``: only check, and return the record that would be stored (a sweep checks
    every point before its parent run exists). ``contracts``: data-contract names whose snapshots
    the job validates (aieng_nb.contracts.jobs).
    """
    from ..contracts.jobs import job_tags
    from ..workspace import locate

    # read, not created: the contracts are looked up in the workspace a refused job must not create
    tags = {**dict(tags or {}), **job_tags(contracts, contract_policy, workspace or Workspace(locate()))}
    path = _params.check_path_text(notebook, "notebook")
    nb = _params.load_notebook_json(path)
    values: dict[str, Any] = {}
    if parameters_file is not None:
        values.update(_params.load_parameter_file(parameters_file))
    values.update(parameters or {})
    declared = _params.notebook_parameters(nb)
    resolved = _params.resolve_parameters(declared, values, allow_unknown=allow_unknown)
    check_job_options(timeout=timeout, cell_timeout=cell_timeout, retries=retries, retry_backoff=retry_backoff)
    experiment = check_experiment(experiment) or path.stem
    workdir = check_cwd(cwd) if cwd is not None else str(path.resolve().parent)
    # a remote executor's kernels are on its workers: only a local one must be installed here
    kernel = resolve_kernel(nb, kernel_name, check=executor in ("local", "process"))
    if monitor is None:
        monitor = monitor_spec_from_notebook(nb)
    if monitor is not None:
        check_monitor(monitor, kernel)
    # the injected cell is rendered now, so a value the kernel's language cannot take fails here
    _params.injected_source(resolved, kernel_name=kernel.name, language=kernel.language)
    host, pid, pid_started = records.process_identity()  # the creator: recover_stale fails it if this dies
    record = JobRecord.new(
        str(path.resolve()),
        resolved,
        notebook_sha256=file_sha256(path),
        max_attempts=retries + 1,
        retry_backoff=retry_backoff,
        timeout=timeout,
        cell_timeout=cell_timeout,
        executor=executor,
        executor_address=address,
        kernel_name=kernel.name,
        kernel_language=kernel.language,
        cwd=workdir,
        experiment=experiment,
        monitor=monitor,
        sweep_id=sweep_id,
        parent_run_id=parent_run_id,
        schedule=schedule,
        tags=dict(tags or {}),
        environment=environment_summary(),
        host=host,
        pid=pid,
        pid_started=pid_started,
    )
    json.dumps(record.to_dict(), sort_keys=True)  # the record must be storable before its folder exists
    if dry_run:
        return record
    ws = workspace or current()
    folder = records.job_dir(record.job_id, ws)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, folder / "input.ipynb")
    record.input_copy = str(folder / "input.ipynb")
    record.output_path = str(folder / "output.ipynb")
    records.create(record, ws)
    audit.append(
        "job.create",
        {
            "job_id": record.job_id,
            "notebook": record.notebook,
            "sha256": record.notebook_sha256,
            "parameters": resolved,
        },
        workspace=ws,
    )
    return record


def check_experiment(name: Any) -> str | None:
    """An MLflow experiment name (checked before a job exists, not when its run is created)."""
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip() or "\0" in name or len(name) > MAX_EXPERIMENT_NAME:
        raise ValidationError(
            f"experiment must be a non-empty name of at most {MAX_EXPERIMENT_NAME} characters, got {clip(name, 60)!r}"
        )
    _params.check_text(name, "experiment")
    return name


MAX_EXPERIMENT_NAME = 250


def check_cwd(cwd: Any) -> str:
    """The kernel's working folder must exist now (not be found missing after the notebook ran)."""
    folder = _params.check_path_text(cwd, "working folder")
    try:
        ok = folder.is_dir()
    except OSError as exc:
        raise ValidationError(f"working folder {clip(folder)}: {exc.strerror or exc}") from None
    if not ok:
        raise ValidationError(f"working folder {clip(folder)} does not exist (or is not a folder)")
    return str(folder.resolve())


def check_monitor(monitor: Any, kernel: Any) -> None:
    """A monitoring spec runs as Python in the job's kernel: check its grammar, and the kernel."""
    _params.check_literal(monitor, "monitor spec")
    if not kernel.is_python:
        raise ValidationError(f"a monitoring spec needs a Python kernel; this notebook runs on {kernel.name!r}")
    from ..monitoring import check_job_monitor_spec

    check_job_monitor_spec(monitor)


PERMANENT_ERRORS = ("no_kernel",)


def check_kernel(kernel: str) -> None:
    """The kernel must be installed here (checked before a local job is created)."""
    resolve_kernel({}, kernel)


def check_job_options(
    *,
    timeout: Any = None,
    cell_timeout: Any = None,
    retries: Any = 0,
    retry_backoff: Any = 1.0,
    executor: str | None = None,
) -> None:
    """Check the run options of a job (also used by ``schedule add``, so a bad one fails now, not at 3 a.m.)."""
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise ValidationError(f"retries must be a whole number from 0 to {MAX_RETRIES}, got {clip(retries, 40)}")
    for name, value in (("timeout", timeout), ("cell timeout", cell_timeout), ("retry backoff", retry_backoff)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValidationError(f"{name} must be a positive number of seconds, got {clip(repr(value), 40)}")
    if executor is not None:
        from ..executors import get_executor

        get_executor(executor)


def run_job(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    executor: str | None = None,
    address: str | None = None,
    progress: Any = None,
    workspace: Workspace | None = None,
    **options: Any,
) -> JobRecord:
    """Run a notebook as a tracked job and return its final record.

    ``options``: ``parameters_file``, ``allow_unknown``, ``timeout`` (seconds per attempt),
    ``cell_timeout``, ``retries``, ``retry_backoff``, ``experiment``, ``kernel_name``, ``cwd``,
    ``monitor``, ``tags``. ``executor`` is a registered executor name (``local``, ``process``,
    ``dask``); ``address`` its cluster address.

    >>> job = run_job("notebooks/03-train-job.ipynb", {"n_estimators": 10})   # doctest: +SKIP
    >>> job.status                                                              # doctest: +SKIP
    'COMPLETED'
    """
    from ..executors import get_executor

    ws = workspace or current()
    records.recover_stale(ws)
    name = executor or str(config.get("job_executor") or "local")
    if name == "dask":
        address = address or (str(config.get("dask_address")) or None)
    executor_cls = get_executor(name)  # an unknown executor fails before any job is created
    record = prepare_job(notebook, parameters, executor=name, address=address, workspace=ws, **options)
    with executor_cls(address=address, parallel=1) as ex:
        (final,) = list(ex.run([record.job_id], ws, progress=resolve(progress)))
    return final


EXAMPLE_NOTEBOOK = "03-train-job.ipynb"


def run_example_job(
    parameters: Mapping[str, Any] | None = None, *, progress: Any = None, workspace: Workspace | None = None
) -> JobRecord:
    """Run the example training notebook shipped with aieng_nb (``notebooks/03-train-job.ipynb``) as a
    job on the current workspace; returns the final record (``.run_id``, ``.output_path``).

    >>> job = run_example_job({"n_estimators": 50})   # doctest: +SKIP
    >>> print(job)                                     # doctest: +SKIP
    """
    from ..examples import example

    return run_job(example(EXAMPLE_NOTEBOOK), parameters, progress=progress, workspace=workspace)


# ---- executing one job (called by every executor, in whatever process runs the job) -------------


def build_notebook(record: JobRecord) -> Any:
    """The notebook to execute: the stored input copy with the parameters injected in the kernel's
    language, papermill's metadata, and (Python kernels only) the monitoring cell of a ``--monitor``."""
    import nbformat
    import papermill

    nb_json = json.loads(Path(record.input_copy or record.notebook).read_text(encoding="utf-8"))
    # every cell of the user's notebook gets an id (kept if it has one): a failing or timed-out
    # cell is reported by its position in the notebook the user gave, whatever the run adds
    seen: set[str] = set()
    for i, cell in enumerate(nb_json.get("cells", [])):
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not cell_id or cell_id in seen:
            cell["id"] = cell_id = f"aieng-in-{i}"
        seen.add(cell_id)
    user_cells = {cell["id"]: i for i, cell in enumerate(nb_json.get("cells", []))}
    language = record.kernel_language or "python"
    _params.inject(nb_json, record.parameters, kernel_name=record.kernel_name, language=language)
    nb = nbformat.from_dict(nb_json)
    previous = nb.metadata.get("papermill") or {}
    defaults = {p.name: p.default for p in _params.notebook_parameters(nb_json) if p.literal}
    # papermill's fields with papermill's meanings (paths as strings); run again without
    # parameters, a papermill output keeps its injected cell and so its recorded parameters
    nb.metadata["papermill"] = {
        **previous,  # what papermill keeps of an earlier run's metadata
        "default_parameters": defaults,
        "parameters": dict(record.parameters) if record.parameters else dict(previous.get("parameters") or {}),
        "environment_variables": {},
        "version": papermill.__version__,
        "input_path": record.notebook,
        "output_path": record.output_path,
    }
    nb.metadata["aieng"] = {**(nb.metadata.get("aieng") or {}), "job_id": record.job_id, "run_id": record.run_id}
    if record.monitor is not None and _params.is_python(language):
        source = (
            "import aieng_nb.monitoring as _aieng_monitoring\n"
            f"_aieng_monitoring.run_job_monitor({_params.render_literal(record.monitor)}, globals())\n"
        )
        nb.cells.append(_hidden_cell(source, MONITOR_TAG))
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        nb.nbformat_minor = 5
    for i, cell in enumerate(nb.cells):
        if "id" not in cell:
            cell["id"] = f"aieng-{i}"
    nb.metadata["aieng"]["user_cells"] = user_cells
    return nb


MONITOR_TAG = "aieng-monitor"


def _hidden_cell(source: str, tag: str) -> Any:
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = [tag]
    cell.metadata["jupyter"] = {"source_hidden": True}
    return cell


def kernel_env(record: JobRecord, ws: Workspace) -> dict[str, str]:
    env = dict(os.environ)
    env["AIENG_WORKSPACE"] = str(ws.root)
    env["AIENG_TRACKING_URI"] = ws.tracking_uri
    env["AIENG_JOB_ID"] = record.job_id
    env["AIENG_NOTEBOOK_PATH"] = record.notebook
    env.setdefault("PYTHONHASHSEED", "0")  # str hashing (set order) repeats from run to run
    from ..contracts.jobs import kernel_env as contract_env
    from ..contracts.store import CONTRACT_ENV_KEYS

    for key in CONTRACT_ENV_KEYS:  # a job started from inside a job does not inherit its contracts
        env.pop(key, None)
    env.update(contract_env(record.tags))
    if record.run_id:
        env["AIENG_RUN_ID"] = record.run_id
    else:
        env.pop("AIENG_RUN_ID", None)
    # the kernel must be this interpreter's: make its folder first on PATH
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _start_attempt(job_id: str, ws: Workspace) -> JobRecord:
    host, pid, started = records.process_identity()

    def start(r: JobRecord) -> None:
        if r.status == JobStatus.RUNNING and records.owner_alive(r) is False:
            # a previous attempt's process died under us (killed worker, crashed machine)
            lost = JobError(kind="worker_lost", message=f"attempt {r.attempts} lost: process {r.pid} on {r.host} died")
            r.history.append({"attempt": r.attempts, "status": JobStatus.FAILED, "error": asdict(lost)})
            records.kill_kernel(r)
        if r.status in JobStatus.TERMINAL:
            return
        if records.stop_requested(r.job_id, ws):
            r.status, r.finished_at = JobStatus.STOPPED, now_iso()
            r.error = asdict(JobError(kind="stopped", message="stopped before it started"))
            return
        r.attempts += 1
        r.status = JobStatus.RUNNING
        r.started_at = r.started_at or now_iso()
        r.host, r.pid, r.pid_started = host, pid, started
        r.kernel_pid, r.cells_done, r.error = None, 0, None

    return records.mutate(job_id, start, ws)


def execute_job(job_id: str, workspace: Workspace | None = None, progress: Progress | None = None) -> JobRecord:
    """Execute a stored job here (all attempts) and return its final record.

    If this process is interrupted (Ctrl-C) the job ends STOPPED; an unexpected error here ends it
    FAILED (with the error) before the exception propagates: never a record left RUNNING.
    """
    ws = workspace or current()
    progress = progress or Progress()
    record = records.load(job_id, ws)
    if record.finished:
        return record
    t0 = time.monotonic()
    try:
        return _execute_job(job_id, ws, progress, t0)
    except BaseException as exc:
        interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))
        kind, status = ("stopped", JobStatus.STOPPED) if interrupted else ("error", JobStatus.FAILED)
        message = "interrupted" if interrupted else f"aieng_nb error: {type(exc).__name__}: {exc}"

        def abort(r: JobRecord) -> bool:
            if r.finished:
                return False
            records.kill_kernel(r)
            r.status, r.error = status, asdict(JobError(kind=kind, message=message))
            r.history.append({"attempt": r.attempts, "status": status, "error": r.error})
            return True

        try:
            aborted = records.mutate(job_id, abort, ws)
            if not aborted.finished_at:
                # the real progress: a notebook's bar must not stay at "cell 8/9" after an interrupt
                _finish(aborted, ws, progress, time.monotonic() - t0)
        except Exception:  # noqa: BLE001 - never mask the original exception
            pass
        raise


def _execute_job(job_id: str, ws: Workspace, progress: Progress, t0: float) -> JobRecord:
    record = records.load(job_id, ws)
    if record.run_id is None:
        record = _create_run(record, ws)
    progress.job_started(record)
    while True:
        record = _start_attempt(job_id, ws)
        if record.status != JobStatus.RUNNING:
            break
        audit.append("job.start", {"job_id": job_id, "attempt": record.attempts, "run_id": record.run_id}, workspace=ws)
        status, error = _run_attempt(record, ws, progress)
        entry = {
            "attempt": record.attempts,
            "status": status,
            "finished_at": now_iso(),
            "error": asdict(error) if error else None,
        }

        def end_attempt(
            r: JobRecord,
            status: str = status,
            error: JobError | None = error,
            entry: dict = entry,
            ran: JobRecord = record,
        ) -> None:
            r.history.append(entry)
            # progress is written at most once a second while cells run: the final count is exact
            r.cells_done, r.cells_total = ran.cells_done, ran.cells_total
            if status == JobStatus.COMPLETED:
                r.cells_done = r.cells_total
            r.error = asdict(error) if error else None
            r.kernel_pid = None
            retry = status in (JobStatus.FAILED, JobStatus.TIMED_OUT) and r.attempts < r.max_attempts
            if error is not None and error.kind in PERMANENT_ERRORS:
                retry = False  # the same attempt would fail the same way
            # waiting for a retry is QUEUED (not final): `stop` still applies, `list` is not misled
            r.status = JobStatus.QUEUED if retry else status

        record = records.mutate(job_id, end_attempt, ws)
        if record.status == JobStatus.QUEUED:
            delay = record.retry_backoff * (2 ** (record.attempts - 1))
            audit.append("job.retry", {"job_id": job_id, "attempt": record.attempts, "delay_s": delay}, workspace=ws)
            if _sleep_unless_stopped(job_id, ws, delay):
                continue
            record = records.update(job_id, ws, status=JobStatus.STOPPED)
        break
    return _finish(records.load(job_id, ws), ws, progress, time.monotonic() - t0)


def _sleep_unless_stopped(job_id: str, ws: Workspace, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if records.stop_requested(job_id, ws):
            return False
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))
    return not records.stop_requested(job_id, ws)


def _run_attempt(record: JobRecord, ws: Workspace, progress: Progress) -> tuple[str, JobError | None]:
    nb = build_notebook(record)
    out = Path(record.output_path or records.job_dir(record.job_id, ws) / "output.ipynb")
    ctx = AttemptContext(
        output_path=out,
        env=kernel_env(record, ws),
        cwd=record.cwd,
        python=_params.is_python(record.kernel_language),
        papermill_metadata={k: nb.metadata.papermill[k] for k in ("input_path", "output_path")},
        user_cells=nb.metadata["aieng"].pop("user_cells"),
    )
    job_id = record.job_id
    last_write = [time.monotonic()]

    def on_kernel_start(pid: int | None) -> None:
        records.update(job_id, ws, kernel_pid=pid)
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
            records.update(job_id, ws, cells_done=record.cells_done, cells_total=record.cells_total)

    def on_cell(done: int, total: int) -> None:
        record.cells_done, record.cells_total = done, total
        progress.cell(record, done, total)
        unwritten[0] = True
        write_progress_if_due()

    ctx.on_kernel_start = on_kernel_start
    ctx.on_cell = on_cell
    done = threading.Event()
    deadline = time.monotonic() + record.timeout if record.timeout else None

    def watchdog() -> None:
        while not done.wait(0.1):
            try:
                write_progress_if_due()
            except OSError:  # a full disk must not stop the watchdog; the final record is written later
                pass
            reason = None
            if records.stop_requested(job_id, ws):
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
    if error is not None and error.kind not in ("stopped",) and records.stop_requested(job_id, ws):
        error = JobError(kind="stopped", message="stopped on request", cell_index=error.cell_index)
    if error is None:
        return JobStatus.COMPLETED, None
    if error.kind == "stopped":
        return JobStatus.STOPPED, error
    if error.kind in ("job_timeout", "cell_timeout"):
        return JobStatus.TIMED_OUT, error
    return JobStatus.FAILED, error


# ---- tracking ---------------------------------------------------------------------------------


def _create_run(record: JobRecord, ws: Workspace) -> JobRecord:
    from . import tracking_bridge as tb

    declared = {
        p.name: p.default for p in _params.notebook_parameters(record.input_copy or record.notebook) if p.literal
    }
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
    name = f"{Path(record.notebook).stem}-{record.job_id[-6:]}"
    run_id = tb.create_run(
        record.experiment or "jobs",
        name=name,
        tags=tags,
        params={k: _param_str(v) for k, v in run_params.items()},
        parent_run_id=record.parent_run_id,
    )
    return records.update(record.job_id, ws, run_id=run_id)


def _param_str(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


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


def _finish(record: JobRecord, ws: Workspace, progress: Progress, elapsed: float) -> JobRecord:
    from . import tracking_bridge as tb

    warnings: list[str] = []
    out = Path(record.output_path) if record.output_path else None
    html: Path | None = None
    if out is not None and out.is_file():
        try:
            html = render_html(out, out.with_suffix(".html"))
        except Exception as exc:  # noqa: BLE001 - the job's outcome does not depend on the rendering
            warnings.append(f"HTML rendering failed: {exc}")
    checks_failed: bool | None = None
    if record.run_id:
        try:
            if record.input_copy:
                tb.log_artifact(record.input_copy, "notebook/input", record.run_id)
            if out is not None and out.is_file():
                tb.log_artifact(str(out), "notebook/output", record.run_id)
            if html is not None:
                tb.log_artifact(str(html), "notebook/output", record.run_id)
            tb.set_tags({"aieng.job.status": record.status, "aieng.job.attempts": str(record.attempts)}, record.run_id)
            # set by a --monitor spec or by reports the notebook attached itself (aieng.monitor(...))
            verdict = (tb.get_run(record.run_id).tags or {}).get("aieng.checks")
            if verdict is not None:
                checks_failed = verdict == "failed"
            tb.set_status(
                record.run_id,
                "FINISHED"
                if record.status == JobStatus.COMPLETED
                else ("KILLED" if record.status == JobStatus.STOPPED else "FAILED"),
            )
        except Exception as exc:  # noqa: BLE001 - keep the job record truthful even if the store hiccups
            warnings.append(f"tracking failed: {type(exc).__name__}: {exc}")

    from ..contracts.jobs import any_failed, collect

    contract_results = collect(record.job_id, record.tags, ws)
    if any_failed(contract_results):
        checks_failed = True

    def fin(r: JobRecord) -> None:
        r.contract_results = contract_results
        r.finished_at = now_iso()
        r.duration_s = round(elapsed, 3)
        r.html_path = str(html) if html is not None else None
        r.checks_failed = checks_failed
        r.kernel_pid = None
        if warnings:
            r.tags = {**r.tags, "aieng.warnings": "; ".join(warnings)}

    record = records.mutate(record.job_id, fin, ws)
    audit.append(
        "job.finish",
        {
            "job_id": record.job_id,
            "status": record.status,
            "attempts": record.attempts,
            "run_id": record.run_id,
            "error": record.error_summary or None,
            "checks_failed": checks_failed,
        },
        workspace=ws,
    )
    progress.job_finished(record)
    return record


def fail_job(job_id: str, workspace: Workspace | None, kind: str, message: str) -> JobRecord:
    """Mark a job that did not finish on its own as FAILED (e.g. its cluster lost it) and close its run."""
    ws = workspace or current()

    def fail(r: JobRecord) -> bool:
        if r.finished:
            return False
        records.kill_kernel(r)
        r.status = JobStatus.FAILED
        r.error = asdict(JobError(kind=kind, message=message))
        r.history.append({"attempt": r.attempts, "status": JobStatus.FAILED, "error": r.error})
        return True

    record = records.mutate(job_id, fail, ws)
    if record.finished and record.finished_at:
        return record
    return _finish(record, ws, Progress(), 0.0)


# ---- stop / list / show ---------------------------------------------------------------------


def stop_job(job_id: str, *, wait: float = 15.0, workspace: Workspace | None = None) -> JobRecord:
    """Stop a job: a queued one never starts, a running one's kernel is killed; returns the record."""
    ws = workspace or current()
    record = records.load(job_id, ws)
    if record.finished:
        return record
    records.request_stop(record.job_id, ws)
    audit.append("job.stop", {"job_id": record.job_id}, workspace=ws)

    def stop_idle(r: JobRecord) -> bool:
        alive = records.owner_alive(r)
        if r.status == JobStatus.CREATED or (r.status in JobStatus.ACTIVE and alive is False):
            records.kill_kernel(r)
            r.status, r.finished_at = JobStatus.STOPPED, now_iso()
            r.error = asdict(JobError(kind="stopped", message="stopped on request"))
            return True
        return False

    record = records.mutate(record.job_id, stop_idle, ws)
    end = time.monotonic() + wait
    while not record.finished and time.monotonic() < end:
        time.sleep(0.1)
        record = records.load(record.job_id, ws)
    if not record.finished:
        records.kill_kernel(record)  # the runner will see the dead kernel and the stop request
        record = records.mutate(record.job_id, stop_idle, ws)
    return record


def jobs(status: str | None = None, *, limit: int | None = None, workspace: Workspace | None = None) -> JobTable:
    """Job records, newest first (``status`` filters: ``failed``, ``running`` ...), as a table."""
    ws = workspace or current()
    records.recover_stale(ws)
    return JobTable(records.list_records(status, limit=limit, workspace=ws))


def get_job(job_id: str, *, workspace: Workspace | None = None) -> JobRecord:
    return records.load(job_id, workspace)
