"""A job on a machine without the submitter's folder: what a cluster task carries, the private folder
it runs in, and the job's files in the object store.

A cluster task carries the workspace's addresses (:func:`workspace_spec`: the metadata database
URL, the tracking URI, the object store), never a path that must exist on the worker. The worker
(:func:`open_worker_workspace`) uses the submitter's folder when it sees it (a shared disk: the
job's own folder is there), else a private temporary folder of its own; a worker that cannot reach
the database, tracking store or object store says which one, in one line.

The job's notebook files are objects ``jobs/<job_id>/input.ipynb``, ``output.ipynb`` and
``output.html`` of the workspace's object store (:func:`publish`). With the default store (the
workspace folder itself) that key *is* the job folder's file, so nothing is copied; with a shared
store (a ``file://`` folder, S3, an MLflow server's artifacts) the submitter stores the input there,
the worker fetches it into its private folder (:func:`materialize`) and stores its outputs, and a
reader on any machine finds them there (:func:`read_text`, :func:`fetch_outputs`).

>>> object_key("20261207-120000-abc123", "output.html")
'jobs/20261207-120000-abc123/output.html'
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from .. import config
from ..exceptions import AiengError, NotFoundError
from ..workspace import Workspace
from . import store

FILES = store.OUTPUT_FILES  # input.ipynb, output.ipynb, output.html


class WorkerSetupError(AiengError):
    """A worker cannot reach the job's workspace (its database, tracking store or object store)."""


def object_key(job_id: str, name: str) -> str:
    if name not in FILES:
        raise ValueError(name)
    return f"jobs/{store._checked_id(job_id)}/{name}"


def publish(ws: Workspace, job_id: str, name: str, path: Path) -> None:
    """Store a job file in the object store (nothing to do when the store is the workspace folder:
    the file is already the object)."""
    objects = ws.objects
    if not objects.is_local:
        objects.put_file(object_key(job_id, name), path)


def materialize(ws: Workspace, job_id: str, name: str) -> Path | None:
    """The job file in this machine's job folder, fetched from the object store when absent there
    (a cache); None when neither has it."""
    path = store.job_dir(job_id, ws) / name
    if path.is_file():
        return path
    objects = ws.objects
    if objects.is_local:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        objects.get_file(object_key(job_id, name), path)
    except NotFoundError:
        return None
    return path


def input_notebook(record: Any, ws: Workspace) -> Path | None:
    """The notebook an attempt executes: the job folder's input copy, else the object store's, else
    None (the recorded notebook, on this machine); NotFoundError when this machine has none."""
    given = materialize(ws, record.job_id, "input.ipynb")
    if given is None and not Path(record.notebook).is_file():
        raise NotFoundError(
            f"job {record.job_id}'s notebook is neither in the object store "
            f"({object_key(record.job_id, 'input.ipynb')}) nor at {record.notebook} on this machine"
        )
    return given


def read_text(ws: Workspace, job_id: str, name: str) -> str:
    """A job file's text: the job folder's file, else the object store's (nothing is written: a
    server GET calls this). NotFoundError when neither has it."""
    try:
        return store.job_file(job_id, name, ws).read_text(encoding="utf-8")
    except NotFoundError:
        objects = ws.objects
        if objects.is_local:
            raise
    try:
        return bytes(objects.get_bytes(object_key(job_id, name))).decode("utf-8")
    except NotFoundError:
        raise NotFoundError(f"job {job_id} has no {name}") from None


def fetch_outputs(record: Any, ws: Workspace) -> None:
    """Bring an ended job's files into this machine's job folder when a worker stored them only in the
    object store (what ``aieng job show`` and ``get_job`` do before naming the paths)."""
    if not record.finished or ws.objects.is_local:
        return
    for name in FILES:
        try:
            materialize(ws, record.job_id, name)
        except Exception:  # noqa: BLE001 - a reader shows the record even when the store does not answer
            pass


# ---- the worker's side --------------------------------------------------------------------------


def workspace_spec(ws: Workspace) -> dict[str, Any]:
    """What a task carries so that a worker opens this workspace: plain data."""
    return {
        "root": str(ws.root),
        "database_url": ws.database_url,
        "tracking_uri": ws.tracking_uri,
        "object_store": str(config.get("object_store") or ""),
        "objects_in_folder": bool(ws.objects.is_local),  # the default store: the submitter's folder
    }


_private_roots: dict[tuple[str, ...], Path] = {}


def open_worker_workspace(spec: dict[str, Any], job_id: str) -> Workspace:
    """The workspace a worker runs ``job_id`` in: the submitter's folder if this machine sees it (its
    job folder is here), else a private folder of this process with the same database, tracking
    store and object store. WorkerSetupError names what this machine cannot reach."""
    os.environ["AIENG_TRACKING_URI"] = spec["tracking_uri"]
    os.environ["AIENG_DATABASE_URL"] = spec["database_url"]
    if spec.get("object_store"):
        os.environ["AIENG_OBJECT_STORE"] = spec["object_store"]
    else:
        os.environ.pop("AIENG_OBJECT_STORE", None)
    root = Path(spec["root"])
    shared = (root / "jobs" / store._checked_id(job_id)).is_dir()
    if not shared:
        missing = unreachable(spec)
        if missing:
            raise WorkerSetupError(
                f"worker {socket.gethostname()} cannot reach the job's workspace: {'; '.join(missing)}. "
                "Share the folder at the same path on every worker, or give the workspace a database, "
                "tracking server and object store every worker reaches "
                "(AIENG_DATABASE_URL, AIENG_TRACKING_URI, AIENG_OBJECT_STORE)"
            )
        key = (spec["database_url"], spec["tracking_uri"], spec.get("object_store") or "")
        if key not in _private_roots or not _private_roots[key].is_dir():
            _private_roots[key] = Path(tempfile.mkdtemp(prefix="aieng-worker-")) / ".aieng"
        root = _private_roots[key]
    os.environ["AIENG_WORKSPACE"] = str(root)
    config.reset()
    return Workspace(
        root, configured_tracking_uri=spec["tracking_uri"], configured_database_url=spec["database_url"]
    ).ensure()


def unreachable(spec: dict[str, Any]) -> list[str]:
    """What of the workspace's stores this machine cannot reach (files it does not have)."""
    missing = []
    for label, url in (("the metadata database", spec["database_url"]), ("the tracking store", spec["tracking_uri"])):
        path = _local_path(url)
        if path is not None and not path.exists():
            missing.append(f"{label} {url} is a file this machine does not have")
    if spec.get("objects_in_folder"):
        missing.append(f"the object store is the submitter's folder {spec['root']}")
    else:
        path = _local_path(spec.get("object_store") or "")
        if path is not None and not path.is_dir():
            missing.append(f"the object store {spec['object_store']} is a folder this machine does not have")
    return missing


def _local_path(url: str) -> Path | None:
    """The file or folder a local URL names (``sqlite:///``, ``file://``, a plain path); None for a server."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :].split("?", 1)[0])
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    if url and "://" not in url and ":" not in url.split("/", 1)[0]:
        return Path(url)
    return None


def private_cwd(record: Any, ws: Workspace) -> str | None:
    """The kernel's working folder: the notebook's folder when this machine has it, else the job's
    private folder (a worker without the submitter's disk)."""
    if record.cwd and Path(record.cwd).is_dir():
        return str(record.cwd)
    return str(store.job_dir(record.job_id, ws)) if record.cwd else None


# ---- who writes -----------------------------------------------------------------------------------


def written_by(record: Any) -> dict[str, str]:
    """``{"written_by": "user@host"}`` when this process is not the submitter's account and machine
    (a worker): an entry about the job names its submitter as actor and its real writer here,
    beside the writer's own key."""
    from ..fsutil import user_name

    me, host = user_name(), socket.gethostname()
    if record.submitted_by is None or (me, host) == (record.submitted_by, record.submitted_from):
        return {}
    return {"written_by": f"{me}@{host}"}
