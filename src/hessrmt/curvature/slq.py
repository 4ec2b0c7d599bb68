"""Spectral density by stochastic Lanczos quadrature (SLQ).

For a symmetric P x P operator ``A`` with eigenvalues ``lambda_1..lambda_P``, the normalised
spectral measure ``mu = (1/P) sum_i delta(lambda_i)`` satisfies, for a probe ``q = z / ||z||``
with ``E[z z^T] = I`` (Rademacher or Gaussian ``z``),

    E[q^T f(A) q] = tr f(A) / P = integral f dmu.

``m`` Lanczos steps from ``q`` give a tridiagonal ``T_m`` with eigenvalues ``theta_k`` (nodes)
and eigenvectors ``s_k``; with weights ``w_k = (e_1^T s_k)^2`` (squared first components, summing
to 1) the Gauss quadrature rule ``sum_k w_k f(theta_k)`` equals ``q^T f(A) q`` exactly for
polynomials ``f`` of degree < 2m (Golub & Meurant, "Matrices, Moments and Quadrature", 2010;
Ubaru, Chen & Saad 2017, SIAM J. Matrix Anal. Appl. 38(4); Ghorbani, Krishnan & Xiao 2019 for
neural-network Hessians). Averaging over probes estimates ``mu``.

Implementation: all probes advance together, one ``op.matmat`` per Lanczos step (the probes
that are still active form the block); the three-term recurrence runs in float64 whatever the
operator dtype, with optional full reorthogonalisation of each probe's Lanczos vector against its
own basis (CGS2; default on when ``num_steps <= 300`` and the bases fit in ``memory_budget``
bytes). Without it, ghost copies of converged Ritz values appear (Paige); the quadrature
moments stay accurate, the node positions less so. A probe whose ``beta_j`` falls below
``max(1e-10, 10 eps_op) * ||T||`` (an invariant subspace: its Krylov space is
exhausted) stops early; its unused nodes are padded with weight 0. Each tridiagonal is
diagonalised with the symmetric tridiagonal solver ``scipy.linalg.eigh_tridiagonal``.

Broadening: Gaussian kernels of standard deviation ``sigma`` (``width``). The default is
``sigma = (theta_max - theta_min) / ((m - 1) sqrt(8 ln 3))``, about the node spacing of an
``m``-step rule over the node range: curvlinops' default ``sigma = 2 / ((m - 1) sqrt(8 ln kappa))``
with ``kappa = 3`` on the spectrum rescaled to [-1, 1] (Papyan 2020), mapped back to the original
scale, so the width is proportional to the spectral range; a zero range falls back to
``1e-3 max(|theta|, 1)``. The default grid spans the node range plus ``5 sigma`` on each side
with 1024 points. The band is ``density +- 2 SE``, the standard error of the mean
of the per-probe densities (needs >= 2 probes; NaN otherwise).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.stats
import torch

from hessrmt.curvature.lanczos_utils import (
    PROBE_KINDS,
    WORK_DTYPE,
    apply64,
    as_operator,
    dtype_name,
    operator_conventions,
    probe_block,
)
from hessrmt.curvature.linop import CurvatureOperator
from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result
from hessrmt.rng import as_generator, seed_of

DEFAULT_GRID_POINTS = 1024
BAND_Z = 2.0
KAPPA = 3.0
#: beta_j <= BREAKDOWN_RTOL * ||T|| ends a probe's recurrence (nodes beyond would carry weight
#: O(beta^2) and moments change by O(beta)).
BREAKDOWN_RTOL = 1e-10


@dataclass(frozen=True)
class SLQResult(Result):
    """A stochastic Lanczos quadrature estimate of a spectral density.

    Attributes:
        nodes: (num_probes, num_steps) Gauss quadrature nodes (Ritz values of each probe).
        weights: (num_probes, num_steps) quadrature weights (squared first components; each row
            sums to 1; padded entries of early-terminated probes have weight 0).
        grid: (G,) evaluation points of the broadened density.
        density: (G,) mean over probes of the Gaussian-broadened quadrature measures, an
            estimate of the normalised density (1/P) sum_i delta(x - lambda_i) (integrates to 1).
        band: (2, G) lower and upper band, ``density -+ 2 * density_stderr``.
        density_stderr: (G,) standard error of ``density`` across probes.
        width: Gaussian kernel standard deviation used.
        alphas: (num_probes, num_steps) tridiagonal diagonals (0 where padded).
        betas: (num_probes, num_steps - 1) tridiagonal off-diagonals (0 where padded).
        num_steps_used: (num_probes,) Lanczos steps per probe (< num_steps after a breakdown).
        dimension: P, the operator size.
        num_matvecs: operator-vector products spent.
        meta: seed, dtype, conventions (probe, steps, reorthogonalisation, kernel, width rule).
    """

    nodes: np.ndarray
    weights: np.ndarray
    grid: np.ndarray
    density: np.ndarray
    band: np.ndarray
    density_stderr: np.ndarray
    width: float
    alphas: np.ndarray
    betas: np.ndarray
    num_steps_used: np.ndarray
    dimension: int
    num_matvecs: int
    meta: Metadata = field(default_factory=Metadata)

    kind = "slq"

    @property
    def num_probes(self) -> int:
        return int(self.nodes.shape[0])

    def wasserstein_to(self, eigs: Any) -> float:
        """1-Wasserstein distance between the quadrature measure and an exact spectrum.

        The quadrature measure is ``(1/num_probes) sum_{i,k} w_ik delta(theta_ik)``, the exact
        one ``(1/len(eigs)) sum_j delta(lambda_j)``; W1 = integral |F - G| dx (exact, via
        :func:`scipy.stats.wasserstein_distance`).
        """
        lam = np.asarray(eigs, dtype=np.float64).ravel()
        if lam.size == 0 or not np.all(np.isfinite(lam)):
            raise InputError("eigs must be a non-empty array of finite eigenvalues")
        return float(
            scipy.stats.wasserstein_distance(self.nodes.ravel(), lam, self.weights.ravel(), None)
        )

    def moment(self, j: int) -> float:
        """Estimate of tr(A^j) / P: the probe average of sum_k w_k theta_k^j."""
        return float(np.mean(np.sum(self.weights * self.nodes**j, axis=1)))

    def trace_estimate(self, fn: Callable[[np.ndarray], np.ndarray]) -> float:
        """Estimate of tr f(A) = P * mean over probes of sum_k w_k f(theta_k)."""
        values = np.asarray(fn(self.nodes), dtype=np.float64)
        return float(self.dimension * np.mean(np.sum(self.weights * values, axis=1)))


def gaussian_density(
    nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, width: float
) -> np.ndarray:
    """Per-probe broadened densities: rows ``sum_k w_k N(x; theta_k, width^2)`` on ``grid``."""
    nodes = np.atleast_2d(nodes)
    weights = np.atleast_2d(weights)
    out = np.empty((nodes.shape[0], grid.size))
    norm = 1.0 / (width * math.sqrt(2.0 * math.pi))
    for i in range(nodes.shape[0]):
        z = (grid[:, None] - nodes[i][None, :]) / width
        out[i] = norm * (np.exp(-0.5 * z * z) @ weights[i])
    return out


def default_width(nodes: np.ndarray, weights: np.ndarray, num_steps: int) -> float:
    """``(theta_max - theta_min) / ((m - 1) sqrt(8 ln 3))`` over nodes of positive weight."""
    live = nodes[weights > 0]
    lo, hi = float(live.min()), float(live.max())
    span = hi - lo
    scale = max(abs(lo), abs(hi), 1.0)
    if span <= 1e-12 * scale or num_steps < 2:
        return 1e-3 * scale
    return span / ((num_steps - 1) * math.sqrt(8.0 * math.log(KAPPA)))


def _lanczos_batch(
    op: CurvatureOperator,
    Q0: torch.Tensor,
    m: int,
    reorth: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``m`` Lanczos steps from each column of ``Q0`` (unit norm) with one matmat per step.

    Vectors are kept as rows (probe, P) so that every basis vector is contiguous in memory.
    Returns alphas (p, m), betas (p, m - 1) and steps used (p,).
    """
    n, p = Q0.shape
    device = Q0.device
    alphas = np.zeros((p, m))
    betas = np.zeros((p, max(m - 1, 0)))
    used = np.full(p, m, dtype=np.int64)
    basis = torch.zeros((p, m, n), dtype=WORK_DTYPE, device=device) if reorth else None
    eps_op = float(torch.finfo(op.dtype).eps)
    brk_rtol = max(BREAKDOWN_RTOL, 10.0 * eps_op)
    active = np.arange(p)
    q = Q0.T.contiguous()  # (p, n)
    q_prev = torch.zeros_like(q)
    beta_prev = torch.zeros(p, dtype=WORK_DTYPE, device=device)
    tnorm = np.zeros(p)
    for j in range(m):
        everyone = len(active) == p
        act = torch.as_tensor(active, device=device)
        qa = q if everyone else q[act]
        if basis is not None:
            if everyone:
                basis[:, j, :] = qa
            else:
                basis[act, j, :] = qa
        w = apply64(op, qa.T).T  # (a, n)
        alpha = (qa * w).sum(1)
        bp = beta_prev if everyone else beta_prev[act]
        w = w - qa * alpha[:, None] - (q_prev if everyone else q_prev[act]) * bp[:, None]
        if basis is not None:
            B = basis[:, : j + 1, :] if everyone else basis[act, : j + 1, :]
            for _ in range(2):
                h = torch.bmm(B, w[:, :, None])  # (a, j + 1, 1)
                w = w - torch.bmm(h.transpose(1, 2), B)[:, 0, :]
        beta = torch.linalg.vector_norm(w, dim=1)
        a_np = alpha.cpu().numpy()
        b_np = beta.cpu().numpy()
        alphas[active, j] = a_np
        tnorm[active] = np.maximum(tnorm[active], np.abs(a_np) + b_np + bp.cpu().numpy())
        if j == m - 1:
            break
        stop = b_np <= brk_rtol * np.maximum(tnorm[active], np.finfo(float).tiny)
        betas[active[~stop], j] = b_np[~stop]
        used[active[stop]] = j + 1
        keep = ~stop
        if not keep.any():
            break
        keep_t = torch.as_tensor(keep, device=device)
        new_active = active[keep]
        na = torch.as_tensor(new_active, device=device)
        q_next = torch.zeros_like(q)
        q_next[na] = w[keep_t] / beta[keep_t][:, None]
        q_prev = q
        q = q_next
        beta_prev = torch.zeros_like(beta_prev)
        beta_prev[na] = beta[keep_t]
        active = new_active
    return alphas, betas, used


def slq(
    op: CurvatureOperator | np.ndarray | torch.Tensor,
    num_probes: int = 10,
    num_steps: int = 80,
    *,
    seed: int | None = 0,
    grid: np.ndarray | int | None = None,
    width: float | None = None,
    probes: str | np.ndarray | torch.Tensor = "rademacher",
    reorthogonalize: bool | None = None,
    memory_budget: int = 2 * 1024**3,
) -> SLQResult:
    """Stochastic Lanczos quadrature estimate of the spectral density of ``op``.

    Args:
        op: a :class:`~hessrmt.curvature.linop.CurvatureOperator` (or a symmetric matrix).
        num_probes: number of random probes (>= 2 for an error band).
        num_steps: Lanczos steps per probe ``m`` (capped at P); Gauss quadrature is then exact
            for polynomial moments of degree < 2m.
        seed: seed of the probes (recorded).
        grid: evaluation grid (array), a number of points, or None (1024 points over the node
            range plus 5 widths on each side).
        width: Gaussian kernel standard deviation; None for the default (module docstring).
        probes: ``"rademacher"`` or ``"gaussian"`` (normalised to unit length), or explicit
            start vectors, an array (P,) or (P, num_probes) (then ``num_probes`` is its column
            count and ``seed`` is unused).
        reorthogonalize: full reorthogonalisation of each probe's Lanczos vectors; None = on
            when ``num_steps <= 300`` and the bases (num_probes x num_steps x P float64) fit
            in ``memory_budget`` bytes.
        memory_budget: bytes allowed for the reorthogonalisation bases under the default.

    Returns:
        An :class:`SLQResult`.
    """
    op = as_operator(op)
    n = op.shape[0]
    for name, value in (("num_probes", num_probes), ("num_steps", num_steps)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    user_probes = None
    if isinstance(probes, str):
        if probes not in PROBE_KINDS:
            raise InputError(f"probes must be one of {PROBE_KINDS} or an array, got {probes!r}")
    else:
        user_probes = torch.as_tensor(
            probes if isinstance(probes, torch.Tensor) else np.asarray(probes)
        ).to(dtype=WORK_DTYPE, device=op.device)
        if user_probes.ndim == 1:
            user_probes = user_probes[:, None]
        if user_probes.ndim != 2 or user_probes.shape[0] != n:
            raise InputError(
                f"explicit probes must have shape ({n},) or ({n}, num_probes), "
                f"got {tuple(user_probes.shape)}"
            )
        norms = torch.linalg.vector_norm(user_probes, dim=0)
        if not torch.isfinite(user_probes).all() or bool((norms == 0).any()):
            raise InputError("explicit probes must be finite and non-zero")
        num_probes = int(user_probes.shape[1])
    if width is not None and not (np.isfinite(width) and width > 0):
        raise InputError(f"width must be a positive finite number, got {width!r}")
    p = int(num_probes)
    m = int(min(num_steps, n))
    basis_bytes = p * m * n * 8
    if reorthogonalize is None:
        reorth = m <= 300 and basis_bytes <= memory_budget
        if not reorth:
            warnings.warn(
                f"slq: full reorthogonalisation off ({m} steps > 300, or bases of "
                f"{basis_bytes / 2**30:.2f} GiB > budget {memory_budget / 2**30:.2f} GiB); "
                "expect ghost nodes; pass reorthogonalize=True or raise memory_budget",
                RuntimeWarning,
                stacklevel=2,
            )
    else:
        reorth = bool(reorthogonalize)

    rng = as_generator(seed)
    start_mv = op.num_matvecs
    Z = probe_block(n, p, rng, probes, op.device) if user_probes is None else user_probes
    Q0 = Z / torch.linalg.vector_norm(Z, dim=0)
    alphas, betas, used = _lanczos_batch(op, Q0, m, reorth)

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
        alphas[i, L:] = 0.0
        betas[i, max(L - 1, 0) :] = 0.0

    sigma = float(width) if width is not None else default_width(nodes, weights, m)
    if grid is None or isinstance(grid, (int, np.integer)):
        npts = DEFAULT_GRID_POINTS if grid is None else int(grid)
        if npts < 2:
            raise InputError(f"grid must have at least 2 points, got {npts}")
        live = nodes[weights > 0]
        grid_arr = np.linspace(live.min() - 5 * sigma, live.max() + 5 * sigma, npts)
    else:
        grid_arr = np.asarray(grid, dtype=np.float64).ravel()
        if grid_arr.size < 2 or not np.all(np.isfinite(grid_arr)):
            raise InputError("grid must be a finite array of at least 2 points")
    per_probe = gaussian_density(nodes, weights, grid_arr, sigma)
    density = per_probe.mean(axis=0)
    if p >= 2:
        se = per_probe.std(axis=0, ddof=1) / math.sqrt(p)
    else:
        se = np.full_like(density, np.nan)
    band = np.stack([density - BAND_Z * se, density + BAND_Z * se])

    conventions = operator_conventions(op)
    conventions.update(
        {
            "measure": "normalised spectral density (1/P) sum_i delta(x - lambda_i)",
            "probe": f"{probes if user_probes is None else 'user-supplied'}, unit length",
            "num_probes": p,
            "num_steps": m,
            "reorthogonalisation": "full (CGS2) per probe" if reorth else "none",
            "tridiagonal_solver": "scipy.linalg.eigh_tridiagonal",
            "weights": "squared first components of the tridiagonal eigenvectors",
            "kernel": "gaussian",
            "width": sigma,
            "width_rule": "user" if width is not None else "range / ((m - 1) sqrt(8 ln 3))",
            "band": "density -+ 2 standard errors across probes",
            "precision": "recurrence in float64; operator in its own dtype",
        }
    )
    meta = Metadata.create(
        seed=seed_of(seed) if user_probes is None else None,
        dtype=dtype_name(op.dtype),
        conventions=conventions,
    )
    return SLQResult(
        nodes=nodes,
        weights=weights,
        grid=grid_arr,
        density=density,
        band=band,
        density_stderr=se,
        width=sigma,
        alphas=alphas,
        betas=betas,
        num_steps_used=used,
        dimension=int(n),
        num_matvecs=int(op.num_matvecs - start_mv),
        meta=meta,
    )
