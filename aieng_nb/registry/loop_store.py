"""Where a loop lives: ``loops/<model>.json`` (configuration) and ``loops/<model>.state.json``
(processed scoring jobs, the iteration in flight, the timeline), written atomically under the
loop's lock; every timeline event is also an audit entry (``loop.<kind>``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import audit
from ..exceptions import NotFoundError
from ..fsutil import atomic_write_json, locked
from ..records import now
from ..workspace import Workspace, current
from .client import check_name
from .loop_records import LoopConfig, LoopEvent, LoopState


def loop_dir(ws: Workspace) -> Path:
    folder = ws.path("loops")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def config_path(name: str, ws: Workspace) -> Path:
    return loop_dir(ws) / f"{check_name(name)}.json"


def state_path(name: str, ws: Workspace) -> Path:
    return loop_dir(ws) / f"{name}.state.json"


@contextmanager
def locked_loop(name: str, ws: Workspace) -> Iterator[None]:
    with locked(loop_dir(ws) / f".{name}.lock"):
        yield


def get(name: str, *, workspace: Workspace | None = None) -> LoopConfig:
    ws = workspace or current()
    path = config_path(name, ws)
    if not path.is_file():
        raise NotFoundError(f"no loop for model {name!r} (aieng loop add {name} --score NB --retrain NB --cron CRON)")
    return LoopConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))


def load_state(name: str, ws: Workspace) -> LoopState:
    path = state_path(name, ws)
    if not path.is_file():
        return LoopState()
    return LoopState.from_dict(json.loads(path.read_text(encoding="utf-8")))


def save_state(name: str, state: LoopState, ws: Workspace) -> None:
    atomic_write_json(state_path(name, ws), state.to_dict())


def event(name: str, state: LoopState, ws: Workspace, kind: str, message: str, **data: Any) -> None:
    state.events.append(LoopEvent(now(), kind, message, data).to_dict())
    audit.append(f"loop.{kind}", {"loop": name, "message": message, **data}, workspace=ws)
