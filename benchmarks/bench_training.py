"""Training capture overhead: step throughput with and without ``aieng.training``, side by side.

    python benchmarks/bench_training.py [--quick] [--model tiny] [--device cuda]

Targets (issue 12):
  capture overhead on the step           < 2% of step throughput on CPU (small MLP), < 1% on a GPU
  100k steps with the live monitor open  within the same budget (redraws off the training thread)

Method: baseline and captured blocks of the same loop alternate (B C B C ...), so load drift on a
shared machine hits both; the figure is the ratio of the medians of the block times. Capture runs
with telemetry on (sampled every second, stricter than MLflow's 10 s default), metrics through the
run's buffer and its background flusher into the workspace's SQLite store.
``--device cuda`` runs the GPU variant: a small CNN on random images (needs an NVIDIA GPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def make_mlp(device: str, tiny: bool = False):
    """The small MLP: MNIST-sized (784-256-10, batch 128), or ``tiny`` (32-128-10, batch 64)."""
    import torch

    torch.manual_seed(0)
    d_in, hidden, batch = (32, 128, 64) if tiny else (784, 256, 128)
    model = torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)).to(device)
    x = torch.randn(batch, d_in, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    return model, x, y


def make_cnn(device: str):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(64 * 16, 10),
    ).to(device)
    x = torch.randn(128, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (128,), device=device)
    return model, x, y


def loop(model, opt, x, y, steps: int, tr=None) -> float:
    """Seconds for ``steps`` training steps (loss.item() each step in both variants, as users do)."""
    import torch

    f = torch.nn.functional.cross_entropy
    n = len(x)
    started = time.perf_counter()
    if tr is None:
        for _ in range(steps):
            loss = f(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
    else:
        for _ in range(steps):
            loss = f(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tr.step(loss=loss.item(), samples=n)
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - started


def side_by_side(model, opt, x, y, blocks: int, block_steps: int, monitor: bool) -> dict[str, float]:
    import aieng_nb as aieng

    loop(model, opt, x, y, block_steps)  # warm-up
    base, captured = [], []
    with aieng.training(model, opt, name="bench", log_model=False, telemetry_interval=1.0, live=False) as tr:
        view = None
        if monitor:
            from aieng_nb.widgets.training_monitor import RunMonitor, SessionSource

            view = RunMonitor(SessionSource(tr), show=False).start()  # the live widget's model and redraw thread
        loop(model, opt, x, y, block_steps, tr)
        for _ in range(blocks):
            base.append(loop(model, opt, x, y, block_steps))
            captured.append(loop(model, opt, x, y, block_steps, tr))
        if view is not None:
            view.close()
            redraws = view.updates
    b, c = statistics.median(base), statistics.median(captured)
    out = {
        "steps_per_s_base": block_steps / b,
        "steps_per_s_capture": block_steps / c,
        "overhead_pct": (c / b - 1) * 100,
        "captured_steps": tr.global_step,
    }
    if monitor:
        out["redraws"] = redraws
    return out


def step_call_cost(calls: int = 200_000) -> float:
    """Seconds per ``tr.step(loss=..., samples=...)`` call in this thread, flusher included (no model)."""
    import aieng_nb as aieng

    with aieng.training(name="bench-calls", log_model=False, telemetry=False, live=False) as tr:
        started = time.perf_counter()
        for _ in range(calls):
            tr.step(loss=0.5, samples=64)
        elapsed = time.perf_counter() - started
    return elapsed / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--model", default="mlp", choices=["mlp", "tiny"], help="CPU model: MNIST-sized MLP or a tiny one"
    )
    args = parser.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda needs an NVIDIA GPU")
    tmp = tempfile.mkdtemp(prefix="aieng-bench-training-")
    os.environ["AIENG_WORKSPACE"] = os.path.join(tmp, ".aieng")
    torch.set_num_threads(1)  # a steady baseline on a shared machine
    print(f"load average at start: {os.getloadavg()[0]:.1f}; torch {torch.__version__}; device {args.device}")
    budget = 2.0 if args.device == "cpu" else 1.0
    results = []

    def report(label: str, r: dict[str, float]) -> None:
        extra = f", {r['redraws']} redraws" if "redraws" in r else ""
        print(
            f"{label} ({r['captured_steps']:,} captured steps{extra}): {r['steps_per_s_base']:,.0f} vs "
            f"{r['steps_per_s_capture']:,.0f} steps/s -> {r['overhead_pct']:+.2f}%"
        )
        results.append(r["overhead_pct"])
        per_call = step_call_cost(50_000 if args.quick else 200_000)
        step_s = 1 / r["steps_per_s_base"]
        print(
            f"  tr.step() itself: {per_call * 1e6:.2f} us a call = {per_call / step_s * 100:.2f}% of this model's step"
        )

    if args.device == "cuda":
        model, x, y = make_cnn("cuda")
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        blocks, steps = (4, 200) if args.quick else (20, 1000)
        report("capture overhead, small CNN on cuda", side_by_side(model, opt, x, y, blocks, steps, monitor=False))
        report(
            "with the live monitor open, small CNN on cuda", side_by_side(model, opt, x, y, blocks, steps, monitor=True)
        )
    else:
        sizes = {"mlp": (4, 200) if args.quick else (12, 500), "tiny": (4, 1000) if args.quick else (20, 2500)}
        models = ["tiny"] if args.model == "tiny" else ["mlp", "tiny"]
        for name in models:
            model, x, y = make_mlp("cpu", tiny=name == "tiny")
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
            blocks, steps = sizes[name]
            label = "MNIST-sized MLP 784-256-10, batch 128" if name == "mlp" else "tiny MLP 32-128-10, batch 64"
            report(f"capture overhead, {label}", side_by_side(model, opt, x, y, blocks, steps, monitor=False))
        # the 100k-step loop with the monitor open (the tiny MLP: the most steps per second)
        model, x, y = make_mlp("cpu", tiny=True)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        blocks, steps = (4, 1000) if args.quick else (40, 2500)
        report("live monitor open, tiny MLP", side_by_side(model, opt, x, y, blocks, steps, monitor=True))
    worst = max(results)
    print(f"target < {budget:.0f}%: {'met' if worst < budget else 'NOT met'} (worst {worst:+.2f}%)")


if __name__ == "__main__":
    main()
