"""The workspace's object store: blobs by key (snapshot objects), one small interface, three backends.

- the workspace folder (``.aieng/``) by default: ``FolderStore``;
- any fsspec URL from ``AIENG_OBJECT_STORE`` / ``%config Aieng.object_store`` (``s3://bucket/x``,
  ``memory://x``; ``file://`` is a ``FolderStore`` on that folder): ``FsspecStore``;
- MLflow's proxied artifact store when the tracking URI is an ``http(s)`` MLflow server (started
  with ``--serve-artifacts``, MLflow's default): ``MlflowArtifactStore``, through MLflow's artifact
  repository API (``mlflow-artifacts:/aieng/<key>``).

Keys are derived from ids (content hashes), never read from a record: ``check_key`` allows only
``/``-separated segments of letters, digits, ``_ . -`` (no ``..``, no absolute path, no backslash),
and the folder backend also refuses a key that a symlink would lead out of the store. Writes are
atomic: a reader sees the whole value or nothing.

>>> import tempfile
>>> store = FolderStore(tempfile.mkdtemp())
>>> store.put_bytes("a/b.txt", b"hi"); store.get_bytes("a/b.txt"), store.exists("a/c"), store.list("a")
(b'hi', False, ['a/b.txt'])
>>> store.put_bytes("../x", b"")
Traceback (most recent call last):
...
aieng_nb.exceptions.ValidationError: object key '../x' leaves the object store (use letters, digits, '_', '.', '-' and '/')
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..exceptions import NotFoundError, ValidationError

if TYPE_CHECKING:
    from ..workspace import Workspace

_SEGMENT = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}\Z")


def check_key(key: object) -> str:
    """``key`` when it stays inside a store, else ValidationError (one line).

    >>> check_key("snapshots/objects/ab/abcd/meta.json")
    'snapshots/objects/ab/abcd/meta.json'
    """
    ok = (
        isinstance(key, str)
        and 0 < len(key) <= 1024
        and all(_SEGMENT.match(seg) and seg not in (".", "..") for seg in key.split("/"))
    )
    if not ok:
        raise ValidationError(
            f"object key {str(key)[:120]!r} leaves the object store (use letters, digits, '_', '.', '-' and '/')"
        )
    return str(key)


class ObjectStoreBase:
    """put/get/exists/open/list/delete by key; ``url(key)`` says where another machine reads it."""

    base_url = ""
    is_local = False  # True: the workspace's own folder (snapshot objects are used in place)

    def put_bytes(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        self.put_bytes(key, Path(path).read_bytes())

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def get_file(self, key: str, dest: str | os.PathLike[str]) -> None:
        """Copy ``key`` to ``dest`` (atomically: a temp file renamed into place)."""
        from ..fsutil import atomic_write_bytes

        atomic_write_bytes(dest, self.get_bytes(key))

    def open(self, key: str) -> IO[bytes]:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def list(self, prefix: str = "") -> list[str]:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def url(self, key: str) -> str:
        return f"{self.base_url.rstrip('/')}/{check_key(key)}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"


def _missing(key: str) -> NotFoundError:
    return NotFoundError(f"no object {key!r} in the object store")


class FolderStore(ObjectStoreBase):
    """Keys as files under ``root`` (the workspace folder by default)."""

    def __init__(self, root: str | os.PathLike[str], *, is_local: bool = False) -> None:
        self.root = Path(root).resolve()
        self.base_url = self.root.as_uri()
        self.is_local = is_local

    def path(self, key: str) -> Path:
        """The file of ``key``; ValidationError when it (or a symlink on the way) leaves the store."""
        path = self.root.joinpath(*check_key(key).split("/"))
        here = self.root
        for part in path.relative_to(self.root).parts:
            here = here / part
            if here.is_symlink():
                raise ValidationError(f"object key {key!r} leaves the object store (a symlink at {part!r})")
        return path

    def put_bytes(self, key: str, data: bytes) -> None:
        from ..fsutil import atomic_write_bytes

        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        from ..fsutil import atomic_copy

        target = self.path(key)
        if Path(path).resolve() != target:
            atomic_copy(path, target)

    def open(self, key: str) -> IO[bytes]:
        try:
            fd = os.open(self.path(key), os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise _missing(key) from None
        return os.fdopen(fd, "rb")

    def exists(self, key: str) -> bool:
        path = self.path(key)
        return path.is_file() and not path.is_symlink()

    def list(self, prefix: str = "") -> list[str]:
        start = self.path(prefix) if prefix else self.root
        if not start.is_dir():
            return []
        out = []
        for folder, dirs, files in os.walk(start):  # os.walk does not follow symlinked folders
            rel = Path(folder).relative_to(self.root).as_posix()
            out += [f if rel == "." else f"{rel}/{f}" for f in files if not os.path.islink(os.path.join(folder, f))]
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        return sorted(k for k in out if not k.rsplit("/", 1)[-1].startswith("."))

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


class FsspecStore(ObjectStoreBase):
    """Keys under an fsspec URL (``s3://bucket/prefix``, ``memory://x``, ...)."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.base_url = url.rstrip("/")
        self.fs, self.prefix = fsspec.core.url_to_fs(self.base_url)

    def _p(self, key: str) -> str:
        return f"{self.prefix.rstrip('/')}/{check_key(key)}"

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self._p(key)
        parent = target.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        self.fs.pipe_file(tmp, data)  # then one rename (an object store's PUT is atomic by itself)
        try:
            self.fs.mv(tmp, target)
        except Exception:
            self.fs.rm(tmp)
            raise

    def open(self, key: str) -> IO[bytes]:
        try:
            return self.fs.open(self._p(key), "rb")
        except FileNotFoundError:
            raise _missing(key) from None

    def exists(self, key: str) -> bool:
        return bool(self.fs.isfile(self._p(key)))

    def list(self, prefix: str = "") -> list[str]:
        base = self.prefix.rstrip("/")
        start = self._p(prefix) if prefix else base
        try:
            found = self.fs.find(start)
        except FileNotFoundError:
            return []
        keys = [f.lstrip("/")[len(base.lstrip("/")) :].lstrip("/") for f in found]
        return sorted(k for k in keys if k and not k.rsplit("/", 1)[-1].startswith("."))

    def delete(self, key: str) -> None:
        try:
            self.fs.rm(self._p(key))
        except FileNotFoundError:
            pass


class MlflowArtifactStore(ObjectStoreBase):
    """Keys in an MLflow tracking server's proxied artifact store (``mlflow server --serve-artifacts``),
    under ``mlflow-artifacts:/<root>``, through MLflow's artifact repository API."""

    def __init__(self, tracking_uri: str, root: str = "aieng") -> None:
        from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

        self.tracking_uri = tracking_uri.rstrip("/")
        self.root = check_key(root)
        self.repo = MlflowArtifactsRepository(f"mlflow-artifacts:/{self.root}", tracking_uri=self.tracking_uri)
        self.base_url = f"mlflow-artifacts:/{self.root}"

    def url(self, key: str) -> str:
        """The plain HTTP address of ``key`` on the server (what ``mlflow.data``'s http source reads)."""
        return f"{self.tracking_uri}/api/2.0/mlflow-artifacts/artifacts/{self.root}/{check_key(key)}"

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        folder, _, name = check_key(key).rpartition("/")
        with tempfile.TemporaryDirectory(prefix="aieng-put-") as tmp:
            staged = Path(tmp) / name  # the artifact API names the upload after the file
            shutil.copyfile(path, staged)
            self.repo.log_artifact(str(staged), artifact_path=folder or None)

    def put_bytes(self, key: str, data: bytes) -> None:
        with tempfile.NamedTemporaryFile(prefix="aieng-put-") as fh:
            fh.write(data)
            fh.flush()
            self.put_file(key, fh.name)

    def get_file(self, key: str, dest: str | os.PathLike[str]) -> None:
        from ..fsutil import atomic_copy

        with tempfile.TemporaryDirectory(prefix="aieng-get-") as tmp:
            try:
                got = self.repo.download_artifacts(check_key(key), dst_path=tmp)
            except Exception as exc:  # noqa: BLE001 - MLflow raises its own errors for a missing artifact
                if self.exists(key):
                    raise
                raise _missing(key) from exc
            atomic_copy(got, dest)

    def open(self, key: str) -> IO[bytes]:
        import io

        with tempfile.TemporaryDirectory(prefix="aieng-get-") as tmp:
            dest = Path(tmp) / "blob"
            self.get_file(key, dest)
            return io.BytesIO(dest.read_bytes())

    def exists(self, key: str) -> bool:
        folder, _, _ = check_key(key).rpartition("/")
        return any(not f.is_dir and f.path == key for f in self.repo.list_artifacts(folder or None))

    def list(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        todo = [check_key(prefix) if prefix else None]
        while todo:
            for f in self.repo.list_artifacts(todo.pop()):
                (todo.append(f.path) if f.is_dir else out.append(f.path))
        return sorted(out)

    def delete(self, key: str) -> None:
        self.repo.delete_artifacts(check_key(key))


def from_url(url: str, *, tracking_uri: str = "") -> ObjectStoreBase:
    """The store an ``object_store`` setting names (``file://``, any fsspec URL, ``mlflow-artifacts:``)."""
    if url.startswith("mlflow-artifacts:"):
        root = url[len("mlflow-artifacts:") :].strip("/") or "aieng"
        if not tracking_uri.startswith(("http://", "https://")):
            raise ValidationError(f"object store {url}: needs an http(s) MLflow tracking URI (AIENG_TRACKING_URI)")
        return MlflowArtifactStore(tracking_uri, root)
    if url.startswith("file://") or "://" not in url:
        path = url[len("file://") :] if url.startswith("file://") else url
        folder = Path(path).expanduser()
        if not folder.is_absolute():
            raise ValidationError(f"object store {url!r}: give an absolute folder or a URL (AIENG_OBJECT_STORE)")
        folder.mkdir(parents=True, exist_ok=True)
        return FolderStore(folder)
    try:
        return FsspecStore(url)
    except (ImportError, ValueError) as exc:
        raise ValidationError(f"object store {url!r} cannot be opened: {str(exc).splitlines()[0][:200]}") from None


def object_store(ws: Workspace) -> ObjectStoreBase:
    """The object store of ``ws``: configured, else the MLflow server's artifact store for an http(s)
    tracking URI, else the workspace folder itself."""
    from .. import config

    url, tracking = str(config.get("object_store") or ""), ws.tracking_uri
    key = (url, tracking, str(ws.root))
    found = _open.get(key)
    if found is None:
        if url:
            found = from_url(url, tracking_uri=tracking)
        elif tracking.startswith(("http://", "https://")):
            found = MlflowArtifactStore(tracking)
        else:
            found = FolderStore(ws.root, is_local=True)
        _open[key] = found
    return found


_open: dict[tuple[str, str, str], ObjectStoreBase] = {}
