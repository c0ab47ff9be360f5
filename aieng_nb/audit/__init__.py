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

The package, by job: :mod:`.chain` (append), :mod:`.verify` (verify, anchor), :mod:`.listing`
(entries), :mod:`.records` (``AuditEntry``, ``AuditList``, ``VerifyResult``, ``Anchor``).

>>> import tempfile, pathlib
>>> from aieng_nb.workspace import Workspace
>>> ws = Workspace(pathlib.Path(tempfile.mkdtemp())).ensure()
>>> _ = append("run.start", {"run_id": "abc"}, workspace=ws)
>>> verify(workspace=ws).ok, entries(workspace=ws)[0].event
(True, 'run.start')
"""

from __future__ import annotations

from .chain import (
    GENESIS,
    AuditTx,
    AuditWriteError,
    _canonical,
    _digest,
    _entry_problem,
    _read_keys,
    append,
    chain_id,
    external_head_path,
    keys_path,
    transaction,
)
from .listing import entries, table
from .records import Anchor, AuditEntry, AuditList, VerifyResult
from .verify import anchor, verify

__all__ = [
    "GENESIS",
    "Anchor",
    "AuditTx",
    "AuditWriteError",
    "AuditEntry",
    "AuditList",
    "VerifyResult",
    "anchor",
    "append",
    "chain_id",
    "entries",
    "external_head_path",
    "keys_path",
    "table",
    "transaction",
    "verify",
    "_canonical",
    "_digest",
    "_entry_problem",
    "_read_keys",
]
