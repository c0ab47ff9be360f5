"""A tiny seeded PyTorch training shared by the training tests (and their subprocesses)."""

from __future__ import annotations

import random

import numpy as np
import torch


class Crash(Exception):
    """Raised on purpose to interrupt a training."""


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build(seed: int = 0):
    """Data, a small MLP with dropout (uses the RNG), SGD with momentum and a step scheduler."""
    seed_all(seed)
    gen = torch.Generator().manual_seed(1234)  # the data does not depend on the seed
    X = torch.randn(96, 6, generator=gen)
    y = (X[:, 0] + X[:, 1] > 0).long()
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16, shuffle=True)
    return X, y, net, opt, sched, loader


def accuracy(net, X, y) -> float:
    net.eval()
    with torch.no_grad():
        acc = (net(X).argmax(1) == y).float().mean().item()
    net.train()
    return acc


def run_epochs(tr, X, y, net, opt, sched, loader, epochs: int, crash_after: int | None = None) -> None:
    """The user's loop: resumes at ``tr.start_epoch``; raises Crash after ``crash_after`` epochs."""
    for _ in range(tr.start_epoch, epochs):
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tr.step(loss=loss.item(), samples=len(xb))
        sched.step()
        tr.epoch(val_acc=accuracy(net, X, y))
        if crash_after is not None and tr.epochs_done == crash_after:
            raise Crash(f"crash after epoch {crash_after}")
