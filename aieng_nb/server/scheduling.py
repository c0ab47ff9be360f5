"""Schedules fire while JupyterLab runs: the server extension runs the scheduler, as
jupyter-scheduler does, so no separate ``aieng scheduler`` process is needed.

It is the same :class:`aieng_nb.scheduler.Scheduler` the CLI daemon runs, in a thread of the
server: one process per workspace leads (the ``locks/scheduler.lock`` file lock) and each firing
is claimed under the schedule's own lock, so several Lab servers and ``aieng scheduler`` daemons
on one workspace fire each slot once; the others stand by and take over when the leader exits.
A server started where there is no workspace creates none: the thread waits until one appears.

Switch it off with ``--AiengServer.scheduler=False`` (or ``c.AiengServer.scheduler = False`` in
``jupyter_server_config.py``) when a dedicated ``aieng scheduler`` should be the only one.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from traitlets import Bool, Float
from traitlets.config import Configurable


class AiengServer(Configurable):
    """Settings of aieng_nb's Jupyter server extension."""

    scheduler = Bool(
        True,
        help="Fire due schedules while this server runs (as `aieng scheduler` does; with several "
        "servers and daemons on one workspace, one leads and each slot fires once).",
    ).tag(config=True)
    scheduler_tick = Float(1.0, help="Seconds between the scheduler's checks for due schedules.").tag(config=True)
    job_grace = Float(10.0, help="Seconds running scheduled jobs get to finish when the server stops.").tag(config=True)


class ServerScheduler:
    """The scheduler in a daemon thread of the server; :meth:`stop` at exit (atexit)."""

    def __init__(self, settings: AiengServer, log: Any) -> None:
        self.settings = settings
        self.log = log
        self.stopping = threading.Event()
        self.daemon: Any = None
        self.thread = threading.Thread(target=self._run, name="aieng-server-scheduler", daemon=True)

    def start(self) -> ServerScheduler:
        self.thread.start()
        atexit.register(self.stop)
        return self

    def _run(self) -> None:
        from ..scheduler import Scheduler
        from ..workspace import Workspace, locate

        try:
            root = locate()
            while not root.is_dir():  # nothing tracked here yet: create nothing, look again later
                if self.stopping.wait(max(5.0, self.settings.scheduler_tick)):
                    return
                root = locate()
            self.daemon = Scheduler(
                Workspace(root).ensure(),
                tick=self.settings.scheduler_tick,
                log=lambda m: self.log.info("aieng_nb: %s", m),
            )
            if self.stopping.is_set():
                return
            self.daemon.serve(job_grace=self.settings.job_grace)
        except Exception:  # the REST API keeps working without it; say why in the server log
            self.log.exception("aieng_nb: the schedule runner stopped")

    def stop(self, timeout: float = 60.0) -> None:
        """Stop firing, give running jobs ``job_grace`` seconds, stop the rest, release the lock."""
        self.stopping.set()
        if self.daemon is not None:
            self.daemon.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout)


def start(server_app: Any) -> ServerScheduler | None:
    """Start the schedule runner unless ``AiengServer.scheduler`` is False; returns it."""
    settings = AiengServer(parent=server_app)
    if not settings.scheduler:
        server_app.log.info("aieng_nb: schedules do not fire in this server (AiengServer.scheduler=False)")
        return None
    server_app.log.info("aieng_nb: due schedules fire while this server runs (AiengServer.scheduler)")
    return ServerScheduler(settings, server_app.log).start()
