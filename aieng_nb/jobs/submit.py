"""The detached process of a non-blocking job (:func:`aieng_nb.jobs.submit_job` validates and
prepares the job exactly as ``run_job`` does, then calls :func:`start_detached`).

The job runs in its own process session (``python -m aieng_nb.jobs.submit <job_id>``), so it
survives a kernel interrupt or restart and the notebook stays free; ``stop_job`` stops it as it
stops any job (a stop request its watchdog sees). ``wait_job`` blocks until it ends.

>>> import aieng_nb as aieng
>>> job = aieng.submit_job("notebooks/03-train-job.ipynb", {"n_estimators": 20})   # doctest: +SKIP
>>> job.status                                                                      # doctest: +SKIP
'QUEUED'
>>> aieng.jobs.wait_job(job.job_id).status                                          # doctest: +SKIP
'COMPLETED'
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .. import config
from ..exceptions import ValidationError
from ..records import now
from ..workspace import Workspace
from . import store
from .records import JobRecord, JobStatus

LOG_NAME = "submit.log"


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
    env["AIENG_DATABASE_URL"] = ws.database_url  # the workspace as given (a server's --AiengServer.database_url)
    for name in ("AIENG_RUN_ID", "AIENG_JOB_ID"):  # a job submitted from a job is its own job
        env.pop(name, None)
    # this package must be importable in the child exactly as it is here (editable or PYTHONPATH)
    package_root = Path(__file__).resolve().parents[2]
    if package_root.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), env.get("PYTHONPATH", "")) if p)
    log = open(store.job_dir(job_id, ws) / LOG_NAME, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "aieng_nb.jobs.submit", job_id, "--workspace", str(ws.root)],
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


def _main(argv: list[str] | None = None) -> int:
    """The detached process: execute one stored job with its recorded executor."""
    parser = argparse.ArgumentParser(prog="python -m aieng_nb.jobs.submit")
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
        from .finish import fail_job

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


def __getattr__(name: str) -> Any:
    # submit_job and wait_job live in aieng_nb.jobs.control now (one path for every caller)
    if name in ("submit_job", "wait_job"):
        from . import control

        return getattr(control, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(_main())
