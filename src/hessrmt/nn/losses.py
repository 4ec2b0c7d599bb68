"""Losses by name, with the reduction explicit (it changes the Hessian by the factor N)."""

from __future__ import annotations

from torch import nn

from hessrmt.errors import InputError

LOSSES = ("cross-entropy", "mse")


def make_loss(name: str, reduction: str = "mean") -> nn.Module:
    """``"cross-entropy"`` (``nn.CrossEntropyLoss``) or ``"mse"`` (``nn.MSELoss``: mean of squared
    errors over samples *and* outputs with ``reduction="mean"``), with ``reduction`` ``"mean"``
    or ``"sum"``."""
    if reduction not in ("mean", "sum"):
        raise InputError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if name in ("cross-entropy", "ce", "crossentropy"):
        return nn.CrossEntropyLoss(reduction=reduction)
    if name in ("mse", "squared"):
        return nn.MSELoss(reduction=reduction)
    raise InputError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


def default_loss_for(task: str) -> str:
    """Cross-entropy for classification, mean squared error for regression."""
    return "cross-entropy" if task == "classification" else "mse"
