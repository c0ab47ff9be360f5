"""Device facts of a training: what ran it, and the torch flags that decide determinism."""

from __future__ import annotations

import sys
from typing import Any


def used_cuda_indices(model: Any = None) -> list[int]:
    """CUDA device indices (as torch numbers them) this process uses: the model's devices, else
    every device torch has allocated memory on. Empty when torch is not imported or CPU only."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    found: set[int] = set()
    if model is not None and hasattr(model, "parameters"):
        for param in model.parameters():
            if param.device.type == "cuda":
                found.add(param.device.index or 0)
    if not found and torch.cuda.is_initialized():
        for index in range(torch.cuda.device_count()):
            if torch.cuda.memory_reserved(index) > 0:
                found.add(index)
    return sorted(found)


def _model_dtype(model: Any) -> str | None:
    param = next(model.parameters(), None) if model is not None and hasattr(model, "parameters") else None
    return str(param.dtype).replace("torch.", "") if param is not None else None


def device_facts(model: Any = None, amp: bool | str | None = None) -> dict[str, Any]:
    """Device type/name/count, compute capability, driver, CUDA/cuDNN and torch versions, dtype,
    AMP and determinism flags. Keys are flat so they can be run tags (``aieng.device.<key>``).

    >>> device_facts()["type"] in ("cpu", "cuda", "mps")
    True
    """
    import platform

    facts: dict[str, Any] = {"type": "cpu", "name": _cpu_name() or platform.machine(), "count": 1}
    torch: Any = sys.modules.get("torch")
    if torch is None:  # a scikit-learn training: not worth importing torch to say so
        facts["torch"] = None
        return facts
    facts["torch"] = torch.__version__
    facts["cuda"] = torch.version.cuda
    facts["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    facts["dtype"] = _model_dtype(model) or str(torch.get_default_dtype()).replace("torch.", "")
    facts["amp"] = str(amp) if amp else "off"
    facts["cudnn_deterministic"] = bool(torch.backends.cudnn.deterministic)
    facts["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
    facts["deterministic_algorithms"] = bool(torch.are_deterministic_algorithms_enabled())
    facts["matmul_allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
    facts["cudnn_allow_tf32"] = bool(torch.backends.cudnn.allow_tf32)
    facts["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    facts["num_threads"] = torch.get_num_threads()
    used = used_cuda_indices(model)
    if used:
        props = torch.cuda.get_device_properties(used[0])
        facts.update(
            type="cuda",
            name=props.name,
            count=len(used),
            indices=",".join(map(str, used)),
            visible_count=torch.cuda.device_count(),
            capability=f"{props.major}.{props.minor}",
            memory_total_mb=round(props.total_memory / 1e6),
        )
        facts["driver"] = _nvidia_driver()
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available() and model is not None:
        if any(p.device.type == "mps" for p in model.parameters()):
            facts.update(type="mps", name="Apple MPS")
    return facts


def _cpu_name() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or None


def _nvidia_driver() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        driver = pynvml.nvmlSystemGetDriverVersion()
        return driver.decode() if isinstance(driver, bytes) else str(driver)
    except Exception:
        return None


def as_tags(facts: dict[str, Any]) -> dict[str, str]:
    """``aieng.device.<key>`` run tags (None values left out)."""
    return {f"aieng.device.{k}": str(v) for k, v in facts.items() if v is not None}
