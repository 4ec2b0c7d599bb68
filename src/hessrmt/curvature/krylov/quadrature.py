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

Gauss-Radau rules (:func:`radau_rules`): the ``m + 1``-node rule with one node prescribed at
``x0``, exact for polynomials of degree <= 2m (one degree more than Gauss, from the same ``m``
products: it also uses ``beta_m``, the norm of the last residual, which the recurrence computes
anyway). Its Jacobi matrix is ``T_m`` extended by the off-diagonal ``beta_m`` and the diagonal
entry ``alpha' = x0 + beta_m^2 / d_m``, where ``d_m`` is the last pivot of ``T_m - x0 I``
(``d_1 = alpha_1 - x0``, ``d_k = alpha_k - x0 - beta_{k-1}^2 / d_{k-1}``), i.e.
``alpha' = x0 + delta_m`` with ``(T_m - x0 I) delta = beta_m^2 e_m`` (Golub, "Some modified matrix
eigenvalue problems", SIAM Review 15, 1973; Golub & Meurant 2010, sec. 6.2). The extended
matrix is symmetric tridiagonal, so the weights (squared first components) are non-negative and
sum to 1 wherever ``x0`` lies. With ``x0 = 0`` the rule has a node at exactly 0: on Hessians
whose spectrum is a large near-null mass plus a spread bulk (every network Hessian this library
has met), the Gauss rule's node nearest 0 lands at ``+-`` a fraction of the bulk's width,
depending on the parity of ``m``, and moves most of the mass with it; the Radau rule keeps that
mass at 0 (``docs/slq-estimators.md`` measures the difference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from hessrmt.curvature.krylov.recurrence import lanczos_extend, start_state
from hessrmt.curvature.linop import CurvatureOperator
from hessrmt.errors import InputError

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
        last_betas: (p,) ``beta_L``, the norm of each probe's last residual (``L`` its steps;
            0 after a breakdown), which the Gauss-Radau rule needs.
    """

    nodes: np.ndarray
    weights: np.ndarray
    alphas: np.ndarray
    betas: np.ndarray
    num_steps_used: np.ndarray
    last_betas: np.ndarray


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


def radau_jacobi_entry(alphas: np.ndarray, betas: np.ndarray, last_beta: float, x0: float) -> float:
    """``alpha' = x0 + beta_L^2 / d_L`` (module doc) for the tridiagonal ``(alphas, betas)`` of
    ``L = len(alphas)`` rows; NaN when ``d_L`` is 0 (``x0`` is then a node of the Gauss rule)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d = float(alphas[0]) - x0
        for k in range(1, len(alphas)):
            d = float(alphas[k]) - x0 - float(betas[k - 1]) ** 2 / d
        out = x0 + float(last_beta) ** 2 / d
    return out if np.isfinite(out) else float("nan")


def radau_rules(
    alphas: np.ndarray,
    betas: np.ndarray,
    last_betas: np.ndarray,
    used: np.ndarray,
    node: float = 0.0,
    snap_rtol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Radau rules with a node prescribed at ``node`` (module doc), each ``(p, m + 1)``.

    Probe ``i`` uses ``alphas[i, :L]``, ``betas[i, :L-1]`` and ``last_betas[i]`` (``L =
    used[i]``); entries beyond ``L + 1`` repeat its last node with weight 0. After a breakdown
    (``last_betas[i] == 0``) the prescribed node decouples and gets weight 0, so the rule is the
    (exact) Gauss rule. The node found nearest ``node`` is set to it exactly (they differ by
    round-off). Where ``node`` is already a node of the Gauss rule (``d_L == 0``) the
    Radau rule is that Gauss rule too (its extra node at infinity has weight 0). In these two
    cases a Gauss node within ``snap_rtol * max|theta|`` of ``node`` (an eigenvalue there, seen
    through the operator's round-off) is set to ``node``, so the mass there is found at it.
    With ``node`` inside the spectrum one other node may lie outside the Gauss nodes' range, with
    a small weight (:mod:`~hessrmt.curvature.krylov.stochastic_quadrature` doc); it is kept.
    """
    x0 = float(node)
    if not np.isfinite(x0):
        raise InputError(f"the Gauss-Radau node must be finite, got {node!r}")
    p, m = alphas.shape
    nodes = np.zeros((p, m + 1))
    weights = np.zeros((p, m + 1))
    for i in range(p):
        L = int(used[i])
        a, b, bl = alphas[i, :L], betas[i, : L - 1], float(last_betas[i])
        extra = radau_jacobi_entry(a, b, bl, x0) if bl > 0 else float("nan")
        if np.isnan(extra):  # the Gauss rule, plus the prescribed node with weight 0
            g_nodes, g_weights = tridiagonal_rules(a[None], b[None], np.array([L]))
            theta, w = np.append(g_nodes[0], x0), np.append(g_weights[0], 0.0)
            near = int(np.argmin(np.abs(theta[:-1] - x0)))
            if abs(theta[near] - x0) <= snap_rtol * max(np.abs(theta).max(), abs(x0)):
                theta[near] = x0  # an eigenvalue at x0, found by an invariant Krylov space
        else:
            theta, S = scipy.linalg.eigh_tridiagonal(np.append(a, extra), np.append(b, bl))
            w = S[0, :] ** 2
            theta[np.argmin(np.abs(theta - x0))] = x0  # an exact eigenvalue, up to round-off
        order = np.argsort(theta, kind="stable")
        nodes[i, : L + 1] = theta[order]
        nodes[i, L + 1 :] = theta[order][-1]
        weights[i, : L + 1] = w[order]
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
    last = np.zeros(alphas.shape[0])
    for i in range(alphas.shape[0]):
        L = int(used[i])
        alphas[i, L:] = 0.0
        betas[i, max(L - 1, 0) :] = 0.0
        if L >= 1 and not state.exhausted:
            last[i] = state.betas[i, L - 1]  # 0 where the probe broke down at step L
    nodes, weights = tridiagonal_rules(alphas, betas, used)
    return QuadratureRules(nodes, weights, alphas, betas, used, last)
