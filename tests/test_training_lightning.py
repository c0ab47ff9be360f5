"""The Lightning callback drives the same capture, on a tiny CPU model."""

from __future__ import annotations

import pytest

pl = pytest.importorskip("lightning.pytorch")
import torch  # noqa: E402

from aieng_nb import tracking  # noqa: E402
from aieng_nb.training import LightningCallback, find_model  # noqa: E402


class TinyModule(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=0.01)
        return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 1)}


def _loader(seed: int) -> torch.utils.data.DataLoader:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 4, generator=gen)
    y = x.sum(1, keepdim=True)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)


def test_lightning_fit_is_captured_with_steps_epochs_validation_and_best_model(tmp_path):
    torch.manual_seed(0)
    callback = LightningCallback(name="lit", experiment="lit", monitor="val_loss", mode="min", telemetry_interval=0.5)
    trainer = pl.Trainer(
        max_epochs=3,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=str(tmp_path),
    )
    trainer.fit(TinyModule(), _loader(1), _loader(2))
    run_id = callback.session.run_id
    record = tracking.get_run(run_id)
    assert record.status == "FINISHED" and record.tags["aieng.training.framework"] == "lightning"
    assert [s for s, _ in tracking.metric_history(run_id, "loss")] == list(range(12))
    val = tracking.metric_history(run_id, "val_loss")
    assert [s for s, _ in val] == [3, 7, 11]
    assert record.metrics["best_val_loss"] == min(v for _, v in val)
    assert record.params["optimizer"] == "Adam" and record.params["scheduler"] == "StepLR"
    assert "system/cpu_utilization_percentage" in record.metrics
    model = find_model(run_id)
    assert model is not None and model.name == "lit" and model.kind == "best" and model.flavor == "pytorch"
    assert tracking.active_run() is None


class LoggingModule(TinyModule):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss


def test_steps_overlay_lightning_mlflow_logger_for_the_same_seeded_loop(tmp_path):
    """Our history and Lightning's own ``MLFlowLogger`` (in MLflow's store) for one seeded fit:
    the same steps for the step loss, the epoch metrics and ``epoch``, and the same values."""
    from lightning.pytorch.loggers import MLFlowLogger
    from mlflow.tracking import MlflowClient

    ref_uri = f"sqlite:///{tmp_path / 'lightning.db'}"
    reference = MLFlowLogger(experiment_name="reference", tracking_uri=ref_uri)
    torch.manual_seed(0)
    callback = LightningCallback(name="lit", experiment="lit", log_model=False, telemetry=False)
    trainer = pl.Trainer(
        max_epochs=3,
        callbacks=[callback],
        logger=reference,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=str(tmp_path),
    )
    trainer.fit(LoggingModule(), _loader(1), _loader(2))
    client = MlflowClient(tracking_uri=ref_uri)

    def theirs(key):
        return sorted((p.step, p.value) for p in client.get_metric_history(reference.run_id, key))

    def ours(key):
        return tracking.metric_history(callback.session.run_id, key)

    assert [s for s, _ in ours("loss")] == [s for s, _ in theirs("train_loss_step")] == list(range(12))
    assert [v for _, v in ours("loss")] == pytest.approx([v for _, v in theirs("train_loss_step")])
    assert [s for s, _ in ours("val_loss")] == [s for s, _ in theirs("val_loss")] == [3, 7, 11]
    assert [v for _, v in ours("val_loss")] == pytest.approx([v for _, v in theirs("val_loss")])
    assert [s for s, _ in ours("train_loss")] == [s for s, _ in theirs("train_loss_epoch")] == [3, 7, 11]
    their_epoch = dict(theirs("epoch"))
    assert [(s, their_epoch[s]) for s, _ in ours("epoch")] == ours("epoch") == [(3, 0.0), (7, 1.0), (11, 2.0)]
