"""The content-addressed object store: ``snapshots/objects/<ab>/<hash>/{data..., meta.json}``.

An object folder is built under a hidden temporary name and renamed into place in one step,
so a crash or a full disk never leaves a visible half object. A per-hash file lock makes
concurrent writers of the same content wait for the first one instead of writing it twice.
Every data file's xxh3 checksum is kept in ``meta.json`` and checked on read.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import fsutil
from ..exceptions import IntegrityError, NotFoundError
from ..fsutil import atomic_write_json, fsync_dir
from .hashing import file_digest

TMP_PREFIX = ".tmp-"


class ObjectGone(NotFoundError):
    """The object does not exist (any more): for example a concurrent gc removed it."""


class ObjectStore:
    """Objects addressed by content hash under ``root`` (the workspace's ``snapshots`` folder).

    >>> import tempfile, pathlib
    >>> store = ObjectStore(pathlib.Path(tempfile.mkdtemp()))
    >>> store.exists("0" * 32)
    False
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.blobs = root / "blobs"  # file bytes of file/folder snapshots, shared by hard links
        self.locks = root / "locks"

    def dir(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        return (self.dir(digest) / "meta.json").is_file()

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive cross-process lock ``locks/<name>.lock`` (``fsutil.locked``); not re-entrant."""
        with fsutil.locked(self.locks / f"{name}.lock"):
            yield

    def meta(self, digest: str) -> dict[str, Any]:
        path = self.dir(digest) / "meta.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise ObjectGone(f"no snapshot object {digest}") from None
        except ValueError:
            raise IntegrityError(f"snapshot {digest[:12]}: meta.json is damaged") from None

    def write_meta(self, digest: str, meta: dict[str, Any]) -> None:
        """Replace an existing object's meta; ObjectGone when it was removed (never recreates the folder)."""
        with self.lock(f"object-{digest}"):  # ``remove`` renames the folder away under this lock
            if not self.exists(digest):
                raise ObjectGone(f"no snapshot object {digest}")
            atomic_write_json(self.dir(digest) / "meta.json", meta)

    def put(self, digest: str, write: Callable[[Path], dict[str, Any]]) -> bool:
        """Create object ``digest`` if absent: ``write(tmpdir)`` fills a temp folder and returns its meta.

        Returns True when this call created it, False when it already existed.
        """
        if self.exists(digest):
            return False
        with self.lock(f"object-{digest}"):
            if self.exists(digest):
                return False
            self.objects.mkdir(parents=True, exist_ok=True)
            tmp = self.objects / f"{TMP_PREFIX}{digest}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            try:
                meta = write(tmp)
                meta["files"] = {
                    p.relative_to(tmp).as_posix(): {"size": p.stat().st_size, "xxh3": file_digest(p)}
                    for p in sorted(tmp.rglob("*"))
                    if p.is_file()
                }
                meta["bytes"] = sum(f["size"] for f in meta["files"].values())
                atomic_write_json(tmp / "meta.json", meta)
                fsync_dir(tmp)
                final = self.dir(digest)
                final.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.rename(tmp, final)
                except OSError:
                    if not self.exists(digest):
                        raise
                    # another writer won (possible where file locks do not work, e.g. some network disks)
                    shutil.rmtree(tmp, ignore_errors=True)
                    return False
                fsync_dir(final.parent)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return True

    def verify_files(self, digest: str, meta: dict[str, Any] | None = None) -> None:
        """Check every data file's size and checksum; IntegrityError names the first bad one."""
        meta = meta or self.meta(digest)
        folder = self.dir(digest)
        for rel, rec in meta.get("files", {}).items():
            path = folder / rel
            if not path.is_file():
                raise IntegrityError(f"snapshot {digest[:12]} is corrupted: {rel} is missing")
            if path.stat().st_size != rec["size"] or file_digest(path) != rec["xxh3"]:
                raise IntegrityError(
                    f"snapshot {digest[:12]} is corrupted: {rel} does not match its checksum "
                    "(restore it from a backup or delete the object with `aieng snapshots gc`)"
                )

    def hashes(self) -> Iterator[str]:
        if not self.objects.is_dir():
            return
        for prefix in sorted(self.objects.iterdir()):
            if prefix.name.startswith(".") or not prefix.is_dir():
                continue
            for obj in sorted(prefix.iterdir()):
                if (obj / "meta.json").is_file():
                    yield obj.name

    def temp_dirs(self, older_than: float = 3600.0) -> list[Path]:
        """Leftovers of interrupted writes (never visible as objects)."""
        if not self.objects.is_dir():
            return []
        now = time.time()
        return [
            p for p in self.objects.iterdir() if p.name.startswith(TMP_PREFIX) and now - p.stat().st_mtime >= older_than
        ]

    def unused_blobs(self, older_than: float = 3600.0) -> list[Path]:
        """Blobs no object links to any more (link count 1), and leftovers of interrupted blob writes."""
        if not self.blobs.is_dir():
            return []
        now = time.time()
        out = []
        for p in self.blobs.rglob("*"):
            if not p.is_file():
                continue
            st = p.stat()
            if now - st.st_mtime < older_than:
                continue
            if st.st_nlink <= 1 or p.name.startswith(".tmp-"):
                out.append(p)
        return out

    def remove(self, digest: str) -> int:
        """Delete an object (renamed away first, so it disappears in one step); returns bytes freed."""
        folder = self.dir(digest)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        trash = self.objects / f"{TMP_PREFIX}rm-{digest}-{uuid.uuid4().hex[:8]}"
        with self.lock(f"object-{digest}"):
            os.rename(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)
        try:
            folder.parent.rmdir()  # the two-letter fan-out folder, when it is now empty
        except OSError:
            pass
        return size
