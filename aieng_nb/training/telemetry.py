"""System telemetry sampled in a background thread, under MLflow's system-metric names.

CPU and memory through psutil always; for each GPU this process uses (not every GPU on the
machine) utilization, memory, power and temperature through NVML (``nvidia-ml-py``, the
``gpu`` extra), plus torch's allocator peak. Names follow ``mlflow.system_metrics``
(``system/cpu_utilization_percentage``, ``system/gpu_0_utilization_percentage``, ...) so that
MLflow's UI charts them in its System metrics view; ``gpu_<i>`` is torch's ``cuda:<i>``. In a
distributed run, ranks other than 0 log under MLflow's node-id convention:
``system/rank_1/cpu_utilization_percentage``.

>>> t = Telemetry(lambda metrics, step: print(sorted(metrics)[:1]), interval=0.05).start()  # doctest: +SKIP
>>> t.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

PREFIX = "system/"
NVML_MISSING = "GPU telemetry off: nvidia-ml-py is not installed (pip install 'aieng_nb[gpu]')"


def node_prefix(node_id: str | None) -> str:
    """``system/`` or ``system/<node_id>/`` (MLflow's ``set_system_metrics_node_id`` convention)."""
    return PREFIX + (f"{node_id}/" if node_id else "")


class _Gpus:
    """NVML handles of the GPUs a process uses, keyed by torch's device index."""

    def __init__(self, indices: list[int]) -> None:
        import pynvml  # ImportError: caller reports NVML_MISSING

        self.nvml = pynvml
        pynvml.nvmlInit()
        self.handles: dict[int, Any] = {}
        for index in indices:
            self.handles[index] = self._handle(index)

    def _handle(self, index: int) -> Any:
        """torch's cuda:<index> is NVML's device of the same UUID (CUDA_VISIBLE_DEVICES renumbers)."""
        torch = sys.modules.get("torch")
        if torch is not None:
            try:
                uuid = str(torch.cuda.get_device_properties(index).uuid)
                return self.nvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
            except Exception:
                pass
        visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
        if index < len(visible) and visible[index].strip().isdigit():
            return self.nvml.nvmlDeviceGetHandleByIndex(int(visible[index]))
        return self.nvml.nvmlDeviceGetHandleByIndex(index)

    def sample(self) -> dict[str, float]:
        nv = self.nvml
        out: dict[str, float] = {}
        torch = sys.modules.get("torch")
        for i, handle in self.handles.items():
            try:
                mem = nv.nvmlDeviceGetMemoryInfo(handle)
                out[f"gpu_{i}_memory_usage_megabytes"] = mem.used / 1e6
                out[f"gpu_{i}_memory_usage_percentage"] = round(mem.used / mem.total * 100, 1)
                out[f"gpu_{i}_memory_total_megabytes"] = mem.total / 1e6
            except nv.NVMLError:
                pass
            try:
                out[f"gpu_{i}_utilization_percentage"] = float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)
            except nv.NVMLError:
                pass
            try:
                power = nv.nvmlDeviceGetPowerUsage(handle)
                out[f"gpu_{i}_power_usage_watts"] = power / 1000
                out[f"gpu_{i}_power_usage_percentage"] = power / nv.nvmlDeviceGetEnforcedPowerLimit(handle) * 100
            except (nv.NVMLError, ZeroDivisionError):
                pass
            try:
                out[f"gpu_{i}_temperature_celsius"] = float(
                    nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU)
                )
            except nv.NVMLError:
                pass
            if torch is not None:
                out[f"gpu_{i}_torch_max_allocated_megabytes"] = torch.cuda.max_memory_allocated(i) / 1e6
        return out


class Telemetry:
    """Samples every ``interval`` seconds in a daemon thread and hands the metrics to ``sink``.

    ``sink(metrics, step)`` gets MLflow names (``system/...``); ``step`` counts samples from
    ``first_step``. :attr:`notice` says why GPU metrics are missing, when they are.
    """

    def __init__(
        self,
        sink: Callable[[dict[str, float], int], None],
        interval: float = 10.0,
        gpus: list[int] | None = None,
        node_id: str | None = None,
        first_step: int = 0,
    ) -> None:
        from ..exceptions import ValidationError

        if not 0 < interval <= 3600:
            raise ValidationError(f"telemetry interval must be between 0 and 3600 seconds, got {interval}")
        self.sink = sink
        self.interval = interval
        self.prefix = node_prefix(node_id)
        self.step = first_step
        self.latest: dict[str, float] = {}
        self.notice: str | None = None
        self.gpus: _Gpus | None = None
        indices = list(gpus or [])
        if not indices:
            self.notice = "no GPU in use by this process: logging CPU and memory telemetry only"
        else:
            try:
                self.gpus = _Gpus(indices)
            except ImportError:
                self.notice = NVML_MISSING
            except Exception as exc:  # NVMLError: no driver, no permission
                self.notice = f"GPU telemetry off: NVML could not start ({exc})"
        import psutil

        self._process = psutil.Process()
        self._process.cpu_percent()  # the first call only starts psutil's measuring window
        psutil.cpu_percent()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    def sample(self) -> dict[str, float]:
        """One sample now, with MLflow's names."""
        import psutil

        vm = psutil.virtual_memory()
        process = self._process
        with process.oneshot():  # one read of the process's /proc files for both figures
            raw = {
                "cpu_utilization_percentage": psutil.cpu_percent(),
                "system_memory_usage_megabytes": vm.used / 1e6,
                "system_memory_usage_percentage": vm.used / vm.total * 100,
                "process_cpu_utilization_percentage": process.cpu_percent(),
                "process_memory_rss_megabytes": process.memory_info().rss / 1e6,
            }
        if self.gpus is not None:
            raw.update(self.gpus.sample())
        return {self.prefix + k: round(float(v), 3) for k, v in raw.items()}

    def _emit(self) -> None:
        try:
            metrics = self.sample()
            self.latest = metrics
            self.sink(metrics, self.step)
            self.step += 1
        except Exception:
            self.errors += 1  # never kill the thread or the training over telemetry

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._emit()

    def start(self) -> Telemetry:
        self._thread = threading.Thread(target=self._loop, name="aieng-telemetry", daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, final_sample: bool = True) -> None:
        """Stop the thread (joined, so nothing leaks) and take one last sample."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if final_sample:
            self._emit()
