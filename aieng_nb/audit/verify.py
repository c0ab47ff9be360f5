"""Verifying the trail (chain, signatures, head, the head's copies) and anchoring its head elsewhere."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import IntegrityError, ValidationError
from ..workspace import Workspace, current
from . import sign as audit_sign
from .chain import (
    _HEX64,
    GENESIS,
    _entry_problem,
    _parse_line,
    _read_head,
    _read_keys,
    chain_id,
    external_head_path,
    head,
)
from .records import Anchor, VerifyResult


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
    names = 0
    from ..storage import exists

    if exists(ws):  # snapshot names are rows of the metadata database
        from sqlalchemy import func, select

        from ..storage.tables import snapshot_names

        with ws.database().read() as conn:
            names = int(conn.execute(select(func.count()).select_from(snapshot_names)).scalar() or 0)
    if names:
        found.append(f"{names} snapshot name(s)")
    return found


def _parse_anchor(anchor: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if anchor is None or isinstance(anchor, dict):
        return anchor
    m = re.fullmatch(r"(\d+):([0-9a-f]{64})", str(anchor).strip())
    if not m:
        raise ValidationError(f"bad anchor {anchor!r}: use SEQ:HASH as `aieng audit anchor` prints it")
    return {"seq": int(m.group(1)), "hash": m.group(2)}


@dataclass
class _Walk:
    """Where the walk along the chain is: entries so far, their hashes, who signed them."""

    lines: list[bytes]
    keys: dict[str, Any]
    prev: str = GENESIS
    count: int = 0
    hashes: list[str] = field(default_factory=list)
    signers: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def take(self, entry: dict[str, Any]) -> None:
        self.prev = entry["hash"]
        self.hashes.append(self.prev)
        self.signers[entry["key"]] = self.signers.get(entry["key"], 0) + 1
        self.count += 1

    def bad(self, seq: int | None, line: int | None, reason: str, head: dict[str, Any] | None = None) -> VerifyResult:
        return VerifyResult(False, self.count, seq, line, reason, head or {})

    @property
    def position(self) -> int:
        """The line number one past the log's last entry."""
        return len([x for x in self.lines if x.strip()]) + 1


def _without_log(ws: Workspace, top: dict[str, Any], external: dict[str, Any] | None) -> VerifyResult:
    """An empty chain is fine only in a workspace that never had anything to record."""
    contents = _workspace_contents(ws)
    if contents:
        return VerifyResult(
            False, 0, reason=f"the audit log is missing, but the workspace has {' and '.join(contents)}"
        )
    if top["seq"] >= 0 or external is not None:
        return VerifyResult(False, 0, reason="the audit log is missing or empty, but a head says it had entries")
    return VerifyResult(True, 0)


def _walk_chain(walk: _Walk) -> VerifyResult | None:
    """Every line in order: canonical, in sequence, linked, hashed and signed. The first bad one fails."""
    for lineno, raw in enumerate(walk.lines, start=1):
        if not raw.strip():
            if lineno != len(walk.lines):
                return walk.bad(walk.count, lineno, "blank line inside the log")
            continue
        try:
            entry = _parse_line(raw)
        except ValueError as exc:
            return walk.bad(walk.count, lineno, str(exc))
        if entry["seq"] != walk.count:
            reason = f"expected seq {walk.count}, found {entry['seq']} (deleted, inserted or reordered)"
            return walk.bad(walk.count, lineno, reason)
        if entry["prev"] != walk.prev:
            return walk.bad(walk.count, lineno, "previous-hash link broken (entry deleted, inserted or reordered)")
        problem = _entry_problem(entry, walk.keys)
        if problem:
            return walk.bad(walk.count, lineno, problem)
        walk.take(entry)
    return None


def _check_head(walk: _Walk, top: dict[str, Any]) -> VerifyResult | None:
    """The head row names the last entry (rows deleted from the end are caught here)."""
    count, position = walk.count, walk.position
    copy = {"seq": top["seq"], "hash": top["hash"]}
    if top["seq"] >= count:
        return walk.bad(count, position, f"log truncated: the head says {top['seq'] + 1} entries, found {count}", copy)
    if top["seq"] != count - 1 or top["hash"] != walk.prev:
        return walk.bad(count - 1, position - 1, "last entry does not match the head hash", copy)
    return None


def _check_copies(walk: _Walk, path: Any, anchored: dict[str, Any] | None) -> VerifyResult | None:
    """This user's copy of the head (and an anchor, if given) must be an entry of the chain. A user
    who never wrote to this chain has no copy: then only an anchor can rule out truncation (a note)."""
    external = _read_head(path)
    me = audit_sign.load_signer(create=False)
    if external is None and me is not None and me.key_id in walk.signers:
        return walk.bad(
            None,
            None,
            f"the external head ({path}) is missing: the log cannot be checked against a copy"
            " outside the workspace (verify as the user who wrote it, or pass an anchor)",
        )
    if external is None and anchored is None:
        walk.notes.append("you never wrote to this trail, so no copy of its head is kept by you: pass an anchor"
                          " (aieng audit anchor) to rule out a truncated tail")  # fmt: skip
    count = walk.count
    for label, copy in (("external head", external), ("anchor", anchored)):
        if copy is None:
            continue
        if copy.get("invalid") or not isinstance(copy.get("seq"), int) or not _HEX64.fullmatch(str(copy.get("hash"))):
            return walk.bad(None, None, f"the {label} is not a valid head record")
        if copy["seq"] >= count:
            reason = f"log truncated: the {label} says {copy['seq'] + 1} entries, found {count}"
            return walk.bad(count, walk.position, reason, copy)
        if walk.hashes[copy["seq"]] != copy["hash"]:
            reason = f"entry {copy['seq']} does not match the {label} (the log was rewritten)"
            return walk.bad(copy["seq"], copy["seq"] + 1, reason, copy)
        if label == "external head" and copy["seq"] < count - 1:
            walk.notes.append(
                f"{count - 1 - copy['seq']} entries after this user's last one (other writers, checked by signature)"
            )
    return None


def verify(*, workspace: Workspace | None = None, anchor: str | dict[str, Any] | None = None) -> VerifyResult:
    """Check the whole chain, every signature, the head and its copy outside the workspace.

    ``anchor`` (``"SEQ:HASH"``, as :func:`anchor` records it) is a head kept elsewhere that the chain
    must contain. Reports the first bad entry at its own line.

    >>> verify().ok  # doctest: +SKIP
    True
    """
    anchored = _parse_anchor(anchor)  # bad input is an error before anything is read
    ws = workspace or current()
    from ..storage import exists

    if not exists(ws):  # nothing was ever recorded here (and a read creates nothing)
        return _without_log(ws, {"seq": -1}, None)
    lines, top, keys = _read_chain(ws)
    path = external_head_path(chain=str(top["chain"]))
    if not lines:
        return _without_log(ws, top, _read_head(path))
    walk = _Walk(lines, keys)
    failed = _walk_chain(walk) or _check_head(walk, top) or _check_copies(walk, path, anchored)
    if failed is not None:
        return failed
    me = audit_sign.load_signer(create=False)
    if me is not None and me.key_id in keys and keys[me.key_id].get("public_key") != me.public_b64:
        return walk.bad(None, None, f"audit.keys records another public key under your key id {me.key_id}")
    return VerifyResult(
        True, walk.count, head={"seq": top["seq"], "hash": top["hash"]}, signers=walk.signers, notes=walk.notes
    )


def _read_chain(ws: Workspace) -> tuple[list[bytes], dict[str, Any], dict[str, Any]]:
    """Every entry in position order, the head row and the keys, read in one snapshot."""
    from sqlalchemy import select

    from ..storage.tables import audit_entries

    with ws.database().read() as conn:
        rows = conn.execute(select(audit_entries.c.entry).order_by(audit_entries.c.pos))
        lines = [str(r[0]).encode("utf-8") for r in rows]
        return lines, head(conn), _read_keys(ws, conn)


def anchor(*, run_id: str | None = None, git: bool = False, workspace: Workspace | None = None) -> Anchor:
    """Record the current head (``SEQ:HASH``) outside the workspace: as the tag ``aieng.audit.head`` of
    an MLflow run and/or as an annotated git tag in the repository holding the workspace. Check a
    later log against it with ``verify(anchor="SEQ:HASH")``.

    >>> anchor(run_id="3f2a...", git=True).to_dict()   # doctest: +SKIP
    {'seq': 41, 'hash': '9c1e...', 'anchor': '41:9c1e...', 'run_id': '3f2a...', 'git_tag': 'aieng-audit-...-41'}
    """
    import subprocess

    if not run_id and not git:
        raise ValidationError("say where to anchor the head: a run (run_id / --run RUN_ID) and/or git (--git)")
    ws = workspace or current()
    result = verify(workspace=ws)
    if not result.ok:
        raise IntegrityError(f"the audit trail does not verify, so its head is not anchored: {result.reason}")
    seq, digest = int(result.head["seq"]), str(result.head["hash"])
    out = Anchor(seq, digest, f"{seq}:{digest}")
    if git:
        tag = f"aieng-audit-{chain_id(ws)[:8]}-{seq}"
        done = subprocess.run(
            ["git", "-C", str(ws.root.parent), "tag", "-a", tag, "-m", f"aieng audit head {seq}:{digest}"],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise ValidationError(f"git could not record the anchor: {(done.stderr or done.stdout).strip()}")
        out.git_tag = tag
    if run_id:
        from .. import tracking

        tracking.set_tags({"aieng.audit.head": out.anchor}, run_id=run_id, workspace=ws)
        out.run_id = run_id
    return out
