"""The hot path of a training session: ``step`` and ``epoch``, rates and best-so-far.

``step`` is one clock read, one call journaled into the run's metric journal (a copy into a
memory-mapped file that survives a SIGKILL; and to a live view's tap when one is open) and a few
counters: about a microsecond. It never writes to the store, never waits and never takes a lock:
the run's writer thread stores the journal in batches (see :mod:`aieng_nb.tracking.buffer`). Rates
(samples/s, tokens/s, step time) are logged once a second.
"""

from __future__ import annotations

import time
from typing import Any

_perf = time.perf_counter
_time = time.time
RATE_INTERVAL = 1.0  # seconds between logged samples/s, tokens/s and step time


class StepCapture:
    """``step``/``epoch`` of :class:`~aieng_nb.training.session.TrainingSession` (a mixin: the
    session sets the attributes read here in its ``__init__`` and ``start``)."""

    global_step: int
    epochs_done: int
    samples: int
    tokens: int
    calls: int
    monitor: str | None
    mode: str
    best_value: float | None
    best_step: int | None
    rates: dict[str, float]
    tap: Any
    model: Any
    policy: Any
    rank: int
    _calls: Any
    _buffer: Any
    _best_state: Any
    _follower_buffer: Any
    _sums: dict[str, float]
    _every: int
    _win_t: float
    _win0: tuple[int, int, int]
    _epoch_t: float
    _epoch0: tuple[int, int]
    _wall0: float

    def save_checkpoint(self, name: str | None = None) -> Any:  # the session's
        raise NotImplementedError

    def _restart_clocks(self) -> None:
        """Start the rate and epoch windows now; entries' wall times are ``perf_counter + _wall0``
        (one clock read a step), re-synced with the wall clock once a second."""
        now = _perf()
        self._wall0 = _time() - now
        self._win_t = self._epoch_t = now
        self._win0 = (self.calls, self.samples, self.tokens)
        self._epoch0 = (self.calls, self.samples)
        self._sums = {}

    def _append(self, entry: tuple[float, int, dict[str, float]]) -> None:
        if self._calls is not None:
            self._calls.append(entry)
            if self.tap is not None:
                self.tap.append(entry)

    def _log_system(self, metrics: dict[str, float], step: int) -> None:
        """Telemetry's sink on rank 0 (called from the telemetry thread)."""
        self._append((_time(), step, metrics))

    def _log_follower(self, metrics: dict[str, float], step: int) -> None:
        """Telemetry's sink on other ranks: their own buffer into the same run."""
        self._follower_buffer.calls.append((_time(), step, metrics))

    def step(
        self, step: int | None = None, samples: int | None = None, tokens: int | None = None, **metrics: float
    ) -> None:
        """Record one training step: metrics (floats: pass ``loss.item()``), and the number of
        samples (and tokens) in it for samples/s (tokens/s). ``step`` defaults to one more than before;
        steps count from 0, as MLflow's autolog and Lightning's ``MLFlowLogger`` number them
        (``global_step`` is the number of steps done, so the next step is ``global_step``).

        >>> tr.step(loss=loss.item(), samples=len(xb))  # doctest: +SKIP
        """
        s = self.global_step if step is None else int(step)
        self.global_step = s + 1
        now = _perf()
        calls = self._calls
        if calls is not None:
            entry = (now + self._wall0, s, metrics)
            calls.append(entry)
            if self.tap is not None:
                self.tap.append(entry)
        sums = self._sums
        for key, value in metrics.items():
            if type(value) is float or type(value) is int:
                sums[key] = sums.get(key, 0.0) + value
        self.calls += 1
        if samples:
            self.samples += samples
        if tokens:
            self.tokens += tokens
        if now - self._win_t >= RATE_INTERVAL:
            self._log_rates(now, s)
        if self.monitor is not None and self.monitor in metrics:
            self._track_best(float(metrics[self.monitor]), s)
        if self._every and self.global_step % self._every == 0:
            self.save_checkpoint(f"step-{self.global_step}")

    def _log_rates(self, now: float, step: int) -> None:
        elapsed = now - self._win_t
        calls0, samples0, tokens0 = self._win0
        n = self.calls - calls0
        if elapsed <= 0 or not n:
            return
        rates = {"step_time_ms": elapsed / n * 1000}
        if self.samples > samples0:
            rates["samples_per_second"] = (self.samples - samples0) / elapsed
        if self.tokens > tokens0:
            rates["tokens_per_second"] = (self.tokens - tokens0) / elapsed
        self.rates = rates
        wall = _time()
        self._wall0 = wall - _perf()  # follow the wall clock (NTP steps) once a second
        self._append((wall, step, rates))
        self._win_t = now
        self._win0 = (self.calls, self.samples, self.tokens)

    def epoch(self, **metrics: float) -> None:
        """End an epoch: log its metrics (e.g. validation), epoch means of the step metrics,
        epoch time and samples/s; update best-so-far; checkpoint per the policy. They are logged at
        the epoch's last step and ``epoch`` counts from 0, as Lightning's ``MLFlowLogger`` logs them.

        >>> tr.epoch(val_acc=evaluate(model))  # doctest: +SKIP
        """
        now = _perf()
        self.epochs_done += 1
        s = self.last_step
        calls0, samples0 = self._epoch0
        n, epoch_samples = self.calls - calls0, self.samples - samples0
        summary: dict[str, float] = {f"{k}_epoch": v / n for k, v in self._sums.items()} if n else {}
        elapsed = now - self._epoch_t
        summary["epoch"] = float(self.epochs_done - 1)
        summary["epoch_time_s"] = elapsed
        if epoch_samples and elapsed > 0:
            summary["epoch_samples_per_second"] = epoch_samples / elapsed
        values = {k: float(v) for k, v in metrics.items()}
        self._append((_time(), s, {**summary, **values}))
        self._sums = {}
        self._epoch0 = (self.calls, self.samples)
        self._epoch_t = _perf()
        improved = False
        if self.monitor is not None:
            if self.monitor in values:
                improved = self._track_best(values[self.monitor], s)
            elif self.monitor not in summary and f"{self.monitor}_epoch" in summary:
                improved = self._track_best(summary[f"{self.monitor}_epoch"], s)
        if self.policy.on_epoch:
            self.save_checkpoint(f"epoch-{self.epochs_done}")
        elif self.policy.best_only and improved:
            self.save_checkpoint("best")

    @property
    def last_step(self) -> int:
        """The number of the last step logged (0-based; 0 before the first)."""
        return max(self.global_step - 1, 0)

    def _track_best(self, value: float, step: int) -> bool:
        best = self.best_value
        if best is not None and not (value < best if self.mode == "min" else value > best):
            return False
        self.best_value, self.best_step = value, step
        if self._calls is not None:
            self._calls.append((_time(), step, {f"best_{self.monitor}": value}))
        if self.model is not None and hasattr(self.model, "state_dict"):
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            if self.policy.enabled and not self.policy.best_only and self.rank == 0:
                self.save_checkpoint("best")
        return True
