"""Tamper-evident audit trail: a hash-chained, signed, append-only JSON-lines log.

Each entry's SHA-256 covers its content and the previous entry's hash, so an edited, deleted,
reordered or inserted entry breaks the chain at its exact position. Each entry is also signed with
the writer's Ed25519 key, which lives outside the workspace (see :mod:`aieng_nb.audit_sign`); its
public key is recorded in ``.aieng/audit.keys``. Someone who can write the workspace but not the
writer's state folder cannot recompute the chain with valid signatures. The latest entry is
written to ``.aieng/audit.head`` (atomically, before it is appended to the log) and the head's
``(seq, hash)`` to a second copy in the writer's state folder, so truncating the tail or replacing
the whole log is caught; :func:`anchor` records the head elsewhere (an MLflow run tag, a git tag).

An append is one atomic step: the head file (which holds the full entry) is replaced first, then
the entry is appended to the log. A failure before the head write changes nothing; a failure after
it (a full disk) leaves an entry that :func:`verify` finds complete and signed in the head, and the
next append writes it to the log and records that it did.

>>> import tempfile, pathlib
>>> from aieng_nb.workspace import Workspace
>>> ws = Workspace(pathlib.Path(tempfile.mkdtemp())).ensure()
>>> _ = append("run.start", {"run_id": "abc"}, workspace=ws)
>>> verify(workspace=ws).ok
True
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import audit_sign
from .exceptions import IntegrityError, ValidationError
from .fsutil import append_bytes, atomic_write_json, locked, user_name
from .workspace import Workspace, current

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


@dataclass
class VerifyResult:
    """Outcome of :func:`verify`: ``ok``, the number of entries, the first bad position and why."""

    ok: bool
    entries: int
    bad_seq: int | None = None
    bad_line: int | None = None
    reason: str = ""
    head: dict[str, Any] = field(default_factory=dict)
    signers: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.ok:
            by = ", ".join(f"{k[:12]}: {n}" for k, n in self.signers.items())
            text = f"OK: {self.entries} entries, chain intact, every entry signed" + (f" ({by})" if by else "")
            return "\n".join([text, *(f"  note: {n}" for n in self.notes)])
        where = f" at entry {self.bad_seq} (line {self.bad_line})" if self.bad_line is not None else ""
        return f"NOT OK{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "bad_seq": self.bad_seq,
            "bad_line": self.bad_line,
            "reason": self.reason,
            "signers": dict(self.signers),
            "notes": list(self.notes),
        }


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


def _workspace_contents(ws: Workspace) -> list[str]:
    """What the workspace holds that the audit trail should describe (runs, snapshots)."""
    import sqlite3

    found = []
    if ws.mlflow_db.exists():
        try:
            conn = sqlite3.connect(f"file:{ws.mlflow_db}?mode=ro", uri=True)
            try:
                runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            finally:
                conn.close()
            if runs:
                found.append(f"{runs} run(s)")
        except sqlite3.Error:
            pass
    index = ws.path("snapshots", "index.json")
    try:
        names = json.loads(index.read_text()).get("names") or {}
    except (OSError, ValueError, AttributeError):
        names = {}
    if names:
        found.append(f"{len(names)} snapshot name(s)")
    return found


def _parse_anchor(anchor: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if anchor is None or isinstance(anchor, dict):
        return anchor
    m = re.fullmatch(r"(\d+):([0-9a-f]{64})", str(anchor).strip())
    if not m:
        raise ValidationError(f"bad anchor {anchor!r}: use SEQ:HASH as `aieng audit anchor` prints it")
    return {"seq": int(m.group(1)), "hash": m.group(2)}


def verify(*, workspace: Workspace | None = None, anchor: str | dict[str, Any] | None = None) -> VerifyResult:
    """Check the whole chain, every signature, the head and its copy outside the workspace.

    ``anchor`` (``"SEQ:HASH"``, as :func:`anchor` records it) is a head kept elsewhere that the chain
    must contain. Reports the first bad entry at its own line.
    """
    anchored = _parse_anchor(anchor)  # bad input is an error before anything is read
    ws = workspace or current()
    lines = ws.audit_log.read_bytes().split(b"\n") if ws.audit_log.exists() else []
    has_log = any(raw.strip() for raw in lines)
    head = _read_head(ws.audit_head)
    ws_id = _workspace_id(ws, create=False)
    if not has_log:
        contents = _workspace_contents(ws)
        if contents:
            return VerifyResult(
                False, 0, reason=f"the audit log is missing, but the workspace has {' and '.join(contents)}"
            )
        if head is not None or (ws_id and external_head_path(ws).exists()):
            return VerifyResult(False, 0, reason="the audit log is missing or empty, but a head says it had entries")
        return VerifyResult(True, 0)
    if not ws_id:
        return VerifyResult(
            False, 0, reason="the workspace id (.aieng/id) is missing: its external head cannot be found"
        )
    keys = _read_keys(ws)
    if keys is None:
        return VerifyResult(False, 0, reason=f"{keys_path(ws).name} (the public keys of the signers) is missing")

    prev, count = GENESIS, 0
    hashes: list[str] = []
    signers: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            if lineno != len(lines):
                return VerifyResult(False, count, count, lineno, "blank line inside the log")
            continue
        try:
            entry = _parse_line(raw)
        except ValueError as exc:
            return VerifyResult(False, count, count, lineno, str(exc))
        if entry["seq"] != count:
            found = entry["seq"]
            return VerifyResult(
                False, count, count, lineno, f"expected seq {count}, found {found} (deleted, inserted or reordered)"
            )
        if entry["prev"] != prev:
            return VerifyResult(
                False, count, count, lineno, "previous-hash link broken (entry deleted, inserted or reordered)"
            )
        problem = _entry_problem(entry, keys)
        if problem:
            return VerifyResult(False, count, count, lineno, problem)
        prev = entry["hash"]
        hashes.append(prev)
        signers[entry["key"]] = signers.get(entry["key"], 0) + 1
        count += 1
    notes: list[str] = []
    position = len([x for x in lines if x.strip()]) + 1

    if head is None:
        return VerifyResult(False, count, None, None, "head file missing (cannot rule out truncation)")
    if head.get("invalid"):
        return VerifyResult(False, count, None, None, "head file is not valid JSON")
    if head.get("seq") == count and isinstance(head.get("entry"), str):
        try:
            pending = _parse_line(head["entry"].encode("utf-8"))
        except ValueError as exc:
            return VerifyResult(False, count, count, position, f"the head's entry: {exc}", head)
        problem = _entry_problem(pending, keys)
        if pending["seq"] != count or pending["prev"] != prev or pending["hash"] != head.get("hash") or problem:
            return VerifyResult(
                False, count, count, position, f"the head's entry does not continue the log {problem}".strip(), head
            )
        notes.append(
            f"entry {count} is complete in the head file but not yet in the log (an interrupted write, e.g. a full"
            " disk); the next append writes it there"
        )
        prev = pending["hash"]
        hashes.append(prev)
        signers[pending["key"]] = signers.get(pending["key"], 0) + 1
        count += 1
    elif isinstance(head.get("seq"), int) and head["seq"] >= count:
        return VerifyResult(
            False,
            count,
            count,
            position,
            f"log truncated: the head says {head['seq'] + 1} entries, found {count}",
            head,
        )
    elif head.get("seq") != count - 1 or head.get("hash") != prev:
        return VerifyResult(False, count, count - 1, position - 1, "last entry does not match the head hash", head)

    external = _read_head(external_head_path(ws))
    if external is None:
        return VerifyResult(
            False,
            count,
            None,
            None,
            f"the external head ({external_head_path(ws)}) is missing: the log cannot be checked against a copy"
            " outside the workspace (verify as the user who wrote it, or pass an anchor)",
        )
    for label, copy in (("external head", external), ("anchor", anchored)):
        if copy is None:
            continue
        if copy.get("invalid") or not isinstance(copy.get("seq"), int) or not _HEX64.fullmatch(str(copy.get("hash"))):
            return VerifyResult(False, count, None, None, f"the {label} is not a valid head record")
        if copy["seq"] >= count:
            return VerifyResult(
                False,
                count,
                count,
                position,
                f"log truncated: the {label} says {copy['seq'] + 1} entries, found {count}",
                copy,
            )
        if hashes[copy["seq"]] != copy["hash"]:
            return VerifyResult(
                False,
                count,
                copy["seq"],
                copy["seq"] + 1,
                f"entry {copy['seq']} does not match the {label} (the log was rewritten)",
                copy,
            )
        if label == "external head" and copy["seq"] < count - 1:
            notes.append(
                f"{count - 1 - copy['seq']} entries after this user's last one (other writers, checked by signature)"
            )
    me = audit_sign.load_signer(create=False)
    if me is not None and me.key_id in keys and keys[me.key_id].get("public_key") != me.public_b64:
        return VerifyResult(
            False, count, None, None, f"audit.keys records another public key under your key id {me.key_id}"
        )
    return VerifyResult(True, count, head=head, signers=signers, notes=notes)


def anchor(*, run_id: str | None = None, git: bool = False, workspace: Workspace | None = None) -> dict[str, Any]:
    """Record the current head (``SEQ:HASH``) outside the workspace: as the tag ``aieng.audit.head`` of
    an MLflow run and/or as an annotated git tag in the repository holding the workspace. Check a
    later log against it with ``verify(anchor="SEQ:HASH")``.

    >>> anchor(run_id="3f2a...", git=True)   # doctest: +SKIP
    {'seq': 41, 'hash': '9c1e...', 'anchor': '41:9c1e...', 'run_id': '3f2a...', 'git_tag': 'aieng-audit-...-41'}
    """
    import subprocess

    if not run_id and not git:
        raise ValidationError("say where to anchor the head: a run (run_id / --run RUN_ID) and/or git (--git)")
    ws = workspace or current()
    result = verify(workspace=ws)
    if not result.ok:
        raise IntegrityError(f"the audit trail does not verify, so its head is not anchored: {result.reason}")
    head = _read_head(ws.audit_head) or {}
    seq, digest = int(head["seq"]), str(head["hash"])
    out: dict[str, Any] = {"seq": seq, "hash": digest, "anchor": f"{seq}:{digest}"}
    if git:
        tag = f"aieng-audit-{_workspace_id(ws)[:8]}-{seq}"
        done = subprocess.run(
            ["git", "-C", str(ws.root.parent), "tag", "-a", tag, "-m", f"aieng audit head {seq}:{digest}"],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise ValidationError(f"git could not record the anchor: {(done.stderr or done.stdout).strip()}")
        out["git_tag"] = tag
    if run_id:
        from . import tracking

        tracking.set_tags({"aieng.audit.head": out["anchor"]}, run_id=run_id)
        out["run_id"] = run_id
    return out


def entries(
    event: str | None = None,
    *,
    run_id: str | None = None,
    since: float | None = None,
    limit: int | None = None,
    workspace: Workspace | None = None,
) -> list[dict[str, Any]]:
    """Read entries, newest last; filter by event prefix, run id, time.

    >>> entries("run.", limit=5)  # doctest: +SKIP
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationError(f"limit must be a positive integer, got {limit!r}")
    ws = workspace or current()
    out: list[dict[str, Any]] = []
    if not ws.audit_log.exists():
        return out
    with open(ws.audit_log, "rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            entry = json.loads(raw)
            if event and not str(entry.get("event", "")).startswith(event):
                continue
            if run_id and entry.get("data", {}).get("run_id") != run_id:
                continue
            if since is not None and entry.get("ts", 0) < since:
                continue
            out.append(entry)
    return out[-limit:] if limit else out


def table(rows: list[dict[str, Any]]) -> str:
    """Entries as a plain text table (CLI and magic)."""
    from .textutil import text_table

    return text_table(
        ["seq", "time", "event", "actor", "data"],
        [
            [
                e["seq"],
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["ts"])),
                e["event"],
                e["actor"],
                json.dumps(e["data"], default=str)[:80],
            ]
            for e in rows
        ],
    )
