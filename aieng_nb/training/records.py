"""Typed records of training sessions: what a session did, its checkpoints and its logged model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CheckpointInfo:
    """One checkpoint stored on a run (artifact ``checkpoints/<name>.pt``)."""

    name: str
    step: int
    epoch: int
    artifact_path: str
    created: str  # ISO 8601 UTC
    metric: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointInfo:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class ModelRecord:
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRecord:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class TrainingRecord:
    """What a training session did, as stored on its run (``aieng/training/record.json``).

    >>> rec = TrainingRecord(run_id="abc", name="mlp", framework="pytorch", status="FINISHED")
    >>> TrainingRecord.from_dict(rec.to_dict()) == rec
    True
    """

    run_id: str
    name: str
    framework: str  # "pytorch", "sklearn", "lightning"
    status: str  # "RUNNING", "FINISHED", "FAILED"
    started: str | None = None  # ISO 8601 UTC
    ended: str | None = None
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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checkpoints"] = [c.to_dict() for c in self.checkpoints]
        out["model"] = self.model.to_dict() if self.model else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingRecord:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        values["checkpoints"] = [CheckpointInfo.from_dict(c) for c in data.get("checkpoints") or []]
        values["model"] = ModelRecord.from_dict(data["model"]) if data.get("model") else None
        return cls(**values)

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
