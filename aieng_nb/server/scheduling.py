"""Schedules fire while JupyterLab runs: the server extension runs the scheduler, as
jupyter-scheduler does, so no separate ``aieng scheduler`` process is needed.

It is the same :class:`aieng_nb.schedules.scheduler.Scheduler` the CLI daemon runs, in a thread of the
server: one process per workspace leads (the ``locks/scheduler.lock`` file lock) and each firing
is claimed under the schedule's own lock, so several Lab servers and ``aieng scheduler`` daemons
on one workspace fire each slot once; the others stand by and take over when the leader exits.
It runs on the workspace the server app (:class:`.extension.AiengServer`) built; a server started
where there is no workspace creates none: the thread waits until one appears.

Switch it off with ``--AiengServer.scheduler=False`` (or ``c.AiengServer.scheduler = False`` in
``jupyter_server_config.py``) when a dedicated ``aieng scheduler`` should be the only one.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from ..workspace import Workspace


class ServerScheduler:
    """The scheduler in a daemon thread of the server; :meth:`stop` when the server stops (and at exit)."""

    def __init__(self, ws: Workspace, tick: float, job_grace: float, log: Any) -> None:
        self.ws = ws
        self.tick = tick
        self.job_grace = job_grace
        self.log = log
        self.stopping = threading.Event()
        self.daemon: Any = None
        self.thread = threading.Thread(target=self._run, name="aieng-server-scheduler", daemon=True)

    def start(self) -> ServerScheduler:
        self.thread.start()
        atexit.register(self.stop)
        return self

    def _run(self) -> None:
        from ..schedules.scheduler import Scheduler

        try:
            while not self.ws.root.is_dir():  # nothing tracked here yet: create nothing, look again later
                if self.stopping.wait(max(5.0, self.tick)):
                    return
            self.daemon = Scheduler(self.ws.ensure(), tick=self.tick, log=lambda m: self.log.info("aieng_nb: %s", m))
            if self.stopping.is_set():
                return
            self.daemon.serve(job_grace=self.job_grace)
        except Exception:  # the REST API keeps working without it; say why in the server log
            self.log.exception("aieng_nb: the schedule runner stopped")

    def stop(self, timeout: float = 60.0) -> None:
        """Stop firing, give running jobs ``job_grace`` seconds, stop the rest, release the lock."""
        self.stopping.set()
        if self.daemon is not None:
            self.daemon.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout)


def start(app: Any, ws: Workspace) -> ServerScheduler | None:
    """Start the schedule runner on ``ws`` unless ``app.scheduler`` (``AiengServer.scheduler``) is False."""
    if not app.scheduler:
        app.log.info("aieng_nb: schedules do not fire in this server (AiengServer.scheduler=False)")
        return None
    app.log.info("aieng_nb: due schedules fire while this server runs (AiengServer.scheduler)")
    return ServerScheduler(ws, app.scheduler_tick, app.job_grace, app.log).start()
