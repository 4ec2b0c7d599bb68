"""Zero fraction of exact float64 Hessians and Gauss-Newton matrices of one-hidden-layer ReLU MLPs
against the rank bounds their architecture implies (issue 13, item 4).

Model: f(x) = W2 relu(W1 x + b1) + b2, x in R^d, h hidden units, C classes; loss L = (1/b)
sum_i CE(softmax f(x_i), y_i) (mean over the b samples); P = h(d + 1) + C(h + 1) parameters.

Derived bounds (the derivation, not a paper's statement):

* Gauss-Newton G = (1/b) sum_i J_i^T Lambda_i J_i with J_i = df(x_i)/dtheta (C x P) and
  Lambda_i = diag(p_i) - p_i p_i^T of rank C - 1 (Lambda_i 1 = 0). Hence rank G <= b (C - 1).
  Also G v = 0 for the h ReLU rescalings ((w1_j, b1_j) -> a (w1_j, b1_j), w2_j -> w2_j / a leaves
  f unchanged, so J_i v = 0) and for the h + 1 softmax shifts b2 -> b2 + t 1 and
  W2[:, j] -> W2[:, j] + t 1 (they add a class-independent constant to the logits, so
  Lambda_i J_i v = 0): rank G <= min(b (C - 1), P - 2h - 1). Each hidden unit inactive on all
  samples removes its d + 1 + C parameters (its rescaling and column shift among them). (A first
  version counted only the b2 shift; the exact float64 ranks showed the h column shifts.)
* Hessian H = G + (1/b) sum_{i,c} r_ic d^2 f_c(x_i), r_i = p_i - y_i (sum_c r_ic = 0). For ReLU,
  d^2 f_c is non-zero only in the (w1_j, b1_j) x W2[c, j] cross blocks, equal to
  relu'(z_ij) [x_i; 1]. So the residual term is [[0, B], [B^T, 0]] with B block-diagonal over j,
  B_j = (1/b) sum_i relu'(z_ij) [x_i; 1] r_i^T of rank <= min(d + 1, C - 1, b), and
  rank H <= min(P, rank-bound(G) + 2 h min(d + 1, C - 1, b)).

The measured zero fraction uses float64 ``eigvalsh`` and the threshold 1e-9 max(1, max|l|)
(:func:`hessrmt.rmt.goodness.zero_fraction`). The product-ensemble prediction for G is the
Wishart-product atom 1 - b (C - 1) / P (G = A^T A with A of size b(C - 1) x P), printed next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hessrmt.errors import InputError
from hessrmt.rmt.goodness import zero_fraction

__all__ = ["MLPCase", "gauss_newton_and_hessian", "network_atom_row", "rank_bounds"]


@dataclass(frozen=True)
class MLPCase:
    """d inputs, h hidden ReLU units, C classes, b samples (Gaussian inputs, random labels)."""

    d: int
    h: int
    classes: int
    samples: int
    seed: int = 0

    @property
    def n_params(self) -> int:
        return self.h * (self.d + 1) + self.classes * (self.h + 1)


def _unpack(theta: torch.Tensor, case: MLPCase) -> tuple[torch.Tensor, ...]:
    d, h, c = case.d, case.h, case.classes
    i = 0
    w1 = theta[i : i + h * d].reshape(h, d)
    i += h * d
    b1 = theta[i : i + h]
    i += h
    w2 = theta[i : i + c * h].reshape(c, h)
    i += c * h
    b2 = theta[i : i + c]
    return w1, b1, w2, b2


def _problem(case: MLPCase) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    for name in ("d", "h", "classes", "samples"):
        if getattr(case, name) < 1:
            raise InputError(f"MLPCase.{name} must be positive, got {getattr(case, name)}")
    if case.classes < 2:
        raise InputError("cross-entropy needs at least 2 classes")
    g = torch.Generator().manual_seed(case.seed)
    x = torch.randn(case.samples, case.d, generator=g, dtype=torch.float64)
    y = torch.randint(0, case.classes, (case.samples,), generator=g)
    theta = torch.randn(case.n_params, generator=g, dtype=torch.float64)
    # He-style scaling per layer
    w1, b1, w2, b2 = _unpack(theta, case)
    w1.mul_((2.0 / case.d) ** 0.5)
    b1.mul_(0.1)
    w2.mul_((1.0 / case.h) ** 0.5)
    b2.mul_(0.1)
    return x, y, theta


def gauss_newton_and_hessian(case: MLPCase) -> dict[str, Any]:
    """Exact float64 G and H (torch.func) and the number of dead hidden units."""
    x, y, theta = _problem(case)

    def logits(t: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2 = _unpack(t, case)
        return torch.relu(x @ w1.T + b1) @ w2.T + b2

    def loss(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits(t), y)

    hess = torch.func.hessian(loss)(theta)
    jac = torch.func.jacrev(logits)(theta)  # (b, C, P)
    p = torch.softmax(logits(theta), dim=1)
    lam = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    gn = torch.einsum("bcp,bcd,bdq->pq", jac, lam, jac) / case.samples
    w1, b1, _, _ = _unpack(theta, case)
    active = (x @ w1.T + b1) > 0
    dead = int((~active.any(dim=0)).sum())
    return {
        "hessian": hess.detach().numpy(),
        "gauss_newton": gn.detach().numpy(),
        "dead_units": dead,
    }


def rank_bounds(case: MLPCase, dead_units: int = 0) -> dict[str, int]:
    """The module docstring's bounds on rank G and rank H."""
    d, h, c, b = case.d, case.h, case.classes, case.samples
    p = case.n_params
    alive = h - dead_units
    p_eff = p - dead_units * (d + 1 + c)
    gn = min(b * (c - 1), p_eff - 2 * alive - 1)
    hess = min(p, gn + 2 * alive * min(d + 1, c - 1, b))
    return {"gauss_newton": max(gn, 0), "hessian": hess}


def network_atom_row(case: MLPCase) -> dict[str, Any]:
    """Measured zero fractions of H and G against the bounds and the product-ensemble atom."""
    mats = gauss_newton_and_hessian(case)
    p = case.n_params
    bounds = rank_bounds(case, mats["dead_units"])
    zh = zero_fraction(np.linalg.eigvalsh(mats["hessian"]))
    zg = zero_fraction(np.linalg.eigvalsh(mats["gauss_newton"]))
    return {
        "d": case.d,
        "h": case.h,
        "classes": case.classes,
        "samples": case.samples,
        "n_params": p,
        "dead_units": mats["dead_units"],
        "hessian_zero_fraction": zh,
        "hessian_bound": 1.0 - bounds["hessian"] / p,
        "gauss_newton_zero_fraction": zg,
        "gauss_newton_bound": 1.0 - bounds["gauss_newton"] / p,
        "product_ensemble_atom": max(0.0, 1.0 - case.samples * (case.classes - 1) / p),
    }
