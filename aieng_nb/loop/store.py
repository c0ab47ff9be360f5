"""Where a loop lives: the ``loops`` table of the workspace database (the configuration, and the
state in flight: processed scoring jobs, the iteration, the pending check) and ``loop_events``
(its timeline, one row per event). Writes happen under the loop's lock (a database row, so it
holds across processes and teammates' folders sharing the database); every timeline event is
also an audit entry (``loop.<kind>``). A loop per model: the model's name is the key, so of two
``loop add`` of one model exactly one creates it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import audit
from ..exceptions import NotFoundError
from ..records import now
from ..registry.client import ConflictError, check_name
from ..workspace import Workspace, current
from .records import LoopConfig, LoopEvent, LoopState

LOCK_WAIT_S = 300.0  # an iteration holds the lock while it records a step, not while a job runs


@contextmanager
def locked_loop(name: str, ws: Workspace) -> Iterator[None]:
    from ..storage.locks import lock

    with lock(ws, f"loop:{check_name(name)}", LOCK_WAIT_S, conflict=ConflictError, what=f"change of loop {name!r}"):
        yield


def _row(conn: Any, name: str) -> Any:
    from sqlalchemy import select

    from ..storage.tables import loops

    return conn.execute(select(loops).where(loops.c.name == name)).mappings().first()


def exists(name: str, ws: Workspace) -> bool:
    from ..storage import exists as have_db

    if not have_db(ws):
        return False
    with ws.database().read() as conn:
        return _row(conn, check_name(name)) is not None


def get(name: str, *, workspace: Workspace | None = None) -> LoopConfig:
    from ..storage import exists as have_db

    ws = workspace or current()
    row = None
    if have_db(ws):
        with ws.database().read() as conn:
            row = _row(conn, check_name(name))
    if row is None:
        raise NotFoundError(f"no loop for model {name!r} (aieng loop add {name} --score NB --retrain NB --cron CRON)")
    return LoopConfig.from_dict(json.loads(row["config"]))


def configs(ws: Workspace) -> list[LoopConfig]:
    """Every loop's configuration, by model name."""
    from sqlalchemy import select

    from ..storage import exists as have_db
    from ..storage.tables import loops

    if not have_db(ws):
        return []
    out = []
    with ws.database().read() as conn:
        for (text,) in conn.execute(select(loops.c.config).order_by(loops.c.name)):
            try:
                out.append(LoopConfig.from_dict(json.loads(text)))
            except (ValueError, TypeError):
                continue
    return out


def create(cfg: LoopConfig, replace: bool, event: str, data: dict[str, Any], ws: Workspace) -> None:
    """Write the loop's configuration and its audit entry in one transaction; ConflictError (exit 3,
    409) when the model has a loop already and ``replace`` is not set."""
    from sqlalchemy import insert, update
    from sqlalchemy.exc import IntegrityError as RowConflict

    from ..storage.tables import loops

    try:
        with audit.transaction(ws) as tx:
            if _row(tx.conn, cfg.name) is not None:
                if not replace:
                    raise ConflictError(_taken(cfg.name))
                tx.conn.execute(
                    update(loops)
                    .where(loops.c.name == cfg.name)
                    .values(config=json.dumps(cfg.to_dict()), rev=loops.c.rev + 1)
                )
            else:
                tx.conn.execute(
                    insert(loops).values(name=cfg.name, config=json.dumps(cfg.to_dict()), state="{}", rev=0)
                )
            tx.append(event, data)
    except RowConflict:  # created by another process between the check and the insert
        raise ConflictError(_taken(cfg.name)) from None


def _taken(name: str) -> str:
    return f"conflict: model {name!r} already has a loop; pass replace=True (--replace) to redefine it"


def save_config(cfg: LoopConfig, event: str, data: dict[str, Any], ws: Workspace) -> None:
    """Replace an existing loop's configuration, audited in the same transaction."""
    from sqlalchemy import update

    from ..storage.tables import loops

    with audit.transaction(ws) as tx:
        values = {"config": json.dumps(cfg.to_dict()), "rev": loops.c.rev + 1}
        if tx.conn.execute(update(loops).where(loops.c.name == cfg.name).values(**values)).rowcount == 0:
            raise NotFoundError(f"no loop for model {cfg.name!r}")
        tx.append(event, data)


def delete(name: str, ws: Workspace) -> None:
    """Remove the loop and its timeline (audited ``loop.remove`` in the same transaction)."""
    from sqlalchemy import delete as sql_delete

    from ..storage.tables import loop_events, loops

    with audit.transaction(ws) as tx:
        tx.conn.execute(sql_delete(loop_events).where(loop_events.c.loop == name))
        if tx.conn.execute(sql_delete(loops).where(loops.c.name == name)).rowcount == 0:
            raise NotFoundError(f"no loop for model {name!r}")
        tx.append("loop.remove", {"loop": name})


def events(name: str, ws: Workspace, conn: Any = None) -> list[dict[str, Any]]:
    """The loop's timeline, oldest first (dicts as :class:`LoopEvent` writes them)."""
    from sqlalchemy import select

    from ..storage.tables import loop_events as t

    def read(c: Any) -> list[dict[str, Any]]:
        rows = c.execute(select(t).where(t.c.loop == name).order_by(t.c.seq)).mappings()
        return [
            {"at": r["at"], "kind": r["kind"], "message": r["message"], "data": json.loads(r["data"])} for r in rows
        ]

    if conn is not None:
        return read(conn)
    with ws.database().read() as c:
        return read(c)


def load_state(name: str, ws: Workspace) -> LoopState:
    with ws.database().read() as conn:
        row = _row(conn, name)
        stored = json.loads(row["state"] or "{}") if row is not None else {}
        return LoopState.from_dict({**stored, "events": events(name, ws, conn)})


def save_state(name: str, state: LoopState, ws: Workspace) -> None:
    """Write the state in flight and the events added since it was loaded, in one transaction."""
    from sqlalchemy import func, insert, select, update

    from ..storage.tables import loop_events, loops

    stored = {k: v for k, v in state.to_dict().items() if k != "events"}
    with ws.database().begin() as conn:
        conn.execute(update(loops).where(loops.c.name == name).values(state=json.dumps(stored), rev=loops.c.rev + 1))
        have = conn.execute(select(func.count()).select_from(loop_events).where(loop_events.c.loop == name))
        start = int(have.scalar_one())
        for seq, e in enumerate(state.events[start:], start=start):
            e = LoopEvent.from_dict(e).to_dict() if not isinstance(e, dict) else e
            conn.execute(
                insert(loop_events).values(
                    loop=name,
                    seq=seq,
                    at=str(e.get("at") or ""),
                    kind=str(e.get("kind") or "?"),
                    message=str(e.get("message") or ""),
                    data=json.dumps(e.get("data") or {}, default=str),
                )
            )


def event(name: str, state: LoopState, ws: Workspace, kind: str, message: str, **data: Any) -> None:
    state.events.append(LoopEvent(now(), kind, message, data).to_dict())
    audit.append(f"loop.{kind}", {"loop": name, "message": message, **data}, workspace=ws)
