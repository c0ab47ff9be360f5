"""The Jupyter server extension behind the aieng sidebar panel: a REST API under ``/aieng/api``.

Enabled by ``pip install aieng_nb`` (a ``jupyter_server_config.d`` file). The app, which builds the
workspace once and hands it to every handler, is :class:`.extension.AiengServer`; the route table is
in :mod:`.routes`, the JSON shapes in :mod:`.models`, the handlers in :mod:`.handlers` and
:mod:`.more_handlers`; the server also fires due schedules (:mod:`.scheduling`, ``AiengServer.scheduler``).
"""

from __future__ import annotations

from typing import Any


def handler_routes(base_url: str = "/") -> list[tuple[str, Any]]:
    """(pattern, handler class) for every route of :data:`.routes.ROUTES` (``base_url="/"``: the
    patterns the :class:`.extension.AiengServer` app registers, which prepends the server's base URL)."""
    from jupyter_server.utils import url_path_join

    from . import handlers, more_handlers
    from .routes import ROUTES

    def handler(name: str) -> Any:
        return getattr(handlers, name, None) or getattr(more_handlers, name)

    return [(url_path_join(base_url, r.pattern()), handler(r.handler)) for r in ROUTES]
