"""Distributed training: which rank this is, and handing rank 0's run id to the other ranks.

Only rank 0 owns the run; other ranks log their telemetry into it under MLflow's node-id
convention (``system/rank_<r>/...``) and never create runs of their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

from ..exceptions import AiengError

RENDEZVOUS_TIMEOUT = 300.0


def rank_info() -> tuple[int, int]:
    """``(rank, world_size)``: from ``torch.distributed`` when initialized, else torchrun's env.

    >>> rank_info()  # doctest: +SKIP
    (0, 1)
    """
    torch = sys.modules.get("torch")
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


def node_id(rank: int, world_size: int) -> str | None:
    """The system-metrics node id of a rank: None for rank 0 (MLflow's plain names), else ``rank_<r>``."""
    return None if world_size <= 1 or rank == 0 else f"rank_{rank}"


def _dist_ready() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized())


def share_run_id(run_id: str | None, rank: int, world_size: int) -> str:
    """Rank 0 passes its run id (``""`` when starting failed); every rank returns it.

    With ``torch.distributed`` initialized this is a broadcast; under torchrun without it, a file
    in the workspace keyed by torchrun's job id.
    """
    if world_size <= 1:
        return run_id or ""
    if _dist_ready():
        import torch.distributed as dist

        box = [run_id or ""]
        dist.broadcast_object_list(box, src=0)
        shared = str(box[0])
    else:
        shared = _file_rendezvous(run_id, rank)
    if not shared:
        raise AiengError("rank 0 could not start the training run; see its error")
    return shared


def _file_rendezvous(run_id: str | None, rank: int) -> str:
    from ..fsutil import atomic_write_json
    from ..workspace import current

    job = (
        os.environ.get("TORCHELASTIC_RUN_ID")
        or f"{os.environ.get('MASTER_ADDR', '')}:{os.environ.get('MASTER_PORT', '')}"
    )
    key = hashlib.sha1(job.encode()).hexdigest()[:16]
    path = current().buffers / f"training-rendezvous-{key}.json"
    if rank == 0:
        atomic_write_json(path, {"run_id": run_id or "", "time": time.time()})
        return run_id or ""
    deadline = time.monotonic() + RENDEZVOUS_TIMEOUT
    started = time.time()
    while time.monotonic() < deadline:
        try:
            data = json.loads(path.read_text())
            if data.get("time", 0) >= started - RENDEZVOUS_TIMEOUT:
                return str(data["run_id"])
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    raise AiengError(f"rank {rank}: rank 0 did not publish its run id within {RENDEZVOUS_TIMEOUT:.0f}s")


def barrier() -> None:
    """Wait for all ranks (when ``torch.distributed`` is initialized)."""
    if _dist_ready():
        import torch.distributed as dist

        dist.barrier()
