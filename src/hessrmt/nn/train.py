"""Training with the SGD set-up of Baskerville, Granziol & Keating (code ``GadamX/run_sgd.py``).

Defaults: SGD, lr 0.003, momentum 0.9, weight decay 5e-4, batch 128. Schedule with
t = epoch / epochs: lr for t <= 0.5, linear decay to 0.01 lr at t = 0.9, constant afterwards.
Shuffling is seeded with a private ``torch.Generator``; the global RNG is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hessrmt.data.datasets import Dataset
from hessrmt.errors import InputError
from hessrmt.nn.data import to_tensors
from hessrmt.nn.losses import make_loss
from hessrmt.results import Metadata, Result


def paper_schedule(epoch: int, epochs: int, lr: float) -> float:
    """Learning rate of epoch ``epoch`` (0-based) under the paper's schedule."""
    t = epoch / max(epochs, 1)
    if t <= 0.5:
        factor = 1.0
    elif t <= 0.9:
        factor = 1.0 - 0.99 * (t - 0.5) / 0.4
    else:
        factor = 0.01
    return lr * factor


@dataclass(frozen=True)
class TrainHistory(Result):
    """Per-epoch training loss, train/test accuracy (NaN for regression) and learning rate."""

    loss: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray
    lr: np.ndarray
    settings: dict[str, object] = field(default_factory=dict)
    meta: Metadata = field(default_factory=Metadata)


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Classification accuracy of ``model`` (evaluated in eval mode)."""
    was = model.training
    model.eval()
    acc = float((model(X).argmax(dim=1) == y).double().mean()) if X.shape[0] else float("nan")
    model.train(was)
    return acc


def train(
    model: nn.Module,
    dataset: Dataset,
    *,
    epochs: int,
    lr: float = 0.003,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    batch_size: int = 128,
    seed: int = 0,
    loss: str = "cross-entropy",
    progress: bool = False,
) -> TrainHistory:
    """Train ``model`` in place on the train split; returns the per-epoch history."""
    if epochs < 0:
        raise InputError(f"epochs must be >= 0, got {epochs}")
    if dataset.task == "regression" and loss == "cross-entropy":
        raise InputError(f"{dataset.name} is a regression data set; use --loss mse")
    p0 = next(model.parameters())
    X, y = to_tensors(dataset, split="train", dtype=p0.dtype, device=p0.device)
    Xte, yte = to_tensors(dataset, split="test", dtype=p0.dtype, device=p0.device)
    loss_fn = make_loss(loss)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    losses, tr_acc, te_acc, lrs = [], [], [], []
    epochs_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs_iter = tqdm(epochs_iter, desc="training", unit="epoch", leave=False)
    model.train()
    for epoch in epochs_iter:
        rate = paper_schedule(epoch, epochs, lr)
        for group in opt.param_groups:
            group["lr"] = rate
        perm = torch.randperm(X.shape[0], generator=gen).to(X.device)
        total, count = 0.0, 0
        for start in range(0, X.shape[0], batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            value = loss_fn(model(X[idx]), y[idx])
            if not torch.isfinite(value):
                raise InputError(
                    f"training diverged at epoch {epoch} (loss {float(value.detach())}); "
                    "lower the learning rate"
                )
            value.backward()
            opt.step()
            total += float(value.detach()) * idx.numel()
            count += idx.numel()
        losses.append(total / count)
        lrs.append(rate)
        if dataset.task == "classification":
            tr_acc.append(accuracy(model, X, y))
            te_acc.append(accuracy(model, Xte, yte))
        else:
            tr_acc.append(float("nan"))
            te_acc.append(float("nan"))
    model.eval()
    settings = {
        "optimizer": "SGD",
        "lr": lr,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "batch_size": batch_size,
        "epochs": epochs,
        "loss": loss,
        "schedule": "paper (constant to t=0.5, linear to 0.01x at t=0.9)",
    }
    return TrainHistory(
        loss=np.asarray(losses, dtype=np.float64),
        train_accuracy=np.asarray(tr_acc),
        test_accuracy=np.asarray(te_acc),
        lr=np.asarray(lrs),
        settings=settings,
        meta=Metadata.create(seed=seed, dtype=str(p0.dtype).replace("torch.", "")),
    )
