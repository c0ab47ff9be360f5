"""Finding and opening the local workspace folder (``.aieng/``, found upwards like git)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import config

DIRNAME = ".aieng"
_ensured: set[Path] = set()
SAID_ENV = "AIENG_TRACKING_SAID"  # the URI already announced by this process or a parent


def _announce(uri: str, source: str) -> None:
    """Say once per process tree (stderr) which tracking store aieng uses and why; children (jobs,
    kernels, workers) inherit the variable and stay quiet about the same URI."""
    if os.environ.get(SAID_ENV) == uri:
        return
    os.environ[SAID_ENV] = uri
    import sys

    kind = "server" if uri.startswith(("http://", "https://")) else "store"
    try:
        print(f"aieng: tracking {kind} {uri} (from {source})", file=sys.stderr)
    except (OSError, ValueError):
        pass


def _embedded_store(uri: str) -> bool:
    """A workspace's own SQLite store (what aieng's calls of ``mlflow.set_tracking_uri`` leave in
    ``MLFLOW_TRACKING_URI`` for child processes): never taken from MLflow's variable."""
    return uri.startswith("sqlite:///") and uri.endswith(f"/{DIRNAME}/mlflow.db")


@dataclass(frozen=True)
class Workspace:
    """A workspace folder and the well-known paths inside it.

    >>> import tempfile
    >>> ws = Workspace(Path(tempfile.mkdtemp()) / ".aieng").ensure()
    >>> ws.mlflow_db.name
    'mlflow.db'
    """

    root: Path
    # given to this workspace by its opener (the server's ``AiengServer.tracking_uri`` /
    # ``database_url``); empty: the process's settings (``Aieng`` traits, env), else the defaults
    configured_tracking_uri: str = ""
    configured_database_url: str = ""

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.log"

    @property
    def audit_head(self) -> Path:
        return self.root / "audit.head"

    @property
    def buffers(self) -> Path:
        """Write-ahead journals of metrics and cells of live runs (crash recovery)."""
        return self.root / "buffers"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def path(self, *parts: str) -> Path:
        """A path inside the workspace for a later feature (``ws.path("snapshots")``)."""
        return self.root.joinpath(*parts)

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI: configured (the opener's, ``%config Aieng.tracking_uri``,
        ``$AIENG_TRACKING_URI``), else ``$MLFLOW_TRACKING_URI`` as it was when aieng_nb was imported
        (:data:`aieng_nb.config.MLFLOW_TRACKING_URI_AT_START`), else the workspace's SQLite store.
        A URI from a setting or variable is said once per process on stderr."""
        if self.configured_tracking_uri:
            return self.configured_tracking_uri
        uri, default = str(config.get("tracking_uri") or ""), f"sqlite:///{self.mlflow_db}"
        theirs = config.MLFLOW_TRACKING_URI_AT_START
        if uri:
            source = "AIENG_TRACKING_URI" if os.environ.get("AIENG_TRACKING_URI") == uri else "Aieng.tracking_uri"
            if theirs and theirs != uri and not _embedded_store(theirs):
                source += ", which wins over MLFLOW_TRACKING_URI"
        elif theirs and theirs != default and not _embedded_store(theirs):
            uri, source = theirs, "MLFLOW_TRACKING_URI"
        if not uri or uri == default:
            return default
        _announce(uri, source)
        return uri

    @property
    def database_url(self) -> str:
        """The metadata database's SQLAlchemy URL: configured, else ``aieng.db`` (SQLite) in the folder."""
        url = self.configured_database_url or str(config.get("database_url") or "")
        return url or f"sqlite:///{self.root / 'aieng.db'}"

    def database(self) -> Any:
        """The metadata database (:class:`aieng_nb.storage.Database`), opened and migrated once per process."""
        from .storage import database

        return database(self)

    @property
    def objects(self) -> Any:
        """The object store for blobs (:mod:`aieng_nb.storage.objectstore`): ``$AIENG_OBJECT_STORE`` /
        ``%config Aieng.object_store``, else an http(s) MLflow server's artifact store, else this folder."""
        from .storage.objectstore import object_store

        return object_store(self)

    @property
    def is_local(self) -> bool:
        """True when the tracking store is this workspace's own SQLite file."""
        return self.tracking_uri == f"sqlite:///{self.mlflow_db}"

    def ensure(self) -> Workspace:
        """Create the folders (once per process and root); a path that is a file is refused."""
        if self.root in _ensured and self.locks.is_dir():
            return self
        if self.root.exists() and not self.root.is_dir():
            from .exceptions import ValidationError
            from .rendering import clip

            raise ValidationError(f"workspace {clip(self.root)} is not a folder (--workspace / $AIENG_WORKSPACE)")
        for sub in (self.root, self.artifacts, self.buffers, self.locks):
            sub.mkdir(parents=True, exist_ok=True)
        gitignore = self.root / ".gitignore"
        if not gitignore.exists():  # the workspace holds data and secrets: keep it out of git
            from .fsutil import atomic_write_text

            atomic_write_text(gitignore, "*\n")
        _ensured.add(self.root)
        return self


def find_workspace(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest ``.aieng`` folder at or above ``start`` (default: cwd), or None."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DIRNAME
        if candidate.is_dir():
            return candidate
    return None


def locate() -> Path:
    """The root :func:`current` would use, without creating it (read-only commands check it exists)."""
    configured = str(config.get("workspace") or "")
    if configured:
        return Path(configured).expanduser().resolve()
    return find_workspace() or Path.cwd().resolve() / DIRNAME


def existing() -> Workspace:
    """The workspace in use when it exists; a read-only command on a missing one creates nothing.

    Raises NotFoundError naming where it looked.
    """
    root = locate()
    if not root.is_dir():
        from .exceptions import NotFoundError
        from .rendering import clip

        raise NotFoundError(f"no aieng workspace at {clip(root)} (nothing has been tracked here yet)")
    return Workspace(root)


def given(workspace: Any) -> Workspace | None:
    """A ``workspace=`` argument of the Python API checked once: a Workspace, a folder path (str or
    PathLike: the workspace there, created only by a write) or None (the current one, resolved by
    the caller); anything else is refused with one line (ValidationError)."""
    if workspace is None or isinstance(workspace, Workspace):
        return workspace
    if isinstance(workspace, (str, os.PathLike)) and str(workspace).strip() and "\0" not in str(workspace):
        return Workspace(Path(workspace).expanduser().resolve())
    from .exceptions import ValidationError
    from .rendering import clip

    raise ValidationError(f"workspace must be a Workspace or a folder path, got {clip(repr(workspace), 60)}")


def current() -> Workspace:
    """The workspace in use: configured, else ``$AIENG_WORKSPACE``, else found upwards, else ``./.aieng``.

    Created on first use.
    """
    return Workspace(locate()).ensure()
