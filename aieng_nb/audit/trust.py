"""Which signing keys the verifying user trusts: trust rooted outside what a database writer can edit.

The ``audit_keys`` table only says which public key signed which entry: anyone who can write the
workspace database can add a key of their own under any actor name and append properly chained,
signed entries. So an entry counts as verified only when its key is trusted by the user who
verifies, through one of:

- **your own key** (``$AIENG_STATE_DIR/audit-key.pem``): always trusted;
- **your trust store**, ``trusted-keys.json`` in your state folder (``$AIENG_STATE_DIR``, else
  ``$XDG_STATE_HOME/aieng_nb``, else ``~/.local/state/aieng_nb``): keys you added with
  ``aieng audit trust KEYFILE|FINGERPRINT`` / :func:`trust`;
- **the project's keys file**, ``aieng-trusted-keys.json`` in the folder that holds ``.aieng/``
  or any folder above it up to the git repository's root, committed and reviewed like code. In a
  git work tree the committed version (``HEAD``) is read, so an uncommitted edit trusts nothing.

Both files hold ``{"keys": [{"public_key": BASE64, "actor": NAME, ...}, ...]}``; ``aieng audit key``
prints the record of your own key to paste there. Entries signed by any other key are reported as
unverified with their claimed actor marked (``root (unverified key 3f2a9c01b7e4…)``).

>>> sorted(trusted_keys(None)) == sorted(trusted_keys(None))   # doctest: +SKIP
True
"""

from __future__ import annotations

import base64
import binascii
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import NotFoundError, ValidationError
from ..workspace import Workspace
from . import sign as audit_sign

PROJECT_FILE = "aieng-trusted-keys.json"
STORE_FILE = "trusted-keys.json"


@dataclass(frozen=True)
class TrustedKey:
    """A public key the verifying user trusts, and where that trust comes from."""

    key_id: str
    public_key: str
    actor: str
    source: str  # "your key", "your trust store", or the project file's path


def store_path() -> Path:
    """This user's trust store (in the state folder, beside the private key)."""
    return audit_sign.state_dir() / STORE_FILE


def _public_key(value: Any) -> str:
    """A base64 Ed25519 public key, checked (32 bytes), or ValidationError."""
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValidationError(f"{str(value)[:60]!r} is not a base64 Ed25519 public key (32 bytes)")
    return base64.b64encode(raw).decode("ascii")


def _records(text: str, where: str) -> list[dict[str, Any]]:
    """The key records of a keys file (``{"keys": [...]}`` or a bare list); a bad file is an error."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"{where} is not valid JSON ({exc})") from None
    items = data.get("keys") if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(x, dict) and "public_key" in x for x in items):
        raise ValidationError(f'{where} must hold {{"keys": [{{"public_key": ..., "actor": ...}}, ...]}}')
    return items


def _add(out: dict[str, TrustedKey], items: list[dict[str, Any]], source: str, where: str) -> None:
    for item in items:
        public = _public_key(item["public_key"])
        kid = audit_sign.key_id(public)
        if item.get("key_id") and item["key_id"] != kid:
            raise ValidationError(f"{where}: key_id {item['key_id']} is not the id of its public key ({kid})")
        out.setdefault(kid, TrustedKey(kid, public, str(item.get("actor") or ""), source))


def project_files(ws: Workspace | None) -> list[Path]:
    """Where a project keys file may be: the folder holding ``.aieng/`` and its parents up to the
    git root (a folder with ``.git``); outside git, just the folder holding ``.aieng/``."""
    if ws is None:
        return []
    here = ws.root.resolve().parent
    found = []
    for folder in (here, *here.parents):
        found.append(folder / PROJECT_FILE)
        if (folder / ".git").exists():
            return found
    return found[:1]


def _committed(path: Path) -> str | None:
    """The file's text as committed at HEAD when it lies in a git work tree; its text outside git;
    None when git knows no committed version (new or ignored: not reviewed, not trusted)."""
    try:
        top = subprocess.run(
            ["git", "-C", str(path.parent), "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        top = None
    if top is None or top.returncode != 0:
        return path.read_text(encoding="utf-8") if path.is_file() else None
    rel = path.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    shown = subprocess.run(
        ["git", "-C", str(path.parent), "show", f"HEAD:{rel}"], capture_output=True, text=True, timeout=30
    )
    return shown.stdout if shown.returncode == 0 else None


def trusted_keys(ws: Workspace | None) -> dict[str, TrustedKey]:
    """Every key the verifying user trusts, by key id: own key, trust store, project keys file."""
    out: dict[str, TrustedKey] = {}
    me = audit_sign.load_signer(create=False)
    if me is not None:
        out[me.key_id] = TrustedKey(me.key_id, me.public_b64, "", "your key")
    store = store_path()
    if store.is_file():
        _add(out, _records(store.read_text(encoding="utf-8"), str(store)), "your trust store", str(store))
    for path in project_files(ws):
        if not path.exists():
            continue
        text = _committed(path)
        if text is not None:
            _add(out, _records(text, str(path)), str(path), str(path))
    return out


def own_key() -> dict[str, Any]:
    """Your public key as a keys-file record (for a teammate's trust store or the project file).

    >>> sorted(own_key())   # doctest: +SKIP
    ['actor', 'key_id', 'public_key']
    """
    from ..fsutil import user_name

    me = audit_sign.load_signer()
    assert me is not None
    return {"key_id": me.key_id, "public_key": me.public_b64, "actor": user_name()}


def _from_database(fingerprint: str, ws: Workspace) -> dict[str, Any]:
    from ..storage import exists

    fp = fingerprint.lower()
    if len(fp) < 8 or any(c not in "0123456789abcdef" for c in fp):
        raise ValidationError(f"{fingerprint!r} is neither a keys file nor a key fingerprint (8 to 32 hex digits)")
    from .chain import _read_keys

    keys = _read_keys(ws) if exists(ws) else {}
    hits = [(k, v) for k, v in keys.items() if k.startswith(fp)]
    if len(hits) != 1:
        what = "no audit key" if not hits else f"{len(hits)} audit keys"
        raise NotFoundError(f"{what} with fingerprint {fingerprint} in this workspace's database")
    kid, record = hits[0]
    return {"key_id": kid, "public_key": record["public_key"], "actor": record.get("actor") or ""}


def trust(key: str, *, workspace: Workspace | None = None) -> TrustedKey:
    """Add a key to your trust store: a keys file (``aieng audit key`` output, a ``{"keys": [...]}``
    file, or a bare base64 public key) or a fingerprint (key id, or a prefix of at least 8 hex
    digits) of a key recorded in the database: check it with its owner first.

    >>> trust("3f2a9c01b7e4d5a6")   # doctest: +SKIP
    TrustedKey(key_id='3f2a9c01b7e4d5a6...', ...)
    """
    from ..fsutil import atomic_write_json
    from ..workspace import existing

    path = Path(key).expanduser()
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if text.startswith(("{", "[")):
            items = _records(text, str(path)) if '"keys"' in text or text.startswith("[") else [json.loads(text)]
            if len(items) != 1 or not isinstance(items[0], dict):
                raise ValidationError(f"{path} must hold exactly one key record to trust")
            item = items[0]
        else:
            item = {"public_key": text}
    else:
        item = _from_database(key, workspace or existing())
    public = _public_key(item.get("public_key"))
    record = {"key_id": audit_sign.key_id(public), "public_key": public, "actor": str(item.get("actor") or "")}
    store = store_path()
    items = _records(store.read_text(encoding="utf-8"), str(store)) if store.is_file() else []
    if all(_public_key(x["public_key"]) != public for x in items):
        items.append({**record, "added": round(time.time(), 3)})
        audit_sign._private_folder(store.parent)
        atomic_write_json(store, {"keys": items})
    return TrustedKey(record["key_id"], public, record["actor"], "your trust store")


def marked(actor: str, key_id: str) -> str:
    """How an entry's claimed actor is shown when its key is not trusted."""
    return f"{actor} (unverified key {key_id[:12]}…)"


def verified_keys(entries: list[Any], ws: Workspace) -> set[int]:
    """The seqs of ``entries`` whose key is one you trust and is recorded with the same public key.

    A listing checks keys, not each signature (an Ed25519 check per entry made the panel's first
    audit page of 2,000 entries ~7x slower); a forged signature under a trusted key id is
    :func:`~aieng_nb.audit.verify`'s to catch, at its own line."""
    from .chain import _read_keys

    trusted = trusted_keys(ws)
    recorded = _read_keys(ws)
    good = {
        kid
        for kid, t in trusted.items()
        if isinstance(recorded.get(kid), dict) and recorded[kid].get("public_key") == t.public_key
    }
    return {int(e.seq) for e in entries if str(e.key) in good}
