"""The hash chain: appending one signed entry atomically, and reading entries strictly.

See :mod:`aieng_nb.audit` for the design (head file first, then the log, a copy of the head
outside the workspace).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from .. import audit_sign
from ..exceptions import IntegrityError
from ..fsutil import append_bytes, atomic_write_json, locked, user_name
from ..workspace import Workspace, current

GENESIS = "0" * 64
_FIELDS = {"seq", "ts", "actor", "event", "data", "prev", "key", "hash", "sig"}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False)


def _digest(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "sig")}
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def keys_path(ws: Workspace) -> Path:
    """The public keys of everyone who signed entries here: ``{key_id: {"public_key", ...}}``."""
    return ws.root / "audit.keys"


def _read_keys(ws: Workspace) -> dict[str, Any] | None:
    try:
        data = json.loads(keys_path(ws).read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _register_key(ws: Workspace, signer: audit_sign.Signer) -> None:
    keys = _read_keys(ws) or {}
    known = keys.get(signer.key_id)
    if isinstance(known, dict) and known.get("public_key") == signer.public_b64:
        return
    if known is not None:
        raise IntegrityError(
            f"{keys_path(ws)} records another public key under this user's key id {signer.key_id}; "
            "run `aieng audit verify`"
        )
    keys[signer.key_id] = {
        "algorithm": audit_sign.ALGORITHM,
        "public_key": signer.public_b64,
        "actor": user_name(),
        "added": round(time.time(), 3),
    }
    atomic_write_json(keys_path(ws), keys)


def _repair_torn_tail(ws: Workspace) -> dict[str, Any] | None:
    """A crash mid-append can leave a partial last line (no newline). Cut it off and return what
    was cut (size and hash of the dropped bytes) so the next entry records it: nothing is hidden."""
    try:
        fh = open(ws.audit_log, "rb+")
    except FileNotFoundError:
        return None
    with fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return None
        fh.seek(size - 1)
        if fh.read(1) == b"\n":  # the common case: intact, one byte read
            return None
        fh.seek(0)
        data = fh.read()
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    dropped = data[keep:]
    return {"bytes": len(dropped), "sha256": hashlib.sha256(dropped).hexdigest()}


def _last_line(path: os.PathLike[str]) -> bytes | None:
    """The last non-empty line of a file, read from the end (the log can be long)."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return None
    with fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        block, data = 4096, b""
        pos = end
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
            stripped = data.rstrip(b"\n")
            if b"\n" in stripped:
                return stripped.rsplit(b"\n", 1)[1]
        stripped = data.rstrip(b"\n")
        return stripped or None


def _append_line(path: Path, line: bytes) -> None:
    """Append one line durably; a failed write (a full disk) is cut off again."""
    append_bytes(path, line)


def _pending_head_entry(ws: Workspace, last_seq: int, last_hash: str) -> dict[str, Any] | None:
    """The entry an interrupted append left only in the head file (seq one past the log's last)."""
    head = _read_head(ws.audit_head)
    if not head or not isinstance(head.get("entry"), str) or head.get("seq") != last_seq + 1:
        return None
    try:
        entry = _parse_line(head["entry"].encode("utf-8"))
    except ValueError:
        return None
    if entry["seq"] != last_seq + 1 or entry["prev"] != last_hash or entry["hash"] != head.get("hash"):
        return None
    problem = _entry_problem(entry, _read_keys(ws) or {})
    if problem:
        raise IntegrityError(
            f"{ws.audit_head} holds an entry that does not verify ({problem}); run `aieng audit verify`"
        )
    return entry


def append(event: str, data: dict[str, Any] | None = None, *, workspace: Workspace | None = None) -> dict[str, Any]:
    """Append one signed entry; returns it (with ``seq``, ``hash``, ``key`` and ``sig``).

    ``event`` is a dotted name such as ``run.start``, ``snapshot.create``, ``job.finish``. Raises
    ``OSError`` only when nothing was recorded (a full disk before the head was written).
    """
    ws = workspace or current()
    signer = audit_sign.load_signer()
    assert signer is not None
    with locked(ws.locks / "audit.lock"):
        repaired = _repair_torn_tail(ws)
        last = _last_line(ws.audit_log)
        if last is None:
            seq, prev = 0, GENESIS
        else:
            try:
                tail = json.loads(last)
                seq, prev = int(tail["seq"]) + 1, str(tail["hash"])
            except (ValueError, KeyError, TypeError):
                raise IntegrityError(
                    f"the last entry of {ws.audit_log} is not a valid audit record; run `aieng audit verify`"
                ) from None
        extra: dict[str, Any] = {}
        pending = _pending_head_entry(ws, seq - 1, prev)
        if pending is not None:  # finish the append a full disk (or a crash) interrupted
            _append_line(ws.audit_log, (_canonical(pending) + "\n").encode("utf-8"))
            seq, prev = pending["seq"] + 1, pending["hash"]
            extra["completed_interrupted_append"] = {"seq": pending["seq"], "hash": pending["hash"]}
        if repaired:
            extra["repaired_torn_tail"] = repaired
        _workspace_id(ws)
        _register_key(ws, signer)
        entry: dict[str, Any] = {
            "seq": seq,
            "ts": round(time.time(), 6),
            "actor": user_name(),
            "event": event,
            "data": {**(data or {}), **extra},
            "prev": prev,
            "key": signer.key_id,
        }
        entry["hash"] = _digest(entry)
        entry["sig"] = signer.sign(entry["hash"])
        line = _canonical(entry)
        # the head first (atomic): if this fails nothing changed; once it is written the entry exists
        atomic_write_json(ws.audit_head, {"seq": seq, "hash": entry["hash"], "entry": line})
        try:
            _append_line(ws.audit_log, (line + "\n").encode("utf-8"))
        except OSError:
            pass  # the entry is complete in the head; the next append writes it to the log
        try:  # a second copy outside the workspace: a log and head truncated together are still caught
            atomic_write_json(external_head_path(ws), {"seq": seq, "hash": entry["hash"]})
        except OSError:
            pass
    return entry


def external_head_path(ws: Workspace) -> Path:
    """Where the second copy of the head lives: the user's state folder (``$AIENG_STATE_DIR``, else
    ``$XDG_STATE_HOME/aieng_nb``, else ``~/.local/state/aieng_nb``), keyed by the workspace's id."""
    return audit_sign.state_dir() / "audit-heads" / f"{_workspace_id(ws)}.json"


def _workspace_id(ws: Workspace, create: bool = True) -> str:
    """A random id made once per workspace (a workspace deleted and made again gets a new one)."""
    import secrets
    import tempfile

    path = ws.root / "id"
    if not path.exists():
        if not create:
            return ""
        fd, tmp = tempfile.mkstemp(dir=ws.root, prefix=".id-")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(16))
            try:
                os.link(tmp, path)  # never overwrites: the first process to get here wins
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def _read_head(path: Path) -> dict[str, Any] | None:
    try:
        head = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return {"invalid": True}
    return head if isinstance(head, dict) else {"invalid": True}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_line(raw: bytes) -> dict[str, Any]:
    """One entry, strictly: no duplicate keys, exactly the canonical form the writer produces."""
    try:
        entry = json.loads(raw, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        raise ValueError(f"entry is not a valid audit record ({exc})") from None
    if not isinstance(entry, dict) or set(entry) != _FIELDS:
        found = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise ValueError(f"entry is not a signed audit record (fields {found})")
    if _canonical(entry).encode("utf-8") != raw:
        raise ValueError("entry is not in canonical JSON (edited by hand or by another tool)")
    if not isinstance(entry["seq"], int) or not isinstance(entry["data"], dict):
        raise ValueError("entry has a bad seq or data field")
    return entry


def _entry_problem(entry: dict[str, Any], keys: dict[str, Any]) -> str:
    """Why an entry's own hash or signature does not hold ('' when they do)."""
    if not isinstance(entry.get("hash"), str) or _digest(entry) != entry["hash"]:
        return "content does not match its hash (entry edited)"
    record = keys.get(str(entry.get("key")))
    if not isinstance(record, dict) or not isinstance(record.get("public_key"), str):
        return f"signed with key {str(entry.get('key'))[:12]!r}, which is not recorded in audit.keys"
    if audit_sign.key_id(record["public_key"]) != entry["key"]:
        return f"audit.keys records a public key that is not key {entry['key'][:12]}"
    if not isinstance(entry.get("sig"), str) or not audit_sign.check(record["public_key"], entry["hash"], entry["sig"]):
        return f"signature does not verify with key {entry['key'][:12]} (entry forged or edited)"
    return ""
