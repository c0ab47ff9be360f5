"""Job executors: where notebook jobs run. A registry like papermill's engines.

Built in: ``local`` (this process; sweeps run ``parallel`` jobs at once, each in its own kernel
process), ``process`` (a pool of worker processes), ``dask`` (a Dask distributed cluster).
Others plug in with an entry point in the ``aieng_nb.executors`` group naming an
:class:`Executor` subclass, or with :func:`register`.

>>> sorted(executors.names())[:2]
['dask', 'local']
>>> executors.get("nope")
Traceback (most recent call last):
...
aieng_nb.exceptions.ValidationError: unknown executor 'nope'; known: dask, local, process
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from ..exceptions import ValidationError

ENTRY_POINT_GROUP = "aieng_nb.executors"


class Executor:
    """Runs stored jobs (by id) and yields their final records as they finish.

    Subclasses implement :meth:`run`; ``address`` is the cluster to use (if any), ``parallel``
    how many jobs may run at once.
    """

    name = "base"

    def __init__(self, address: str | None = None, parallel: int | None = None, **options: Any) -> None:
        self.address = address
        self.parallel = max(1, int(parallel or 1))
        self.options = options

    def run(self, job_ids: list[str], workspace: Any, progress: Any = None) -> Iterator[Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (clients, pools)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ExecutorRegistry:
    """name -> Executor class (or ``"module:Class"`` resolved on first use)."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}
        self._entry_points_loaded = False

    def register(self, name: str, executor: Any) -> None:
        self._items[name] = executor

    def register_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            self._items.setdefault(ep.name, ep)

    def names(self) -> list[str]:
        self.register_entry_points()
        return sorted(self._items)

    def get(self, name: str) -> type[Executor]:
        self.register_entry_points()
        item = self._items.get(name)
        if item is None:
            raise ValidationError(f"unknown executor {name!r}; known: {', '.join(self.names())}")
        if isinstance(item, str):
            module, _, attr = item.partition(":")
            item = getattr(importlib.import_module(module), attr)
        elif hasattr(item, "load") and not isinstance(item, type):
            item = item.load()
        self._items[name] = item
        return item


executors = ExecutorRegistry()
executors.register("local", "aieng_nb.executors.local:LocalExecutor")
executors.register("process", "aieng_nb.executors.local:ProcessExecutor")
executors.register("dask", "aieng_nb.executors.dask:DaskExecutor")


def register(name: str, executor: Any) -> None:
    """Add an executor class (or ``"module:Class"``) under ``name``."""
    executors.register(name, executor)


def get_executor(name: str) -> type[Executor]:
    return executors.get(name)
