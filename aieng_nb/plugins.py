"""One plug-in registry for everything a third party may add without editing aieng_nb.

Each kind has a :class:`Registry` here and an entry-point group. A target is the object itself or a
lazy ``"module:attr"`` string, imported on first :meth:`Registry.get` (so listing names stays
cheap). A package adds one in its ``pyproject.toml``::

    [project.entry-points."aieng_nb.executors"]
    k8s = "my_pkg.k8s:KubernetesExecutor"

The registries and their groups:

- ``stores`` (``aieng_nb.stores``): a tracking-store factory, keyed by URI scheme;
- ``executors`` (``aieng_nb.executors``): a job executor (``aieng job run --executor NAME``);
- ``report_kinds`` (``aieng_nb.report_kinds``): a report entry point (monitor, explain, fairness);
- ``drift_tests`` (``aieng_nb.drift_tests``): a drift statistical test;
- ``pii_detectors`` (``aieng_nb.pii_detectors``): a PII detector.

>>> reg = Registry("greeter", "aieng_nb.tests.greeters")
>>> reg.register("json", "json:dumps")
>>> reg.get("json")([1])
'[1]'
>>> reg.get("jsn")
Traceback (most recent call last):
...
aieng_nb.plugins.UnknownPluginError: unknown greeter 'jsn' (did you mean 'json'?); known: json

Formerly ``run_hooks.py``: Callbacks run at ``end_run`` before the status is set (the IPython extension attaches the
notebook there). A module of its own so that registering one (``%load_ext``) does not import the
tracking package.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from collections.abc import Callable
from typing import Any

from .exceptions import ValidationError


class UnknownPluginError(ValidationError, LookupError):
    """A name no registered plug-in has; the message lists the known names."""


class PluginLoadError(ValidationError, ImportError):
    """A registered target could not be imported."""


def load_target(target: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


class Registry:
    """Named plug-ins of one kind: built-ins registered by aieng_nb, more found by entry points."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._targets: dict[str, Any] = {}
        self._loaded: dict[str, Any] = {}
        self._discovered = False
        self._lock = threading.Lock()

    def register(self, name: str, target: Any, *, replace: bool = False) -> None:
        """Add ``target`` (an object or a ``"module:attr"`` string) under ``name``."""
        if not name or not isinstance(name, str):
            raise ValidationError(f"a {self.kind} needs a non-empty name")
        with self._lock:
            if name in self._targets and not replace and self._targets[name] is not target:
                raise ValidationError(f"a {self.kind} named {name!r} is already registered (pass replace=True)")
            self._targets[name] = target
            self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._targets.pop(name, None)
            self._loaded.pop(name, None)

    def discover(self, *, refresh: bool = False) -> None:
        """Read the entry points of this registry's group (once; ``refresh`` to read them again).
        Built-ins win over an entry point of the same name."""
        if self._discovered and not refresh:
            return
        from importlib.metadata import entry_points

        found = {ep.name: ep.value for ep in entry_points(group=self.group)}
        with self._lock:
            for name, value in found.items():
                self._targets.setdefault(name, value)
            self._discovered = True

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._targets

    def get(self, name: str) -> Any:
        """The plug-in registered as ``name`` (imported on first use)."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self:
            known = self.names()
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownPluginError(f"unknown {self.kind} {name!r}{hint}; known: {', '.join(known) or 'none'}")
        target = self._targets[name]
        if isinstance(target, str):
            try:
                target = load_target(target)
            except (ImportError, AttributeError) as exc:
                raise PluginLoadError(
                    f"the {self.kind} {name!r} ({self._targets[name]}) cannot be loaded: {exc}"
                ) from exc
        self._loaded[name] = target
        return target


# The registries. Built-ins are registered where each kind is defined, as "module:attr" strings
# here so that listing names imports nothing heavy.
stores = Registry("tracking store", "aieng_nb.stores")
executors = Registry("executor", "aieng_nb.executors")
report_kinds = Registry("report kind", "aieng_nb.report_kinds")
drift_tests = Registry("drift test", "aieng_nb.drift_tests")
pii_detectors = Registry("PII detector", "aieng_nb.pii_detectors")

ALL = {r.group: r for r in (stores, executors, report_kinds, drift_tests, pii_detectors)}

# -- built-ins (each area adds its own block) --------------------------------------------------

# tracking stores by URI scheme (aieng_nb.stores.open_store)
stores.register("sqlite", "aieng_nb.stores:open_sqlite")
for _scheme in ("http", "https", "file", "postgresql", "mysql", "databricks"):
    stores.register(_scheme, "aieng_nb.stores:open_mlflow")
# jobs: where notebook jobs run (aieng job run --executor NAME)
executors.register("local", "aieng_nb.executors.local:LocalExecutor")
executors.register("process", "aieng_nb.executors.local:ProcessExecutor")
executors.register("dask", "aieng_nb.executors.dask:DaskExecutor")

# PII detectors: the built-in kinds run in one shared vectorized pass (aieng_nb.privacy.routing)
for _kind in ("email", "phone", "card", "iban", "ip", "national_id"):
    pii_detectors.register(_kind, f"aieng_nb.privacy.detectors:{_kind.upper()}")

# reports: the report kinds (job monitor specs run them by name) and Evidently's drift tests
for _name, _target in (
    ("monitor", "aieng_nb.reports.monitoring:monitor"),
    ("explain", "aieng_nb.reports.explainability:explain"),
    ("fairness", "aieng_nb.reports.fairness_report:fairness"),
):
    report_kinds.register(_name, _target)
for _name in ("ks", "chisquare", "z", "wasserstein", "psi", "jensenshannon"):
    drift_tests.register(_name, f"aieng_nb.reports.drift_tests:{_name.upper()}")


end_hooks: list[Callable[[Any], None]] = []
