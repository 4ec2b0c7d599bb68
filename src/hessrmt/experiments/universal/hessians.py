"""Exact float64 Hessians of a trained network: the full-data Hessian A and batch Hessians H_b.

A network is built from a :class:`~.networks.NetworkSpec` (``mlp:H``: d -> H -> C with ReLU, or a
zoo name), trained with the project's SGD (``hessrmt.nn.train``, seeded), then:
A = Hessian of the mean cross-entropy over the training split (float64, eval mode), and for each
batch size b, ``n_batches`` batches of b training samples drawn without replacement (numpy
Generator seeded by ``seed``), H_b = Hessian of the mean loss over the batch. All matrices are
dense (``hessrmt.curvature.dense_matrix``), so P must be small (a few thousand).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hessrmt.errors import InputError

from .networks import NetworkSpec


def build_network(
    spec: NetworkSpec, seed: int, root: str | None = None
) -> tuple[torch.nn.Module, Any]:
    """Model (float64) and data set of ``spec`` (``root``: folder of local data files)."""
    from hessrmt.data import load_dataset
    from hessrmt.nn.zoo import build_model

    data = load_dataset(spec.dataset, root=root, seed=seed, n_samples=spec.n_samples)
    if data.task != "classification":
        raise InputError(f"{spec.dataset} is not a classification data set")
    if spec.model.startswith("mlp:"):
        hidden = int(spec.model.split(":", 1)[1])
        d = int(np.prod(data.input_shape))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = torch.nn.Sequential(
                torch.nn.Flatten(),
                torch.nn.Linear(d, hidden),
                torch.nn.ReLU(),
                torch.nn.Linear(hidden, data.n_outputs),
            ).to(torch.float64)
    else:
        model = build_model(
            spec.model, input_shape=data.input_shape, n_outputs=data.n_outputs, seed=seed
        )
    return model, data


def _dense_hessian(model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]):
    from hessrmt.curvature import HessianOperator, dense_matrix

    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), batches, dtype=torch.float64)
    M = dense_matrix(op)
    return np.asarray(M.detach().cpu().numpy(), dtype=np.float64)


def trained_network(
    spec: NetworkSpec,
    batch_sizes: Sequence[int],
    *,
    seed: int,
    progress: bool,
    root: str | None = None,
) -> tuple[torch.nn.Module, Any, Any, torch.Tensor, torch.Tensor, list]:
    """Build and train ``spec``'s network; return model, data, history, the training inputs
    and labels (float64), and the training split in chunks of 512 (the full-data batches)."""
    from hessrmt.nn.data import to_tensors
    from hessrmt.nn.train import train

    model, data = build_network(spec, seed, root)
    hist = train(model, data, epochs=spec.epochs, lr=spec.lr, seed=seed, progress=progress)
    X, y = to_tensors(data, split="train", dtype=torch.float64)
    n = X.shape[0]
    bad = [b for b in batch_sizes if not 2 <= b < n]
    if bad:
        raise InputError(f"batch sizes must lie in [2, {n - 1}] (training samples {n}): {bad}")
    full = [(X[i : i + 512], y[i : i + 512]) for i in range(0, n, 512)]
    return model, data, hist, X, y, full


def network_hessians(
    spec: NetworkSpec,
    batch_sizes: Sequence[int],
    n_batches: int,
    *,
    seed: int = 0,
    progress: bool = False,
    root: str | None = None,
) -> dict[str, Any]:
    """Train the network of ``spec`` and return A's eigenpairs, the batch Hessians and metadata."""
    model, data, hist, X, y, full = trained_network(
        spec, batch_sizes, seed=seed, progress=progress, root=root
    )
    n = X.shape[0]
    A = _dense_hessian(model, full)
    A_eigs, A_vecs = np.linalg.eigh(A)
    gen = np.random.default_rng(seed)
    batches: dict[int, list[np.ndarray]] = {}
    steps = [(b, j) for b in batch_sizes for j in range(n_batches)]
    it: Any = steps
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(steps, desc=f"{spec.key}: batch Hessians", leave=False)
    for b, _ in it:
        idx = torch.as_tensor(gen.choice(n, size=b, replace=False))
        batches.setdefault(int(b), []).append(_dense_hessian(model, [(X[idx], y[idx])]))
    return {
        "A_eigs": A_eigs,
        "A_vecs": A_vecs,
        "batches": batches,
        "n_train": int(n),
        "n_classes": int(data.n_outputs),
        "train_loss": float(hist.loss[-1]) if len(hist.loss) else None,
        "train_accuracy": float(hist.train_accuracy[-1]) if len(hist.loss) else None,
        "dataset": data.describe() if hasattr(data, "describe") else spec.dataset,
    }
