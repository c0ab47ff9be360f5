"""Old spellings that keep working for one release, with a ``DeprecationWarning`` naming the new one.

``aieng.jobs()``, ``aieng.snapshots()`` and ``aieng.reports()`` were packages made callable to list
things; they are namespaces now (``aieng.list_jobs()``...). :func:`callable_module` is the one place
a module is made callable: deprecated calls (``new=...``), or, for ``aieng.training(model)`` only,
a documented entry point that is also a package (issue 12 names both ``aieng.training(...)`` and
``aieng_nb.training.LightningCallback``).

>>> import types, warnings
>>> def list_things(): return ["a"]
>>> def old_alias(): return deprecated_function("things", "list_things", list_things)()
>>> with warnings.catch_warnings(record=True) as w:
...     warnings.simplefilter("always")
...     old_alias(), str(w[0].message)
(['a'], 'aieng.things() is deprecated and will be removed in the next release: use aieng.list_things()')
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any


def message(old: str, new: str) -> str:
    return f"aieng.{old}() is deprecated and will be removed in the next release: use aieng.{new}()"


def deprecated_function(old: str, new: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` under its old name ``old``: same result, plus a DeprecationWarning at the caller."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(message(old, new), DeprecationWarning, stacklevel=2)
        return func(*args, **kwargs)

    wrapper.__deprecated__ = message(old, new)  # type: ignore[attr-defined]
    return wrapper


def callable_module(module_name: str, func: Callable[..., Any], *, new: str | None = None) -> None:
    """Make the module ``module_name`` callable: calling it calls ``func`` (resolved lazily when a
    ``"module:attr"`` string would cause an import cycle, so pass a function). With ``new``, the
    call is a deprecated spelling and warns, naming ``aieng.<new>()``."""
    module = sys.modules[module_name]
    short = module_name.rsplit(".", 1)[-1]

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            if new is not None:
                warnings.warn(message(short, new), DeprecationWarning, stacklevel=2)
            return func(*args, **kwargs)

    _CallableModule.__name__ = f"CallableModule[{short}]"
    module.__class__ = _CallableModule


# Modules that moved when the codebase was consolidated (2026-12): the old dotted name imports the new
# module. Executed notebooks keep ``import aieng_nb.monitoring`` in their monitoring cell, and stored
# schedules keep hook paths such as ``aieng_nb.registry.loop:on_scoring_finished``; both still work.
MOVED_MODULES: dict[str, str] = {
    "aieng_nb.argtypes": "aieng_nb.names",
    "aieng_nb.audit_sign": "aieng_nb.audit.sign",
    "aieng_nb.capture": "aieng_nb.tracking.capture",
    "aieng_nb.checks": "aieng_nb.reports.checks",
    "aieng_nb.cron": "aieng_nb.schedules.cron",
    "aieng_nb.drift": "aieng_nb.reports.drift",
    "aieng_nb.examples": "aieng_nb.demo",
    "aieng_nb.frontend_comm": "aieng_nb.magics.frontend_comm",
    "aieng_nb.ipython_ext": "aieng_nb.magics.extension",
    "aieng_nb.jobs.build": "aieng_nb.jobs.notebook",
    "aieng_nb.jobs.finish": "aieng_nb.jobs.execute",
    "aieng_nb.jobs.inject": "aieng_nb.jobs.notebook",
    "aieng_nb.jobs.json_import": "aieng_nb.jobs.store",
    "aieng_nb.jobs.kernels": "aieng_nb.jobs.request",
    "aieng_nb.jobs.notebooks": "aieng_nb.jobs.notebook",
    "aieng_nb.jobs.papermill_client": "aieng_nb.jobs.engine",
    "aieng_nb.jobs.params": "aieng_nb.jobs.notebook",
    "aieng_nb.jobs.prepare": "aieng_nb.jobs.control",
    "aieng_nb.jobs.progress": "aieng_nb.jobs.display",
    "aieng_nb.jobs.reproduce": "aieng_nb.jobs.control",
    "aieng_nb.jobs.render": "aieng_nb.jobs.execute",
    "aieng_nb.jobs.submit": "aieng_nb.jobs.execute",
    "aieng_nb.jobs.table": "aieng_nb.jobs.display",
    "aieng_nb.jobs.tracking_bridge": "aieng_nb.jobs.execute",
    "aieng_nb.lifecycle": "aieng_nb.tracking.lifecycle",
    "aieng_nb.metric_buffer": "aieng_nb.tracking.buffer",
    "aieng_nb.metric_journal": "aieng_nb.tracking.journal",
    "aieng_nb.metric_rows": "aieng_nb.tracking.rows",
    "aieng_nb.models": "aieng_nb.tracking.records",
    "aieng_nb.monitoring": "aieng_nb.reports.job_monitor",
    "aieng_nb.notebook_capture": "aieng_nb.tracking.notebook_capture",
    "aieng_nb.pages": "aieng_nb.server.pages",
    "aieng_nb.registry.loop": "aieng_nb.loop",
    "aieng_nb.registry.loop_records": "aieng_nb.loop.records",
    "aieng_nb.registry.loop_steps": "aieng_nb.loop.steps",
    "aieng_nb.registry.loop_store": "aieng_nb.loop.store",
    "aieng_nb.registry.replay": "aieng_nb.loop.replay",
    "aieng_nb.registry.replay_policy": "aieng_nb.loop.policy",
    "aieng_nb.registry.replay_records": "aieng_nb.loop.replay_records",
    "aieng_nb.registry.replay_render": "aieng_nb.loop.replay_render",
    "aieng_nb.registry.synthetic": "aieng_nb.loop.synthetic",
    "aieng_nb.report_tasks": "aieng_nb.reports.tasks",
    "aieng_nb.run_hooks": "aieng_nb.plugins",
    "aieng_nb.scheduler": "aieng_nb.schedules.scheduler",
    "aieng_nb.schema": "aieng_nb.server.schema",
    "aieng_nb.textutil": "aieng_nb.rendering",
    "aieng_nb.views": "aieng_nb.server.views",
}


class _MovedModules:
    """Finds an old module name of :data:`MOVED_MODULES` and hands back the module it became (a
    meta path finder and loader; not derived from ``importlib.abc``, whose import is slow)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)  # type: ignore[arg-type]

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return importlib.import_module(MOVED_MODULES[spec.name])

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def install_moved_modules() -> None:
    """Let the old names of :data:`MOVED_MODULES` import (called once by ``import aieng_nb``).

    >>> install_moved_modules()
    >>> import aieng_nb.monitoring, aieng_nb.reports.job_monitor
    >>> aieng_nb.monitoring is aieng_nb.reports.job_monitor
    True
    """
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.append(_MovedModules())
