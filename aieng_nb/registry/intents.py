"""Alias moves as recorded intents in the workspace database: atomic by construction.

A move (promotion, rollback, alias set) is one row of ``registry_intents``, committed together
with a compare-and-set of the model's ``registry_champions`` row (the champion and stack the
caller read) *before* the alias moves in MLflow. Then: the alias moves, the audit entry (naming
the intent) is appended and the intent marked ``audited`` in one transaction (the commit point),
the derived aliases and tags are set, and the intent is marked ``done``. A move interrupted at any step (kill -9, full disk) is finished
or undone by the next command on that model, the server's start or the loop's tick
(:func:`recover`): audited -> completed; not audited -> the alias is put back and the intent
reverted. The done intents are the alias history. ``registry_locks`` holds one row while a move of
a model is in progress; a holder that died is replaced.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .. import audit
from ..records import iso
from ..storage.locks import host as _host
from ..storage.locks import lock as _db_lock
from ..storage.locks import owner_gone as _owner_gone
from ..workspace import Workspace
from .client import CHAMPION, HISTORY_TAG, PREVIOUS, STACK_TAG, ConflictError, get_registered
from .records import AliasAction, AliasMove

FAULT_ENV = "AIENG_FAULT_AT"  # tests: SIGKILL this process at the named step
LIVE = ("open", "audited")  # an intent not finished yet: undone (open) or completed (audited) by recover()


def fault(step: str) -> None:
    """Die here (SIGKILL) when ``$AIENG_FAULT_AT`` names this step: the crash tests' injection point."""
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def lock(ws: Workspace, name: str, wait: float = 0.0) -> Any:
    """Hold the model's move lock (a ``registry_locks`` row); ConflictError past ``wait`` seconds."""
    return _db_lock(ws, name, wait, conflict=ConflictError, what=f"promotion or rollback of {name!r}")


def _now_iso() -> str:
    from ..records import now

    return iso(now()) or ""


@dataclass
class Champion:
    """The model's row: the champion aieng recorded, the stack (oldest first) and its revision."""

    champion: str | None
    stack: list[str]
    rev: int


def _json_list(text: Any) -> list[Any]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def champion(ws: Workspace, c: Any, name: str) -> Champion:
    """The model's champion row, created on first use (from the stack an older aieng kept in the
    model's tags) and synced with the MLflow alias when it was moved outside aieng (its UI)."""
    from sqlalchemy import insert, select, update

    from ..storage.tables import champions

    model = get_registered(c, name)
    alias = (model.aliases or {}).get(CHAMPION)
    alias = str(alias) if alias is not None else None
    with audit.transaction(ws) as tx:
        conn = tx.conn
        row = conn.execute(select(champions).where(champions.c.model == name)).mappings().first()
        if row is None:
            stack = [str(v) for v in _json_list((model.tags or {}).get(STACK_TAG))]
            _import_history(conn, name, model)
            row = {"model": name, "champion": stack[-1] if stack else None, "stack": json.dumps(stack), "rev": 0}
            conn.execute(insert(champions).values(**row))
        elif alias != row["champion"] and not _open_move(conn, name):
            _observed(tx, name, row["champion"], alias)
        stack = [str(v) for v in _json_list(row["stack"])]
        if alias is not None and (not stack or stack[-1] != alias):
            stack.append(alias)  # moved outside aieng (MLflow UI): keep it as the latest
        if alias != row["champion"] or json.dumps(stack) != row["stack"]:
            conn.execute(
                update(champions)
                .where(champions.c.model == name, champions.c.rev == row["rev"])
                .values(champion=alias, stack=json.dumps(stack), rev=row["rev"] + 1)
            )
            return Champion(alias, stack, row["rev"] + 1)
        return Champion(alias, stack, row["rev"])


def _open_move(conn: Any, name: str) -> bool:
    """True while an aieng move of ``name`` is in flight (its alias may already have moved)."""
    from sqlalchemy import select

    from ..storage.tables import intents

    return (
        conn.execute(select(intents.c.id).where(intents.c.model == name, intents.c.state.in_(LIVE))).first() is not None
    )


def _observed(tx: Any, name: str, recorded: str | None, alias: str | None) -> None:
    """Record a champion move made outside aieng_nb (MLflow's client or UI): an ``observed`` move in
    the alias history and an audit entry saying it was not audited when it happened."""
    from sqlalchemy import func, insert, select

    from ..storage.tables import intents

    when = _now_iso()
    seq = tx.conn.execute(select(func.coalesce(func.max(intents.c.seq), 0)).where(intents.c.model == name)).scalar_one()
    reason = "unaudited move observed: the champion alias was moved outside aieng_nb (MLflow client or UI)"
    tx.conn.execute(
        insert(intents).values(
            id=uuid.uuid4().hex,
            seq=int(seq) + 1,
            model=name,
            alias=CHAMPION,
            action=AliasAction.OBSERVED.value,
            version=alias or "-",
            previous=recorded,
            actor="unknown (outside aieng_nb)",
            reason=reason,
            at=when,
            state="done",
            host=_host(),
            pid=os.getpid(),
        )
    )
    tx.append(
        "model.alias.observed",
        {"model": name, "alias": CHAMPION, "version": alias, "previous": recorded, "reason": reason},
    )


def _import_history(conn: Any, name: str, model: Any) -> None:
    """The alias history an older aieng kept in a model tag, as done intents (loss-free)."""
    from sqlalchemy import insert

    from ..storage.tables import intents

    for i, h in enumerate(_json_list((model.tags or {}).get(HISTORY_TAG))):
        if not isinstance(h, dict):
            continue
        conn.execute(
            insert(intents).values(
                id=uuid.uuid4().hex,
                seq=i - 1_000_000,
                model=name,
                alias=str(h.get("alias", CHAMPION)),
                action=str(h.get("a", "?")),
                version=str(h.get("v")),
                previous=h.get("p"),
                actor=str(h.get("by", "?")),
                reason=h.get("r"),
                at=str(h.get("at") or ""),
                state="done",
                host="",
                pid=0,
            )
        )


def begin(
    ws: Workspace, move: AliasMove, read: Champion, new_stack: list[str] | None, event: str, extra: dict[str, Any]
) -> str:
    """Record the move as an open intent, compare-and-setting the champion row the caller read;
    ConflictError (nothing recorded) when the row moved since, or another move is still open."""
    from sqlalchemy import func, insert, select, update

    from ..storage.tables import champions, intents

    fault("before_intent")
    intent_id = uuid.uuid4().hex
    with ws.database().begin() as conn:
        still_open = conn.execute(
            select(func.count()).select_from(intents).where(intents.c.model == move.name, intents.c.state.in_(LIVE))
        ).scalar_one()
        if still_open:
            raise ConflictError(
                f"conflict: an earlier move of {move.name!r} is not finished yet; run the command again"
            )
        values: dict[str, Any] = {"rev": read.rev + 1}
        if new_stack is not None:
            values.update(champion=move.version, stack=json.dumps(new_stack))
        done = conn.execute(
            update(champions).where(champions.c.model == move.name, champions.c.rev == read.rev).values(**values)
        )
        if done.rowcount != 1:
            raise ConflictError(
                f"conflict: {move.name}@champion changed since it was read (v{read.champion or '-'}); nothing moved"
            )
        seq = conn.execute(select(func.coalesce(func.max(intents.c.seq), 0)).where(intents.c.model == move.name))
        conn.execute(
            insert(intents).values(
                id=intent_id,
                seq=int(seq.scalar_one()) + 1,
                model=move.name,
                alias=move.alias,
                action=str(move.action),
                version=move.version,
                previous=move.previous,
                old_stack=json.dumps(read.stack),
                new_stack=json.dumps(new_stack) if new_stack is not None else None,
                actor=move.actor,
                reason=move.reason,
                at=iso(move.at) or "",
                audit_event=event,
                audit_data=json.dumps(extra),
                state="open",
                host=_host(),
                pid=os.getpid(),
            )
        )
    fault("after_intent")
    return intent_id


def _row(ws: Workspace, intent_id: str) -> dict[str, Any]:
    from sqlalchemy import select

    from ..storage.tables import intents

    with ws.database().read() as conn:
        return dict(conn.execute(select(intents).where(intents.c.id == intent_id)).mappings().one())


def move_of(row: dict[str, Any]) -> AliasMove:
    seconds = float(row["seconds"]) if row.get("seconds") else None
    return AliasMove(
        row["model"],
        row["alias"],
        row["version"],
        row["previous"],
        _action(row["action"]),
        row["actor"],
        row["at"] or None,
        row["reason"],
        seconds,
    )


def _action(word: str) -> AliasAction | str:
    try:
        return AliasAction(word)
    except ValueError:
        return word


def _audit_data(row: dict[str, Any], move: AliasMove) -> dict[str, Any]:
    return {**move.to_dict(), **json.loads(row["audit_data"] or "{}"), "intent": row["id"]}


def apply(ws: Workspace, c: Any, intent_id: str) -> AliasMove:
    """Carry out an open intent: move, audit (the commit point), derived aliases, done.

    A failure before the audit entry exists undoes the move (AiengError: nothing moved); after it,
    the move stands and what is left is finished by the next :func:`recover`."""
    from ..exceptions import StorageError

    row = _row(ws, intent_id)
    move = move_of(row)
    moved = False
    try:
        t0 = time.perf_counter()
        c.set_registered_model_alias(move.name, move.alias, move.version)
        moved = True
        move.seconds = round(time.perf_counter() - t0, 4)
        fault("after_move")
        _audit(ws, row, move)
    except Exception as exc:  # noqa: BLE001 - undone below, and reported in one line
        why = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        try:
            _undo(ws, c, row, moved)
        except Exception:  # noqa: BLE001 - the next command undoes it
            raise StorageError(
                f"{move.name}@{move.alias} -> v{move.version} failed ({why}); the move is not audited and is "
                f"undone by the next aieng command on {move.name!r}"
            ) from None
        raise StorageError(f"{move.name}@{move.alias} -> v{move.version} failed ({why}); nothing moved") from None
    fault("after_audit")
    try:
        _finish(ws, c, row, move.seconds)
    except Exception:  # noqa: BLE001 - audited, so it stands; recover() sets the derived aliases
        pass
    return move


def _audit(ws: Workspace, row: dict[str, Any], move: AliasMove) -> None:
    """The commit point: the audit entry and the intent's ``audited`` state in one transaction."""
    from sqlalchemy import update

    from ..storage.tables import intents

    with audit.transaction(ws) as tx:
        tx.append(str(row["audit_event"]), _audit_data(row, move))
        values: dict[str, Any] = {"state": "audited"}
        if move.seconds is not None:
            values["seconds"] = str(move.seconds)
        tx.conn.execute(update(intents).where(intents.c.id == row["id"], intents.c.state == "open").values(**values))


def _finish(ws: Workspace, c: Any, row: dict[str, Any], seconds: float | None) -> None:
    from sqlalchemy import update

    from ..storage.tables import intents

    if row["new_stack"] is not None:
        stack = [str(v) for v in _json_list(row["new_stack"])]
        model = get_registered(c, row["model"])
        if len(stack) >= 2:
            c.set_registered_model_alias(row["model"], PREVIOUS, stack[-2])
        elif PREVIOUS in (model.aliases or {}):
            c.delete_registered_model_alias(row["model"], PREVIOUS)
    if row["action"] in (AliasAction.ROLLBACK, AliasAction.AUTO_ROLLBACK) and row["previous"]:
        note = {"at": row["at"], "by": row["actor"], "reason": row["reason"]}
        c.set_model_version_tag(row["model"], row["previous"], "aieng.rolled_back", json.dumps(note))
    fault("before_done")
    with ws.database().begin() as conn:
        values: dict[str, Any] = {"state": "done"}
        if seconds is not None:
            values["seconds"] = str(seconds)
        conn.execute(update(intents).where(intents.c.id == row["id"], intents.c.state.in_(LIVE)).values(**values))


def _undo(ws: Workspace, c: Any, row: dict[str, Any], moved: bool | None) -> None:
    """Put the alias back where the intent found it and revert the champion row; mark it reverted."""
    from sqlalchemy import select, update

    from ..storage.tables import champions, intents

    now = (get_registered(c, row["model"]).aliases or {}).get(row["alias"])
    if moved is None:
        moved = now is not None and str(now) == row["version"]
    if moved and str(now) == row["version"] and row["previous"] != row["version"]:
        if row["previous"] is None:
            c.delete_registered_model_alias(row["model"], row["alias"])
        else:
            c.set_registered_model_alias(row["model"], row["alias"], row["previous"])
    with ws.database().begin() as conn:
        if row["new_stack"] is not None:
            current = conn.execute(select(champions).where(champions.c.model == row["model"])).mappings().one()
            conn.execute(
                update(champions)
                .where(champions.c.model == row["model"])
                .values(champion=row["previous"], stack=row["old_stack"] or "[]", rev=current["rev"] + 1)
            )
        conn.execute(update(intents).where(intents.c.id == row["id"]).values(state="reverted"))


def _audited(ws: Workspace, intent_id: str) -> bool:
    """Whether the audit trail holds the intent's entry (written in the transaction that marked it
    ``audited``; an intent left open by an older aieng_nb is found through its imported entry)."""
    from sqlalchemy import select

    from ..storage.tables import audit_entries

    with ws.database().read() as conn:
        needle = f'%"intent":"{intent_id}"%'
        return conn.execute(select(audit_entries.c.pos).where(audit_entries.c.entry.like(needle))).first() is not None


def recover(ws: Workspace, c: Any, name: str) -> list[str]:
    """Finish the audited open intents of ``name`` and undo the unaudited ones whose process is
    gone. Call it holding the model's lock. Returns what was done, one line each."""
    from sqlalchemy import select

    from ..storage.tables import intents

    with ws.database().read() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                select(intents).where(intents.c.model == name, intents.c.state.in_(LIVE)).order_by(intents.c.seq)
            ).mappings()
        ]
    done = []
    for row in rows:
        if row["state"] == "audited" or _audited(
            ws, row["id"]
        ):  # it happened: finishing it again is harmless, whoever started it
            _finish(ws, c, row, None)
            done.append(f"completed {row['model']}@{row['alias']} -> v{row['version']} (audited)")
        elif not _owner_gone(row["host"], row["pid"], row["at"]) and row["pid"] != os.getpid():
            continue  # still in flight in a live process
        else:
            _undo(ws, c, row, None)
            done.append(f"undid {row['model']}@{row['alias']} -> v{row['version']} (never audited)")
    return done


def settle(ws: Workspace, c: Any, name: str, wait: float = 0.0) -> list[str]:
    """Before a command reads ``name``'s champion: complete or undo what a crashed move left open
    (:func:`recover` under the model's lock), so the champion it reads, and compares against
    later, is the one that stands. One read when nothing is open."""
    with ws.database().read() as conn:
        if not _open_move(conn, name):
            return []
    with lock(ws, name, wait=wait):
        return recover(ws, c, name)


def recover_all(ws: Workspace) -> list[str]:
    """:func:`recover` every model with an open intent whose lock is free (server start, loop tick)."""
    from sqlalchemy import select

    from ..storage.tables import intents
    from .client import client

    with ws.database().read() as conn:
        names = sorted({r[0] for r in conn.execute(select(intents.c.model).where(intents.c.state.in_(LIVE)))})
    out: list[str] = []
    if not names:
        return out
    c = client(ws)
    for name in names:
        try:
            with lock(ws, name, wait=0.0):
                out += recover(ws, c, name)
        except ConflictError:
            continue
    return out


def history(ws: Workspace, name: str) -> list[AliasMove]:
    """The done moves of ``name``, oldest first."""
    from sqlalchemy import select

    from ..storage.tables import intents

    with ws.database().read() as conn:
        rows = conn.execute(
            select(intents)
            .where(intents.c.model == name, intents.c.state.in_(("audited", "done")))
            .order_by(intents.c.seq)
        ).mappings()
        return [move_of(dict(r)) for r in rows]
