"""Front ends of training capture: %%aieng train, %aieng watch, the live monitor, per-cell GPU fields."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest
from IPython.core.error import UsageError

import aieng_nb as aieng
from aieng_nb import tracking
from tests.waiting import wait_until

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from training_helpers import build, run_epochs  # noqa: E402

SETUP = """
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
X, y = make_classification(240, n_features=6, random_state=0)
X_train, X_val, y_train, y_val = X[:180], X[180:], y[:180], y[180:]
gbm = GradientBoostingClassifier(n_estimators=10, random_state=0)
"""


def test_train_cell_captures_params_scores_fit_time_and_model_then_stops(shell, capsys):
    import mlflow

    shell.run_cell(SETUP)
    result = shell.run_cell("%%aieng train --name sk-gbm -e sk\ngbm.fit(X_train, y_train)\ngbm.score(X_val, y_val)")
    assert result.error_in_exec is None and 0.5 < result.result <= 1.0
    out = capsys.readouterr().out
    assert "captured 1 fit(s) (GradientBoostingClassifier" in out and "models:/" in out
    run = aieng.list_runs(experiment="sk")[0]
    assert run.status == "FINISHED" and run.name == "sk-gbm"
    assert run.params["n_estimators"] == "10" and run.params["random_state"] == "0"
    assert run.metrics["training_score"] > 0.9 and run.metrics["fit_time_s"] > 0
    assert result.result in [v for k, v in run.metrics.items() if k != "training_score"]  # the validation score
    assert run.tags["aieng.model_name"] == "sk-gbm" and run.tags["aieng.model_flavor"] == "sklearn"
    assert mlflow.active_run() is None  # MLflow's fluent state is not left behind
    # the capture is scoped to the cell: a later fit in an active run logs nothing by itself
    shell.run_cell("%aieng start --name later")
    shell.run_cell("LogisticRegression(max_iter=200).fit(X_train, y_train)")
    later = tracking.active_run().record()
    assert not any(k.startswith("training_") for k in later.metrics) and "fit_time_s" not in later.metrics
    shell.run_cell("%aieng end")
    assert tracking.get_run(run.run_id).metrics == run.metrics


def test_train_cell_in_an_active_run_logs_there_and_keeps_it_open(shell):
    shell.run_cell(SETUP)
    shell.run_cell("%aieng start --name outer")
    active = tracking.active_run()
    shell.run_cell("%%aieng train --no-model\nLogisticRegression(max_iter=200).fit(X_train, y_train)")
    assert tracking.active_run() is active
    record = active.record()
    assert record.metrics["training_score"] > 0.5 and "aieng.model_id" not in record.tags
    shell.run_cell("%aieng end")


def test_train_cell_error_fails_the_cell_and_the_run(shell):
    shell.run_cell(SETUP)
    result = shell.run_cell("%%aieng train --name boom\ngbm.fit(X_train, y_train)\nraise RuntimeError('bad data')")
    assert isinstance(result.error_in_exec, RuntimeError)
    assert aieng.list_runs()[0].status == "FAILED" and tracking.active_run() is None


@pytest.mark.parametrize(
    "line,message",
    [
        ("%aieng train", "cell magic"),
        ("%%aieng train --bogus\npass", "unrecognized"),
        ("%aieng watch --refresh -1", "positive"),
    ],
)
def test_bad_input_is_one_usage_error_line(shell, line, message):
    with pytest.raises(UsageError, match=message):
        if "\n" in line:
            first, cell = line.split("\n", 1)
            shell.run_cell_magic("aieng", first.removeprefix("%%aieng "), cell)
        else:
            shell.run_line_magic("aieng", line.removeprefix("%aieng "))
    assert aieng.list_runs() == [] or all(r.status != "RUNNING" for r in aieng.list_runs())


def test_watch_without_a_run_says_so(shell):
    with pytest.raises(UsageError, match="needs an active run"):
        shell.run_line_magic("aieng", "watch")


def test_watch_follows_a_run_of_another_writer_until_it_ends(shell):
    run_id = tracking.create_run("elsewhere", name="job-like")  # a run this process does not own
    for step in range(5):
        tracking.log_metrics({"loss": 1.0 / (step + 1)}, step=step, run_id=run_id)
    shell.run_line_magic("aieng", f"watch {run_id[:8]} --refresh 0.1")
    from aieng_nb.widgets import training_monitor

    monitors = [t for t in threading.enumerate() if t.name == "aieng-monitor"]
    assert len(monitors) == 1
    deadline = time.monotonic() + 20
    for step in range(5, 10):
        tracking.log_metrics(
            {"loss": 1.0 / (step + 1), "system/cpu_utilization_percentage": 10.0}, step=step, run_id=run_id
        )
    tracking.set_run_status(run_id, "FINISHED")
    # it stops by itself when the run ends
    wait_until(lambda: not any(t.is_alive() for t in monitors), timeout=max(0.0, deadline - time.monotonic()))
    assert training_monitor.RunSource(run_id).done()


def test_monitor_state_updates_and_static_fallback():
    from aieng_nb.widgets.training_monitor import RunMonitor, SessionSource

    X, y, net, opt, sched, loader = build()
    session = aieng.training(net, opt, name="live", log_model=False, telemetry=False, live=False)
    with session as tr:
        monitor = RunMonitor(SessionSource(tr), refresh=0.05, show=False).start()
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=2)
        wait_until(lambda: "loss" in monitor.series, timeout=10, message="the monitor's first update")
        assert monitor.updates >= 1
        monitor.close()
    assert monitor.series["loss"].last == (11, pytest.approx(tracking.metric_history(tr.run_id, "loss")[-1][1]))
    assert [p[0] for p in monitor.series["val_acc"].points] == [5, 11]
    assert "<svg" in monitor.plot.value and "loss" in monitor.plot.value and "step 12" in monitor.header.value
    bundle = monitor.static_bundle()
    assert bundle["image/svg+xml"].startswith("<svg") and len(bundle["image/png"]) > 1000
    assert "application/vnd.jupyter.widget-view+json" not in bundle
    assert not any(t.name == "aieng-monitor" for t in threading.enumerate())


def test_monitor_fits_a_notebook_and_says_no_gpu_once(capsys):
    """Three charts a row shrink to the output's width (no clipping); the telemetry notice is the
    one line printed under the cell, not repeated in the monitor's header."""
    import re

    from aieng_nb.widgets.training_monitor import RunMonitor, SessionSource

    X, y, net, opt, sched, loader = build()
    with aieng.training(net, opt, name="fit", log_model=False, telemetry_interval=5, live=False) as tr:
        monitor = RunMonitor(SessionSource(tr), refresh=0.05, show=False).start()
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=1)
        wait_until(lambda: len(monitor.series) >= 3, timeout=10, message="three charts")
        monitor.close()
    svg = monitor.plot.value
    width = int(re.search(r'<svg[^>]* width="(\d+)"', svg).group(1))
    assert width > 700 and f'viewBox="0 0 {width} ' in svg and "max-width:100%" in svg
    assert "no GPU in use" not in monitor.header.value
    assert capsys.readouterr().out.count("no GPU in use") == 1


def test_monitor_coalesces_many_steps_into_few_redraws():
    from aieng_nb.widgets.charts import MAX_POINTS
    from aieng_nb.widgets.training_monitor import RunMonitor, SessionSource

    with aieng.training(name="many", log_model=False, telemetry=False, live=False) as tr:
        monitor = RunMonitor(SessionSource(tr), refresh=0.2, show=False).start()
        started = time.monotonic()
        for i in range(50_000):
            tr.step(loss=1.0 / (i + 1))
        elapsed = time.monotonic() - started
        monitor.close()
    assert monitor.series["loss"].last[0] == 49_999  # steps count from 0
    assert len(monitor.series["loss"].points) <= MAX_POINTS  # memory stays bounded
    assert monitor.updates <= elapsed / 0.2 + 3  # redraws follow the clock, not the steps


def test_session_in_a_shell_without_kernel_shows_no_widget(shell):
    shell.run_cell(
        "import aieng_nb as aieng\nwith aieng.training(name='plain', log_model=False, telemetry=False) as tr:\n    tr.step(loss=1.0)"
    )
    assert shell.user_ns["tr"].view is None and shell.user_ns["tr"].status == "FINISHED"


def test_cell_records_carry_no_gpu_fields_on_cpu_and_the_gpu_fields_helpers(shell):
    shell.run_cell("%aieng start --name cells")
    run = tracking.active_run()
    shell.run_cell("import torch\nx = torch.ones(10)")
    cells = [json.loads(line) for line in open(run.cells_path)]
    shell.run_cell("%aieng end")
    from aieng_nb.training import cellmem

    assert cells and cells[-1]["outcome"] == "ok" and "x = torch.ones" in cells[-1]["source"]
    assert not any(key.startswith("gpu_") for key in cells[-1])  # torch uses no GPU here
    assert cellmem.after(cellmem.before()) == {}


torch_cuda = pytest.importorskip("torch").cuda


@pytest.mark.gpu
@pytest.mark.skipif(not torch_cuda.is_available(), reason="needs an NVIDIA GPU")
def test_cell_records_carry_gpu_memory_peak_and_delta(shell):
    shell.run_cell("%aieng start --name gpu-cells")
    run = tracking.active_run()
    shell.run_cell("import torch\nbig = torch.ones(64, 1024, 1024, device='cuda')\ntmp = big * 2\ndel tmp")
    lines = [json.loads(line) for line in open(run.cells_path)]
    shell.run_cell("%aieng end")
    cell = lines[-1]
    assert cell["gpu_mem_delta_mb"] == pytest.approx(268.4, rel=0.05)
    assert cell["gpu_mem_peak_mb"] >= 2 * 268
