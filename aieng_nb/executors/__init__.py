"""Job executors: where notebook jobs run. A registry like papermill's engines.

Built in: ``local`` (this process; sweeps run ``parallel`` jobs at once, each in its own kernel
process), ``process`` (a pool of worker processes), ``dask`` (a Dask distributed cluster).
Others plug in with an entry point in the ``aieng_nb.executors`` group naming an
:class:`Executor` subclass, or with :func:`register`; all live in :data:`aieng_nb.plugins.executors`.

>>> sorted(executors.names())[:2]
['dask', 'local']
>>> executors.get("nope")   # doctest: +ELLIPSIS
Traceback (most recent call last):
...
aieng_nb.plugins.UnknownPluginError: unknown executor 'nope'...; known: dask, local, ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import plugins as _plugins
from ..plugins import Registry

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


class ExecutorRegistry(Registry):
    """A registry of executors with the built-ins in it (:data:`aieng_nb.plugins.executors` is THE
    one every job uses; a fresh one is for tests and tools that read the entry points again)."""

    def __init__(self) -> None:
        super().__init__("executor", ENTRY_POINT_GROUP)
        for name, target in BUILT_INS.items():
            self.register(name, target)


BUILT_INS = {
    "local": "aieng_nb.executors.local:LocalExecutor",
    "process": "aieng_nb.executors.local:ProcessExecutor",
    "dask": "aieng_nb.executors.dask:DaskExecutor",
}
executors = _plugins.executors  # the registry jobs look executors up in (built-ins: end of plugins.py)


def register(name: str, executor: Any, *, replace: bool = False) -> None:
    """Add an executor class (or ``"module:Class"``) under ``name``.

    >>> class Echo(Executor):
    ...     name = "echo"
    >>> register("echo", Echo, replace=True); get_executor("echo") is Echo
    True
    """
    executors.register(name, executor, replace=replace)


def get_executor(name: str) -> type[Executor]:
    """The executor class registered as ``name``; an unknown name lists the known ones."""
    return executors.get(name)  # type: ignore[no-any-return]
