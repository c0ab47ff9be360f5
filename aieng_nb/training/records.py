"""Typed records of training sessions: what a session did, its checkpoints and its logged model.

They follow :mod:`aieng_nb.records`: times are timezone-aware datetimes in Python and ISO 8601
UTC strings in JSON; ``from_dict`` also reads files written before that (ISO strings without
fractions, epoch seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..records import Record


@dataclass
class CheckpointInfo(Record):
    """One checkpoint stored on a run (artifact ``checkpoints/<name>.pt``)."""

    name: str
    step: int
    epoch: int
    artifact_path: str
    created: datetime
    metric: float | None = None


@dataclass
class ModelRecord(Record):
    """A model logged by a training session as an MLflow 3 LoggedModel.

    ``model_uri`` (``models:/<model_id>``) loads it with ``mlflow.pyfunc.load_model``.
    """

    model_id: str
    model_uri: str
    name: str
    flavor: str  # "pytorch" or "sklearn"
    run_id: str
    step: int
    kind: str  # "best" or "final"


@dataclass
class TrainingRecord(Record):
    """What a training session did, as stored on its run (``aieng/training/record.json``).

    >>> rec = TrainingRecord(run_id="abc", name="mlp", framework="pytorch", status="FINISHED")
    >>> TrainingRecord.from_dict(rec.to_dict()) == rec
    True
    """

    run_id: str
    name: str
    framework: str  # "pytorch", "sklearn", "lightning"
    status: str  # MLflow's run words: "RUNNING", "FINISHED", "FAILED" (or "CREATED" before start)
    started: datetime | None = None
    ended: datetime | None = None
    steps: int = 0
    epochs: int = 0
    samples: int = 0
    monitor: str | None = None
    mode: str = "min"
    best_value: float | None = None
    best_step: int | None = None
    resumed_from: str | None = None  # checkpoint name a resumed session started from
    rank: int = 0
    world_size: int = 1
    device: dict[str, Any] = field(default_factory=dict)
    checkpoints: list[CheckpointInfo] = field(default_factory=list)
    model: ModelRecord | None = None
    notices: list[str] = field(default_factory=list)

    def _repr_html_(self) -> str:
        import html

        rows = [
            ("run", self.run_id),
            ("framework", self.framework),
            ("status", self.status),
            ("steps / epochs", f"{self.steps} / {self.epochs}"),
            (
                "best",
                f"{self.monitor} = {self.best_value:.6g} at step {self.best_step}"
                if self.best_value is not None
                else "",
            ),
            ("checkpoints", ", ".join(c.name for c in self.checkpoints)),
            ("model", self.model.model_uri if self.model else ""),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
        )
        return f"<div><b>Training {html.escape(self.name)}</b><table>{body}</table></div>"
