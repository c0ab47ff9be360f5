"""One policy of a replay, batch by batch: score, then what the policy does once labels arrive.

The loop policy is the loop's machinery in-process (monitoring with estimated performance, a
realized-drop check, retraining on the recent window, the gates, the post-promotion check and
rollback); ``static`` and ``periodic:K`` are its baselines. Every label read goes through
:class:`~aieng_nb.loop.replay.Labels`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .replay import WARMUP, Labels, Model, Setup, _fit, _group_gap, _metric, _predict, head_rows, tail_rows
from .replay_records import BatchValue, PolicyResult

REFERENCE_BATCHES = 3
REFERENCE_ROWS = 5_000
MAX_WINDOW_ROWS = 50_000
MIN_WINDOW_ROWS = 1_000
ENOUGH_ROWS = 5_000


@dataclass
class LoopState:
    champion: Model
    stack: list[Model] = field(default_factory=list)  # previous champions, newest last
    pending: dict[str, Any] | None = None  # post-promotion check: {"after": holdout batch}
    last_retrain: int = -(10**9)
    versions: int = 1
    level: float | None = None  # the metric the loop holds the champion to (see _hold_level)
    refusals: int = 0  # consecutive refused challengers: each doubles the wait before the next retraining
    estimated: Any = None  # what the last estimate saw (reference, current, probability): the replay's check


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
            bv.calibration_held = _calibration_held(setup, state, truth)
        res.batches.append(bv)
    res.mean = float(np.mean([b.value for b in res.batches]))
    return res


def _calibration_held(setup: Setup, state: LoopState, truth: Any) -> bool | None:
    """The replay's own check, with the batch's labels (no policy sees it): did the calibrated
    probabilities the estimate used hold on the batch? (None for regressors.)"""
    if state.estimated is None or setup.task != "classification":
        return None
    from ..reports.estimation import estimate

    ref, current, probability = state.estimated
    state.estimated = None
    est = estimate(ref, current.assign(**{setup.target: truth}), target=setup.target, probability=probability,
                   prediction=setup.prediction, features=setup.features)  # fmt: skip
    held = est.calibration.get("current_held")
    return None if held is None else bool(held)


def _scored(setup: Setup, model: Model, b: int, y: Any, rows: slice = slice(None)) -> Any:
    """Batch ``b`` (its ``rows``) with the model's prediction, probabilities and labels: a monitoring reference."""
    frame = setup.batches[b].iloc[rows].copy()
    pred, proba = _predict(setup, model, frame)
    frame[setup.prediction] = pred
    frame[setup.target] = y
    _add_proba(setup, frame, proba, model)
    return frame


def _add_proba(setup: Setup, frame: Any, proba: Any, model: Model) -> Any:
    if proba is None:
        return None
    if proba.ndim == 1:
        frame[setup.proba] = proba
        return setup.proba
    cols = {c: f"{setup.proba}_{i}" for i, c in enumerate(model.classes)}
    for i, col in enumerate(cols.values()):
        frame[col] = proba[:, i]
    return cols


def _choose_window(setup: Setup, labels: Labels, prior: list[int], holdout: int) -> tuple[list[int], float]:
    """The recent window the challenger learns from. Each candidate length (1, 2, ``window`` and twice
    it, in batches before the holdout batch, holding at least :data:`MIN_WINDOW_ROWS` and at most
    :data:`MAX_WINDOW_ROWS` rows) fits a model scored on the earlier part of the holdout batch (the
    part the challenger then learns from too; the gates decide on the later part, which no choice has
    seen); the one with the lowest loss wins. Returns the batches and the CPU seconds of the trial fits."""
    import numpy as np

    size = len(setup.batches[holdout])
    wanted = sorted({1, 2, setup.window, 2 * setup.window})
    lengths = sorted({min(n, len(prior)) for n in wanted
                      if (n * size >= MIN_WINDOW_ROWS or n == wanted[-1]) and (n * size <= MAX_WINDOW_ROWS or n == 1)})  # fmt: skip
    rows = head_rows(setup, holdout)
    X = setup.batches[holdout].iloc[rows][setup.features].to_numpy(dtype=float)
    y = labels.get(holdout)[rows]
    losses, ses, cpu = [], [], 0.0
    for n in lengths:
        model, c = _fit(setup, labels, prior[-n:], 0)
        cpu += c
        row = _row_losses(setup, model, X, y)
        losses.append(float(np.mean(row)))
        ses.append(float(np.std(row) / math.sqrt(max(len(row), 1))))
    best = int(np.argmin(losses))
    # the one-standard-error rule: the shortest (most recent) window within one standard error of the
    # best; under drift the model serves the batches after the holdout, where recency counts
    best = next(i for i, v in enumerate(losses) if v <= losses[best] + ses[best])
    return prior[-lengths[best] :], cpu


def _row_losses(setup: Setup, model: Model, X: Any, y: Any) -> Any:
    """Per-row log loss (classifiers) or squared error (regressors) of a candidate on rows ``X``."""
    import numpy as np

    if setup.task != "classification":
        return (np.asarray(y, dtype=float) - model.estimator.predict(X)) ** 2
    proba = model.estimator.predict_proba(X)
    idx = {c: i for i, c in enumerate(model.classes)}
    p = np.array([proba[r, idx[v]] if v in idx else 0.0 for r, v in enumerate(y)])
    return -np.log(np.clip(p, 1e-6, 1.0))


def _retrain_periodic(setup: Setup, labels: Labels, state: LoopState, res: PolicyResult, bv: BatchValue) -> None:
    train = labels.known()[-setup.window :]
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
    _refresh_reference(setup, labels, state, bv.batch)
    breach = _monitor(setup, state, bv, batch, pred, proba)  # the batch as scored, before its labels
    _post_promotion_check(setup, labels, state, res, bv)  # then what the labels that came tell
    breach = _realized_drop(setup, labels, state, bv) or breach
    known = labels.known()
    # more data: a champion that learned from fewer batches than the window, once twice as many are labelled
    learned = len(state.champion.trained_on)
    learned_rows = sum(len(setup.batches[b]) for b in state.champion.trained_on)
    breach = breach or (learned < setup.window and learned_rows < ENOUGH_ROWS and len(known) > 2 * learned)
    fresh = known[-1] > max(state.champion.trained_on + [state.last_retrain])
    if not breach or not fresh or bv.batch - state.last_retrain <= setup.cooldown * 2**state.refusals or len(known) < 2:
        return
    holdout = known[-1]
    train, cpu = _choose_window(setup, labels, known[:-1], holdout)
    state.last_retrain = bv.batch
    state.versions += 1
    challenger, fit_cpu = _fit(setup, labels, train, state.versions, head=holdout)
    res.cpu_seconds += cpu + fit_cpu
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
    # the gates passed: the champion learns the holdout rows too (the newest labels there are); its
    # reference stays the gated holdout until a labelled batch it has not learned from arrives
    final, cpu = _fit(setup, labels, [*train, holdout], challenger.version)
    res.cpu_seconds += cpu
    final.reference = challenger.reference
    challenger = final
    state.stack.append(state.champion)
    state.champion = challenger
    state.pending = {"after": holdout}
    state.refusals = 0
    _hold_level(setup, state)
    res.events.append(
        f"batch {bv.batch}: v{challenger.version} promoted (trained on {train} and half of {holdout}, "
        f"gated on its other half, then refit on all of {holdout})"
    )
    res.promotions += 1
    res.fairness_deltas.extend(r.delta for r in gates if r.gate.startswith("fairness:") and r.delta is not None)


def _refresh_reference(setup: Setup, labels: Labels, state: LoopState, now: int) -> None:
    """The champion's monitoring reference: the newest labelled batches it has not learned from (up to
    :data:`REFERENCE_BATCHES`, fewer once they hold :data:`REFERENCE_ROWS`), scored by it, so the
    estimate's calibration is fitted on recent, whole batches; until one arrives, the gates' holdout."""
    import pandas as pd

    champ = state.champion
    unseen = [b for b in labels.known_before(now) if b > max(champ.trained_on)]
    chosen: list[int] = []
    for b in reversed(unseen):
        if len(chosen) == REFERENCE_BATCHES or sum(len(setup.batches[c]) for c in chosen) >= REFERENCE_ROWS:
            break
        chosen.insert(0, b)
    if not chosen or chosen == champ.ref_batches:
        return
    champ.reference = pd.concat([_scored(setup, champ, b, labels.get(b)) for b in chosen], ignore_index=True)
    champ.ref_batches = chosen


def _monitor(setup: Setup, state: LoopState, bv: BatchValue, batch: Any, pred: Any, proba: Any) -> bool:
    """The monitoring report of the batch against the champion's reference (labels not known yet)."""
    from ..reports.monitoring import monitor

    ref = state.champion.reference
    current = batch.drop(columns=[setup.target]).copy()
    current[setup.prediction] = pred
    probability = _add_proba(setup, current, proba, state.champion)
    if not _can_estimate(setup, ref, probability):
        return False
    if setup.task == "classification":
        rules = [f"estimated_accuracy_drop > {setup.drop:g}"]
    else:
        ref_rmse = _metric(setup, ref[setup.target].to_numpy(), ref[setup.prediction].to_numpy())
        rules = [f"estimated_rmse_increase > {setup.drop * ref_rmse:.6g}"]
    cols = [*setup.features, setup.prediction, setup.target, *([] if probability is None else
            [probability] if isinstance(probability, str) else list(probability.values()))]  # fmt: skip
    rep = monitor(ref[cols], current[[c for c in cols if c != setup.target]], target=setup.target,
                  prediction=setup.prediction, probability=probability, columns=setup.features, checks=rules,
                  evidently=False, log=False)  # fmt: skip
    est = rep.estimated
    state.estimated = (ref[cols], current[[c for c in cols if c != setup.target]], probability)
    if est is not None:
        m = est[setup.metric]
        bv.estimated, bv.trusted = m.value, est.trusted
        bv.calibrated = not any("calibration" in r or "loss model" in r for r in est.reasons)
    return not rep.passed


def _can_estimate(setup: Setup, ref: Any, probability: Any) -> bool:
    """Whether the champion's reference can estimate its performance on a batch: it holds the
    champion's probability columns (a promoted model refit on the whole holdout may know a class its
    gated challenger, which scored the reference, did not) and, for a regressor, enough rows for
    the loss model. When it cannot, the batch is not estimated (the realized check still runs)."""
    from ..reports.estimation import probability_columns
    from ..reports.loss_estimation import MIN_REFERENCE_ROWS

    if any(c not in ref.columns for c in probability_columns(probability)):
        return False
    return setup.task == "classification" or len(ref) >= MIN_REFERENCE_ROWS


def _hold_level(setup: Setup, state: LoopState) -> None:
    """The level the realized check holds the champion to: its reference metric, but a promotion made
    after a drift may lower the level by at most ``drop`` (so a champion that is only less bad than
    the one it replaced does not silence the loop)."""
    ref = state.champion.reference
    now = _metric(setup, ref[setup.target].to_numpy(), ref[setup.prediction].to_numpy())
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
    from ..registry.gates import prediction_gates
    from ..registry.scoring import EvalData, Scored
    from ..reports.quality import pos_label

    frame = setup.batches[holdout].iloc[rows].reset_index(drop=True)
    frame[setup.target] = y
    new = Scored("replay", str(challenger.version), _predict(setup, challenger, frame)[0], 0.0)
    old = Scored("replay", str(champion.version), _predict(setup, champion, frame)[0], 0.0)
    positive = setup.pos_label
    if setup.task == "classification":  # the fairness gate's positive class must be among each model's labels
        common = {*y, *new.y_pred} & {*y, *old.y_pred}
        positive = positive if positive in common else pos_label(sorted(set(y), key=str))
    data = EvalData(f"batch {holdout}", "", frame, setup.target, setup.task, positive)
    fair = setup.spec.fairness
    if fair is None or any(c not in frame.columns for c in fair.sensitive) or len(
        frame[fair.sensitive].drop_duplicates()) > 1:  # fmt: skip
        return prediction_gates(setup.spec, data, new, old)
    # the holdout holds one group (a season, a region): its metric is compared here (a fairness
    # report needs two groups to compare between)
    results = prediction_gates(dataclasses.replace(setup.spec, fairness=None), data, new, old)
    return [*results, _one_group_gate(fair, frame, y, new.y_pred, old.y_pred)]


def _one_group_gate(gate: Any, frame: Any, y: Any, new: Any, old: Any) -> Any:
    """The fairness gate on a holdout of a single group: that group's metric may not degrade by more than the margin."""
    import numpy as np

    from ..registry.records import GateResult
    from ..reports.fairness_groups import group_labels

    group = "/".join(group_labels(frame[c]).iloc[0] for c in gate.sensitive)
    label = f"fairness:{gate.metric}[{group}]"
    err = {"accuracy": lambda p: float(np.mean(y == p)), "mae": lambda p: float(np.mean(np.abs(y - p))),
           "rmse": lambda p: float(math.sqrt(np.mean((y - p) ** 2)))}.get(gate.metric)  # fmt: skip
    if err is None:
        return GateResult(label, True, gate.metric, detail=f"the holdout holds only group {group}: not compared")
    v_new, v_old = err(new), err(old)
    delta = v_new - v_old if gate.metric == "accuracy" else v_old - v_new
    return GateResult(label, delta >= -gate.max_degradation, gate.metric, champion=v_old, challenger=v_new,
                      delta=delta, threshold=-gate.max_degradation,
                      detail=f"group {group} ({len(y)} rows, the holdout's only group): may degrade by at most "
                             f"{gate.max_degradation:g}")  # fmt: skip


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
