"""The Jupyter server extension behind the aieng sidebar panel: a REST API under ``/aieng/api``.

Enabled by ``pip install aieng_nb`` (a ``jupyter_server_config.d`` file). The route table is in
:mod:`.routes`, the JSON shapes in :mod:`.models`, the handlers in :mod:`.handlers`
and :mod:`.more_handlers`; the server also fires due schedules (:mod:`.scheduling`, ``AiengServer.scheduler``).
"""

from __future__ import annotations

from typing import Any


def handler_routes(base_url: str = "/") -> list[tuple[str, Any]]:
    """(pattern, handler class) for every route of :data:`.routes.ROUTES`."""
    from jupyter_server.utils import url_path_join

    from . import handlers, more_handlers
    from .routes import ROUTES

    def handler(name: str) -> Any:
        return getattr(handlers, name, None) or getattr(more_handlers, name)

    return [(url_path_join(base_url, r.pattern()), handler(r.handler)) for r in ROUTES]


def load_jupyter_server_extension(server_app: Any) -> None:
    web_app = server_app.web_app
    web_app.add_handlers(".*$", handler_routes(web_app.settings["base_url"]))
    server_app.log.info("aieng_nb: REST API for the sidebar panel at %saieng/api", web_app.settings["base_url"])
    from .scheduling import start

    web_app.settings["aieng_scheduler"] = start(server_app)  # schedules fire while the server runs
    try:  # what killed processes left open: dead runs, half-done registry moves
        from ..workspace import Workspace, locate
        from .changes import recover

        for line in recover(Workspace(locate())):
            server_app.log.info("aieng_nb: recovered %s", line)
    except Exception as exc:  # noqa: BLE001 - the server starts anyway; the changes poll tries again
        server_app.log.warning("aieng_nb: recovery at start failed: %s", exc)


_load_jupyter_server_extension = load_jupyter_server_extension
