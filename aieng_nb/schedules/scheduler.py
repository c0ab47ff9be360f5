"""The scheduler daemon: fires due schedules as jobs (``aieng scheduler``).

One daemon is active per workspace: it holds ``locks/scheduler.lock``; a second one started next
to it stands by and takes over when the first exits. Each firing is also claimed under the
schedule's own lock, so a slot fires exactly once. On SIGTERM/SIGINT the daemon stops firing,
gives running jobs ``grace`` seconds, stops the rest (STOPPED) and exits 0. On start it marks
jobs left RUNNING by a crashed daemon as FAILED.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import audit, schedules
from ..exceptions import ConflictError
from ..workspace import Workspace, current


class Scheduler:
    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        tick: float = 1.0,
        grace: float = schedules.DEFAULT_GRACE_S,
        clock: Callable[[], _dt.datetime] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        import math

        from ..exceptions import ValidationError

        # a zero, negative or NaN tick would spin the loop at 100% CPU
        for label, value, low in (("tick", tick, 0.001), ("grace", grace, 0.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValidationError(f"scheduler {label} must be a finite number of seconds, got {value!r}")
            if value < low or (label == "tick" and value <= 0):
                raise ValidationError(f"scheduler {label} must be at least {low:g} seconds, got {value!r}")
        self.ws = workspace or current()
        self.tick = tick
        self.grace = grace
        self.clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self.log = log or (lambda msg: None)
        self.stop_event = threading.Event()
        self.threads: dict[str, threading.Thread] = {}
        self._lock_fh: Any = None

    # -- leadership ----------------------------------------------------------------------------
    def try_lead(self) -> bool:
        if self._lock_fh is not None:
            return True
        fh = open(self.ws.locks / "scheduler.lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock_fh = fh
        return True

    def release(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    # -- firing --------------------------------------------------------------------------------
    def run_pending(self, now: _dt.datetime | None = None, *, wait: bool = False) -> list[Any]:
        """Claim and start every due firing; returns the (schedule, decision, job) claims."""
        now = now or self.clock()
        claims = []
        for s in schedules.list_schedules(workspace=self.ws):
            try:
                claimed = schedules.claim(s.name, now, self.grace, self.ws)
            except Exception as exc:  # noqa: BLE001 - one bad schedule must not stop the others
                if s.last_status != f"ERROR: {exc}":
                    schedules.record_error(s.name, now, str(exc), self.ws)
                    self.log(f"{now:%Y-%m-%d %H:%M:%S} {s.name}: error: {exc}")
                continue
            if claimed is None:
                continue
            claims.append(claimed)
            sched, decision, job = claimed
            if job is None:
                self.log(f"{now:%Y-%m-%d %H:%M:%S} {sched.name}: {decision.action} slot {decision.slot}")
                continue
            self.log(f"{now:%Y-%m-%d %H:%M:%S} {sched.name}: fired job {job.job_id} (slot {decision.slot})")
            thread = threading.Thread(target=self._execute, args=(sched, job), name=f"aieng-sched-{job.job_id}")
            self.threads[job.job_id] = thread
            thread.start()
        if wait:
            for thread in list(self.threads.values()):
                thread.join()
        return claims

    def _execute(self, sched: schedules.Schedule, job: Any) -> None:
        from ..executors import get_executor

        if isinstance(job, schedules.PipelineFiring):
            self._execute_pipeline(sched, job)
            return
        try:
            name = sched.options.get("executor") or "local"
            with get_executor(name)(address=sched.options.get("address"), parallel=1) as ex:
                (final,) = list(ex.run([job.job_id], self.ws))
            schedules.record_outcome(sched.name, final.job_id, final.status, self.ws)
            self.log(f"{sched.name}: job {final.job_id} {final.status}")
            schedules.run_on_finish(sched, final, self.ws)
        except Exception as exc:  # noqa: BLE001 - keep the daemon alive
            self.log(f"{sched.name}: job {job.job_id} error: {exc}")
            status = self._fail_job(job.job_id, exc)
            schedules.record_outcome(sched.name, job.job_id, status, self.ws)
        finally:
            self.threads.pop(job.job_id, None)

    def _execute_pipeline(self, sched: schedules.Schedule, firing: schedules.PipelineFiring) -> None:
        """One firing of a pipeline schedule: the pipeline runs what changed (its own record and runs)."""
        from ..pipelines import run_pipeline

        try:
            run = run_pipeline(
                firing.path,
                firing.parameters,
                executor=sched.options.get("executor"),
                address=sched.options.get("address"),
                schedule=sched.name,
                workspace=self.ws,
            )
            status = run.status
            self.log(f"{sched.name}: pipeline run {run.run_id} {status}")
        except Exception as exc:  # noqa: BLE001 - keep the daemon alive
            status = f"ERROR: {type(exc).__name__}: {exc}"
            self.log(f"{sched.name}: pipeline error: {exc}")
        finally:
            self.threads.pop(firing.job_id, None)
        schedules.record_outcome(sched.name, firing.job_id, status, self.ws)

    def _fail_job(self, job_id: str, exc: Exception) -> str:
        """The executor could not run the job (unknown executor, cluster down ...): it fails, not hangs."""
        from ..jobs import store
        from ..jobs.records import JobError, JobStatus
        from ..records import now

        def fail(r: Any) -> bool:
            if r.status in JobStatus.TERMINAL:
                return False
            r.status, r.finished_at = JobStatus.FAILED, now()
            r.error = JobError(kind="executor_error", message=f"{type(exc).__name__}: {exc}").to_dict()
            return True

        try:
            return str(store.mutate(job_id, fail, self.ws).status)
        except Exception:  # noqa: BLE001
            return JobStatus.FAILED

    # -- loop ----------------------------------------------------------------------------------
    def serve(self, *, job_grace: float = 30.0) -> int:
        from ..jobs import store as records
        from ..jobs.control import stop_job

        standby_logged = False
        try:
            while not self.stop_event.is_set():
                if not self.try_lead():
                    if not standby_logged:
                        self.log("another scheduler holds the workspace lock; standing by")
                        standby_logged = True
                    self.stop_event.wait(self.tick)
                    continue
                if standby_logged or not hasattr(self, "_started"):
                    self._started = True
                    standby_logged = False
                    recovered = records.recover_stale(self.ws)
                    for rec in recovered:
                        self.log(f"job {rec.job_id} was left RUNNING by a dead process: marked FAILED")
                    audit.append("scheduler.start", {"pid": os.getpid()}, workspace=self.ws)
                    self.log(f"scheduler running (pid {os.getpid()}), workspace {self.ws.root}")
                self.run_pending()
                self.stop_event.wait(self.tick)
        finally:
            deadline = time.monotonic() + job_grace
            for thread in list(self.threads.values()):
                thread.join(max(0.0, deadline - time.monotonic()))
            for job_id in list(self.threads):
                try:
                    stop_job(job_id, wait=10.0, workspace=self.ws)
                except ConflictError:  # it ended meanwhile
                    pass
            for thread in list(self.threads.values()):
                thread.join(15.0)
            if self._lock_fh is not None:
                audit.append("scheduler.stop", {"pid": os.getpid()}, workspace=self.ws)
            self.release()
        return 0

    def install_signal_handlers(self) -> None:
        import signal

        def handler(signum: int, frame: Any) -> None:
            self.log(f"signal {signum}: shutting down")
            self.stop_event.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
