"""Per-cell GPU memory: the peak and the change of torch's allocated memory over one cell.

Costs nothing when torch is not imported or uses no GPU (one dict lookup).

>>> start = before(); after(start)
{}
"""

from __future__ import annotations

import sys
from typing import Any


def _cuda() -> Any:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda


def before() -> dict[int, int]:
    """Reset the peak counters and remember the allocated bytes of each device in use."""
    cuda = _cuda()
    if cuda is None:
        return {}
    start = {}
    for index in range(cuda.device_count()):
        if cuda.memory_reserved(index) > 0:
            cuda.reset_peak_memory_stats(index)
            start[index] = cuda.memory_allocated(index)
    return start


def after(start: dict[int, int]) -> dict[str, Any]:
    """``gpu_mem_peak_mb`` / ``gpu_mem_delta_mb`` (summed over devices) and per-device figures;
    empty when the cell used no GPU."""
    cuda = _cuda()
    if cuda is None:
        return {}
    devices: dict[str, dict[str, float]] = {}
    for index in range(cuda.device_count()):
        if index not in start and cuda.memory_reserved(index) == 0:
            continue
        peak = cuda.max_memory_allocated(index)
        delta = cuda.memory_allocated(index) - start.get(index, 0)
        devices[f"cuda:{index}"] = {"peak_mb": round(peak / 1e6, 3), "delta_mb": round(delta / 1e6, 3)}
    if not devices:
        return {}
    return {
        "gpu_mem_peak_mb": round(sum(d["peak_mb"] for d in devices.values()), 3),
        "gpu_mem_delta_mb": round(sum(d["delta_mb"] for d in devices.values()), 3),
        "gpu_memory": devices,
    }
