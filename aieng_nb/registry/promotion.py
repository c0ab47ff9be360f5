"""Moving aliases: gated promotion, forced promotion, rollback; a lock and a compare-and-set.

Every move holds the model's lock (a row in the workspace database; a second promotion of the
same model at the same time gets :class:`ConflictError` at once) and is a compare-and-set on the
champion it read: if the champion moved since (another command, another machine, MLflow's UI),
the move is refused with a conflict. Each move is one recorded intent, committed before the alias
moves and audited (see :mod:`.intents`): a kill or a full disk at any step leaves either nothing
moved or a move that is audited. ``previous_champion`` points at the champion before the current one.

>>> promote("churn", "4")                                         # doctest: +SKIP
>>> promote("churn", "5", force=True, reason="hotfix for #123")   # doctest: +SKIP
>>> rollback("churn")                                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from typing import Any

from .. import audit
from ..exceptions import AiengError, ValidationError
from ..fsutil import user_name
from ..records import iso
from ..workspace import Workspace, current
from . import intents
from .client import (
    CHAMPION,
    PREVIOUS,
    ConflictError,
    alias_version,
    check_alias,
    check_name,
    check_version,
    client,
    get_version,
    store_client,
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


def history(name: str, *, workspace: Workspace | None = None) -> list[AliasMove]:
    """Alias moves of ``name`` (the audit trail keeps them too), oldest first.

    >>> [m.action for m in history("churn")]   # doctest: +SKIP
    ['promote', 'promote', 'rollback']
    """
    ws = workspace or current()
    check_name(name)
    c = store_client(ws)
    intents.champion(ws, c, name)  # a model an older aieng moved: its tag history is imported once
    return intents.history(ws, name)


def _event(move: AliasMove) -> str:
    events: dict[str, str] = {
        AliasAction.PROMOTE: "model.promote",
        AliasAction.FORCE: "model.promote",
        AliasAction.SET: "model.alias",
    }
    return events.get(move.action, "model.rollback")


def _move(
    ws: Workspace, c: Any, move: AliasMove, read: intents.Champion, stack: list[str] | None, **extra: Any
) -> AliasMove:
    """Record the move as an intent (compare-and-set on ``read``), then carry it out, audited."""
    intent_id = intents.begin(ws, move, read, stack, _event(move), extra)
    return intents.apply(ws, c, intent_id)


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
    with intents.lock(ws, name, wait=10.0):
        intents.recover(ws, c, name)
        read = intents.champion(ws, c, name)
        previous = alias_version(c, name, alias)
        move = AliasMove(name, alias, version, previous, AliasAction.SET, user_name())
        return _move(ws, c, move, read, None)


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
    intents.settle(ws, c, name)  # a move a crash left open is completed or undone before the champion is read
    seen = alias_version(c, name, CHAMPION)  # the champion this promotion read: it moves only from there
    get_version(c, name, version)
    if to != CHAMPION:
        move = set_alias(name, version, to, workspace=ws)
        return PromotionResult(name, version, to, True, None, move)
    spec = load_spec(name, gates, ws)  # a bad gate file fails before anything moves
    with intents.lock(ws, name, wait=0.0):
        intents.recover(ws, c, name)
        read = intents.champion(ws, c, name)
        expected = read.champion
        if expected != seen:
            raise ConflictError(
                f"conflict: {name}@champion moved from v{seen or '-'} to v{expected or '-'} as this promotion "
                "started; nothing moved"
            )
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
        action = AliasAction.FORCE if force and not report.passed else AliasAction.PROMOTE
        move = AliasMove(name, CHAMPION, version, expected, action, user_name(), reason=reason)
        extra = {"forced": bool(force), "gates_passed": report.passed, "failed_gates": [r.gate for r in report.failed]}
        move = _move(ws, c, move, read, [*read.stack, version], **extra)
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
    c = store_client(ws)  # the embedded store: the alias moves without importing MLflow
    intents.settle(ws, c, name, wait=30.0)  # a move a crash left open is completed or undone first
    seen = alias_version(c, name, CHAMPION)  # the champion this rollback read: it moves only from there
    with intents.lock(ws, name, wait=30.0):
        intents.recover(ws, c, name)
        read = intents.champion(ws, c, name)
        current_v = read.champion
        if current_v is None:
            raise ConflictError(f"model {name!r} has no champion to roll back")
        if expected is not None and current_v != str(expected):
            raise ConflictError(f"conflict: {name}@champion is v{current_v}, not v{expected}; nothing rolled back")
        if current_v != seen:
            raise ConflictError(
                f"conflict: {name}@champion moved from v{seen or '-'} to v{current_v} while this rollback waited; "
                "nothing rolled back"
            )
        stack = list(read.stack)
        if len(stack) < 2:
            raise ConflictError(f"model {name!r} has no previous champion to roll back to (champion v{current_v})")
        stack.pop()
        move = AliasMove(
            name,
            CHAMPION,
            stack[-1],
            current_v,
            AliasAction.AUTO_ROLLBACK if auto else AliasAction.ROLLBACK,
            f"{user_name()} via {via}" if via else user_name(),
            reason=reason,
        )
        return _move(ws, c, move, read, stack, auto=auto, **({"via": via} if via else {}))
