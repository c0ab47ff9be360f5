"""Audit helpers for tests: what a database writer who is not a trusted signer can do."""

from __future__ import annotations

import base64
import time

from aieng_nb import audit
from aieng_nb.audit import sign as audit_sign


def forge_entry(ws, actor="root"):
    """What anyone who can write the database can do: add an own Ed25519 key under any actor name
    and append a properly chained, signed entry (moving the head)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy import insert, select, update

    from aieng_nb.storage.tables import audit_entries, audit_head, audit_keys

    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public = base64.b64encode(raw).decode()
    kid = audit_sign.key_id(public)
    with ws.database().begin() as conn:
        top = conn.execute(select(audit_head)).mappings().one()
        conn.execute(
            insert(audit_keys).values(key_id=kid, public_key=public, algorithm="ed25519", actor=actor, added=1.0)
        )
        entry = {"seq": top["seq"] + 1, "ts": round(time.time(), 6), "actor": actor, "event": "model.promote",
                 "data": {"name": "churn", "version": "9"}, "prev": top["hash"], "key": kid}  # fmt: skip
        entry["hash"] = audit._digest(entry)
        entry["sig"] = base64.b64encode(private.sign(entry["hash"].encode())).decode()
        conn.execute(insert(audit_entries).values(pos=entry["seq"], event=entry["event"], ts=entry["ts"],
                                                  entry=audit._canonical(entry)))  # fmt: skip
        conn.execute(update(audit_head).values(seq=entry["seq"], hash=entry["hash"]))
    return kid
