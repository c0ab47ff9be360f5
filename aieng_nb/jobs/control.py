"""Controlling jobs: prepare, run one (blocking), submit one (non-blocking), stop, list, get and
reproduce them.

Each takes a :class:`~aieng_nb.jobs.request.JobRequest` or ``run_job``'s call style
(``notebook, parameters, **options``), and a keyword-only ``workspace`` (None: the current one).
Preparing turns a validated request into a stored CREATED record (the notebook copied beside
it), nothing runs yet. Reproducing re-executes a job's recorded notebook copy with its recorded
parameters, then compares metrics against the original with a tolerance and lists what could
make it differ.

>>> job = run_job("notebooks/03-train-job.ipynb", {"n_estimators": 10})   # doctest: +SKIP
>>> job.status                                                              # doctest: +SKIP
<JobStatus.COMPLETED: 'COMPLETED'>
>>> submit_job(JobRequest("train.ipynb", {"lr": 0.1})).status               # doctest: +SKIP
<JobStatus.QUEUED: 'QUEUED'>
>>> report = reproduce(job.job_id)                                          # doctest: +SKIP
>>> report.matches, report.differences                                      # doctest: +SKIP
(True, [])
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ConflictError, NotFoundError, ValidationError, check_type
from ..fsutil import atomic_copy, user_name
from ..records import now
from ..workspace import Workspace, current, given
from . import remote, store
from .display import JobTable, resolve
from .records import JobError, JobRecord, JobStatus
from .request import JobRequest

EXAMPLE_NOTEBOOK = "03-train-job.ipynb"


def executor_class(name: str) -> Any:
    """The executor registered as ``name`` in :data:`aieng_nb.plugins.executors`."""
    from ..executors import get_executor

    return get_executor(name)


def run_job(
    notebook: JobRequest | str | os.PathLike[str],
    parameters: Any = None,
    *,
    progress: Any = None,
    workspace: Workspace | None = None,
    **options: Any,
) -> JobRecord:
    """Run a notebook as a tracked job and return its final record.

    ``options`` are :class:`JobRequest` fields: ``parameters_file``, ``allow_unknown``, ``timeout``
    (seconds per attempt), ``cell_timeout``, ``retries``, ``retry_backoff``, ``experiment``,
    ``kernel_name``, ``cwd``, ``monitor``, ``tags``, ``contracts``, ``executor`` (a name registered
    in ``aieng_nb.plugins.executors``: ``local``, ``process``, ``dask`` or a plug-in), ``address``.

    >>> job = run_job("notebooks/03-train-job.ipynb", {"n_estimators": 10})   # doctest: +SKIP
    >>> job.status                                                              # doctest: +SKIP
    'COMPLETED'
    """
    ws = workspace or current()
    store.recover_stale(ws)
    request = JobRequest.of(notebook, parameters, **options)
    executor_cls = executor_class(request.executor_name())  # an unknown executor fails before any job exists
    record = prepare_job(request, workspace=ws)
    with executor_cls(address=record.executor_address, parallel=1) as ex:
        (final,) = list(ex.run([record.job_id], ws, progress=resolve(progress)))
    return final


def submit_job(
    notebook: JobRequest | str | os.PathLike[str],
    parameters: Any = None,
    *,
    progress: Any = None,
    workspace: Workspace | None = None,
    **options: Any,
) -> JobRecord:
    """Start a notebook job in the background and return its record at once (QUEUED or RUNNING).

    Validates exactly as :func:`run_job` before anything is created (a bad parameter raises here,
    and no job exists); the job then runs in a detached process (:mod:`aieng_nb.jobs.execute`), so
    it survives a kernel interrupt or restart. ``progress`` is accepted for symmetry and ignored:
    follow the job with :func:`wait_job` or :func:`get_job`.

    >>> job = submit_job("train.ipynb", {"lr": 0.1}, timeout=600)   # doctest: +SKIP
    >>> wait_job(job.job_id).status                                   # doctest: +SKIP
    'COMPLETED'
    """
    from .execute import start_detached

    del progress  # the detached process reports through the job record
    ws = workspace or current()
    store.recover_stale(ws)
    request = JobRequest.of(notebook, parameters, **options)
    executor_class(request.executor_name())
    return start_detached(prepare_job(request, workspace=ws), ws)


def rerun_job(
    job_id: str, parameters: Any = None, *, root: str | Path | None = None, workspace: Workspace | None = None
) -> JobRecord:
    """Submit ``job_id``'s notebook again with its options and parameters, ``parameters`` overriding
    some of them (the sidebar's "re-run with edited parameters"); returns the new job at once.
    ``root`` (the Jupyter server's): the recorded notebook must lie inside it, else ValidationError.

    >>> rerun_job("20261202-101500-a1b2c3", {"lr": 0.2}).status   # doctest: +SKIP
    'QUEUED'
    """
    old = get_job(job_id, workspace=workspace)
    if root is not None:
        base = Path(root).resolve()
        inside = [
            Path(p).is_absolute() and Path(p).resolve().is_relative_to(base) for p in (old.notebook, old.cwd or root)
        ]
        if not all(inside):
            raise ValidationError(f"job {old.job_id}'s notebook or folder is not inside the Jupyter root; not re-run")
    request = JobRequest.of(
        old.notebook,
        {**old.parameters, **dict(parameters or {})},
        experiment=old.experiment,
        timeout=old.timeout,
        cell_timeout=old.cell_timeout,
        retries=max(old.max_attempts - 1, 0),
        kernel_name=old.kernel_name,
        cwd=old.cwd,
        monitor=old.monitor,
    )
    return submit_job(request, workspace=workspace)


def wait_job(
    job_id: str, timeout: float | None = None, *, poll: float = 0.2, workspace: Workspace | None = None
) -> JobRecord:
    """Block until a job ends and return its final record (``timeout`` seconds: the record as it is then).

    >>> wait_job("20261201-120000-abc123", timeout=60).status   # doctest: +SKIP
    'COMPLETED'
    """
    ws = workspace or current()
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        record = store.load(job_id, ws)
        if record.finished and record.finished_at:
            return record
        if not record.finished and store.recover_stale(ws):
            continue  # its owner died: the record is FAILED now
        if end is not None and time.monotonic() >= end:
            return record
        time.sleep(poll)


def run_example_job(parameters: Any = None, *, progress: Any = None, workspace: Workspace | None = None) -> JobRecord:
    """Run the example training notebook shipped with aieng_nb (``notebooks/03-train-job.ipynb``) as a
    job on the current workspace; returns the final record (``.run_id``, ``.output_path``).

    >>> job = run_example_job({"n_estimators": 50})   # doctest: +SKIP
    """
    from ..demo import example

    return run_job(example(EXAMPLE_NOTEBOOK), parameters, progress=progress, workspace=workspace)


def stop_job(job_id: str, *, wait: float = 15.0, workspace: Workspace | None = None) -> JobRecord:
    """Stop a job: a queued one never starts, a running one's kernel is killed; returns the record."""
    ws = workspace or current()
    # the rule lives in the core, so the CLI, the magics and REST (409) agree: a compare-and-set
    # that holds only while the job has not ended (racing its finish, exactly one of them wins)
    record = store.request_stop(job_id, ws)  # with its audit entry

    from .execute import HEARTBEAT_S, attempt_lost

    def silent(r: JobRecord) -> bool:
        # a live attempt beats every HEARTBEAT_S and obeys a stop within 0.1 s: once a stop is
        # asked, a heartbeat this old means its worker is gone, whatever worker_timeout says
        return bool(
            r.executor_address and r.heartbeat_at and (now() - r.heartbeat_at).total_seconds() > 2.5 * HEARTBEAT_S
        )

    def stop_idle(r: JobRecord, waited: bool = False) -> bool:
        alive = store.owner_alive(r)
        gone = alive is False or attempt_lost(r) is not None  # a cluster worker lost: nobody else will end it
        gone = gone or (waited and silent(r))
        # never started (created, or queued behind a sweep's other jobs, or not yet picked up by its
        # worker): it ends now, and whoever would start it finds it ended (the start is a
        # compare-and-set on the same row); a retry waiting its turn is the runner's to end
        unstarted = r.status == JobStatus.CREATED or (r.status == JobStatus.QUEUED and r.attempts == 0)
        if unstarted or (r.status in JobStatus.ACTIVE and gone):
            store.kill_kernel(r)
            r.status, r.finished_at = JobStatus.STOPPED, now()
            why = "stopped before it started" if unstarted else "stopped on request"
            r.error = JobError(kind="stopped", message=why).to_dict()
            ended.append(r.run_id)
            return True
        return False

    ended: list[str | None] = []

    def settle(waited: bool = False) -> JobRecord:
        done = store.mutate(record.job_id, lambda r: stop_idle(r, waited), ws)
        if any(ended):  # nobody else will close the job's run (its process or worker is gone)
            from .display import Progress
            from .execute import finish

            return finish(done, ws, Progress(), 0.0)
        return done

    record = settle()
    end = time.monotonic() + wait
    while not record.finished and time.monotonic() < end and not silent(record):
        time.sleep(0.1)
        record = store.load(record.job_id, ws)
    if not record.finished:
        store.kill_kernel(record)  # the runner will see the dead kernel and the stop request
        record = settle(waited=True)
    return record


def list_jobs(
    status: str | None = None,
    *,
    limit: int | None = None,
    sweep_id: str | None = None,
    schedule: str | None = None,
    workspace: Workspace | None = None,
    recover: bool = True,
) -> JobTable:
    """Job records, newest first (``status`` filters: ``failed``, ``running`` ...), as a
    :class:`~aieng_nb.jobs.display.JobTable` (a RecordList: a table in Jupyter, ``to_dicts()`` for JSON).
    ``recover=False`` only reads (the server's GETs: its changes poll recovers stale jobs).

    >>> list_jobs(status="failed")   # doctest: +SKIP
    no jobs
    """
    check_type(sweep_id, str, "sweep_id", optional=True)
    check_type(schedule, str, "schedule", optional=True)
    check_type(recover, bool, "recover")
    ws = given(workspace) or current()
    if recover:
        store.recover_stale(ws)
    found = store.list_records(status, limit=limit, sweep_id=sweep_id, schedule=schedule, workspace=ws)
    return JobTable(found, status=JobStatus.parse(status) if status else None)


def get_job(job_id: str, *, workspace: Workspace | None = None, recover: bool = True) -> JobRecord:
    """One job record by id (a unique prefix works); stale RUNNING jobs are recovered first, and the
    files of a job run by a worker without this disk are fetched from the object store into the job
    folder (``recover=False``: only read, as the server's GETs do).

    >>> get_job("20261201-120000-abc123").status   # doctest: +SKIP
    'COMPLETED'
    """
    ws = workspace or current()
    if recover:
        store.recover_stale(ws)
    record = store.load(job_id, ws)
    if recover:  # files a worker stored only in the object store: into this machine's job folder
        remote.fetch_outputs(record, ws)
    return record


_ENV_PACKAGES = ("numpy", "pandas", "scikit-learn", "papermill", "mlflow", "aieng_nb")


def file_sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def environment_summary() -> dict[str, str]:
    """Python and key package versions (what `reproduce` compares), from the installed packages
    :func:`~aieng_nb.tracking.capture.installed_packages` keeps (read again only once a folder on
    ``sys.path`` changed: an install or removal)."""
    from ..tracking.capture import installed_packages

    found = {_canonical(name): version for name, version in installed_packages().items()}
    env = {"python": platform.python_version()}
    env.update((name, found[_canonical(name)]) for name in _ENV_PACKAGES if _canonical(name) in found)
    return env


def _canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares them (``scikit_learn`` is ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def prepare_job(
    notebook: JobRequest | str | os.PathLike[str],
    parameters: Any = None,
    *,
    workspace: Workspace | None = None,
    dry_run: bool = False,
    **options: Any,
) -> JobRecord:
    """Validate a job request and store its CREATED record (nothing runs yet).

    Takes a :class:`JobRequest` or ``run_job``'s call style (``notebook, parameters, **options``).
    Every check runs before anything is written: a refused job leaves no record, folder or audit
    entry. ``dry_run``: only check, and return the record that would be stored (a sweep checks
    every point before its parent run exists).
    """
    request = JobRequest.of(notebook, parameters, **options)
    ok = request.validate(workspace, executor=False)  # run_job and submit_job look it up first
    host, pid, pid_started = store.process_identity()  # the creator: recover_stale fails it if this dies
    record = JobRecord.new(
        str(ok.path.resolve()),
        ok.parameters,
        notebook_sha256=file_sha256(ok.path),
        max_attempts=request.retries + 1,
        retry_backoff=request.retry_backoff,
        timeout=request.timeout,
        cell_timeout=request.cell_timeout,
        executor=request.executor_name(),
        executor_address=request.executor_address(),
        kernel_name=ok.kernel.name,
        kernel_language=ok.kernel.language,
        cwd=ok.cwd,
        experiment=ok.experiment,
        monitor=ok.monitor,
        sweep_id=request.sweep_id,
        parent_run_id=request.parent_run_id,
        schedule=request.schedule,
        tags=ok.tags,
        environment=environment_summary(),
        host=host,
        pid=pid,
        pid_started=pid_started,
        submitted_by=user_name(),
        submitted_from=host,
    )
    json.dumps(record.to_dict(), sort_keys=True)  # the record must be storable before its folder exists
    if dry_run:
        return record
    ws = workspace or current()
    folder = store.job_dir(record.job_id, ws)
    record.input_copy = str(folder / "input.ipynb")
    record.output_path = str(folder / "output.ipynb")
    # the input copy first, then the record and its audit entry in one transaction (one commit): a
    # kill -9 before the commit leaves no job (only a folder no record names), after it a recorded,
    # audited CREATED job whose creator is gone (recover_stale fails it); a refused write (a full
    # disk) removes the folder again, so the error the caller sees is true
    created = {
        "job_id": record.job_id,
        "notebook": record.notebook,
        "sha256": record.notebook_sha256,
        "parameters": ok.parameters,
    }
    try:
        folder.mkdir(parents=True)  # a new id's folder: never another job's
    except FileExistsError:
        raise ConflictError(f"job {record.job_id} already exists") from None
    try:
        atomic_copy(ok.path, folder / "input.ipynb")
        remote.publish(ws, record.job_id, "input.ipynb", folder / "input.ipynb")  # for workers without this disk
        fault("job_create:copied")
        store.create(record, ws, entries=lambda r: [("job.create", created)])
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    fault("job_create:recorded")
    return record


def fault(step: str) -> None:
    """Die here (SIGKILL) when ``$AIENG_FAULT_AT`` names this step: the crash tests' injection point."""
    if os.environ.get("AIENG_FAULT_AT") == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class MetricDiff:
    name: str
    original: float | None
    reproduced: float | None
    ok: bool

    @property
    def delta(self) -> float | None:
        if self.original is None or self.reproduced is None:
            return None
        return self.reproduced - self.original


@dataclass
class ReproduceReport:
    """The original and reproduced runs, metric differences and non-reproducible inputs."""

    original_run_id: str
    original_job_id: str
    job: JobRecord
    metrics: list[MetricDiff] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    rtol: float = 1e-9
    atol: float = 0.0

    @property
    def differences(self) -> list[MetricDiff]:
        return [m for m in self.metrics if not m.ok]

    @property
    def matches(self) -> bool:
        return self.job.status == JobStatus.COMPLETED and not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "original_run_id": self.original_run_id,
            "original_job_id": self.original_job_id,
            "reproduced_run_id": self.job.run_id,
            "reproduced_job_id": self.job.job_id,
            "status": self.job.status,
            "matches": self.matches,
            "rtol": self.rtol,
            "atol": self.atol,
            "metrics": [
                {"name": m.name, "original": m.original, "reproduced": m.reproduced, "delta": m.delta, "ok": m.ok}
                for m in self.metrics
            ],
            "non_reproducible_inputs": self.issues,
        }

    def __str__(self) -> str:
        from ..rendering import text_table

        verdict = "REPRODUCED" if self.matches else "DIFFERENT"
        lines = [
            f"{verdict}: run {self.original_run_id} (job {self.original_job_id})",
            f"re-run: job {self.job.job_id} {self.job.status}, run {self.job.run_id}",
        ]
        if self.job.error:
            lines.append(f"error: {self.job.error_summary}")
        if self.metrics:
            from ..tracking.records import headline_metrics

            # the run's own metrics and every difference; the report summaries that agree are counted
            shown = set(headline_metrics(m.name for m in self.metrics)) | {m.name for m in self.differences}
            rows = [
                ["" if m.ok else "!", m.name, _fmt(m.original), _fmt(m.reproduced), _fmt(m.delta)]
                for m in self.metrics
                if m.name in shown
            ]
            lines += ["", text_table(["", "metric", "original", "reproduced", "delta"], rows)]
            hidden = len(self.metrics) - len(rows)
            more = f"; {hidden} more metrics (reports, system) agree, --json lists them" if hidden else ""
            lines.append(f"(tolerance: rtol={self.rtol:g}, atol={self.atol:g}{more})")
        if self.issues:
            lines += ["", "non-reproducible inputs:"] + [f"  - {i}" for i in self.issues]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def find_job_for_run(run_id: str, workspace: Workspace | None = None) -> JobRecord:
    """The job whose run is ``run_id`` (or whose job id is ``run_id``); prefixes work."""
    candidates = store.list_records(workspace=workspace)
    exact = [r for r in candidates if r.run_id == run_id or r.job_id == run_id]
    if exact:
        return exact[0]
    prefixed = [r for r in candidates if (r.run_id or "").startswith(run_id) or r.job_id.startswith(run_id)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise ValidationError(f"{run_id!r} matches several jobs; give more of the id")
    raise NotFoundError(f"no job produced run {run_id!r}: only runs of notebook jobs can be reproduced")


def input_issues(
    job: JobRecord, original_params: dict[str, str], original_tags: dict[str, str], workspace: Workspace
) -> list[str]:
    """What the recorded job does not pin down, or what changed since."""
    issues: list[str] = []
    nb = Path(job.notebook)
    if not nb.is_file():
        issues.append(f"notebook {nb} no longer exists (the recorded copy is used)")
    elif file_sha256(nb) != job.notebook_sha256:
        issues.append(f"notebook {nb} changed since the run (the recorded copy is used)")
    now = environment_summary()
    for name, version in sorted(job.environment.items()):
        if now.get(name) != version:
            issues.append(f"package {name}: {version} at the run, {now.get(name) or 'not installed'} now")
    if "seed" not in original_params and not original_tags.get("aieng.seeded"):
        issues.append("no seed was recorded (call aieng.seed(N) in the notebook for random results to repeat)")
    issues += snapshot_issues(job.run_id or "", workspace)
    started = job.started_at
    if job.cwd and started is not None and Path(job.cwd).is_dir():
        changed = []
        for entry in sorted(os.scandir(job.cwd), key=lambda e: e.name)[:500]:
            if entry.name.startswith(".") or not entry.is_file() or entry.name.endswith(".ipynb"):
                continue
            if entry.stat().st_mtime > started.timestamp():
                changed.append(entry.name)
        if changed:
            issues.append(
                "untracked files in the job's folder changed since the run: "
                + ", ".join(changed[:10])
                + (" ..." if len(changed) > 10 else "")
            )
    return issues


def snapshot_issues(run_id: str, workspace: Workspace) -> list[str]:
    """Data snapshots the run used (per the snapshot index): missing or corrupted objects, and
    names that point at a newer version now (the notebook would load that one)."""
    try:
        from ..snapshots.index import Index
        from ..snapshots.objects import ObjectStore
    except ImportError:  # pragma: no cover - snapshots are part of the package
        return []
    root = workspace.path("snapshots")
    if not run_id or not root.exists():
        return []
    store = ObjectStore(root)
    try:
        data = Index(store).read()
    except Exception as exc:  # noqa: BLE001 - an unreadable index is itself worth reporting
        return [f"the snapshot index cannot be read: {exc}"]
    issues = []
    used = [digest for digest, runs in (data.get("used_by") or {}).items() if run_id in runs]
    for digest in used:
        names = [
            (name, v["version"], versions[-1])
            for name, versions in (data.get("names") or {}).items()
            for v in versions
            if v["hash"] == digest
        ]
        label = f"{names[0][0]}@{names[0][1]}" if names else digest[:12]
        if not store.exists(digest):
            issues.append(f"data snapshot {label} used by the run is missing from the workspace")
            continue
        try:
            store.verify_files(digest)
        except Exception as exc:  # noqa: BLE001
            issues.append(f"data snapshot {label} fails verification: {exc}")
        for name, version, latest in names:
            if latest["hash"] != digest:
                issues.append(
                    f"snapshot name {name!r} now points at version {latest['version']}, the run used "
                    f"version {version}: load {name}@{version} for the exact data"
                )
    return issues


def compare_metrics(
    original: dict[str, float], reproduced: dict[str, float], *, rtol: float, atol: float
) -> list[MetricDiff]:
    out = []
    for name in sorted(set(original) | set(reproduced)):
        a, b = original.get(name), reproduced.get(name)
        ok = a is not None and b is not None and (a == b or math.isclose(a, b, rel_tol=rtol, abs_tol=atol))
        out.append(MetricDiff(name, a, b, ok))
    return out


def rerun_request(job: JobRecord, *, executor: str | None = None, address: str | None = None) -> JobRequest:
    """The request that re-runs ``job`` exactly: its recorded notebook copy, parameters and options."""
    return JobRequest(
        job.input_copy or job.notebook,
        dict(job.parameters),
        allow_unknown=True,
        timeout=job.timeout,
        cell_timeout=job.cell_timeout,
        experiment=job.experiment,
        kernel_name=job.kernel_name,
        cwd=job.cwd,
        monitor=job.monitor,
        executor=executor or "local",
        address=address,
        tags={"aieng.reproduces": job.run_id or "", "aieng.reproduces_job": job.job_id},
    )


def reproduce(
    run_id: str,
    *,
    rtol: float = 1e-9,
    atol: float = 0.0,
    executor: str | None = None,
    address: str | None = None,
    progress: Any = None,
    workspace: Workspace | None = None,
) -> ReproduceReport:
    """Re-run the job that produced ``run_id`` and compare its metrics (see module doc)."""
    from .execute import get_run

    ws = workspace or current()
    job = find_job_for_run(run_id, ws)
    if not job.run_id:
        raise ValidationError(f"job {job.job_id} has no run to compare against")
    if job.input_copy and not Path(job.input_copy).is_file():
        from .remote import materialize

        materialize(ws, job.job_id, "input.ipynb")  # stored by another machine: fetched into the job folder
    if not job.input_copy or not Path(job.input_copy).is_file():
        raise NotFoundError(f"the recorded notebook of job {job.job_id} is missing ({job.input_copy})")
    original = get_run(job.run_id, ws)
    issues = input_issues(job, dict(original.params or {}), dict(original.tags or {}), ws)
    request = rerun_request(job, executor=executor, address=address)
    final = run_job(request, progress=progress, workspace=ws)
    reproduced = get_run(final.run_id, ws).metrics if final.run_id else {}
    report = ReproduceReport(job.run_id, job.job_id, final, rtol=rtol, atol=atol, issues=issues)
    report.metrics = compare_metrics(dict(original.metrics or {}), dict(reproduced or {}), rtol=rtol, atol=atol)
    from .. import audit

    audit.append(
        "job.reproduce",
        {"run_id": job.run_id, "new_run_id": final.run_id, "matches": report.matches, "issues": len(issues)},
        workspace=ws,
    )
    return report
