"""Tamper-evident audit trail: a hash-chained, append-only JSON-lines log.

Each entry's hash covers its content and the previous entry's hash, so an edited, deleted,
reordered or inserted entry breaks the chain at its exact position. The latest (seq, hash)
is also kept in a separate head file, so truncating the tail is caught too. Writers in
several processes are serialized with an exclusive file lock.

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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import IntegrityError, ValidationError
from .fsutil import atomic_write_json, locked, user_name
from .workspace import Workspace, current

GENESIS = "0" * 64


def _digest(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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


def append(event: str, data: dict[str, Any] | None = None, *, workspace: Workspace | None = None) -> dict[str, Any]:
    """Append one entry; returns it (with ``seq`` and ``hash``).

    ``event`` is a dotted name such as ``run.start``, ``snapshot.create``, ``job.finish``.
    """
    ws = workspace or current()
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
        if repaired:
            data = {**(data or {}), "repaired_torn_tail": repaired}
        entry: dict[str, Any] = {
            "seq": seq,
            "ts": round(time.time(), 6),
            "actor": user_name(),
            "event": event,
            "data": data or {},
            "prev": prev,
        }
        entry["hash"] = _digest(entry)
        line = json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False) + "\n"
        with open(ws.audit_log, "ab") as fh:
            fh.write(line.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        head = {"seq": seq, "hash": entry["hash"]}
        atomic_write_json(ws.audit_head, head)
        try:  # a second copy outside the workspace: a log and head truncated together are still caught
            atomic_write_json(external_head_path(ws), head)
        except OSError:
            pass
    return entry


@dataclass
class VerifyResult:
    """Outcome of :func:`verify`: ``ok``, the number of entries, and the first bad position."""

    ok: bool
    entries: int
    bad_seq: int | None = None
    bad_line: int | None = None
    reason: str = ""
    head: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.ok:
            return f"OK: {self.entries} entries, chain intact"
        return f"BAD at entry {self.bad_seq} (line {self.bad_line}): {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "bad_seq": self.bad_seq,
            "bad_line": self.bad_line,
            "reason": self.reason,
        }


def external_head_path(ws: Workspace) -> Path:
    """Where the second copy of the head lives: the user's state folder (``$AIENG_STATE_DIR``, else
    ``$XDG_STATE_HOME/aieng_nb``, else ``~/.local/state/aieng_nb``), keyed by the workspace's id."""
    base = os.environ.get("AIENG_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "aieng_nb"
    )
    return Path(base) / "audit-heads" / f"{_workspace_id(ws)}.json"


def _workspace_id(ws: Workspace) -> str:
    """A random id made once per workspace (a workspace deleted and made again gets a new one)."""
    import secrets
    import tempfile

    path = ws.root / "id"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=ws.root, prefix=".id-")
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
    except ValueError:
        return {"invalid": True}
    return head if isinstance(head, dict) else {"invalid": True}


def verify(*, workspace: Workspace | None = None) -> VerifyResult:
    """Check the whole chain and both copies of the head; report the first bad entry."""
    ws = workspace or current()
    prev, count = GENESIS, 0
    lines = ws.audit_log.read_bytes().split(b"\n") if ws.audit_log.exists() else []
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            if lineno != len(lines):
                return VerifyResult(False, count, count, lineno, "blank line inside the log")
            continue
        try:
            entry = json.loads(raw)
            seq, entry_prev, entry_hash = entry["seq"], entry["prev"], entry["hash"]
        except (ValueError, KeyError, TypeError):
            return VerifyResult(False, count, count, lineno, "entry is not a valid audit record")
        if seq != count:
            return VerifyResult(
                False, count, count, lineno, f"expected seq {count}, found {seq} (deleted, inserted or reordered)"
            )
        if entry_prev != prev:
            return VerifyResult(
                False, count, count, lineno, "previous-hash link broken (entry deleted, inserted or reordered)"
            )
        if _digest(entry) != entry_hash:
            return VerifyResult(False, count, count, lineno, "content does not match its hash (entry edited)")
        prev = entry_hash
        count += 1
    head = _read_head(ws.audit_head)
    if head is None and count:
        return VerifyResult(False, count, None, None, "head file missing (cannot rule out truncation)")
    external = _read_head(external_head_path(ws)) if (ws.root / "id").exists() else None
    for label, copy in (("head", head), ("external head", external)):
        if copy is None:
            continue
        if copy.get("invalid"):
            return VerifyResult(False, count, None, None, f"{label} file is not valid JSON")
        if copy.get("seq") == count - 1 and copy.get("hash") == prev:
            continue
        if isinstance(copy.get("seq"), int) and copy["seq"] >= count:
            position = len([x for x in lines if x.strip()]) + 1
            reason = f"log truncated: the {label} says {copy['seq'] + 1} entries, found {count}"
            return VerifyResult(False, count, count, position, reason, copy)
        return VerifyResult(False, count, count - 1, count, f"last entry does not match the {label} hash", copy)
    return VerifyResult(True, count, head=head or {})


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
