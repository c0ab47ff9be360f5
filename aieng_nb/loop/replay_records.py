"""Records of a replay: per batch, per policy, and the whole comparison (its report and MLflow run).

>>> p = PolicyResult("static", mean=0.8)
>>> p.to_dict("accuracy")["mean_accuracy"]
0.8
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..workspace import Workspace


@dataclass
class BatchValue:
    """One scored batch: the policy's metric on it and what the policy did once labels arrived."""

    batch: int
    time: str
    value: float
    champion: int = 1
    retrained: bool = False
    promoted: bool = False
    refused: bool = False
    rolled_back: bool = False
    estimated: float | None = None  # the loop's estimate of the metric before labels
    trusted: bool | None = None
    calibrated: bool | None = None  # the estimate's calibration held on the reference (support aside)
    calibration_held: bool | None = None  # ... and on this batch, judged by the replay once labels exist
    groups: dict[str, float] = field(default_factory=dict)

    @property
    def group_gap(self) -> float | None:
        return max(self.groups.values()) - min(self.groups.values()) if len(self.groups) > 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "group_gap": self.group_gap}


@dataclass
class PolicyResult:
    name: str
    mean: float = math.nan
    retrains: int = 0
    promotions: int = 0
    refused: int = 0
    rollbacks: int = 0
    cpu_seconds: float = 0.0
    batches: list[BatchValue] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    fairness_deltas: list[float] = field(default_factory=list)  # per group, at each promotion (gate holdout)
    # champion moves in the replay's registry (``loop=NAME`` only): batch, action, version, previous, reason
    moves: list[dict[str, Any]] = field(default_factory=list)

    def estimation_error(self, on: str = "trusted") -> float | None:
        """Mean absolute error of the estimate against the realized value on the batches ``on``:
        ``trusted`` (the report trusted it), ``calibrated`` (calibration held on the reference),
        ``held`` (calibration held on the batch itself, judged once its labels came) or ``all``."""

        def keep(b: BatchValue) -> bool | None:
            return {"trusted": b.trusted, "calibrated": b.calibrated, "held": b.calibration_held, "all": True}[on]

        pairs = [abs(b.estimated - b.value) for b in self.batches if b.estimated is not None and keep(b)]
        return sum(pairs) / len(pairs) if pairs else None

    def estimation_count(self, on: str = "trusted") -> int:
        return sum(1 for b in self.batches if b.estimated is not None and
                   {"trusted": b.trusted, "calibrated": b.calibrated, "held": b.calibration_held, "all": True}[on])  # fmt: skip

    def to_dict(self, metric: str) -> dict[str, Any]:
        return {
            "policy": self.name,
            f"mean_{metric}": self.mean,
            "retrains": self.retrains,
            "promotions": self.promotions,
            "refused": self.refused,
            "rollbacks": self.rollbacks,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "estimation_mae": self.estimation_error(),
            "estimation_mae_calibrated": self.estimation_error("calibrated"),
            "estimation_mae_calibration_held": self.estimation_error("held"),
            "estimation_mae_all": self.estimation_error("all"),
            "worst_group_delta_at_promotion": min(self.fairness_deltas) if self.fairness_deltas else None,
            "events": list(self.events),
            "moves": [dict(m) for m in self.moves],
            "batches": [b.to_dict() for b in self.batches],
        }


@dataclass
class ReplayResult:
    """The comparison: ``policies[name]``, ``to_dict()`` (what ``--json`` prints), ``report()``."""

    target: str
    task: str
    metric: str
    batch_size: int
    n_batches: int
    label_delay: int
    sensitive: str | None
    features: list[str]
    gates: str
    window: int
    policies: dict[str, PolicyResult] = field(default_factory=dict)
    label_reads: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    run_id: str | None = None
    workspace: str | None = None  # the replay's kept workspace (``keep_workspace=``), else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "task": self.task, "metric": self.metric, "batch_size": self.batch_size,
            "n_batches": self.n_batches, "label_delay": self.label_delay, "sensitive": self.sensitive,
            "gates": self.gates, "window": self.window, "run_id": self.run_id, "workspace": self.workspace,
            "policies": {name: p.to_dict(self.metric) for name, p in self.policies.items()},
        }  # fmt: skip

    def rows(self) -> list[list[Any]]:
        return [[p.name, p.mean, p.retrains, p.promotions, p.refused, p.rollbacks, round(p.cpu_seconds, 2),
                 p.estimation_error()] for p in self.policies.values()]  # fmt: skip

    @property
    def headers(self) -> list[str]:
        return ["policy", f"mean {self.metric}", "retrains", "promoted", "refused", "rollbacks", "cpu s",
                "estimate MAE"]  # fmt: skip

    def __str__(self) -> str:
        from ..rendering import text_table

        head = (f"replay of {self.n_batches} batches of {self.batch_size} rows (target {self.target}, "
                f"{self.task}, label delay {self.label_delay}, gates: {self.gates})")  # fmt: skip
        rows = [[f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else v) for v in r] for r in self.rows()]
        return head + "\n" + text_table(self.headers, rows)

    def report(self) -> Any:
        """The replay as a report (static HTML: summary, metric per batch, group gaps, events)."""
        from .replay_render import build_report

        return build_report(self)

    def _repr_html_(self) -> str:
        return str(self.report().html())

    def log(self, *, workspace: Workspace | None = None) -> str:
        """An MLflow run ``replay``: per policy and batch the metric (step = batch), the totals and the report."""
        from .. import tracking

        with tracking.start_run(name="replay", experiment="aieng-replay", workspace=workspace,
                                params={"target": self.target, "batch_size": self.batch_size,
                                        "label_delay": self.label_delay, "gates": self.gates}) as run:  # fmt: skip
            for name, p in self.policies.items():
                key = name.replace(":", "_")
                for b in p.batches:
                    tracking.log_metrics({f"{key}.{self.metric}": b.value}, step=b.batch, workspace=workspace)
                tracking.log_metrics({f"{key}.mean_{self.metric}": p.mean, f"{key}.retrains": p.retrains,
                                      f"{key}.refused": p.refused, f"{key}.rollbacks": p.rollbacks,
                                      f"{key}.cpu_seconds": p.cpu_seconds}, workspace=workspace)  # fmt: skip
            self.run_id = run.id
            self.report().log(run.id, workspace=workspace)
        return run.id
