"""The workspace's redaction key: created once, atomically, mode 0600, never inside a snapshot."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from ..exceptions import IntegrityError
from ..fsutil import fsync_dir

if TYPE_CHECKING:
    from ..workspace import Workspace


def workspace_key(workspace: Workspace | None = None) -> bytes:
    """The workspace's redaction key (32 random bytes, created once, mode 0600, never in a snapshot).

    The key is written to a temporary file, fsynced and then hard-linked into place (never over an
    existing key), so ``pii.key`` is either absent or complete: a crash or a concurrent reader never
    sees a half-written key. A key file that is not exactly 64 hex characters raises ``IntegrityError``
    instead of silently hashing with a wrong (or empty) key.

    >>> len(workspace_key())   # doctest: +SKIP
    32
    """
    from ..workspace import current

    ws = workspace or current()
    path = ws.path("secrets", "pii.key")
    key = _read_key(path)
    if key is not None:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = os.urandom(32)
    tmp = path.parent / f".pii.key.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key.hex())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process placed its key first: never overwrites
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system: rename (checked first, a tiny window remains)
            if not path.exists():
                os.rename(tmp, path)
        fsync_dir(path.parent)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    stored = _read_key(path)  # whoever won, every process uses the key on disk
    if stored is None:
        raise IntegrityError(f"redaction key {path} could not be created: check the folder is writable")
    return stored


def _read_key(path: Any) -> bytes | None:
    """The key in ``path``; None when there is none; IntegrityError when the file is not a 32-byte hex key."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise IntegrityError(
            f"redaction key {path} is damaged ({len(text)} characters, expected 64 hex characters), "
            "for example left empty by a crash. Restore it from a backup to keep `--pii redact` tokens "
            "matching earlier snapshots; if no redacted snapshot was made with it, delete the file and a "
            "new key is created on the next redaction."
        )
    return bytes.fromhex(text)
