"""Tracking stores by URI scheme, through the plug-in registry :data:`aieng_nb.plugins.stores`.

``open_store(uri, artifact_root)`` returns the store for a tracking URI: the workspace's own
SQLite file gets the fast store (direct SQL guarded by MLflow's schema revision), anything else
(a remote ``http(s)://`` server, a ``file:`` store, another database) MLflow's public client.
A third party adds a scheme with an entry point in the group ``aieng_nb.stores``::

    [project.entry-points."aieng_nb.stores"]
    s3db = "my_pkg.store:open_store"      # factory(uri, artifact_root) -> TrackingStore

>>> from aieng_nb import plugins
>>> {"sqlite", "http", "https", "file"} <= set(plugins.stores.names())
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..exceptions import ValidationError

if TYPE_CHECKING:
    from .base import TrackingStore

MLFLOW_SCHEMES = ("http", "https", "file", "postgresql", "mysql", "databricks")


def register(scheme: str, factory: Callable[[str, str], TrackingStore] | str) -> None:
    """Register ``factory(uri, artifact_root)`` (or a ``"module:attr"`` string) for ``scheme:`` URIs."""
    from ..plugins import stores

    stores.register(scheme, factory, replace=True)


def open_sqlite(uri: str, artifact_root: str) -> TrackingStore:
    from .sqlite_fast import open_sqlite_store

    return open_sqlite_store(uri, artifact_root)


def open_mlflow(uri: str, artifact_root: str) -> TrackingStore:
    from .mlflow_client import MlflowClientStore

    return MlflowClientStore(uri, artifact_root)


def scheme_of(uri: str) -> str:
    """``sqlite`` for ``sqlite:///x.db``; a scheme may carry a driver (``postgresql+psycopg2``)."""
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    return scheme.split("+", 1)[0].lower()


def open_store(uri: str, artifact_root: str) -> TrackingStore:
    """The store for ``uri`` (found by its scheme in :data:`aieng_nb.plugins.stores`)."""
    from ..plugins import UnknownPluginError, stores

    scheme = scheme_of(uri)
    try:
        factory = stores.get(scheme)
    except UnknownPluginError:
        raise ValidationError(
            f"unknown tracking URI scheme {scheme!r} in {uri!r}; known: {', '.join(stores.names())}"
        ) from None
    return factory(uri, artifact_root)
