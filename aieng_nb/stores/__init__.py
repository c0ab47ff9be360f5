"""Tracking stores by URI scheme, like papermill's I/O registry.

``open_store(uri)`` returns the store for a tracking URI: the workspace's own SQLite file gets
the fast store (direct SQL guarded by MLflow's schema revision), anything else (a remote
``http(s)://`` server, another database, an unknown schema) MLflow's public client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..exceptions import ValidationError

if TYPE_CHECKING:
    from .base import TrackingStore

_FACTORIES: dict[str, Callable[[str, str], TrackingStore]] = {}


def register(scheme: str, factory: Callable[[str, str], TrackingStore]) -> None:
    """Register ``factory(uri, artifact_root)`` for URIs starting with ``scheme:``."""
    _FACTORIES[scheme] = factory


def _sqlite(uri: str, artifact_root: str) -> TrackingStore:
    from .sqlite_fast import open_sqlite_store

    return open_sqlite_store(uri, artifact_root)


def _mlflow(uri: str, artifact_root: str) -> TrackingStore:
    from .mlflow_client import MlflowClientStore

    return MlflowClientStore(uri, artifact_root)


register("sqlite", _sqlite)
for _scheme in ("http", "https", "file", "postgresql", "mysql", "databricks"):
    register(_scheme, _mlflow)


def open_store(uri: str, artifact_root: str) -> TrackingStore:
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    try:
        factory = _FACTORIES[scheme]
    except KeyError:
        raise ValidationError(
            f"unknown tracking URI scheme {scheme!r} in {uri!r}; known: {', '.join(sorted(_FACTORIES))}"
        ) from None
    return factory(uri, artifact_root)
