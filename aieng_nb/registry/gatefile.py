"""Per-model gate files kept in the repository (TOML or YAML), validated with clear errors.

``gates/<model>.toml`` (or ``.yaml``/``.yml``), looked up in ``$AIENG_GATES_DIR``, then ``gates/`` in the
current folder and beside the workspace (the repository root)::

    [evaluation]
    snapshot = "churn-holdout"      # aieng snapshot of held-out data: both models are scored on it
    target = "churned"

    [[metrics]]
    name = "accuracy"
    margin = 0.01                   # the challenger may be at most 0.01 below the champion

    [fairness]
    sensitive = ["region"]
    metric = "accuracy"             # per-group metric (fairness report's by-group table)
    max_degradation = 0.02          # no group may lose more than this against the champion

    [reproducibility]
    require = ["notebook", "params", "snapshots", "seed"]

    [rollback]
    margin = 0.02                   # the post-promotion check rolls back beyond this

    [live]                          # the challenger served as a shadow (aieng model serve --shadow)
    min_rows = 200                  # shadowed rows needed before the live gates decide
    min_agreement = 0.8             # champion and challenger answer alike on this share of rows
    accuracy_margin = 0.0           # on labeled rows, challenger at most this below the champion

Without a file the default gate applies: the primary metric both runs logged must not be worse.

>>> spec = parse({"metrics": [{"name": "rmse", "margin": 0.1}]}, "inline")
>>> spec.metrics[0].higher_is_better, spec.metrics[0].margin
(False, 0.1)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ValidationError
from ..workspace import Workspace, current

HIGHER_IS_BETTER = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "r2", "auc")
LOWER_IS_BETTER = ("rmse", "mae", "mse", "log_loss", "logloss", "error", "loss")
SCORABLE = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "rmse", "mae", "mse", "r2")
FAIRNESS_METRICS = {
    "classification": ("accuracy", "selection_rate", "tpr", "fpr"),
    "regression": ("mae", "rmse", "mean_prediction"),
}
REPRO_ITEMS = ("notebook", "params", "snapshots", "seed")
DATA_KINDS = ("monitor", "validation", "quality", "contract")
SUFFIXES = (".toml", ".yaml", ".yml")


class GateFileError(ValidationError):
    """A gate file that cannot be read or does not validate."""


def direction(metric: str) -> bool | None:
    """True when higher is better, False when lower is, None when unknown (``val_rmse`` -> False)."""
    base = metric.lower().rsplit("/", 1)[-1]
    for prefix in ("test_", "val_", "valid_", "validation_", "eval_", "holdout_", "test.", "val.", "eval."):
        if base.startswith(prefix):
            base = base[len(prefix) :]
    if base in HIGHER_IS_BETTER:
        return True
    if base in LOWER_IS_BETTER:
        return False
    return None


@dataclass
class MetricGate:
    name: str
    margin: float = 0.0  # allowed degradation
    min_improvement: float | None = None  # when set, the challenger must beat the champion by this

    @property
    def higher_is_better(self) -> bool:
        return bool(direction(self.name))


@dataclass
class FairnessGate:
    sensitive: list[str]
    metric: str = "accuracy"
    max_degradation: float = 0.0
    checks: list[str] = field(default_factory=list)  # absolute rules on the challenger's fairness report
    min_group_size: int = 30


@dataclass
class GateSpec:
    source: str  # the file, or "default"
    snapshot: str | None = None
    target: str | None = None
    features: list[str] | None = None
    task: str | None = None
    pos_label: Any = None
    metrics: list[MetricGate] = field(default_factory=list)
    fairness: FairnessGate | None = None
    data_required: bool = True
    data_kinds: list[str] = field(default_factory=lambda: list(DATA_KINDS))
    reproducibility: list[str] = field(default_factory=list)
    bootstrap_resamples: int = 1000
    bootstrap_below: int = 10_000
    confidence: float = 0.95
    seed: int = 0
    rollback_metric: str | None = None
    rollback_margin: float = 0.0
    live: dict[str, float] | None = None  # [live]: min_rows, min_agreement, accuracy_margin, min_labeled

    @property
    def is_default(self) -> bool:
        return self.source == "default"


def default_spec() -> GateSpec:
    """The gate without a file: the primary metric logged by both runs must not be worse."""
    return GateSpec(source="default", data_required=False)


def find(name: str, workspace: Workspace | None = None) -> Path | None:
    """The gate file of model ``name``: ``gates/<name>.toml|.yaml|.yml`` here or beside the workspace."""
    ws = workspace or current()
    folders = [Path.cwd() / "gates", ws.root.parent / "gates"]
    extra = os.environ.get("AIENG_GATES_DIR")
    if extra:
        folders.insert(0, Path(extra))
    for folder in dict.fromkeys(f.resolve() for f in folders):
        for suffix in SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def load(path: str | os.PathLike[str]) -> GateSpec:
    """Read and validate a gate file; errors name the file and the field."""
    p = Path(path)
    if not p.is_file():
        raise GateFileError(f"gate file {p} does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise GateFileError(f"gate file {p}: use a .toml, .yaml or .yml file")
    except GateFileError:
        raise
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GateFileError(f"gate file {p} is not valid {p.suffix[1:].upper()}: {first}") from None
    return parse(data if data is not None else {}, str(p))


_TOP = {"evaluation", "bootstrap", "metrics", "fairness", "data", "reproducibility", "rollback", "live"}


def _section(data: dict[str, Any], key: str, where: str, allowed: set[str]) -> dict[str, Any]:
    value = data.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GateFileError(f"{where}: [{key}] must be a table/mapping, got {type(value).__name__}")
    unknown = set(value) - allowed
    if unknown:
        raise GateFileError(f"{where}: unknown keys in [{key}]: {sorted(unknown)}; known: {sorted(allowed)}")
    return value


def _number(value: Any, what: str, where: str, *, low: float | None = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GateFileError(f"{where}: {what} must be a number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise GateFileError(f"{where}: {what} must be {bounds}, got {value!r}")
    return float(value)


def _int(value: Any, what: str, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise GateFileError(f"{where}: {what} must be a whole number >= {low}, got {value!r}")
    return value


def _strings(value: Any, what: str, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise GateFileError(f"{where}: {what} must be a name or a non-empty list of names, got {value!r}")
    return list(value)


def parse(data: Any, where: str) -> GateSpec:
    """Validate a parsed gate file (a mapping) into a :class:`GateSpec`."""
    if not isinstance(data, dict):
        raise GateFileError(f"{where}: the gate file must be a mapping of sections, got {type(data).__name__}")
    unknown = set(data) - _TOP
    if unknown:
        raise GateFileError(f"{where}: unknown sections {sorted(unknown)}; known: {sorted(_TOP)}")
    spec = GateSpec(source=where)
    _evaluation(data, where, spec)
    _bootstrap(data, where, spec)
    spec.metrics = _metrics(data.get("metrics"), where, spec)
    _fairness(data, where, spec)
    _data(data, where, spec)
    _reproducibility(data, where, spec)
    _rollback(data, where, spec)
    _live(data, where, spec)
    if spec.rollback_metric is None and spec.metrics:
        spec.rollback_metric = spec.metrics[0].name
    return spec


def _evaluation(data: dict[str, Any], where: str, spec: GateSpec) -> None:
    """[evaluation]: the held-out snapshot both models are scored on."""
    ev = _section(data, "evaluation", where, {"snapshot", "target", "features", "task", "pos_label"})
    if ev:
        for key in ("snapshot", "target"):
            if not isinstance(ev.get(key), str) or not ev[key]:
                raise GateFileError(
                    f'{where}: [evaluation] needs {key} = "..." (a snapshot name and its target column)'
                )
        spec.snapshot, spec.target = ev["snapshot"], ev["target"]
        if "features" in ev:
            spec.features = _strings(ev["features"], "[evaluation] features", where)
        if "task" in ev:
            if ev["task"] not in ("classification", "regression"):
                raise GateFileError(
                    f"{where}: [evaluation] task must be classification or regression, got {ev['task']!r}"
                )
            spec.task = ev["task"]
        spec.pos_label = ev.get("pos_label")


def _bootstrap(data: dict[str, Any], where: str, spec: GateSpec) -> None:
    """[bootstrap]: resamples, the size below which it runs, confidence, seed."""
    bs = _section(data, "bootstrap", where, {"resamples", "below", "confidence", "seed"})
    if "resamples" in bs:
        spec.bootstrap_resamples = _int(bs["resamples"], "[bootstrap] resamples", where, 0)
    if "below" in bs:
        spec.bootstrap_below = _int(bs["below"], "[bootstrap] below", where, 0)
    if "confidence" in bs:
        spec.confidence = _number(bs["confidence"], "[bootstrap] confidence", where, low=0.5, high=0.999)
    if "seed" in bs:
        spec.seed = _int(bs["seed"], "[bootstrap] seed", where, 0)


def _fairness(data: dict[str, Any], where: str, spec: GateSpec) -> None:
    """[fairness]: the group gate (needs an [evaluation] snapshot)."""
    fa = _section(data, "fairness", where, {"sensitive", "metric", "max_degradation", "checks", "min_group_size"})
    if fa:
        if spec.snapshot is None:
            raise GateFileError(f"{where}: [fairness] needs an [evaluation] snapshot to score both models on")
        if "sensitive" not in fa:
            raise GateFileError(f'{where}: [fairness] needs sensitive = ["column", ...]')
        gate = FairnessGate(_strings(fa["sensitive"], "[fairness] sensitive", where))
        if "metric" in fa:
            allowed = FAIRNESS_METRICS["classification"] + FAIRNESS_METRICS["regression"]
            if fa["metric"] not in allowed:
                raise GateFileError(
                    f"{where}: [fairness] metric must be one of {', '.join(allowed)}, got {fa['metric']!r}"
                )
            gate.metric = fa["metric"]
        elif spec.task == "regression":
            gate.metric = "mae"
        if "max_degradation" in fa:
            gate.max_degradation = _number(fa["max_degradation"], "[fairness] max_degradation", where)
        if "checks" in fa:
            from ..reports.checks import parse_rules

            gate.checks = _strings(fa["checks"], "[fairness] checks", where)
            try:
                parse_rules(gate.checks)
            except ValidationError as exc:
                raise GateFileError(f"{where}: [fairness] checks: {exc}") from None
        if "min_group_size" in fa:
            gate.min_group_size = _int(fa["min_group_size"], "[fairness] min_group_size", where, 1)
        spec.fairness = gate


def _data(data: dict[str, Any], where: str, spec: GateSpec) -> None:
    """[data]: which data reports must have passed."""
    da = _section(data, "data", where, {"require_passed", "kinds"})
    if "require_passed" in da:
        if not isinstance(da["require_passed"], bool):
            raise GateFileError(f"{where}: [data] require_passed must be true or false")
        spec.data_required = da["require_passed"]
    if "kinds" in da:
        spec.data_kinds = _strings(da["kinds"], "[data] kinds", where)


def _reproducibility(data: dict[str, Any], where: str, spec: GateSpec) -> None:
    """[reproducibility]: what the training run must have recorded."""
    rp = _section(data, "reproducibility", where, {"require"})
    if rp:
        items = _strings(rp.get("require", list(REPRO_ITEMS)), "[reproducibility] require", where)
        bad = [i for i in items if i not in REPRO_ITEMS]
        if bad:
            raise GateFileError(f"{where}: [reproducibility] require: unknown {bad}; known: {', '.join(REPRO_ITEMS)}")
        spec.reproducibility = items


def _rollback(data: dict[str, Any], where: str, spec: GateSpec) -> None:
    """[rollback]: the metric and margin of the post-promotion check."""
    rb = _section(data, "rollback", where, {"metric", "margin"})
    if "metric" in rb:
        if not isinstance(rb["metric"], str) or direction(rb["metric"]) is None:
            raise GateFileError(f"{where}: [rollback] metric {rb['metric']!r}: use one of {', '.join(SCORABLE)}")
        spec.rollback_metric = rb["metric"]
    if "margin" in rb:
        spec.rollback_margin = _number(rb["margin"], "[rollback] margin", where)


def _live(data: dict[str, Any], where: str, spec: GateSpec) -> None:
    """[live]: gates on the served traffic the challenger shadowed (aieng_nb.serving.shadow)."""
    if "live" not in data:
        return
    lv = _section(data, "live", where, {"min_rows", "min_agreement", "accuracy_margin", "min_labeled"})
    spec.live = {
        "min_rows": _int(lv.get("min_rows", 100), "[live] min_rows", where, 1),
        "min_labeled": _int(lv.get("min_labeled", 30), "[live] min_labeled", where, 1),
    }
    if "min_agreement" in lv:
        spec.live["min_agreement"] = _number(lv["min_agreement"], "[live] min_agreement", where, low=0.0, high=1.0)
    if "accuracy_margin" in lv:
        spec.live["accuracy_margin"] = _number(lv["accuracy_margin"], "[live] accuracy_margin", where)


def _metrics(raw: Any, where: str, spec: GateSpec) -> list[MetricGate]:
    if raw is None:
        return []
    if isinstance(raw, dict):  # {accuracy: {margin: 0.01}} or {accuracy: 0.01}
        raw = [{"name": k, **(v if isinstance(v, dict) else {"margin": v})} for k, v in raw.items()]
    if not isinstance(raw, list):
        raise GateFileError(f"{where}: metrics must be a list of {{name, margin}} entries")
    out = []
    for i, entry in enumerate(raw):
        label = f"metrics[{i}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise GateFileError(f"{where}: {label} must be a mapping with a name, got {entry!r}")
        unknown = set(entry) - {"name", "margin", "min_improvement"}
        if unknown:
            raise GateFileError(
                f"{where}: {label}: unknown keys {sorted(unknown)}; known: margin, min_improvement, name"
            )
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise GateFileError(f'{where}: {label} needs name = "accuracy" (or rmse, f1, ...)')
        if spec.snapshot is not None and name not in SCORABLE:
            raise GateFileError(
                f"{where}: {label}: metric {name!r} cannot be computed on the snapshot; use one of {', '.join(SCORABLE)}"
            )
        if direction(name) is None:
            raise GateFileError(
                f"{where}: {label}: unknown direction for metric {name!r}; use one of "
                f"{', '.join(HIGHER_IS_BETTER + LOWER_IS_BETTER)} (optionally prefixed test_/val_)"
            )
        gate = MetricGate(name)
        if "margin" in entry:
            gate.margin = _number(entry["margin"], f"{label}.margin", where)
        if "min_improvement" in entry:
            gate.min_improvement = _number(entry["min_improvement"], f"{label}.min_improvement", where)
        out.append(gate)
    return out
