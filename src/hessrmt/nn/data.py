"""Turn a :class:`hessrmt.data.Dataset` into lists of torch ``(inputs, targets)`` batches."""

from __future__ import annotations

import torch

from hessrmt.data.datasets import Dataset
from hessrmt.errors import InputError


def to_tensors(
    dataset: Dataset,
    *,
    split: str = "train",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs as ``dtype``; targets int64 (classification) or ``(n, 1)`` ``dtype`` (regression)."""
    X, y = dataset.split(split)
    xt = torch.as_tensor(X, dtype=dtype, device=device)
    if dataset.task == "classification":
        yt = torch.as_tensor(y, dtype=torch.int64, device=device)
    else:
        yt = torch.as_tensor(y, dtype=dtype, device=device).reshape(-1, 1)
    return xt, yt


def to_batches(
    dataset: Dataset,
    batch_size: int,
    *,
    split: str = "train",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
    max_batches: int | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Split ``split`` into consecutive batches of ``batch_size`` (the last may be smaller unless
    ``drop_last``); with ``shuffle`` the order is a permutation seeded by ``seed``."""
    if batch_size <= 0:
        raise InputError(f"batch_size must be positive, got {batch_size}")
    xt, yt = to_tensors(dataset, split=split, dtype=dtype, device=device)
    n = xt.shape[0]
    if n == 0:
        raise InputError(f"the {split} split of {dataset.name} is empty")
    if shuffle:
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(n, generator=g).to(xt.device)
        xt, yt = xt[idx], yt[idx]
    out = []
    for start in range(0, n, batch_size):
        if drop_last and start + batch_size > n:
            break
        out.append((xt[start : start + batch_size], yt[start : start + batch_size]))
        if max_batches is not None and len(out) >= max_batches:
            break
    return out
