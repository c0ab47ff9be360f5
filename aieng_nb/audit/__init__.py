"""Tamper-evident audit trail: a hash-chained, signed, append-only chain of entries in the workspace
database (``audit_entries``; one trail for every folder sharing the database).

Each entry's SHA-256 covers its content and the previous entry's hash, so an edited, deleted,
reordered or inserted entry breaks the chain at its exact position. Each entry is also signed with
the writer's Ed25519 key, which lives outside the workspace (see :mod:`aieng_nb.audit.sign`); its
public key is recorded in the ``audit_keys`` table. Someone who can write the database but not the
writer's state folder cannot recompute the chain with valid signatures. The ``audit_head`` row names
the latest entry (moved in the append's own transaction) and each writer keeps a copy of the head's
``(seq, hash)`` in their state folder, so deleting the last rows or replacing the whole chain is
caught; :func:`anchor` records the head elsewhere (an MLflow run tag, a git tag).

An append is one transaction (:func:`transaction` lets a caller add its own rows to it): it exists
with everything else the transaction wrote, or not at all (a full disk, a kill -9). A folder's
``audit.log`` from an older aieng_nb is imported verbatim on first open and keeps verifying.

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
