"""The gates a challenger passes before it becomes champion.

* **metrics** on the same held-out snapshot (or, without one, the metrics both runs logged), each
  with a margin; below ``bootstrap_below`` rows a paired bootstrap CI decides, so noise neither
  fails a "not worse" gate nor passes a "must improve" one;
* **fairness**: per-group metric on the same snapshot (``aieng_nb.fairness``); no group may
  degrade by more than ``max_degradation``; optional absolute rules on the challenger;
* **data**: the challenger's run has no failed drift/quality/validation report;
* **reproducibility**: its run records notebook, parameters, data snapshots and seed.

>>> from aieng_nb.registry.gatefile import default_spec
>>> default_spec().is_default
True
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..reports import REPORT_TAG_PREFIX
from ..workspace import Workspace, current
from . import scoring
from .gatefile import GateSpec, MetricGate, direction
from .records import GateReport, GateResult

# preferred primary metrics for the default gate, best first
PRIMARY_ORDER = ("accuracy", "f1", "roc_auc", "balanced_accuracy", "r2", "rmse", "mae", "mse", "log_loss")


def primary_metric(metrics: dict[str, float], other: dict[str, float] | None = None) -> str | None:
    """The evaluation metric present in ``metrics`` (and ``other``) with a known direction."""
    shared = [k for k in metrics if other is None or k in other]
    known = [k for k in shared if direction(k) is not None]
    if not known:
        return None

    def rank(key: str) -> tuple[int, int, str]:
        base = key.lower().rsplit("/", 1)[-1]
        for i, name in enumerate(PRIMARY_ORDER):
            if base == name:
                return (0, i, key)
            if base.endswith(name):
                return (1, i, key)
        return (2, 0, key)

    return sorted(known, key=rank)[0]


def evaluate(
    name: str,
    version: str,
    champion: str | None,
    spec: GateSpec,
    *,
    workspace: Workspace | None = None,
    c: Any = None,
) -> GateReport:
    """Run every gate of ``spec`` for ``version`` against ``champion`` (None: the first champion)."""
    from .client import client

    ws = workspace or current()
    c = c or client(ws)
    t0 = time.perf_counter()
    report = GateReport(name, version, champion, gate_file=None if spec.is_default else spec.source)
    run_new = _run_of(c, name, version)
    run_old = _run_of(c, name, champion) if champion else None
    if spec.is_default:
        report.results.append(_default_gate(run_new, run_old))
    else:
        data = None
        if spec.snapshot:
            data = scoring.evaluation_data(spec.snapshot, spec.target or "", spec.task, spec.pos_label)
            report.snapshot, report.n_rows = data.ref, len(data.frame)
            new = scoring.score(name, version, data, spec.features, ws)
            old = scoring.score(name, champion, data, spec.features, ws) if champion else None
            report.results.extend(prediction_gates(spec, data, new, old))
        else:
            for gate in spec.metrics:
                report.results.append(_logged_metric(gate, run_new, run_old))
        if not spec.metrics:
            report.results.append(_default_gate(run_new, run_old))
        if spec.data_required:
            report.results.append(_data_gate(run_new, spec.data_kinds))
        if spec.reproducibility:
            report.results.extend(_repro_gate(c, run_new, spec.reproducibility))
        if spec.live is not None:
            from ..serving.shadow import live_gates

            report.results.extend(live_gates(name, version, champion, spec.live, workspace=ws))
    report.seconds = round(time.perf_counter() - t0, 4)
    return report


def prediction_gates(
    spec: GateSpec, data: scoring.EvalData, new: scoring.Scored, old: scoring.Scored | None
) -> list[GateResult]:
    """The metric and fairness gates of ``spec`` on predictions already made on ``data`` (what a
    promotion runs after scoring both versions; the replay calls it with in-memory models)."""
    results = [_snapshot_metric(gate, data, new, old, spec) for gate in spec.metrics]
    if spec.fairness is not None:
        results.extend(_fairness(spec, data, new, old))
    return results


def _run_of(c: Any, name: str, version: str) -> Any:
    mv = c.get_model_version(name, version)
    if not mv.run_id:
        return None
    try:
        return c.get_run(mv.run_id)
    except Exception:  # noqa: BLE001 - a deleted run: the gates that need it say so
        return None


def _better(value_new: float, value_old: float, higher: bool) -> float:
    return value_new - value_old if higher else value_old - value_new


def _default_gate(run_new: Any, run_old: Any) -> GateResult:
    new = dict(run_new.data.metrics) if run_new is not None else {}
    if run_old is None:
        metric = primary_metric(new)
        return GateResult(
            f"metric:{metric or 'primary'}",
            True,
            metric,
            challenger=new.get(metric) if metric else None,
            detail="default gate: no champion yet, nothing to compare",
        )
    old = dict(run_old.data.metrics)
    metric = primary_metric(new, old)
    if metric is None:
        return GateResult(
            "metric:primary",
            False,
            detail="default gate: no evaluation metric (accuracy, f1, rmse, ...) logged by both runs; "
            "log one or add a gate file gates/<model>.toml",
        )
    higher = bool(direction(metric))
    delta = _better(new[metric], old[metric], higher)
    return GateResult(
        f"metric:{metric}",
        delta >= 0,
        metric,
        champion=old[metric],
        challenger=new[metric],
        delta=delta,
        threshold=0.0,
        detail=f"default gate: logged {metric} must not be worse ({'higher' if higher else 'lower'} is better)",
    )


def _logged_metric(gate: MetricGate, run_new: Any, run_old: Any) -> GateResult:
    new = dict(run_new.data.metrics) if run_new is not None else {}
    threshold = gate.min_improvement if gate.min_improvement is not None else (-gate.margin or 0.0)
    if gate.name not in new:
        return GateResult(
            f"metric:{gate.name}", False, gate.name, detail=f"the challenger's run did not log {gate.name}"
        )
    if run_old is None:
        return GateResult(f"metric:{gate.name}", True, gate.name, challenger=new[gate.name], detail="no champion yet")
    old = dict(run_old.data.metrics)
    if gate.name not in old:
        return GateResult(
            f"metric:{gate.name}",
            False,
            gate.name,
            challenger=new[gate.name],
            detail=f"the champion's run did not log {gate.name}",
        )
    delta = _better(new[gate.name], old[gate.name], gate.higher_is_better)
    return GateResult(
        f"metric:{gate.name}",
        delta >= threshold,
        gate.name,
        champion=old[gate.name],
        challenger=new[gate.name],
        delta=delta,
        threshold=threshold,
        detail="logged by the runs (no evaluation snapshot configured)",
    )


def _snapshot_metric(
    gate: MetricGate, data: scoring.EvalData, new: scoring.Scored, old: scoring.Scored | None, spec: GateSpec
) -> GateResult:
    y = data.y
    s_new = scoring.row_stats(gate.name, y, new.y_pred, data.task, data.pos_label)
    v_new = float(scoring.metric_value(gate.name, s_new))
    threshold = gate.min_improvement if gate.min_improvement is not None else (-gate.margin or 0.0)
    label = f"metric:{gate.name}"
    if old is None:
        return GateResult(label, True, gate.name, challenger=v_new, detail="no champion yet")
    s_old = scoring.row_stats(gate.name, y, old.y_pred, data.task, data.pos_label)
    v_old = float(scoring.metric_value(gate.name, s_old))
    delta = _better(v_new, v_old, gate.higher_is_better)
    kind = "must improve by" if gate.min_improvement is not None else "may be worse by at most"
    result = GateResult(
        label, delta >= threshold, gate.name, champion=v_old, challenger=v_new, delta=delta, threshold=threshold
    )
    if len(y) < spec.bootstrap_below and spec.bootstrap_resamples > 0:
        lo, hi = scoring.paired_bootstrap(
            gate.name,
            s_old,
            s_new,
            gate.higher_is_better,
            resamples=spec.bootstrap_resamples,
            confidence=spec.confidence,
            seed=spec.seed,
        )
        result.ci_low, result.ci_high = lo, hi
        if gate.min_improvement is not None:
            result.passed = lo >= threshold  # an improvement must hold beyond the noise
            why = "the CI's low end does not clear the required improvement (noise could explain it)"
        else:
            result.passed = hi >= threshold  # worse only when the whole CI is beyond the margin
            why = "the whole CI is beyond the margin"
        result.detail = (
            f"{kind} {abs(threshold):g}; paired bootstrap ({spec.bootstrap_resamples} resamples, "
            f"{len(y)} rows){': ' + why if not result.passed else ''}"
        )
    else:
        result.detail = f"{kind} {abs(threshold):g} on {len(y)} rows"
    return result


_FAIR_HIGHER = {"accuracy": True, "tpr": True, "fpr": False, "mae": False, "rmse": False}


def _fairness(
    spec: GateSpec, data: scoring.EvalData, new: scoring.Scored, old: scoring.Scored | None
) -> list[GateResult]:
    from ..exceptions import ValidationError
    from ..reports.fairness_report import fairness

    gate = spec.fairness
    assert gate is not None
    missing = [c for c in gate.sensitive if c not in data.frame.columns]
    if missing:
        raise ValidationError(f"[fairness] sensitive columns {missing} are not in snapshot {data.ref}")
    sens = data.frame[gate.sensitive]
    kw: dict[str, Any] = {"sensitive": sens, "min_group_size": gate.min_group_size, "log": False, "task": data.task}
    if data.task == "classification":
        kw["pos_label"] = data.pos_label
    rep_new = fairness(data.frame[data.target], new.y_pred, checks=gate.checks, **kw)
    rep_old = fairness(data.frame[data.target], old.y_pred, checks=[], **kw) if old is not None else None
    metric = gate.metric
    if metric not in rep_new.by_group.columns:
        raise ValidationError(f"[fairness] metric {metric!r} is not computed for a {data.task} task")
    higher = _FAIR_HIGHER.get(metric)
    out: list[GateResult] = []
    for group, row in rep_new.by_group.iterrows():
        v_new = float(row[metric])
        label = f"fairness:{metric}[{group}]"
        small = " (small group)" if bool(row.get("small", False)) else ""
        if rep_old is None or group not in rep_old.by_group.index:
            out.append(
                GateResult(label, True, metric, challenger=v_new, detail=f"no champion value for this group{small}")
            )
            continue
        v_old = float(rep_old.by_group.loc[group, metric])
        delta = _better(v_new, v_old, higher) if higher is not None else -abs(v_new - v_old)
        passed = delta >= -gate.max_degradation
        out.append(
            GateResult(
                label,
                passed,
                metric,
                champion=v_old,
                challenger=v_new,
                delta=delta,
                threshold=-gate.max_degradation,
                detail=f"group {group} ({int(row['count'])} rows){small}: may degrade by at most {gate.max_degradation:g}",
            )
        )
    for check in rep_new.checks:
        out.append(
            GateResult(
                f"fairness:check {check.rule}",
                check.passed,
                check.metric,
                challenger=check.value,
                detail=check.message or "fails when the rule holds",
            )
        )
    return out


def _data_gate(run: Any, kinds: list[str]) -> GateResult:
    if run is None:
        return GateResult("data", False, detail="the version has no run: its training data cannot be checked")
    tags = dict(run.data.tags)
    seen, failed = [], []
    for key, value in tags.items():
        if not key.startswith(REPORT_TAG_PREFIX):
            continue
        try:
            info = json.loads(value)
        except ValueError:
            continue
        if info.get("kind") not in kinds:
            continue
        name = key[len(REPORT_TAG_PREFIX) :]
        seen.append(name)
        if not info.get("passed", False):
            failed.append(f"{name} ({', '.join(info.get('failed', [])) or 'failed'})")
    for key, value in tags.items():  # data-contract verdicts on snapshots taken in the run
        if key.startswith("aieng.contract.") and str(value).endswith(" failed"):
            seen.append(key)
            failed.append(f"contract on snapshot {key[len('aieng.contract.') :]}: {value}")
    if failed:
        return GateResult("data", False, detail="trained on data that failed checks: " + "; ".join(sorted(failed)))
    if not seen:
        return GateResult("data", True, detail=f"no {'/'.join(kinds)} report on the training run")
    return GateResult("data", True, detail=f"{len(seen)} data report(s) passed")


def _repro_gate(c: Any, run: Any, items: list[str]) -> list[GateResult]:
    if run is None:
        return [GateResult(f"reproducibility:{i}", False, detail="the version has no run") for i in items]
    tags, params = dict(run.data.tags), dict(run.data.params)
    out = []
    for item in items:
        if item == "notebook":
            nb = tags.get("aieng.job.notebook") or tags.get("aieng.notebook") or ""
            if not nb and str(tags.get("mlflow.source.name", "")).endswith(".ipynb"):
                nb = tags["mlflow.source.name"]
            ok, detail = bool(nb), nb or "no notebook recorded (run it as a job: aieng job run NB)"
        elif item == "params":
            ok = bool(params)
            detail = f"{len(params)} parameter(s)" if ok else "no parameters recorded"
        elif item == "snapshots":
            from .client import dataset_inputs

            refs = [d["source"] for d in dataset_inputs(run) if d["source"].startswith("aieng-snapshot://")]
            ok = bool(refs)
            detail = (
                ", ".join(r.replace("aieng-snapshot://", "") for r in refs)
                if ok
                else "no data snapshot input (aieng.snapshot/load in the run)"
            )
        else:
            seed = params.get("seed") or tags.get("aieng.seeded")
            ok = bool(seed)
            detail = (
                f"seed {params.get('seed')}"
                if params.get("seed")
                else ("seeded" if ok else "no seed recorded (aieng.seed(N))")
            )
        out.append(GateResult(f"reproducibility:{item}", ok, detail=detail))
    return out
