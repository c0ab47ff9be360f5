"""The Jupyter server extension as an ``ExtensionApp`` (jupyter-scheduler's shape).

:class:`AiengServer` resolves the workspace once, in :meth:`~AiengServer.initialize_settings`, from
its own traits (``--AiengServer.workspace``, ``--AiengServer.database_url``,
``--AiengServer.tracking_uri`` on the command line, or ``c.AiengServer.*`` in
``jupyter_server_config.py``; empty: the settings aieng_nb uses anywhere, ``$AIENG_WORKSPACE`` and
so on), and hands that :class:`~aieng_nb.workspace.Workspace` to every handler through the web
app's settings (``aieng_workspace``). Handlers never look a workspace up.

At start it finishes what killed processes left open (:func:`.changes.recover`; the changes poll
runs it again, a GET of a listing never writes) and starts the schedule runner (:mod:`.scheduling`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Unicode

from ..workspace import Workspace, locate

SETTINGS_KEY = "aieng_workspace"


class AiengServer(ExtensionApp):
    """Settings of aieng_nb's Jupyter server extension (the sidebar panel's REST API)."""

    name = "aieng_nb"
    description = "aieng_nb: the REST API of the JupyterLab sidebar panel"
    load_other_extensions = True

    workspace = Unicode(
        "", help="Workspace folder this server serves. Empty: $AIENG_WORKSPACE, else the nearest .aieng/ upwards"
    ).tag(config=True)
    database_url = Unicode(
        "", help="SQLAlchemy URL of the metadata database. Empty: $AIENG_DATABASE_URL, else .aieng/aieng.db"
    ).tag(config=True)
    tracking_uri = Unicode(
        "", help="MLflow tracking URI. Empty: $AIENG_TRACKING_URI, else the workspace's SQLite store"
    ).tag(config=True)
    scheduler = Bool(
        True,
        help="Fire due schedules while this server runs (as `aieng scheduler` does; with several "
        "servers and daemons on one workspace, one leads and each slot fires once).",
    ).tag(config=True)
    scheduler_tick = Float(1.0, help="Seconds between the scheduler's checks for due schedules.").tag(config=True)
    job_grace = Float(10.0, help="Seconds running scheduled jobs get to finish when the server stops.").tag(config=True)

    schedule_runner: Any = None

    def open_workspace(self) -> Workspace:
        """The workspace these settings name (created by nothing here: a missing folder stays missing)."""
        root = Path(self.workspace).expanduser().resolve() if self.workspace else locate()
        return Workspace(root, configured_tracking_uri=self.tracking_uri, configured_database_url=self.database_url)

    def initialize_settings(self) -> None:
        ws = self.open_workspace()
        self.settings[SETTINGS_KEY] = ws
        self.log.info("aieng_nb: serving workspace %s (tracking %s)", ws.root, ws.tracking_uri)
        self._recover(ws)
        from .scheduling import start

        self.schedule_runner = start(self, ws)
        self.settings["aieng_scheduler"] = self.schedule_runner

    def _recover(self, ws: Workspace) -> None:
        from .changes import recover

        try:  # what killed processes left open: dead runs, half-done registry moves
            for line in recover(ws):
                self.log.info("aieng_nb: recovered %s", line)
        except Exception as exc:  # noqa: BLE001 - the server starts anyway; the changes poll tries again
            self.log.warning("aieng_nb: recovery at start failed: %s", exc)

    def initialize_handlers(self) -> None:
        from . import handler_routes

        self.handlers.extend(handler_routes("/"))
        self.log.info("aieng_nb: REST API for the sidebar panel at %saieng/api", self.settings.get("base_url", "/"))

    async def stop_extension(self) -> None:
        if self.schedule_runner is not None:
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, self.schedule_runner.stop)
