"""Exact float64 Hessian spectra of small CNNs with BatchNorm on the bundled digits, or on
CIFAR-10 from local files (issue 13, item 3, reduced): Granziol's set-up
(``docs/reference/papers.md`` §3) has BatchNorm in train mode and the Hessian of the loss over
the whole training set in batches of 128; here the same, with the dense Hessian (every product
exact), and his 100-step single-probe Lanczos compared with it (:mod:`.lanczos_compare`).

Loss: mean cross-entropy per batch, batches weighted by size (the full-training-set mean);
BatchNorm mode "train" (batch statistics of each batch of 128, running statistics untouched).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hessrmt.curvature.dense import dense_matrix
from hessrmt.curvature.operators import HessianOperator
from hessrmt.data.datasets import load_dataset
from hessrmt.nn.architectures import batchnorm_mode, build_architecture
from hessrmt.nn.data import to_batches
from hessrmt.nn.train import train

__all__ = ["cnn_hessian_spectrum"]


def cnn_hessian_spectrum(
    name: str,
    *,
    width: int,
    n_samples: int,
    epochs: int,
    seed: int = 0,
    batch_size: int = 128,
    mode: str = "train",
    lanczos: dict[str, int] | None = None,
    dataset: str = "digits",
    root: str | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """(eigenvalues, metadata) of the exact Hessian of ``name`` after ``epochs`` of training.

    ``lanczos`` (keyword arguments of :func:`.lanczos_compare.lanczos_comparison`): also compare
    Granziol's single-probe Lanczos density and multi-probe SLQ with the exact spectrum
    (metadata key ``"lanczos"``). ``dataset``/``root``: the bundled ``digits`` (8 x 8) or
    ``cifar10`` / ``cifar100`` read from the local files under ``root``
    (:func:`hessrmt.data.datasets.load_dataset`; 3 x 32 x 32, pixels / 255; the output layer has
    the data set's number of classes)."""
    data = load_dataset(dataset, root=root, seed=seed, n_samples=n_samples)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_architecture(name, data.input_shape, data.n_outputs, width=width).double()
    hist = train(model, data, epochs=epochs, lr=0.05, batch_size=32, seed=seed)
    batches = to_batches(data, batch_size)
    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), batches, mode=mode)
    hess = dense_matrix(op)
    eigs = np.linalg.eigvalsh(hess.numpy())
    meta = {
        "architecture": name,
        "dataset": dataset,
        "width": width,
        "n_params": int(hess.shape[0]),
        "n_train": len(data.split("train")[1]),
        "epochs": epochs,
        "final_train_loss": float(hist.loss[-1]) if len(hist.loss) else None,
        "test_accuracy": float(hist.test_accuracy[-1]) if len(hist.test_accuracy) else None,
        "hessian_batches": len(batches),
        **batchnorm_mode(model, mode),
    }
    if lanczos is not None:
        from .lanczos_compare import lanczos_comparison

        meta["lanczos"] = lanczos_comparison(hess, eigs, seed=seed, **lanczos)
    return eigs, meta
