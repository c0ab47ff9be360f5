"""The content-addressed object store: ``snapshots/objects/<ab>/<hash>/{data..., meta.json}``.

An object folder is built under a hidden temporary name and renamed into place in one step,
so a crash or a full disk never leaves a visible half object. A per-hash file lock makes
concurrent writers of the same content wait for the first one instead of writing it twice.
Every data file's xxh3 checksum is kept in ``meta.json`` and checked on read.

A write in progress holds an *in-flight* lock (``locks/inflight/<token>.lock``, an exclusive
``flock`` listing the hashes it writes). ``gc`` never collects those hashes or the write's temp
folder, whatever its grace period; the temp folder of a writer that died (its lock is free) is
removed by the next write or gc. Every hash read from disk is checked to be a hash before it
becomes a path.

With a shared object store (``ws.objects`` not the workspace folder: an fsspec URL or an MLflow
server's artifact store) this folder is a cache: a new object is built here as above, then
published file by file under ``snapshots/objects/<ab>/<hash>/<file>`` with ``meta.json`` last (an
object exists in the store once its ``meta.json`` does), and an object made elsewhere is fetched
into the cache (into a temp folder, renamed into place) before it is read. Keys come from the hash.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
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
DIGEST_RE = re.compile(r"[0-9a-f]{32}")  # xxh3_128, hex
# a temp folder of an in-flight write: .tmp-<pid>-<12 hex token>-<digest>
_TEMP_RE = re.compile(r"\.tmp-(?P<token>\d+-[0-9a-f]{12})-[0-9a-f]{32}")


def check_digest(digest: object) -> str:
    """``digest`` if it is a snapshot hash (32 lowercase hex digits), else IntegrityError: a value read
    from disk never becomes a path unchecked (``../../x`` in a damaged or edited index).

    >>> check_digest("0" * 32) == "0" * 32
    True
    """
    if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
        raise IntegrityError(
            f"{str(digest)[:80]!r} is not a snapshot hash (the index or a record was damaged or edited)"
        )
    return digest


def check_rel(rel: object) -> str:
    """A file name inside an object, as ``meta.json`` lists it (``data.parquet``, ``files/a/b.csv``)."""
    from ..storage.objectstore import check_key

    try:
        return check_key(rel)
    except ValueError:
        raise IntegrityError(f"snapshot file {str(rel)[:80]!r} leaves its object (meta.json damaged)") from None


class ObjectGone(NotFoundError):
    """The object does not exist (any more): for example a concurrent gc removed it."""


class ObjectStore:
    """Objects addressed by content hash under ``root`` (the workspace's ``snapshots`` folder).

    >>> import tempfile, pathlib
    >>> store = ObjectStore(pathlib.Path(tempfile.mkdtemp()))
    >>> store.exists("0" * 32)
    False
    """

    def __init__(self, root: Path, remote: Any = None) -> None:
        self.root = root
        self.remote = remote  # the workspace's object store when it is not this folder
        self.objects = root / "objects"
        self.blobs = root / "blobs"  # file bytes of file/folder snapshots, shared by hard links
        self.locks = root / "locks"

    def dir(self, digest: str) -> Path:
        check_digest(digest)
        return self.objects / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        if (self.dir(digest) / "meta.json").is_file():
            return True
        return self.remote is not None and self.remote.exists(self.key(digest, "meta.json"))

    def key(self, digest: str, rel: str) -> str:
        """The object store key of one file of object ``digest``."""
        return f"snapshots/objects/{check_digest(digest)[:2]}/{digest}/{rel}"

    def url(self, digest: str, rel: str = "") -> str:
        """Where another process (another machine, with a shared store) reads the object or one file."""
        if self.remote is None:
            return (self.dir(digest) / rel if rel else self.dir(digest)).as_uri()
        return self.remote.url(self.key(digest, rel) if rel else self.key(digest, "x")[: -len("/x")])

    def publish(self, digest: str) -> None:
        """Upload a cached object to the shared store (data first, ``meta.json`` last); a no-op
        without one or when the store has it."""
        if self.remote is None or self.remote.exists(self.key(digest, "meta.json")):
            return
        folder = self.dir(digest)
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "meta.json")
        for path in files:
            self.remote.put_file(self.key(digest, path.relative_to(folder).as_posix()), path)
        self.remote.put_file(self.key(digest, "meta.json"), folder / "meta.json")

    def fetch(self, digest: str) -> None:
        """Bring an object of the shared store into this cache (a no-op when it is here)."""
        if (self.dir(digest) / "meta.json").is_file() or self.remote is None:
            return
        try:
            meta = json.loads(self.remote.get_bytes(self.key(digest, "meta.json")))
        except NotFoundError:
            raise ObjectGone(
                f"no snapshot object {digest} (not in this folder nor in {self.remote.base_url})"
            ) from None
        except ValueError:
            raise IntegrityError(f"snapshot {digest[:12]}: meta.json in the object store is damaged") from None
        rels = [check_rel(rel) for rel in meta.get("files", {})]
        with self.lock(f"object-{digest}"), self.in_flight(digest) as token:
            if (self.dir(digest) / "meta.json").is_file():
                return
            self.objects.mkdir(parents=True, exist_ok=True)
            tmp = self.objects / f"{TMP_PREFIX}{token}-{digest}"
            tmp.mkdir()
            try:
                for rel in rels:
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    self.remote.get_file(self.key(digest, rel), tmp / rel)
                atomic_write_json(tmp / "meta.json", meta)
                final = self.dir(digest)
                final.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.rename(tmp, final)
                except OSError:
                    if not (final / "meta.json").is_file():
                        raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive cross-process lock ``locks/<name>.lock`` (``fsutil.locked``); not re-entrant."""
        with fsutil.locked(self.locks / f"{name}.lock"):
            yield

    def meta(self, digest: str) -> dict[str, Any]:
        path = self.dir(digest) / "meta.json"
        if self.remote is not None and not path.is_file():
            self.fetch(digest)
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
            self.fetch(digest)
            atomic_write_json(self.dir(digest) / "meta.json", meta)
            if self.remote is not None:
                self.remote.put_file(self.key(digest, "meta.json"), self.dir(digest) / "meta.json")

    # --- writes in progress ----------------------------------------------------------------------

    @contextmanager
    def in_flight(self, *digests: str) -> Iterator[str]:
        """Mark a write of ``digests`` in progress (yields its token): gc never collects them meanwhile.

        The lock file is locked before it becomes visible (made under a temp name, then renamed),
        so gc never sees an in-flight file it could take for a dead writer's.
        """
        for digest in digests:
            check_digest(digest)
        folder = self.locks / "inflight"
        folder.mkdir(parents=True, exist_ok=True)
        token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        tmp, final = folder / f".{token}.new", folder / f"{token}.lock"
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, "\n".join(digests).encode())
            os.rename(tmp, final)
            try:
                yield token
            finally:
                final.unlink(missing_ok=True)
        finally:
            os.close(fd)
            tmp.unlink(missing_ok=True)

    def live_writes(self) -> tuple[set[str], set[str]]:
        """``(tokens, digests)`` of writes in progress in any process; locks of dead writers are removed."""
        tokens: set[str] = set()
        digests: set[str] = set()
        folder = self.locks / "inflight"
        if not folder.is_dir():
            return tokens, digests
        for path in folder.glob("*.lock"):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # finished meanwhile
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # held: the writer is alive
                    tokens.add(path.stem)
                    listed = os.pread(fd, 1 << 20, 0).decode(errors="replace")  # the open file: it may be unlinked now
                    digests.update(d for d in listed.split() if DIGEST_RE.fullmatch(d))
                else:  # free: the writer finished or died
                    path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        return tokens, digests

    def stale_temps(self, grace: float, live_tokens: set[str] | None = None) -> list[Path]:
        """Temp folders no live write owns: those of dead writers at once, others (an older layout,
        trash of an interrupted removal) once older than ``grace`` seconds."""
        if not self.objects.is_dir():
            return []
        tokens = self.live_writes()[0] if live_tokens is None else live_tokens
        now = time.time()
        out = []
        for path in self.objects.iterdir():
            if not path.name.startswith(TMP_PREFIX):
                continue
            m = _TEMP_RE.fullmatch(path.name)
            if m:
                if m.group("token") not in tokens:
                    out.append(path)
            elif path.name.startswith(f"{TMP_PREFIX}rm-") or now - path.stat().st_mtime >= grace:
                out.append(path)
        return out

    def clean_stale_temps(self) -> int:
        """Remove what interrupted writes left behind (called by the next write and by gc)."""
        stale = [p for p in self.stale_temps(grace=3600.0) if _TEMP_RE.fullmatch(p.name)]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return len(stale)

    def put(self, digest: str, write: Callable[[Path], dict[str, Any]]) -> bool:
        """Create object ``digest`` if absent: ``write(tmpdir)`` fills a temp folder and returns its meta.

        Returns True when this call created it, False when it already existed.
        """
        if self.exists(digest):
            if (self.dir(digest) / "meta.json").is_file():
                self.publish(digest)  # cached here but not (yet) in the shared store: a publish cut short
            return False
        with self.lock(f"object-{digest}"), self.in_flight(digest) as token:
            if self.exists(digest):
                return False
            self.objects.mkdir(parents=True, exist_ok=True)
            self.clean_stale_temps()
            tmp = self.objects / f"{TMP_PREFIX}{token}-{digest}"
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
            self.publish(digest)
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
        seen: set[str] = set()
        for digest in self._local_hashes():
            seen.add(digest)
            yield digest
        if self.remote is not None:
            for key in self.remote.list("snapshots/objects"):
                parts = key.split("/")
                if len(parts) == 5 and parts[4] == "meta.json" and DIGEST_RE.fullmatch(parts[3]):
                    if parts[3][:2] == parts[2] and parts[3] not in seen:
                        seen.add(parts[3])
                        yield parts[3]

    def _local_hashes(self) -> Iterator[str]:
        if not self.objects.is_dir():
            return
        for prefix in sorted(self.objects.iterdir()):
            if prefix.name.startswith(".") or not prefix.is_dir():
                continue
            for obj in sorted(prefix.iterdir()):
                if DIGEST_RE.fullmatch(obj.name) and obj.name[:2] == prefix.name and (obj / "meta.json").is_file():
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
        """Delete an object (renamed away first, so it disappears in one step; from a shared store
        ``meta.json`` first); returns bytes freed."""
        if self.remote is not None:
            self.remote.delete(self.key(digest, "meta.json"))
            for key in self.remote.list(f"snapshots/objects/{digest[:2]}/{digest}"):
                self.remote.delete(key)
        folder = self.dir(digest)
        if not folder.is_dir():
            return 0
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
