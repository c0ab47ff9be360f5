"""Atomic file writes: temp file in the same folder, fsync, rename.

A crash or a full disk leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def undo_on_failure(path: Path, what: str) -> Iterator[None]:
    """Write ``path`` (and its audit entry) in the block; if the block fails on the environment (a
    full disk), ``path`` is put back as it was (removed, or its old content restored through a hard
    link, which needs no free space) and StorageError says nothing was changed."""
    import contextlib

    from .exceptions import AiengError, StorageError

    backup = path.with_name(f".{path.name}.{os.getpid()}.undo")
    had = path.is_file()
    if had:
        with contextlib.suppress(FileNotFoundError):
            backup.unlink()
        os.link(path, backup)
    try:
        yield
    except BaseException as exc:
        if had:
            os.replace(backup, path)
        else:
            path.unlink(missing_ok=True)
        if isinstance(exc, AiengError) or not isinstance(exc, Exception):
            raise
        why = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise StorageError(f"{what} was not saved ({why}); nothing changed") from None
    if had:
        backup.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> _ = atomic_write_bytes(p, b"hi"); p.read_bytes()
    b'hi'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:  # False for frequent intermediate saves: still never half a file, just not durable
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target


def append_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> int:
    """Append ``data`` to ``path`` all or nothing: a failed write (a full disk) is cut off again, so
    no torn line is left for the next reader. Returns the file's size after the append.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "log"
    >>> append_bytes(p, b"one\\n"), append_bytes(p, b"two\\n")
    (4, 8)
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
        except BaseException:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass
            raise
        return start + len(data)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename inside it) to disk; best effort where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write text (UTF-8) atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write JSON atomically (sorted keys, readable indent)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy a file atomically (temp copy + rename)."""
    import shutil

    target = Path(dst)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target


@contextmanager
def locked(lock_path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created if needed) across processes.

    >>> import tempfile, pathlib
    >>> with locked(pathlib.Path(tempfile.mkdtemp()) / "x.lock"):
    ...     pass
    """
    import fcntl

    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def user_name() -> str:
    """The OS user (recorded on runs and audit entries); the uid where there is no name."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # containers without a passwd entry
        return str(os.getuid())
