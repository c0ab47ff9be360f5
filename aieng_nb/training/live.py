"""Live views of a training session: a plug-in point, so the core never imports a front end.

A front end registers a factory ``factory(session) -> view`` (the view has ``close()``); the
notebook widget (:mod:`aieng_nb.widgets.training_monitor`) registers itself when imported, and is
imported by name when a session starts inside a Jupyter kernel.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable
from typing import Any

factories: dict[str, Callable[[Any], Any]] = {}
DEFAULT = "aieng_nb.widgets.training_monitor"


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a notebook, or a papermill job), where widgets can show."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def register(name: str, factory: Callable[[Any], Any]) -> None:
    factories[name] = factory


def open_view(session: Any, live: bool | None) -> Any:
    """The live view for ``session``: ``live=None`` shows it in a kernel only; never raises."""
    if live is False or (live is None and not in_kernel()):
        return None
    try:
        if not factories:
            importlib.import_module(DEFAULT)
        factory = next(iter(factories.values()))
        return factory(session)
    except Exception as exc:
        warnings.warn(f"aieng: live training view unavailable ({exc}); capture continues", RuntimeWarning, stacklevel=3)
        return None
