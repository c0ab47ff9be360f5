"""Checkpoints of a training as run artifacts: model, optimizer, scheduler, RNG states, step.

Each checkpoint is ``checkpoints/<name>.pt`` on the run, listed in ``checkpoints/index.json``.
A checkpoint is written to a temporary file first, then copied in atomically, then the index is
replaced atomically: a process killed at any point leaves the previous checkpoint and index
loadable. Files are read back with ``torch.load(weights_only=True)`` (no arbitrary pickles).

>>> policy = CheckpointPolicy.parse("epoch", keep=3)
>>> policy.on_epoch, policy.keep
(True, 3)
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import NotFoundError, ValidationError
from ..records import now
from .records import CheckpointInfo

FOLDER = "checkpoints"
INDEX = "index.json"
FORMAT = 1


@dataclass(frozen=True)
class CheckpointPolicy:
    """When to write checkpoints: every N steps, every epoch, or only on a new best; keep the last K."""

    every_steps: int | None = None
    on_epoch: bool = False
    best_only: bool = False
    keep: int | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.every_steps or self.on_epoch or self.best_only)

    @classmethod
    def parse(cls, checkpoint: Any, keep: int | None = None) -> CheckpointPolicy:
        """``None``/``False`` (off), ``"epoch"``, ``"best"``, or an int N (every N steps)."""
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise ValidationError(f"keep must be a positive integer (the last K checkpoints), got {keep!r}")
        if checkpoint is None or checkpoint is False:
            return cls(keep=keep)
        if checkpoint == "epoch":
            return cls(on_epoch=True, keep=keep)
        if checkpoint == "best":
            return cls(best_only=True, keep=keep)
        if isinstance(checkpoint, int) and not isinstance(checkpoint, bool) and checkpoint > 0:
            return cls(every_steps=checkpoint, keep=keep)
        if isinstance(checkpoint, str) and checkpoint.isdigit() and int(checkpoint) > 0:
            return cls(every_steps=int(checkpoint), keep=keep)
        raise ValidationError(f"checkpoint must be 'epoch', 'best', a number of steps N, or None; got {checkpoint!r}")


def rng_state() -> dict[str, Any]:
    """RNG states of Python, NumPy, torch and CUDA (those in use), in a form ``weights_only`` loads."""
    state: dict[str, Any] = {"python": random.getstate()}
    np = sys.modules.get("numpy")
    if np is not None:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = {
            "kind": kind,
            "keys": [int(k) for k in keys],
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        }
    torch = sys.modules.get("torch")
    if torch is not None:
        state["torch"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        import numpy as np

        s = state["numpy"]
        np.random.set_state((s["kind"], np.array(s["keys"], dtype=np.uint32), s["pos"], s["has_gauss"], s["cached"]))
    if "torch" in state:
        import torch

        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def capture(
    model: Any, optimizer: Any, scheduler: Any, step: int, epoch: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything a resumed training needs, as one dict of tensors and plain values."""
    return {
        "format": FORMAT,
        "step": int(step),
        "epoch": int(epoch),
        "model": model.state_dict() if model is not None else None,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_state(),
        "extra": dict(extra or {}),
    }


def restore(state: dict[str, Any], model: Any, optimizer: Any = None, scheduler: Any = None, rng: bool = True) -> None:
    """Load a captured state into the live objects (and the RNGs, unless ``rng=False``)."""
    if model is not None and state.get("model") is not None:
        model.load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if rng and state.get("rng"):
        set_rng_state(state["rng"])


class CheckpointStore:
    """The checkpoints of one run, read and written through the tracking store."""

    def __init__(self, run_id: str, store: Any, scratch: Path) -> None:
        self.run_id = run_id
        self.store = store
        self.scratch = scratch
        self.entries: list[CheckpointInfo] = []
        scratch.mkdir(parents=True, exist_ok=True)

    def index(self) -> list[CheckpointInfo]:
        """Checkpoints stored on the run, oldest first."""
        with tempfile.TemporaryDirectory(dir=self.scratch) as tmp:
            try:
                path = self.store.download_artifact(self.run_id, f"{FOLDER}/{INDEX}", tmp)
            except Exception:
                return []
            return [CheckpointInfo.from_dict(d) for d in json.loads(Path(path).read_text())]

    def save(
        self,
        name: str,
        state: dict[str, Any],
        metric: float | None = None,
        keep: int | None = None,
        protect: tuple[str, ...] = (),
    ) -> CheckpointInfo:
        """Write checkpoint ``name`` (replacing one of the same name), then prune to the last ``keep``."""
        import torch

        info = CheckpointInfo(
            name=name,
            step=state["step"],
            epoch=state["epoch"],
            artifact_path=f"{FOLDER}/{name}.pt",
            created=now(),
            metric=metric,
        )
        entries = [c for c in self.index() if c.name != name] + [info]
        pruned: list[CheckpointInfo] = []
        if keep is not None:
            rolling = [c for c in entries if c.name not in protect]
            pruned = rolling[: max(0, len(rolling) - keep)]
            entries = [c for c in entries if c not in pruned]
        with tempfile.TemporaryDirectory(dir=self.scratch) as tmp:
            file = Path(tmp) / f"{name}.pt"
            torch.save(state, file)  # a kill here leaves only this scratch file
            self.store.log_artifact(self.run_id, str(file), FOLDER)  # atomic copy into the run
            index = Path(tmp) / INDEX
            index.write_text(json.dumps([c.to_dict() for c in entries], indent=2))
            self.store.log_artifact(self.run_id, str(index), FOLDER)  # atomic replace of the index
        for old in pruned:
            self._delete(old.artifact_path)
        self.entries = entries
        return info

    def _delete(self, artifact_path: str) -> None:
        """Remove a pruned checkpoint file when the run's artifacts are local (MLflow has no delete)."""
        from ..stores.sqlite_fast import file_uri_path

        root = file_uri_path(self.store.get_run(self.run_id).artifact_uri)
        if root is None:
            return
        try:
            (root / artifact_path).unlink()
        except FileNotFoundError:
            pass

    def find(self, name: str | None = None) -> CheckpointInfo:
        """Checkpoint ``name``, or the latest one (highest step) when ``name`` is None."""
        entries = self.index()
        if not entries:
            raise NotFoundError(f"run {self.run_id} has no checkpoints")
        if name is None:
            return max(entries, key=lambda c: (c.step, c.created))
        for entry in entries:
            if entry.name == name:
                return entry
        raise NotFoundError(
            f"no checkpoint {name!r} on run {self.run_id}; it has: {', '.join(c.name for c in entries)}"
        )

    def load(self, name: str | None = None, map_location: Any = "cpu") -> dict[str, Any]:
        """The state dict of checkpoint ``name`` (default: the latest)."""
        import torch

        info = self.find(name)
        with tempfile.TemporaryDirectory(dir=self.scratch) as tmp:
            path = self.store.download_artifact(self.run_id, info.artifact_path, tmp)
            return torch.load(path, map_location=map_location, weights_only=True)
