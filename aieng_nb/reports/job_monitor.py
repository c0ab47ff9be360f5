"""The monitoring spec a job declares (``aieng job run --monitor SPEC``), run in the job's kernel.

``check_job_monitor_spec`` checks a spec when the job is created; ``run_job_monitor`` resolves its
values in the job's kernel, runs the declared report kinds (monitor, and explain / fairness when
the spec names a model or sensitive columns) and attaches them to the job's run.

>>> _parse_spec("reference=var:a,current=var:b")["current"]
'var:b'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..exceptions import ValidationError
from .base import Report

if TYPE_CHECKING:
    from ..workspace import Workspace

DEFAULT_SAMPLE = 20_000
DEFAULT_SEED = 0


def _parse_spec(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        return dict(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ValidationError("monitor spec must be a non-empty string like 'reference=snapshot:train,current=var:df'")
    out: dict[str, Any] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"monitor spec: {part!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def resolve_reference(value: Any, namespace: Mapping[str, Any], what: str) -> Any:
    """A spec value: ``var:NAME`` (a variable of ``namespace``), ``snapshot:NAME[@VERSION]`` (a
    stored snapshot) or a non-string value as is; ``what`` names the key in error messages."""
    if not isinstance(value, str):
        return value
    if value.startswith("var:"):
        name = value[4:]
        if name not in namespace:
            raise ValidationError(f"monitor spec {what}={value}: no variable {name!r} in the notebook")
        return namespace[name]
    if value.startswith("snapshot:"):
        import importlib

        ref = value[len("snapshot:") :]
        if not ref:
            raise ValidationError(
                f"monitor spec {what}=snapshot: needs a name, e.g. snapshot:train or snapshot:train@2"
            )
        return importlib.import_module("aieng_nb.snapshots").load(ref)
    raise ValidationError(f"monitor spec {what}={value!r}: use var:NAME or snapshot:NAME[@VERSION]")


def _int_opt(opts: Mapping[str, Any], key: str, default: int) -> int:
    try:
        return int(opts.get(key, default))
    except (TypeError, ValueError):
        raise ValidationError(f"monitor spec: {key} must be an integer, got {opts[key]!r}") from None


_SPEC_KEYS = {
    "reference",
    "current",
    "target",
    "prediction",
    "probability",
    "columns",
    "checks",
    "sample",
    "seed",
    "model",
    "X",
    "y",
    "sensitive",
    "explain_checks",
    "fairness_checks",
    "pos_label",
}


def _parse_checked(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    opts = _parse_spec(spec)
    unknown = set(opts) - _SPEC_KEYS
    if unknown:
        raise ValidationError(f"monitor spec: unknown keys {sorted(unknown)}; known: {', '.join(sorted(_SPEC_KEYS))}")
    for key in ("reference", "current"):
        if key not in opts:
            raise ValidationError(f"monitor spec needs {key}=var:NAME or {key}=snapshot:NAME")
    return opts


def resolve_frame(ref: str, namespace: Mapping[str, Any], what: str) -> Any:
    """What ``%aieng monitor --reference REF`` means: ``snapshot:NAME[@VERSION]``, ``var:NAME``, or a
    plain name (the notebook's variable of that name, else the snapshot of that name)."""
    from ..exceptions import NotFoundError

    if ref.startswith("snapshot:") or ref.startswith("var:"):
        if ref.startswith("var:") and ref[4:] not in namespace:
            raise ValidationError(f"no variable {ref[4:]!r} in the notebook for --{what}")
        return resolve_reference(ref, namespace, what)
    if ref in namespace:
        return namespace[ref]
    try:
        return resolve_reference(f"snapshot:{ref}", namespace, what)
    except NotFoundError:
        raise ValidationError(
            f"no variable {ref!r} in the notebook and no snapshot of that name for --{what}"
            " (aieng.list_snapshots() lists snapshots)"
        ) from None


def check_job_monitor_spec(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    """Check a job's monitoring spec before the job is created (its grammar, its keys, the shape of
    each reference); the values are resolved later, in the job's kernel.

    >>> check_job_monitor_spec("reference=snapshot:train,current=var:df")["current"]
    'var:df'
    """
    opts = _parse_checked(spec)
    for key in ("reference", "current", "model", "X", "y"):
        value = opts.get(key)
        if (
            isinstance(value, str)
            and not (value.startswith("var:") and value[4:])
            and not (value.startswith("snapshot:") and value[9:])
        ):
            raise ValidationError(f"monitor spec {key}={value!r}: use var:NAME or snapshot:NAME[@VERSION]")
    for key in ("sample", "seed"):
        if key in opts:
            _int_opt(opts, key, 0)
    return opts


def run_job_monitor(
    spec: str | Mapping[str, Any], namespace: Mapping[str, Any], *, workspace: Workspace | None = None
) -> dict[str, Any]:
    """Run the reports a job declares, in the job's kernel, and attach them to the job's run.

    Spec grammar: comma-separated ``key=value`` pairs::

        reference=snapshot:train,current=var:scored_df,target=churn,prediction=pred,
        checks=drift_share>0.3;accuracy_drop>0.05,model=var:m,X=var:X_test,y=var:y_test,sensitive=gender

    * ``reference``, ``current`` (required): ``var:NAME`` (a variable of the notebook) or
      ``snapshot:NAME[@VERSION]`` (:func:`aieng_nb.snapshots.load`).
    * ``target``, ``prediction``: column names in the frames; ``columns``: ``a|b|c`` to restrict drift.
    * ``probability``: the model's positive-class probability column (``a:p_a|b:p_b`` for several
      classes): performance estimated before labels, and the rule ``estimated_accuracy_drop > 0.03``
      a loop's scoring job can trigger on (the current frame may then lack the target).
    * ``checks``: ``;``-separated failure rules for the monitoring report; ``sample``, ``seed``.
    * ``model=var:m`` with ``X=var:..`` (and ``y=var:..``): also an explainability report
      (``explain_checks`` rules).
    * ``sensitive``: column name(s) ``a|b`` (of ``X`` when a model is given, else of ``current``,
      scored with ``target``/``prediction``) or ``var:NAME``: also a fairness report
      (``fairness_checks`` rules; ``pos_label``).

    The reports attach to the active run (in a job kernel, the job's run via ``AIENG_RUN_ID``).
    Sets the run tag ``aieng.checks`` to ``passed`` or ``failed`` (``failed`` also when a report
    attached earlier in the run failed), appends ``checks.fail`` to the audit trail when a check
    failed, prints where each report is stored, and returns a summary dict (``passed``,
    ``run_id``, ``failed_checks``, ``reports``: kind, name, passed, path, failed_checks).
    """
    from .. import tracking

    opts = _parse_checked(spec)
    run = tracking.active_run()
    # each kind attaches itself to the job's run (when there is one)
    attach_opts: dict[str, Any] = {"log": run is not None, "workspace": workspace}
    reports = [_monitor_step(opts, namespace, attach_opts)]
    model = resolve_reference(opts["model"], namespace, "model") if "model" in opts else None
    if model is not None:
        reports.append(_explain_step(opts, namespace, model, attach_opts))
    if "sensitive" in opts:
        reports.append(_fairness_step(opts, namespace, model, attach_opts))
    for r in reports:  # a job must not complete before its reports' files are stored
        r.wait()
    summary = _summary(reports, run)
    _record_verdict(summary, run, workspace)
    return summary


def _kind(name: str) -> Any:
    from .. import plugins

    return plugins.report_kinds.get(name)


def _monitor_step(opts: Mapping[str, Any], namespace: Mapping[str, Any], attach_opts: dict[str, Any]) -> Report:
    cols = opts.get("columns")
    if isinstance(cols, str):
        cols = [c for c in cols.split("|") if c]
    return _kind("monitor")(  # type: ignore[no-any-return]
        resolve_reference(opts["reference"], namespace, "reference"),
        resolve_reference(opts["current"], namespace, "current"),
        target=opts.get("target") or None,
        prediction=opts.get("prediction") or None,
        probability=parse_probability(opts.get("probability")),
        columns=cols,
        checks=opts.get("checks"),
        sample=_int_opt(opts, "sample", DEFAULT_SAMPLE),
        seed=_int_opt(opts, "seed", DEFAULT_SEED),
        **attach_opts,
    )


def parse_probability(value: Any) -> Any:
    """``probability=p`` or, for several classes, ``probability=a:p_a|b:p_b`` (label:column); the
    magic's ``--probability p_a,p_b,p_c`` is one column per label in the labels' sorted order."""
    if not value or not isinstance(value, str):
        return value or None
    if ":" not in value:
        return [c.strip() for c in value.split(",") if c.strip()] if "," in value else value
    return dict(part.split(":", 1) for part in value.split("|") if part)


def _explain_step(
    opts: Mapping[str, Any], namespace: Mapping[str, Any], model: Any, attach_opts: dict[str, Any]
) -> Report:
    if "X" not in opts:
        raise ValidationError("monitor spec: model= needs X=var:NAME")
    X = resolve_reference(opts["X"], namespace, "X")
    y = resolve_reference(opts["y"], namespace, "y") if "y" in opts else None
    return _kind("explain")(model, X, y, checks=opts.get("explain_checks"), **attach_opts)  # type: ignore[no-any-return]


def _fairness_step(
    opts: Mapping[str, Any], namespace: Mapping[str, Any], model: Any, attach_opts: dict[str, Any]
) -> Report:
    raw = opts["sensitive"]
    sens_cols = None if str(raw).startswith("var:") else [c for c in str(raw).split("|") if c]
    if model is not None:
        X = resolve_reference(opts["X"], namespace, "X") if "X" in opts else None
        if "y" not in opts:
            raise ValidationError("monitor spec: fairness with a model needs y=var:NAME")
        y_true, y_pred = resolve_reference(opts["y"], namespace, "y"), model.predict(X)
        frame = X
    else:
        tgt, pred = opts.get("target"), opts.get("prediction")
        if not tgt or not pred:
            raise ValidationError("monitor spec: sensitive= without a model needs target= and prediction=")
        frame = resolve_reference(opts["current"], namespace, "current")
        y_true, y_pred = frame[tgt], frame[pred]
    sensitive = frame[sens_cols] if sens_cols and frame is not None else resolve_reference(raw, namespace, "sensitive")
    return _kind("fairness")(  # type: ignore[no-any-return]
        y_true,
        y_pred,
        sensitive=sensitive,
        checks=opts.get("fairness_checks"),
        pos_label=opts.get("pos_label"),
        **attach_opts,
    )


def _summary(reports: list[Report], run: Any) -> dict[str, Any]:
    passed = all(r.passed for r in reports)
    return {
        "passed": passed,
        "run_id": run.id if run is not None else None,
        "failed_checks": [f"{r.kind}: {c.rule}" for r in reports for c in r.failed_checks],
        "reports": [
            {
                "kind": r.kind,
                "name": r.name,
                "passed": r.passed,
                "path": f"reports/{r.name}" if r.name else None,
                "failed_checks": [c.rule for c in r.failed_checks],
            }
            for r in reports
        ],
    }


def _record_verdict(summary: dict[str, Any], run: Any, workspace: Workspace | None) -> None:
    """The run's ``aieng.checks`` tag, the audit entry of an unstored failure, and one printed
    line per report (the job's output shows where each is stored)."""
    from .. import audit, tracking
    from .storage import CHECKS_TAG

    passed = summary["passed"]
    if run is not None:
        # failed also when a report attached earlier in the notebook failed its checks
        earlier = (tracking.get_run(run.id).tags or {}).get(CHECKS_TAG)
        summary["run_checks"] = "failed" if (not passed or earlier == "failed") else "passed"
        tracking.set_tags({CHECKS_TAG: summary["run_checks"]})
    if not passed and run is None:  # attached reports were audited by reports.attach
        audit.append("checks.fail", {"run_id": None, "failed_checks": summary["failed_checks"]}, workspace=workspace)
    where = f"run {summary['run_id']}" if run is not None else "no run (not stored)"
    for entry in summary["reports"]:
        verdict = "passed" if entry["passed"] else "FAILED: " + ", ".join(entry["failed_checks"])
        print(f"aieng: {entry['kind']} report {entry['path'] or ''} on {where}: {verdict}")
