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
