"""Training capture end to end: papermill, jobs, a killed process, torchrun with 2 ranks on gloo."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import aieng_nb as aieng
from aieng_nb import tracking
from aieng_nb.demo import example

pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parents[1]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
sys.path.insert(0, str(TESTS))
from training_helpers import build, run_epochs  # noqa: E402


def _training_outputs(path: str | Path) -> list[dict]:
    nb = json.loads(Path(path).read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and "aieng.training(" in "".join(c["source"]))
    return cell["outputs"]


def _assert_static_image(outputs: list[dict]) -> None:
    images = [
        o
        for o in outputs
        if o.get("output_type") in ("display_data", "update_display_data") and "image/png" in o.get("data", {})
    ]
    assert images, [o.get("data", {}).keys() for o in outputs]
    assert images[0]["data"]["image/svg+xml"]
    assert all(WIDGET_MIME not in o.get("data", {}) for o in outputs)  # no widget state to miss


def test_training_notebook_runs_under_papermill_and_keeps_a_static_image(workspace, tmp_path):
    import papermill

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(example("05-training.ipynb")),
        str(out),
        parameters={"epochs": 2, "experiment": "nb-train"},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    _assert_static_image(_training_outputs(out))
    run = aieng.list_runs(experiment="nb-train")[0]
    assert run.status == "FINISHED" and run.name == "mlp-demo"
    assert len(tracking.metric_history(run.run_id, "val_acc")) == 2
    assert run.tags["aieng.model_name"] == "mlp-demo" and run.tags["aieng.model_kind"] == "best"
    assert "system/cpu_utilization_percentage" in run.metrics


def test_training_notebook_as_a_job_logs_into_the_jobs_run(workspace):
    job = aieng.run_job(example("05-training.ipynb"), {"epochs": 2})
    assert job.status == "COMPLETED", job
    run = tracking.get_run(job.run_id)
    assert len(tracking.metric_history(job.run_id, "loss")) == 48  # 24 batches x 2 epochs, in the job's run
    assert run.tags["aieng.model_uri"].startswith("models:/") and run.tags["aieng.training.name"] == "mlp-demo"
    assert len(aieng.list_runs()) == 1  # the training made no run of its own
    _assert_static_image(_training_outputs(job.output_path))


KILLED_CHILD = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import torch
import aieng_nb as aieng
from training_helpers import build, run_epochs

X, y, net, opt, sched, loader = build(seed=7)
real_save, calls = torch.save, []

def dying_save(obj, f, *args, **kwargs):
    calls.append(f)
    if len(calls) == 3:  # the third checkpoint: killed half-way through writing it
        import io
        buf = io.BytesIO()
        real_save(obj, buf)
        with open(f, "wb") as fh:
            fh.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *args, **kwargs)

torch.save = dying_save
with aieng.training(net, opt, sched, name="killed", checkpoint="epoch", log_model=False, telemetry=False) as tr:
    print(tr.run_id, flush=True)
    run_epochs(tr, X, y, net, opt, sched, loader, epochs=4)
"""


def test_kill_during_a_checkpoint_write_leaves_the_previous_one_and_resume_matches(workspace, tmp_path, python_env):
    script = tmp_path / "child.py"
    script.write_text(KILLED_CHILD.format(tests=str(TESTS)))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=python_env, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    run_id = proc.stdout.split()[0]
    state = aieng.load_checkpoint(run_id)  # the latest complete one
    assert (state["epoch"], state["step"]) == (2, 12)
    files = tracking.list_artifacts(run_id, "checkpoints")
    assert sorted(files) == ["checkpoints/epoch-1.pt", "checkpoints/epoch-2.pt", "checkpoints/index.json"]

    X, y, net, opt, sched, loader = build(seed=7)
    with aieng.training(net, opt, sched, name="reference", log_model=False, telemetry=False) as tr:
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=4)
    reference = {k: v.clone() for k, v in net.state_dict().items()}

    X, y, net, opt, sched, loader = build(seed=123)
    with aieng.training(net, opt, sched, checkpoint="epoch", resume=run_id, log_model=False, telemetry=False) as tr:
        assert tr.start_epoch == 2
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=4)
    for key, value in net.state_dict().items():
        assert torch.equal(value, reference[key]), key
    record = tracking.get_run(run_id)
    assert record.status == "FINISHED" and record.tags["aieng.training.resumed_from"] == "epoch-2"


DDP_SCRIPT = """
import time
import torch
import torch.distributed as dist
import aieng_nb as aieng

dist.init_process_group("gloo")
torch.manual_seed(0)
net = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
opt = torch.optim.SGD(net.parameters(), lr=0.1)
with aieng.training(net, opt, name="ddp", experiment="ddp", telemetry_interval=0.1, log_model=False) as tr:
    for i in range(20):
        loss = net(torch.randn(8, 4)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        tr.step(loss=loss.item(), samples=8)
        time.sleep(0.02)
    assert tr.rank == dist.get_rank() and tr.world_size == 2
dist.destroy_process_group()
"""


def test_torchrun_two_ranks_on_gloo_make_one_run_with_rank_tagged_telemetry(workspace, tmp_path, python_env):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**python_env, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = aieng.list_runs()
    assert len(runs) == 1 and runs[0].experiment == "ddp" and runs[0].status == "FINISHED"
    run_id = runs[0].run_id
    assert runs[0].tags["aieng.training.world_size"] == "2"
    assert len(tracking.metric_history(run_id, "loss")) == 20  # rank 0 logs the training metrics once
    assert tracking.metric_history(run_id, "system/cpu_utilization_percentage")
    assert tracking.metric_history(run_id, "system/rank_1/cpu_utilization_percentage")
    assert not any(k.startswith("system/rank_0/") for k in runs[0].metrics)
