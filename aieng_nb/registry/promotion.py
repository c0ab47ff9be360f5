"""Moving aliases: gated promotion, forced promotion, rollback; one lock and a compare-and-set.

Every move holds the model's lock (``locks/registry-<name>.lock``; a second promotion of the same
model at the same time gets :class:`ConflictError` at once) and, just before moving the alias,
re-reads it: if it no longer points where the gates saw it (moved by another machine or by hand
in MLflow's UI), the move is refused with a conflict too. Every move is appended to the audit
trail and to the registered model's tags (``aieng.champion.stack``, ``aieng.champion.history``),
and ``previous_champion`` points at the champion before the current one.

>>> promote("churn", "4")                                         # doctest: +SKIP
>>> promote("churn", "5", force=True, reason="hotfix for #123")   # doctest: +SKIP
>>> rollback("churn")                                             # doctest: +SKIP
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import audit
from ..exceptions import AiengError, NotFoundError, ValidationError
from ..fsutil import user_name
from ..records import iso, utc
from ..workspace import Workspace, current
from .client import (
    CHAMPION,
    HISTORY_TAG,
    PREVIOUS,
    STACK_TAG,
    ConflictError,
    alias_version,
    check_alias,
    check_name,
    check_version,
    client,
    get_registered,
    get_version,
)
from .records import AliasAction, AliasMove, GateReport, GateResult, PromotionResult

MAX_STACK = 50
MAX_HISTORY_CHARS = 4800  # MLflow's registered-model tag column holds 5000


class GateRefusedError(AiengError):
    """The gates refused a promotion; ``.result`` holds the gate report."""

    def __init__(self, result: PromotionResult) -> None:
        self.result = result
        gates = result.gates
        assert gates is not None
        super().__init__(
            f"promotion of {result.name} v{result.version} to {result.alias} refused: "
            f"{len(gates.failed)} of {len(gates.results)} gates failed\n{gates.table(only_failed=True)}"
        )


@contextmanager
def model_lock(name: str, ws: Workspace, wait: float = 0.0) -> Iterator[None]:
    """Hold the model's alias lock; ConflictError when another process holds it past ``wait`` seconds."""
    path = ws.locks / f"registry-{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another process"
                    raise ConflictError(
                        f"conflict: another promotion or rollback of {name!r} is in progress ({holder}); "
                        "run it again when that one is done"
                    ) from None
                time.sleep(0.05)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} by {user_name()} since {time.strftime('%H:%M:%S')}")
        fh.flush()
        yield
    finally:
        try:
            fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            fh.close()


def _read_json_tag(model: Any, key: str) -> list[Any]:
    try:
        value = json.loads((model.tags or {}).get(key, "[]"))
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def champion_stack(c: Any, name: str) -> list[str]:
    """Champion versions, oldest first (the current champion last), synced with the alias."""
    model = get_registered(c, name)
    stack = [str(v) for v in _read_json_tag(model, STACK_TAG)]
    current_v = (model.aliases or {}).get(CHAMPION)
    if current_v is not None and (not stack or stack[-1] != str(current_v)):
        stack.append(str(current_v))  # moved outside aieng (MLflow UI): keep it as the latest
    return stack


def history(name: str, *, workspace: Workspace | None = None) -> list[AliasMove]:
    """Recent alias moves kept on the registered model (the audit trail keeps all), oldest first.

    >>> [m.action for m in history("churn")]   # doctest: +SKIP
    ['promote', 'promote', 'rollback']
    """
    c = client(workspace)
    model = get_registered(c, name)
    out = []
    for h in _read_json_tag(model, HISTORY_TAG):
        if isinstance(h, dict):
            out.append(
                AliasMove(
                    name,
                    h.get("alias", CHAMPION),
                    str(h.get("v")),
                    h.get("p"),
                    _action(h.get("a", "?")),
                    h.get("by", "?"),
                    utc(h.get("at")),
                    h.get("r"),
                )
            )
    return out


def _action(word: Any) -> AliasAction | str:
    try:
        return AliasAction(word)
    except ValueError:  # a tag edited outside aieng: keep its word
        return str(word)


def _record_move(c: Any, move: AliasMove, stack: list[str] | None) -> None:
    model = get_registered(c, move.name)
    entries = _read_json_tag(model, HISTORY_TAG)
    entry = {"a": str(move.action), "v": move.version, "p": move.previous, "by": move.actor, "at": iso(move.at)}
    if move.alias != CHAMPION:
        entry["alias"] = move.alias
    if move.reason:
        entry["r"] = move.reason[:200]
    entries.append(entry)
    text = json.dumps(entries, separators=(",", ":"))
    while len(text) > MAX_HISTORY_CHARS and len(entries) > 1:
        entries.pop(0)
        text = json.dumps(entries, separators=(",", ":"))
    c.set_registered_model_tag(move.name, HISTORY_TAG, text)
    if stack is not None:
        c.set_registered_model_tag(move.name, STACK_TAG, json.dumps(stack[-MAX_STACK:]))
        if len(stack) >= 2:
            c.set_registered_model_alias(move.name, PREVIOUS, stack[-2])
        elif PREVIOUS in (model.aliases or {}):
            c.delete_registered_model_alias(move.name, PREVIOUS)


def _audit(move: AliasMove, ws: Workspace, **extra: Any) -> None:
    events: dict[str, str] = {
        AliasAction.PROMOTE: "model.promote",
        AliasAction.FORCE: "model.promote",
        AliasAction.SET: "model.alias",
    }
    event = events.get(move.action, "model.rollback")
    audit.append(event, {**move.to_dict(), **extra}, workspace=ws)


def set_alias(name: str, version: str, alias: str, *, workspace: Workspace | None = None) -> AliasMove:
    """Point a non-champion alias (``challenger``, ``staging`` ...) at a version, audited.

    >>> set_alias("churn", "4", "challenger")   # doctest: +SKIP
    """
    ws = workspace or current()
    check_name(name)
    check_alias(alias)
    version = check_version(version)
    if alias in (CHAMPION, PREVIOUS):
        raise ValidationError(f"the {alias} alias moves only through promote and rollback")
    c = client(ws)
    get_version(c, name, version)
    with model_lock(name, ws, wait=10.0):
        previous = alias_version(c, name, alias)
        t0 = time.perf_counter()
        c.set_registered_model_alias(name, alias, version)
        move = AliasMove(
            name, alias, version, previous, AliasAction.SET, user_name(), seconds=round(time.perf_counter() - t0, 4)
        )
        _record_move(c, move, None)
    _audit(move, ws)
    return move


def _save_gates(c: Any, report: GateReport) -> None:
    failed = ", ".join(r.gate for r in report.failed)
    summary = "passed" if report.passed else f"FAILED {failed}"
    c.set_model_version_tag(report.name, report.version, "aieng.gates", json.dumps(report.to_dict())[:90000])
    c.set_model_version_tag(report.name, report.version, "aieng.gates.passed", "true" if report.passed else "false")
    c.set_model_version_tag(report.name, report.version, "aieng.gates.summary", summary[:4000])
    c.set_model_version_tag(report.name, report.version, "aieng.gates.at", iso(report.created_at) or "")


def load_spec(name: str, gates: str | os.PathLike[str] | None, ws: Workspace) -> Any:
    from . import gatefile

    path = gates if gates is not None else gatefile.find(name, ws)
    return gatefile.load(path) if path is not None else gatefile.default_spec()


def _run_gates(
    c: Any, name: str, version: str, expected: str | None, spec: Any, force: bool, ws: Workspace
) -> GateReport:
    """The gate report of ``version`` against the champion ``expected``, saved on the version; with
    ``force`` a gate evaluation that fails outright is a failed gate, not an error."""
    from . import gates as _gates

    try:
        report = _gates.evaluate(name, version, expected, spec, workspace=ws, c=c)
    except AiengError as exc:
        if not force:
            raise
        report = GateReport(
            name, version, expected, [GateResult("evaluation", False, detail=str(exc)[:500])], spec.source
        )
    _save_gates(c, report)
    return report


def _audit_refusal(report: GateReport, ws: Workspace) -> None:
    data = {
        "name": report.name,
        "version": report.version,
        "champion": report.champion_version,
        "failed": [r.to_dict() for r in report.failed],
        "actor": user_name(),
    }
    audit.append("model.promote.refused", data, workspace=ws)


def promote(
    name: str,
    version: str | int,
    *,
    to: str = CHAMPION,
    force: bool = False,
    reason: str | None = None,
    gates: str | os.PathLike[str] | None = None,
    expect_champion: str | int | None = None,
    raise_on_refusal: bool = True,
    workspace: Workspace | None = None,
) -> PromotionResult:
    """Promote ``version`` of ``name`` to ``to`` (default ``champion``), gates first.

    The gates come from ``gates`` or the model's gate file (``gates/<name>.toml``), else the
    default gate. A refusal raises :class:`GateRefusedError` (with the table of failed gates)
    unless ``raise_on_refusal=False``. ``force=True`` moves the alias whatever the gates say and
    needs a ``reason``; the audit entry names who and why. ``expect_champion`` makes the move a
    compare-and-set from the caller's view too: ConflictError unless the champion is that version.

    >>> res = promote("churn", 4)   # doctest: +SKIP
    >>> res.promoted, res.gates.passed   # doctest: +SKIP
    (True, True)
    """
    ws = workspace or current()
    check_name(name)
    version = check_version(version)
    check_alias(to)
    if force and not (isinstance(reason, str) and reason.strip()):
        raise ValidationError("--force needs --reason: say why the gates are overridden (it goes to the audit trail)")
    c = client(ws)
    get_version(c, name, version)
    if to != CHAMPION:
        move = set_alias(name, version, to, workspace=ws)
        return PromotionResult(name, version, to, True, None, move)
    spec = load_spec(name, gates, ws)  # a bad gate file fails before anything moves
    with model_lock(name, ws, wait=0.0):
        expected = alias_version(c, name, CHAMPION)
        if expect_champion is not None and expected != check_version(expect_champion):
            raise ConflictError(
                f"conflict: {name}@champion is v{expected or '-'}, not v{check_version(expect_champion)}; nothing moved"
            )
        if expected == version:
            raise ValidationError(f"{name} v{version} is already the champion")
        report = _run_gates(c, name, version, expected, spec, force, ws)
        result = PromotionResult(name, version, CHAMPION, False, report, forced=force)
        if not report.passed and not force:
            _audit_refusal(report, ws)
            if raise_on_refusal:
                raise GateRefusedError(result)
            return result
        now = alias_version(c, name, CHAMPION)  # compare-and-set: nobody moved it while the gates ran
        if now != expected:
            raise ConflictError(
                f"conflict: {name}@champion moved from v{expected or '-'} to v{now or '-'} while the gates ran; "
                "promote again to gate against the new champion"
            )
        stack = champion_stack(c, name)
        stack.append(version)
        t0 = time.perf_counter()
        c.set_registered_model_alias(name, CHAMPION, version)
        seconds = round(time.perf_counter() - t0, 4)
        action = AliasAction.FORCE if force and not report.passed else AliasAction.PROMOTE
        move = AliasMove(name, CHAMPION, version, expected, action, user_name(), reason=reason, seconds=seconds)
        _record_move(c, move, stack)
    _audit(move, ws, forced=bool(force), gates_passed=report.passed, failed_gates=[r.gate for r in report.failed])
    result.promoted, result.move = True, move
    return result


def rollback(
    name: str,
    *,
    reason: str | None = None,
    auto: bool = False,
    expected: str | None = None,
    via: str | None = None,
    workspace: Workspace | None = None,
) -> AliasMove:
    """Move ``champion`` back to the previous champion: one alias move, audited.

    ``expected``: roll back only if the champion is still that version (the automatic rollback
    uses it, so it never undoes a newer promotion it did not check; the panel sends the champion
    it showed). ``via`` names the front end that asked (``"panel"``): the move's actor reads
    ``alice via panel`` and the audit entry carries ``via``.

    >>> rollback("churn", reason="latency regression")   # doctest: +SKIP
    """
    ws = workspace or current()
    check_name(name)
    c = client(ws)
    with model_lock(name, ws, wait=30.0):
        t0 = time.perf_counter()
        current_v = alias_version(c, name, CHAMPION)
        if current_v is None:
            raise NotFoundError(f"model {name!r} has no champion to roll back")
        if expected is not None and current_v != str(expected):
            raise ConflictError(f"conflict: {name}@champion is v{current_v}, not v{expected}; nothing rolled back")
        stack = champion_stack(c, name)
        if len(stack) < 2:
            raise NotFoundError(f"model {name!r} has no previous champion to roll back to (champion v{current_v})")
        stack.pop()
        target = stack[-1]
        c.set_registered_model_alias(name, CHAMPION, target)
        seconds = round(time.perf_counter() - t0, 4)
        move = AliasMove(
            name,
            CHAMPION,
            target,
            current_v,
            AliasAction.AUTO_ROLLBACK if auto else AliasAction.ROLLBACK,
            f"{user_name()} via {via}" if via else user_name(),
            reason=reason,
            seconds=seconds,
        )
        _record_move(c, move, stack)
        c.set_model_version_tag(
            name, current_v, "aieng.rolled_back", json.dumps({"at": iso(move.at), "by": move.actor, "reason": reason})
        )
    _audit(move, ws, auto=auto, **({"via": via} if via else {}))
    return move
