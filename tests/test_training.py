"""Training capture with real small torch models and real scikit-learn fits, on CPU."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest
import torch

import aieng_nb as aieng
from aieng_nb import tracking
from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.training import TrainingRecord
from aieng_nb.training.checkpoints import CheckpointPolicy
from aieng_nb.training.telemetry import NVML_MISSING, Telemetry
from tests.waiting import wait_until

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from training_helpers import Crash, build, run_epochs  # noqa: E402


def _aieng_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in ("aieng-telemetry", "aieng-monitor")]


def test_steps_epochs_rates_and_best_so_far_land_in_the_run():
    X, y, net, opt, sched, loader = build()
    with aieng.training(
        net, opt, sched, name="mlp", experiment="tr", monitor="val_acc", mode="max", log_model=False
    ) as tr:
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=3)
    record = tracking.get_run(tr.run_id)
    assert record.status == "FINISHED" and record.name == "mlp"
    loss = tracking.metric_history(tr.run_id, "loss")
    assert [s for s, _ in loss] == list(range(18))  # 6 batches x 3 epochs, one point per step, from 0
    assert [v for _, v in tracking.metric_history(tr.run_id, "epoch")] == [0.0, 1.0, 2.0]
    assert len(tracking.metric_history(tr.run_id, "loss_epoch")) == 3
    assert len(tracking.metric_history(tr.run_id, "val_acc")) == 3
    assert record.metrics["samples_per_second"] > 0 and record.metrics["step_time_ms"] > 0
    accs = [v for _, v in tracking.metric_history(tr.run_id, "val_acc")]
    assert record.metrics["best_val_acc"] == max(accs) == tr.best_value
    assert record.params["optimizer"] == "SGD" and record.params["optimizer.lr"] == "0.1"
    assert record.params["scheduler"] == "StepLR" and record.params["n_parameters"] == "146"
    assert record.tags["aieng.device.type"] == "cpu" and record.tags["aieng.device.torch"] == torch.__version__
    assert record.tags["aieng.device.deterministic_algorithms"] in ("True", "False")
    assert "aieng.device.cudnn_benchmark" in record.tags and "aieng.device.dtype" in record.tags


def test_tokens_per_second_when_tokens_are_given(monkeypatch):
    from aieng_nb.training import steps

    monkeypatch.setattr(steps, "RATE_INTERVAL", 0.0)
    with aieng.training(name="tok", log_model=False, telemetry=False) as tr:
        for _ in range(5):
            tr.step(loss=1.0, samples=4, tokens=512)
            time.sleep(0.002)
    metrics = tracking.get_run(tr.run_id).metrics
    assert metrics["tokens_per_second"] > metrics["samples_per_second"] > 0


def test_training_record_round_trip_and_artifact():
    X, y, net, opt, sched, loader = build()
    with aieng.training(net, opt, name="rec", checkpoint="epoch", keep=1, log_model=False, telemetry=False) as tr:
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=2)
    record = tr.record()
    assert TrainingRecord.from_dict(record.to_dict()) == record
    assert record.status == "FINISHED" and record.steps == 12 and record.epochs == 2 and record.samples == 192
    assert [c.name for c in record.checkpoints] == ["epoch-2"]
    with_json = json.loads(json.dumps(record.to_dict()))
    assert TrainingRecord.from_dict(with_json).checkpoints[0].step == 12
    from mlflow.tracking import MlflowClient

    from aieng_nb.workspace import current

    path = MlflowClient(current().tracking_uri).download_artifacts(tr.run_id, "aieng/training/record.json")
    stored = TrainingRecord.from_dict(json.loads(open(path).read()))
    assert stored.run_id == tr.run_id and stored.epochs == 2


def test_checkpoint_policies_every_n_steps_epoch_best_and_keep_k():
    X, y, net, opt, sched, loader = build()
    with aieng.training(net, opt, name="n", checkpoint=4, keep=2, log_model=False, telemetry=False) as tr:
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=2)
    assert [c.name for c in tr.checkpoints] == ["step-8", "step-12"]
    from aieng_nb.workspace import current

    store = tracking.store(workspace=current())
    files = store.list_artifacts(tr.run_id, "checkpoints")
    assert sorted(files) == ["checkpoints/index.json", "checkpoints/step-12.pt", "checkpoints/step-8.pt"]

    X, y, net, opt, sched, loader = build()
    with aieng.training(
        net, opt, name="b", checkpoint="best", monitor="val_acc", mode="max", log_model=False, telemetry=False
    ) as tr:
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=3)
    assert [c.name for c in tr.checkpoints] == ["best"]
    assert tr.checkpoints[0].metric == tr.best_value and tr.checkpoints[0].step == tr.best_step + 1  # steps done
    best = tr.best_model()
    assert best is not net
    loaded = tr.load_checkpoint("best")
    for a, b in zip(best.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_checkpoint_contents_and_load_checkpoint_by_name():
    X, y, net, opt, sched, loader = build()
    with aieng.training(net, opt, sched, name="c", checkpoint="epoch", keep=3, log_model=False, telemetry=False) as tr:
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=2)
    state = aieng.load_checkpoint(tr.run_id, "epoch-1")
    assert state["step"] == 6 and state["epoch"] == 1
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    assert state["optimizer"]["param_groups"][0]["momentum"] == 0.9 and state["scheduler"]["last_epoch"] == 1
    epoch1 = tr.load_checkpoint("epoch-1")
    assert not torch.equal(epoch1[0].weight, net[0].weight)  # a copy with epoch-1 weights, the live net untouched
    assert torch.equal(tr.load_checkpoint()[0].weight, net[0].weight)  # latest = after epoch 2
    with pytest.raises(NotFoundError, match="epoch-1, epoch-2"):
        tr.load_checkpoint("epoch-9")


def test_resume_continues_in_the_same_run_with_identical_weights():
    X, y, net, opt, sched, loader = build(seed=7)
    with aieng.training(net, opt, sched, name="ref", log_model=False, telemetry=False) as tr:
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=4)
    reference = {k: v.clone() for k, v in net.state_dict().items()}

    X, y, net, opt, sched, loader = build(seed=7)
    session = aieng.training(net, opt, sched, name="crashy", checkpoint="epoch", log_model=False, telemetry=False)
    with pytest.raises(Crash):
        with session as tr:
            run_epochs(tr, X, y, net, opt, sched, loader, epochs=4, crash_after=2)
    run_id = session.run_id
    assert tracking.get_run(run_id).status == "FAILED"

    X, y, net, opt, sched, loader = build(seed=99)  # fresh objects, other RNG state: all must come from the checkpoint
    with aieng.training(net, opt, sched, checkpoint="epoch", resume=run_id, log_model=False, telemetry=False) as tr:
        assert (tr.start_epoch, tr.start_step) == (2, 12)
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=4)
    assert tr.run_id == run_id
    for key, value in net.state_dict().items():
        assert torch.equal(value, reference[key]), key
    record = tracking.get_run(run_id)
    assert record.status == "FINISHED" and record.tags["aieng.training.resumed_from"] == "epoch-2"
    assert [s for s, _ in tracking.metric_history(run_id, "epoch")] == [5, 11, 17, 23]
    assert len(aieng.list_runs(experiment="Default")) == 2  # no extra run for the resume


def test_resume_of_an_unknown_run_is_a_clear_error():
    X, y, net, opt, sched, loader = build()
    with pytest.raises(Exception, match="no run|not found|Run"):
        with aieng.training(net, opt, resume="0123456789abcdef", log_model=False, telemetry=False):
            pass
    assert tracking.active_run() is None


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"mode": "up"}, "mode must be"),
        ({"checkpoint": "hourly"}, "checkpoint must be"),
        ({"keep": 0}, "keep must be"),
        ({"log_model": "yes"}, "log_model must be"),
        ({"telemetry_interval": -1}, "telemetry interval"),
    ],
)
def test_bad_options_fail_before_any_run_exists(kwargs, message):
    X, y, net, opt, sched, loader = build()
    with pytest.raises(ValidationError, match=message):
        with aieng.training(net, opt, name="bad", **kwargs):
            pass
    assert tracking.active_run() is None
    assert all(r.status != "RUNNING" for r in aieng.list_runs())


def test_policy_parse():
    assert CheckpointPolicy.parse(None).enabled is False
    assert CheckpointPolicy.parse(50).every_steps == 50
    assert CheckpointPolicy.parse("best").best_only


def test_telemetry_uses_mlflow_names_and_stops_without_leaking_threads():
    X, y, net, opt, sched, loader = build()
    before = _aieng_threads()
    with aieng.training(net, opt, name="tel", log_model=False, telemetry_interval=0.05) as tr:
        assert "aieng-telemetry" in _aieng_threads()
        for _ in range(3):
            run_epochs(tr, X, y, net, opt, sched, loader, epochs=1)
            time.sleep(0.1)
    assert _aieng_threads() == before
    metrics = tracking.get_run(tr.run_id).metrics
    for name in (
        "system/cpu_utilization_percentage",
        "system/system_memory_usage_megabytes",
        "system/system_memory_usage_percentage",
        "system/process_memory_rss_megabytes",
    ):
        assert name in metrics, name
    steps = [s for s, _ in tracking.metric_history(tr.run_id, "system/cpu_utilization_percentage")]
    assert steps == list(range(len(steps))) and len(steps) >= 3


def test_no_gpu_gives_one_clear_notice_on_the_run_and_in_the_notebook(capsys):
    with aieng.training(name="cpu", log_model=False, telemetry_interval=5) as tr:
        tr.step(loss=1.0)
    out = capsys.readouterr().out
    assert out.count("no GPU in use") == 1
    tags = tracking.get_run(tr.run_id).tags
    assert "no GPU in use" in tags["aieng.telemetry.notice"]
    assert "system/cpu_utilization_percentage" in tracking.get_run(tr.run_id).metrics


def test_nvml_absent_is_reported_and_cpu_telemetry_still_works(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError
    got = []
    telemetry = Telemetry(lambda metrics, step: got.append((step, metrics)), interval=0.02, gpus=[0]).start()
    wait_until(lambda: len(got) >= 2, timeout=30, message="two telemetry samples")
    telemetry.stop()
    assert telemetry.notice == NVML_MISSING and "aieng_nb[gpu]" in telemetry.notice
    assert not telemetry.running
    assert got and all("system/cpu_utilization_percentage" in m for _, m in got)
    assert not any(k.startswith("system/gpu_") for _, m in got for k in m)


def test_telemetry_node_prefix_for_other_ranks():
    got = []
    telemetry = Telemetry(lambda metrics, step: got.append(metrics), interval=1, node_id="rank_1")
    telemetry.stop()  # one final sample
    assert got and all(k.startswith("system/rank_1/") for k in got[0])


def test_torch_model_is_logged_with_signature_and_loads_with_pyfunc():
    import mlflow
    import numpy as np

    from aieng_nb.training import find_model, load_model
    from aieng_nb.workspace import current

    X, y, net, opt, sched, loader = build()
    with aieng.training(
        net, opt, name="resnet-ft", experiment="models", monitor="val_acc", mode="max", telemetry=False
    ) as tr:
        run_epochs(tr, X, y, net, opt, sched, loader, epochs=2)
    model = find_model(tr.run_id)
    assert model is not None and model.name == "resnet-ft" and model.kind == "best" and model.flavor == "pytorch"
    assert model.step == tr.best_step and tr.record().model == model
    mlflow.set_tracking_uri(current().tracking_uri)
    try:
        found = mlflow.search_logged_models(
            filter_string="name = 'resnet-ft'",
            experiment_ids=[tracking.get_run(tr.run_id).experiment_id],
            output_format="list",
        )
        assert [m.model_id for m in found] == [model.model_id] and found[0].source_run_id == tr.run_id
        assert any(
            m.key == "val_acc" and m.step == tr.best_step for m in found[0].metrics
        )  # linked to the step's metrics
        pyfunc = mlflow.pyfunc.load_model(model.model_uri)
    finally:
        mlflow.set_tracking_uri(None)
    sig = pyfunc.metadata.signature
    assert sig is not None and tuple(sig.inputs.to_dict()[0]["tensor-spec"]["shape"]) == (-1, 6)
    x = X[:4].numpy()
    best = tr.best_model().eval()
    with torch.no_grad():
        expected = best(torch.from_numpy(x)).numpy()
    assert np.allclose(pyfunc.predict(x), expected, atol=1e-6)
    assert np.allclose(load_model(tr.run_id).predict(x), expected, atol=1e-6)


def test_sklearn_estimator_session_captures_params_scores_fit_time_and_model():
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.ensemble import GradientBoostingClassifier

    from aieng_nb.training import load_model

    X, y = make_classification(200, n_features=5, random_state=0)
    gbm = GradientBoostingClassifier(n_estimators=15, random_state=0)
    with aieng.training(gbm, name="sk-gbm", telemetry=False) as tr:
        gbm.fit(X[:150], y[:150])
        val = gbm.score(X[150:], y[150:])
    record = tracking.get_run(tr.run_id)
    assert record.params["n_estimators"] == "15"
    assert record.metrics["training_score"] > 0.9 and record.metrics["fit_time_s"] > 0
    assert any(k.endswith("_score_X") or "score" in k and k != "training_score" for k in record.metrics)
    assert val in record.metrics.values()
    assert record.tags["aieng.model_flavor"] == "sklearn" and record.tags["aieng.model_name"] == "sk-gbm"
    loaded = load_model(tr.run_id)
    assert (loaded.predict(X[:5]) == gbm.predict(X[:5])).all()
    assert loaded.metadata.signature.inputs.to_dict()[0]["type"] in ("tensor", "double")
    # scoped: fits after the session log nothing
    before = dict(tracking.get_run(tr.run_id).metrics)
    GradientBoostingClassifier(n_estimators=3).fit(X, y)
    assert tracking.get_run(tr.run_id).metrics == before
    assert np.isfinite(before["training_score"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")
def test_gpu_training_logs_device_facts_and_gpu_telemetry_of_the_used_gpu_only():
    pytest.importorskip("pynvml")
    X, y, net, opt, sched, loader = build()
    net = net.cuda()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with aieng.training(net, opt, name="gpu", log_model=False, telemetry_interval=0.1) as tr:
        for _ in range(50):
            xb, yb = X.cuda(), y.cuda()
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tr.step(loss=loss.item(), samples=len(xb))
        time.sleep(0.3)
    record = tracking.get_run(tr.run_id)
    assert record.tags["aieng.device.type"] == "cuda" and record.tags["aieng.device.count"] == "1"
    assert record.tags["aieng.device.capability"] and record.tags["aieng.device.cuda"]
    index = torch.cuda.current_device()
    for name in (
        "utilization_percentage",
        "memory_usage_megabytes",
        "power_usage_watts",
        "torch_max_allocated_megabytes",
    ):
        assert f"system/gpu_{index}_{name}" in record.metrics, name
    used = {k.split("_")[1] for k in record.metrics if k.startswith("system/gpu_")}
    assert used == {str(index)}  # only the GPU this process uses
    assert "aieng.telemetry.notice" not in record.tags


def test_importing_the_training_package_stays_light(python_env):
    import subprocess

    code = (
        "import sys, aieng_nb as aieng, aieng_nb.training, aieng_nb.magics.train_cmd, aieng_nb.magics.watch_cmd\n"
        "assert callable(aieng.training)\n"
        "print(sorted(m for m in ('torch', 'mlflow', 'sklearn', 'matplotlib', 'lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=python_env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
