"""Draw docs/training-monitor.png: the live monitor's static image after a real small training.

python docs/make_training_monitor_png.py
"""

from __future__ import annotations

import base64
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    os.environ.setdefault("AIENG_WORKSPACE", os.path.join(tempfile.mkdtemp(), ".aieng"))
    import torch

    import aieng_nb as aieng
    from aieng_nb.widgets.training_monitor import RunMonitor, SessionSource

    torch.manual_seed(0)
    X = torch.randn(4096, 20)
    y = (X[:, :5].sum(1) > 0).long()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(X[:3072], y[:3072]), batch_size=64, shuffle=True
    )
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with aieng.training(
        model, opt, name="mlp-demo", monitor="val_acc", mode="max", log_model=False, telemetry_interval=0.2, live=False
    ) as tr:
        monitor = RunMonitor(SessionSource(tr), refresh=0.2, show=False).start()
        for _ in range(6):
            for xb, yb in loader:
                loss = torch.nn.functional.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                tr.step(loss=loss.item(), samples=len(xb))
                time.sleep(0.002)
            with torch.no_grad():
                tr.epoch(val_acc=(model(X[3072:]).argmax(1) == y[3072:]).float().mean().item())
        monitor.close()
    target = Path(__file__).with_name("training-monitor.png")
    target.write_bytes(base64.b64decode(monitor.static_bundle()["image/png"]))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
