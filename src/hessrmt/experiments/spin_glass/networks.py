"""Choromanska-style experiment extended to activations: many trainings of small deep MLPs.

Set-up (Choromanska et al., AISTATS 2015, ``docs/reference/papers.md`` §8, adapted to bundled
data): scikit-learn's digits (bundled, offline), images average-pooled 8x8 -> 4x4 (16 inputs,
as Choromanska down-sampled MNIST), standardised, a fixed subset of ``n_samples`` training
images; an MLP 16 -> w -> w -> 10 (two hidden layers) with the activation under test, trained
full-batch with Adam on the **mean** cross-entropy from ``runs`` random initialisations
(PyTorch default init, seeded). For each run: the final training loss, the gradient norm, and
the index (fraction and count of negative eigenvalues) of the exact float64 Hessian of the
training loss at the end point (torch.func.hessian of the flattened parameters). Piecewise-linear
activations ``pwl-NAME-L`` are the L-piece interpolants of :mod:`hessrmt.rmt.complexity.activations`
(f(z) = s_0 z + c_0 + sum_j (s_j - s_{j-1}) relu(z - t_j)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from hessrmt.errors import InputError
from hessrmt.rmt.complexity.activations import piecewise_linear

__all__ = ["TrainingRuns", "activation_fn", "digits_4x4", "train_runs"]


def activation_fn(spec: str):
    """A torch function for ``relu``, ``leaky_relu``, ``tanh``, ``gelu``, ``sigmoid`` or
    ``pwl-NAME-L`` (L-piece interpolant of NAME)."""
    simple = {
        "relu": torch.relu,
        "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
        "tanh": torch.tanh,
        "gelu": torch.nn.functional.gelu,
        "sigmoid": torch.sigmoid,
    }
    if spec in simple:
        return simple[spec]
    parts = spec.split("-")
    if len(parts) == 3 and parts[0] == "pwl" and parts[2].isdigit():
        knots, slopes, intercepts = piecewise_linear(parts[1], int(parts[2]))
        t = torch.tensor(knots, dtype=torch.float64)
        ds = torch.tensor(np.diff(slopes), dtype=torch.float64)
        s0, c0 = float(slopes[0]), float(intercepts[0])

        def pwl(z: torch.Tensor) -> torch.Tensor:
            hinge = torch.relu(z[..., None] - t.to(z.dtype))
            return s0 * z + c0 + (hinge * ds.to(z.dtype)).sum(-1)

        return pwl
    raise InputError(
        f"unknown activation {spec!r}; use relu, leaky_relu, tanh, gelu, sigmoid or pwl-NAME-L"
    )


def digits_4x4(n_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, y): ``n_samples`` digits images pooled to 4x4, standardised, float64 (fixed by seed)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.images.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    if not 10 <= n_samples <= x.shape[0]:
        raise InputError(f"n_samples must be in [10, {x.shape[0]}], got {n_samples}")
    idx = np.random.default_rng(seed).permutation(x.shape[0])[:n_samples]
    x = x[idx]
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    return torch.tensor(x, dtype=torch.float64), torch.tensor(data.target[idx], dtype=torch.long)


@dataclass(frozen=True)
class TrainingRuns:
    activation: str
    width: int
    n_params: int
    loss: np.ndarray
    grad_norm: np.ndarray
    index: np.ndarray
    index_fraction: np.ndarray


def _shapes(width: int) -> list[tuple[int, ...]]:
    return [(width, 16), (width,), (width, width), (width,), (10, width), (10,)]


def train_runs(
    activation: str,
    width: int,
    runs: int,
    *,
    seed: int,
    n_samples: int = 200,
    steps: int = 400,
    lr: float = 0.01,
    index_rtol: float = 1e-9,
) -> TrainingRuns:
    """``runs`` trainings (seeds seed, seed + 1, ...) and the exact Hessian index of each end.

    The runs are trained together as one stacked parameter tensor (``batched_loss``): the same
    initialisations and the same per-run Adam trajectories as separate trainings (checked in
    tests/experiments/test_spin_glass_networks.py), without ``runs`` Python loops."""
    if width < 1 or runs < 1:
        raise InputError(f"width and runs must be >= 1, got {width}, {runs}")
    act = activation_fn(activation)
    x, y = digits_4x4(n_samples, seed=12345)  # the data subset is fixed across runs
    shapes = _shapes(width)
    sizes = [math.prod(s) for s in shapes]

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2, w3, b3 = (
            t.reshape(s) for t, s in zip(torch.split(flat, sizes), shapes, strict=True)
        )
        h = act(x @ w1.T + b1)
        h = act(h @ w2.T + b2)
        return torch.nn.functional.cross_entropy(h @ w3.T + b3, y)

    def batched_loss(flat: torch.Tensor) -> torch.Tensor:
        """Sum over runs of each run's mean cross-entropy; flat is (runs, P). The runs do not
        interact, so the gradient of row r is that of run r alone, and Adam (elementwise) on the
        stacked tensor is Adam on each run: one batched training replaces ``runs`` loops."""
        w1, b1, w2, b2, w3, b3 = (
            t.reshape(flat.shape[0], *s)
            for t, s in zip(torch.split(flat, sizes, dim=1), shapes, strict=True)
        )
        h = act(torch.einsum("sd,rwd->rsw", x, w1) + b1[:, None, :])
        h = act(torch.bmm(h, w2.transpose(1, 2)) + b2[:, None, :])
        logits = torch.bmm(h, w3.transpose(1, 2)) + b3[:, None, :]
        ce = torch.nn.functional.cross_entropy(
            logits.reshape(-1, 10), y.repeat(flat.shape[0]), reduction="none"
        )
        return ce.reshape(flat.shape[0], -1).mean(dim=1).sum()

    inits = []
    for r in range(runs):
        gen = torch.Generator().manual_seed(seed + r)
        parts = []
        for s in shapes:  # PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            bound = 1.0 / math.sqrt(s[1] if len(s) == 2 else (16 if s[0] == width else width))
            parts.append((torch.rand(s, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
        inits.append(torch.cat([p.reshape(-1) for p in parts]))
    flat_all = torch.stack(inits).requires_grad_(True)
    opt = torch.optim.Adam([flat_all], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        batched_loss(flat_all).backward()
        opt.step()
    losses, gnorms, idx, frac = [], [], [], []
    for r in range(runs):
        final = flat_all[r].detach().clone()
        g = torch.func.grad(loss_of)(final)
        hess = torch.func.hessian(loss_of)(final)
        ev = torch.linalg.eigvalsh(hess).numpy()
        tol = index_rtol * max(float(np.abs(ev).max()), 1e-300)
        losses.append(float(loss_of(final)))
        gnorms.append(float(g.norm()))
        idx.append(int(np.sum(ev < -tol)))
        frac.append(idx[-1] / ev.size)
    return TrainingRuns(
        activation, int(width), int(sum(sizes)), np.array(losses), np.array(gnorms),
        np.array(idx), np.array(frac),
    )  # fmt: skip
