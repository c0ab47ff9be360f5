"""The audit trail's signing key: Ed25519, kept outside the workspace.

Why Ed25519 (through the ``cryptography`` package, already a dependency of MLflow) and not an HMAC:
an HMAC can only be checked by someone holding the same secret, so a shared workspace could not be
verified by anyone but its writer, and every verifier could also forge. With a signature the
private key stays in the writer's state folder (``$AIENG_STATE_DIR``, else
``$XDG_STATE_HOME/aieng_nb``, else ``~/.local/state/aieng_nb``; folder 0700, key file 0600) and the
public key is recorded in the workspace database (``audit_keys``), so anyone can check what a key
holder wrote and nobody without the key can write in its name.

>>> signer = load_signer()                                    # doctest: +SKIP
>>> check(signer.public_b64, "ab" * 32, signer.sign("ab" * 32))  # doctest: +SKIP
True
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ALGORITHM = "ed25519"


def state_dir() -> Path:
    """The user's state folder for aieng_nb (outside every workspace)."""
    base = os.environ.get("AIENG_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "aieng_nb"
    )
    return Path(base)


def key_path() -> Path:
    return state_dir() / "audit-key.pem"


def key_id(public_b64: str) -> str:
    """A short, stable name for a public key: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:32]


@dataclass(frozen=True)
class Signer:
    """The private key of this user, with its public half."""

    private: Any
    public_b64: str

    @property
    def key_id(self) -> str:
        return key_id(self.public_b64)

    def sign(self, digest: str) -> str:
        return base64.b64encode(self.private.sign(digest.encode("ascii"))).decode("ascii")


_signers: dict[Path, Signer] = {}


def _private_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def load_signer(create: bool = True) -> Signer | None:
    """This user's signing key, made on first use (None when there is none and ``create`` is False)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_path()
    signer = _signers.get(path)
    if signer is not None and path.exists():
        return signer
    if not path.exists():
        if not create:
            return None
        _private_folder(path.parent)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-key-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # never replaces a key another process made first
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        os.chmod(path, 0o600)  # owner-only, whatever a copy or umask left
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        from ..exceptions import IntegrityError

        raise IntegrityError(f"{path} is not an Ed25519 key; move it away and a new one is made")
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    signer = _signers[path] = Signer(private, base64.b64encode(public).decode("ascii"))
    return signer


def check(public_b64: str, digest: str, signature: str) -> bool:
    """True when ``signature`` is the key's Ed25519 signature of ``digest``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
        key.verify(base64.b64decode(signature, validate=True), digest.encode("ascii"))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
