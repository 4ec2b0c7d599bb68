"""Gauss quadrature rules of a symmetric operator from Lanczos (the "quadrature" half of SLQ).

``m`` Lanczos steps from a unit vector ``q`` give a tridiagonal ``T_m`` with eigenvalues
``theta_k`` (nodes) and eigenvectors ``s_k``; with weights ``w_k = (e_1^T s_k)^2`` (squared first
components, summing to 1) the rule ``sum_k w_k f(theta_k)`` equals ``q^T f(A) q`` exactly for
polynomials ``f`` of degree < 2m (Golub & Meurant, "Matrices, Moments and Quadrature", 2010,
ch. 6).

All probes advance together through :func:`~hessrmt.curvature.krylov.recurrence.lanczos_extend`
(one ``op.matmat`` per step over the probes still active), in float64 whatever the operator's
dtype, with or without full reorthogonalisation of each probe's vectors against its own basis.
A probe whose ``beta_j`` falls below ``breakdown_rtol * ||A q||_max`` (an invariant subspace)
stops early; its unused nodes repeat the last node with weight 0. Each tridiagonal is
diagonalised by ``scipy.linalg.eigh_tridiagonal``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from hessrmt.curvature.krylov.recurrence import lanczos_extend, start_state
from hessrmt.curvature.linop import CurvatureOperator

#: beta_j <= BREAKDOWN_RTOL * ||A q||_max ends a probe's recurrence (nodes beyond would carry
#: weight O(beta^2) and moments change by O(beta)); raised to 10 eps for low-precision operators.
BREAKDOWN_RTOL = 1e-10


@dataclass(frozen=True)
class QuadratureRules:
    """Per-probe Gauss quadrature rules.

    Attributes:
        nodes: (p, m) Ritz values of each probe's tridiagonal (padded with the last node).
        weights: (p, m) squared first components (rows sum to 1; padded entries are 0).
        alphas: (p, m) tridiagonal diagonals (0 where padded).
        betas: (p, m - 1) tridiagonal off-diagonals (0 where padded).
        num_steps_used: (p,) Lanczos steps per probe (< m after a breakdown).
    """

    nodes: np.ndarray
    weights: np.ndarray
    alphas: np.ndarray
    betas: np.ndarray
    num_steps_used: np.ndarray


def tridiagonal_rules(
    alphas: np.ndarray, betas: np.ndarray, used: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (each (p, m)) of the tridiagonals ``(alphas[i, :L], betas[i, :L-1])``
    with ``L = used[i]``; entries beyond ``L`` get the last node and weight 0."""
    p, m = alphas.shape
    nodes = np.zeros((p, m))
    weights = np.zeros((p, m))
    for i in range(p):
        L = int(used[i])
        d = alphas[i, :L]
        e = betas[i, : L - 1]
        if L == 1:
            theta, S = d.copy(), np.ones((1, 1))
        else:
            theta, S = scipy.linalg.eigh_tridiagonal(d, e)
        nodes[i, :L] = theta
        nodes[i, L:] = theta[-1]
        weights[i, :L] = S[0, :] ** 2
    return nodes, weights


def lanczos_quadrature(
    op: CurvatureOperator, Q0: torch.Tensor, num_steps: int, *, reorth: bool
) -> QuadratureRules:
    """Gauss quadrature rules of ``op`` for each unit column of ``Q0`` ((P, p), float64).

    ``num_steps`` (<= P) Lanczos steps per probe; ``reorth``: full CGS2 reorthogonalisation of
    each probe's vectors against its own basis (memory ``p * num_steps * P`` float64).
    """
    m = int(num_steps)
    eps_op = float(torch.finfo(op.dtype).eps)
    state = start_state(Q0.T.contiguous()[:, None, :], m, reorth=reorth)
    lanczos_extend(op, state, m, breakdown_rtol=max(BREAKDOWN_RTOL, 10.0 * eps_op))
    used = state.used.copy()
    alphas = state.alphas.copy()
    betas = state.betas[:, : max(m - 1, 0)].copy()
    for i in range(alphas.shape[0]):
        L = int(used[i])
        alphas[i, L:] = 0.0
        betas[i, max(L - 1, 0) :] = 0.0
    nodes, weights = tridiagonal_rules(alphas, betas, used)
    return QuadratureRules(nodes, weights, alphas, betas, used)
