"""The live run monitor: loss and metric curves, samples/s, GPU utilization and memory.

Shown under the cell by ``aieng.training(...)`` in a notebook and by ``%aieng watch [RUN_ID]``
(any run: a training, a job's run started elsewhere). Updates are coalesced and drawn a few
times a second by the monitor's own thread, never by the training loop. When it stops it
replaces itself with a static image (SVG and PNG), so saved notebooks and papermill outputs,
which keep no widget state, still show the curves.

>>> monitor = watch(run_id)  # doctest: +SKIP
>>> monitor.close()  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import threading
import time
from collections import deque
from typing import Any

from .charts import Series, render_png, render_svg

REFRESH = 0.5  # seconds between redraws: a couple per second, so the loop keeps the CPU
MAX_CHARTS = 9
_HIDDEN = {"epoch", "epoch_time_s", "step_time_ms", "fit_time_s"}
_SYSTEM_SHOWN = ("utilization_percentage", "memory_usage_megabytes")


def _chart_order(key: str) -> tuple[int, str] | None:
    """Which metrics get a chart, in what order: training metrics, rates, then the system."""
    if key in _HIDDEN or key.endswith("_epoch") or key.startswith(("epoch_", "best_")):
        return None
    if key.startswith("system/"):
        if "/gpu_" in key and key.endswith(_SYSTEM_SHOWN):
            return (2, key)
        if key == "system/cpu_utilization_percentage":
            return (3, key)
        return None
    if key in ("samples_per_second", "tokens_per_second"):
        return (1, key)
    return (0, key)


class SessionSource:
    """Metrics of a training session in this process, read from its tap (no store reads)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.tap: deque = deque(maxlen=500_000)
        session.tap = self.tap
        self.run_id = session.run_id
        self.title = session.name or session.run_id

    def poll(self) -> list[tuple[int, dict[str, Any]]]:
        tap = self.tap
        pop = tap.popleft  # the training thread appends meanwhile: take only what is there now
        return [pop()[1:] for _ in range(len(tap))]  # type: ignore[misc]

    def done(self) -> bool:
        return self.session.status in ("FINISHED", "FAILED")

    def facts(self) -> dict[str, Any]:
        s = self.session
        # the telemetry notice ("no GPU in use ...") is printed once under the cell when training starts
        printed = getattr(getattr(s, "telemetry", None), "notice", None)
        notices = [n for n in s.notices if n != printed]
        return {"step": s.global_step, "epoch": s.epochs_done, "rates": s.rates, "notices": notices}


class RunSource:
    """Metrics of any run, read from the tracking store (a job's run, a run of another process)."""

    def __init__(self, run_id: str) -> None:
        from .. import tracking

        self.tracking = tracking
        record = tracking.get_run(run_id)
        self.run_id = record.run_id
        self.title = record.name
        self.status = record.status
        self.last_step: dict[str, int] = {}
        self.interval = 0.0
        self._next = 0.0

    def poll(self) -> list[tuple[int, dict[str, Any]]]:
        now = time.monotonic()
        if now < self._next:
            return []
        started = time.perf_counter()
        record = self.tracking.get_run(self.run_id)
        self.status = record.status
        out: list[tuple[int, dict[str, Any]]] = []
        for key in record.metrics:
            if _chart_order(key) is None:
                continue
            last = self.last_step.get(key, -(2**63))
            for step, value in self.tracking.metric_history(self.run_id, key):
                if step > last:
                    out.append((step, {key: value}))
                    self.last_step[key] = step
        # reading a long history costs: poll less often the more it costs
        self.interval = max(0.5, 20 * (time.perf_counter() - started))
        self._next = time.monotonic() + self.interval
        out.sort(key=lambda item: item[0])
        return out

    def done(self) -> bool:
        return self.status not in ("RUNNING", "SCHEDULED")

    def facts(self) -> dict[str, Any]:
        return {"status": self.status}


class RunMonitor:
    """A live view of one run's metrics (ipywidgets), redrawn by a background thread."""

    def __init__(self, source: Any, refresh: float = REFRESH, show: bool = True, timeout: float | None = None) -> None:
        import ipywidgets

        self.source = source
        self.refresh = refresh
        self.timeout = timeout
        self.series: dict[str, Series] = {}
        self.updates = 0  # redraws done
        self.header = ipywidgets.HTML(value=self._header_html())
        self.plot = ipywidgets.HTML(value=render_svg([]))
        self.widget = ipywidgets.VBox([self.header, self.plot])
        self.handle: Any = None
        self.closed = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if show:
            from IPython.display import display

            self.handle = display(self.widget, display_id=True)

    def start(self) -> RunMonitor:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="aieng-monitor", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh):
            try:
                self.update()
            except Exception:
                pass  # a drawing problem must never reach the training
            timed_out = self.timeout is not None and time.monotonic() - self._started > self.timeout
            if (isinstance(self.source, RunSource) and self.source.done()) or timed_out:
                self.close()
                return

    def ingest(self, items: list[tuple[int, dict[str, Any]]]) -> None:
        """Add what arrived to the series, grouped per key so each series takes its points in bulk."""
        grouped: dict[str, list[tuple[int, Any]]] = {}
        for step, metrics in items:
            for key, value in metrics.items():
                points = grouped.get(key)
                if points is None:
                    points = grouped[key] = []
                points.append((step, value))
        for key, points in grouped.items():
            series = self.series.get(key)
            if series is None:
                if _chart_order(key) is None:
                    continue
                series = self.series[key] = Series(key)
            series.extend(points)

    def charts(self) -> list[Series]:
        keys = sorted(self.series, key=lambda k: _chart_order(k) or (9, k))
        return [self.series[k] for k in keys[:MAX_CHARTS]]

    def update(self) -> bool:
        """Take what arrived since the last call and redraw; False when nothing changed."""
        with self._lock:
            items = self.source.poll()
            if not items and self.updates:
                return False
            self.ingest(items)
            self.header.value = self._header_html()
            self.plot.value = render_svg(self.charts())
            self.updates += 1
            return True

    def _header_html(self) -> str:
        facts = self.source.facts()
        bits = [f"<b>{html.escape(str(self.source.title))}</b>", f"run {html.escape(self.source.run_id[:12])}"]
        if "step" in facts:
            bits.append(f"step {facts['step']}, epoch {facts['epoch']}")
        if "status" in facts:
            bits.append(html.escape(facts["status"]))
        rates = facts.get("rates") or {}
        if "samples_per_second" in rates:
            bits.append(f"{rates['samples_per_second']:,.0f} samples/s")
        if "tokens_per_second" in rates:
            bits.append(f"{rates['tokens_per_second']:,.0f} tokens/s")
        for key in sorted(self.series):
            if key.startswith("system/") and key.endswith("utilization_percentage") and self.series[key].last:
                label = key.removeprefix("system/").replace("_utilization_percentage", "")
                bits.append(f"{html.escape(label)} {self.series[key].last[1]:.0f}%")  # type: ignore[index]
        from ..rendering import THEME_CSS

        notices = "".join(f"<div class='aieng-warn-text'>{html.escape(n)}</div>" for n in facts.get("notices") or [])
        head = f"<div style='font-family:sans-serif;font-size:12px'><style>{THEME_CSS}</style>"
        return head + " &middot; ".join(bits) + notices + "</div>"

    def static_bundle(self) -> dict[str, str]:
        """The monitor as a static image: SVG, PNG and a text line (what a saved notebook keeps)."""
        charts = self.charts()
        title = f"{self.source.title} ({self.source.run_id[:12]})"
        bundle = {"image/svg+xml": render_svg(charts), "text/plain": f"<aieng monitor: {title}, {len(charts)} charts>"}
        try:
            bundle["image/png"] = base64.b64encode(render_png(charts, title)).decode()
        except Exception:
            pass
        return bundle

    def close(self) -> None:
        """Stop the thread, draw once more, and leave the static image in place of the widget."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        try:
            self.update()
        except Exception:
            pass
        if self.handle is not None:
            self.handle.update(self.static_bundle(), raw=True)
        self.widget.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return self.widget._repr_mimebundle_(**kwargs)


def for_session(session: Any) -> RunMonitor:
    """The monitor of a training session (registered as the training live view)."""
    return RunMonitor(SessionSource(session)).start()


def watch(run_id: str | None = None, refresh: float = 1.0, timeout: float | None = None) -> RunMonitor:
    """Follow a run's metrics live until it ends (default: the active run).

    >>> monitor = watch("3f2a")  # doctest: +SKIP
    """
    from .. import tracking
    from ..exceptions import NoActiveRunError

    if run_id is None:
        active = tracking.active_run()
        if active is None:
            raise NoActiveRunError("watch without a RUN_ID")
        run_id = active.id
    source = RunSource(run_id)
    return RunMonitor(source, refresh=max(0.1, refresh), timeout=timeout).start()


def _register() -> None:
    from ..training import live

    live.register("widget", for_session)


_register()

TrainingMonitor = RunMonitor  # the name the training docs use
