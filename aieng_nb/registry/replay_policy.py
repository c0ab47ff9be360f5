"""One policy of a replay, batch by batch: score, then what the policy does once labels arrive.

The loop policy is the loop's machinery in-process (monitoring with estimated performance, a
realized-drop check, retraining on the recent window, the gates, the post-promotion check and
rollback); ``static`` and ``periodic:K`` are its baselines. Every label read goes through
:class:`~aieng_nb.registry.replay.Labels`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .replay import WARMUP, Labels, Model, Setup, _fit, _group_gap, _metric, _predict, tail_rows
from .replay_records import BatchValue, PolicyResult


@dataclass
class LoopState:
    champion: Model
    stack: list[Model] = field(default_factory=list)  # previous champions, newest last
    pending: dict[str, Any] | None = None  # post-promotion check: {"after": holdout batch}
    last_retrain: int = -(10**9)
    versions: int = 1
    level: float | None = None  # the metric the loop holds the champion to (see _hold_level)
    refusals: int = 0  # consecutive refused challengers: each doubles the wait before the next retraining


def run_policy(name: str, setup: Setup, labels: Labels) -> PolicyResult:
    """Replay ``setup.batches`` under the policy ``name`` (static, periodic:K or loop)."""
    import numpy as np

    res = PolicyResult(name)
    labels.step = WARMUP - 1
    first, cpu = _fit(setup, labels, [0], 1)
    first.reference = _scored(setup, first, 1, labels.get(1))
    res.cpu_seconds += cpu
    state = LoopState(first)
    _hold_level(setup, state)
    period = int(name.split(":", 1)[1]) if name.startswith("periodic:") else 0
    for t in range(WARMUP, len(setup.batches)):
        labels.step = t
        batch = setup.batches[t]
        pred, proba = _predict(setup, state.champion, batch)
        truth = batch[setup.target].to_numpy()  # the replay's own scorer: never seen by a policy
        bv = BatchValue(t, str(batch[setup.time_column].iloc[0]), _metric(setup, truth, pred),
                        champion=state.champion.version, groups=_group_gap(setup, batch, truth, pred))  # fmt: skip
        if period and (t - WARMUP + 1) % period == 0:
            _retrain_periodic(setup, labels, state, res, bv)
        elif name == "loop":
            _loop_step(setup, labels, state, res, bv, batch, pred, proba)
        res.batches.append(bv)
    res.mean = float(np.mean([b.value for b in res.batches]))
    return res


def _scored(setup: Setup, model: Model, b: int, y: Any, rows: slice = slice(None)) -> Any:
    """Batch ``b`` (its ``rows``) with the model's prediction, probabilities and labels: a monitoring reference."""
    frame = setup.batches[b].iloc[rows].copy()
    pred, proba = _predict(setup, model, frame)
    frame["prediction"] = pred
    frame[setup.target] = y
    _add_proba(frame, proba, model)
    return frame


def _add_proba(frame: Any, proba: Any, model: Model) -> Any:
    if proba is None:
        return None
    if proba.ndim == 1:
        frame["proba"] = proba
        return "proba"
    cols = {c: f"proba_{i}" for i, c in enumerate(model.classes)}
    for i, col in enumerate(cols.values()):
        frame[col] = proba[:, i]
    return cols


def _window(setup: Setup, labels: Labels, holdout: bool) -> tuple[list[int], int | None]:
    known = labels.known()
    if holdout:
        return known[-setup.window : -1], known[-1]
    return known[-setup.window :], None


def _retrain_periodic(setup: Setup, labels: Labels, state: LoopState, res: PolicyResult, bv: BatchValue) -> None:
    train, _ = _window(setup, labels, holdout=False)
    state.versions += 1
    state.champion, cpu = _fit(setup, labels, train, state.versions)
    res.cpu_seconds += cpu
    res.retrains += 1
    res.promotions += 1
    bv.retrained = bv.promoted = True


def _loop_step(
    setup: Setup, labels: Labels, state: LoopState, res: PolicyResult, bv: BatchValue, batch: Any, pred: Any,
    proba: Any,
) -> None:  # fmt: skip
    """Monitor the batch (estimated performance), check the newest labels, then retrain and gate on a breach."""
    _post_promotion_check(setup, labels, state, res, bv)
    breach = _monitor(setup, state, bv, batch, pred, proba)
    breach = _realized_drop(setup, labels, state, bv) or breach
    known = labels.known()
    fresh = known[-1] > max(state.champion.trained_on + [state.last_retrain])
    if not breach or not fresh or bv.batch - state.last_retrain <= setup.cooldown * 2**state.refusals or len(known) < 2:
        return
    train, holdout = _window(setup, labels, holdout=True)
    assert holdout is not None
    state.last_retrain = bv.batch
    state.versions += 1
    challenger, cpu = _fit(setup, labels, train, state.versions, head=holdout)
    res.cpu_seconds += cpu
    res.retrains += 1
    bv.retrained = True
    rows = tail_rows(setup, holdout)
    y = labels.get(holdout)[rows]
    gates = _gates(setup, holdout, rows, y, challenger, state.champion)
    failed = [r for r in gates if not r.passed]
    if failed:
        state.refusals += 1
        res.refused += 1
        bv.refused = True
        res.events.append(f"batch {bv.batch}: v{challenger.version} refused: " + "; ".join(r.gate for r in failed))
        return
    challenger.reference = _scored(setup, challenger, holdout, y, rows)
    state.stack.append(state.champion)
    state.champion = challenger
    state.pending = {"after": holdout}
    state.refusals = 0
    _hold_level(setup, state)
    res.events.append(
        f"batch {bv.batch}: v{challenger.version} promoted (trained on {train} and half of {holdout}, "
        "gated on its other half)"
    )
    res.promotions += 1
    res.fairness_deltas.extend(r.delta for r in gates if r.gate.startswith("fairness:") and r.delta is not None)


def _monitor(setup: Setup, state: LoopState, bv: BatchValue, batch: Any, pred: Any, proba: Any) -> bool:
    """The monitoring report of the batch against the champion's reference (labels not known yet)."""
    from ..reports.monitoring import monitor

    ref = state.champion.reference
    current = batch.drop(columns=[setup.target]).copy()
    current["prediction"] = pred
    probability = _add_proba(current, proba, state.champion)
    if setup.task == "classification":
        rules = [f"estimated_accuracy_drop > {setup.drop:g}"]
    else:
        ref_rmse = _metric(setup, ref[setup.target].to_numpy(), ref["prediction"].to_numpy())
        rules = [f"estimated_rmse_increase > {setup.drop * ref_rmse:.6g}"]
    cols = [*setup.features, "prediction", setup.target, *([] if probability is None else
            [probability] if isinstance(probability, str) else list(probability.values()))]  # fmt: skip
    rep = monitor(ref[cols], current[[c for c in cols if c != setup.target]], target=setup.target,
                  prediction="prediction", probability=probability, columns=setup.features, checks=rules,
                  evidently=False, log=False)  # fmt: skip
    est = rep.estimated
    if est is not None:
        m = est[setup.metric]
        bv.estimated, bv.trusted = m.value, est.trusted
        bv.calibrated = not any("calibration" in r or "loss model" in r for r in est.reasons)
    return not rep.passed


def _hold_level(setup: Setup, state: LoopState) -> None:
    """The level the realized check holds the champion to: its reference metric, but a promotion made
    after a drift may lower the level by at most ``drop`` (so a champion that is only less bad than
    the one it replaced does not silence the loop)."""
    ref = state.champion.reference
    now = _metric(setup, ref[setup.target].to_numpy(), ref["prediction"].to_numpy())
    if state.level is None:
        state.level = now
    elif setup.task == "classification":
        state.level = max(now, state.level - setup.drop)
    else:
        state.level = min(now, state.level * (1 + setup.drop))


def _realized_drop(setup: Setup, labels: Labels, state: LoopState, bv: BatchValue) -> bool:
    """The champion on the newest labelled batch it has not learned from, against its reference."""
    newest = labels.known()[-1]
    ref = state.champion.reference
    if newest < WARMUP or newest in state.champion.trained_on or ref is None:
        return False
    y = labels.get(newest)
    pred, _ = _predict(setup, state.champion, setup.batches[newest])
    now = _metric(setup, y, pred)
    before = state.level if state.level is not None else now
    if setup.task == "classification":
        return before - now > setup.drop
    return now - before > setup.drop * before


def _gates(setup: Setup, holdout: int, rows: slice, y: Any, challenger: Model, champion: Model) -> list[Any]:
    """The gate file's metric and fairness gates, on the held-out rows of the newest labelled batch."""
    from .gates import prediction_gates
    from .scoring import EvalData, Scored

    frame = setup.batches[holdout].iloc[rows].reset_index(drop=True)
    frame[setup.target] = y
    data = EvalData(f"batch {holdout}", "", frame, setup.target, setup.task, setup.pos_label)
    new = Scored("replay", str(challenger.version), _predict(setup, challenger, frame)[0], 0.0)
    old = Scored("replay", str(champion.version), _predict(setup, champion, frame)[0], 0.0)
    return prediction_gates(setup.spec, data, new, old)


def _post_promotion_check(setup: Setup, labels: Labels, state: LoopState, res: PolicyResult, bv: BatchValue) -> None:
    """On the first labelled batch after the promotion: roll back when worse by more than the margin."""
    pending = state.pending
    newest = labels.known()[-1]
    if pending is None or newest <= pending["after"] or not state.stack:
        return
    state.pending = None
    y = labels.get(newest)
    frame = setup.batches[newest]
    new = _metric(setup, y, _predict(setup, state.champion, frame)[0])
    old = _metric(setup, y, _predict(setup, state.stack[-1], frame)[0])
    delta = new - old if setup.task == "classification" else old - new
    if delta < -setup.spec.rollback_margin:
        bad = state.champion
        state.champion = state.stack.pop()
        res.rollbacks += 1
        bv.rolled_back = True
        res.events.append(
            f"batch {bv.batch}: rolled back v{bad.version} -> v{state.champion.version} "
            f"({setup.metric} {new:.4g} vs {old:.4g} on batch {newest}, margin {setup.spec.rollback_margin:g})"
        )
    elif not math.isfinite(delta):
        res.events.append(f"batch {bv.batch}: post-promotion check could not compare on batch {newest}")
