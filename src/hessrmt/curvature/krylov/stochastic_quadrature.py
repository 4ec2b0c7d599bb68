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

Implementation: the Gauss rules come from
:func:`~hessrmt.curvature.krylov.quadrature.lanczos_quadrature` (all probes advance together, one
``op.matmat`` per Lanczos step, float64 recurrence whatever the operator dtype, optional full
reorthogonalisation of each probe's vectors against its own basis: default on when
``num_steps <= 300`` and the bases fit in ``memory_budget`` bytes; without it, ghost copies of
converged Ritz values appear (Paige): the quadrature moments stay accurate, the node positions
less so; a probe whose ``beta_j`` falls below ``max(1e-10, 10 eps_op) ||A q||_max`` stops early
with its unused nodes padded with weight 0). The broadening onto a grid (Gaussian kernels, width
rule, band) is :func:`~hessrmt.curvature.krylov.density.broaden`.

``quadrature="radau"`` replaces each Gauss rule by the ``m + 1``-node Gauss-Radau rule with a node
prescribed at ``radau_node`` (default 0), from the same ``m`` products
(:func:`~hessrmt.curvature.krylov.quadrature.radau_rules`): exact to degree 2m, and with a node at
exactly 0 it keeps a Hessian's near-null mass at 0 where the Gauss rule moves it to its node
nearest 0, a fraction of the bulk's width away, differently for odd and even ``m``. On the network
Hessians of ``docs/slq-estimators.md`` it reaches the Gauss rule's W1 to a long reference with
about half the steps; on spectra without a null mass it matches the Gauss rule. The weight at the
prescribed node bounds the mass there from above: it also counts the mass near it that ``m`` steps
cannot resolve (:meth:`SLQResult.node_mass`). With a prescribed node inside the spectrum, one other
node may lie outside the range of the Gauss nodes, with a small weight (a quasi-orthogonal
polynomial has at most one zero outside the support's hull; Chihara, "An Introduction to Orthogonal
Polynomials", 1978, ch. II): on the Hessians above, at m >= 10, up to 8x (ResNet-20) and 21x
(transformer) the largest |Gauss node|, with weights at most 1.6e-5 and 1.3e-4; moving it to the
Gauss range changed no W1 in the third digit. So that such a node does not stretch the density's
grid, the Radau rule is broadened with the Gauss rule's kernel width and default grid (extended to
the prescribed node when that lies beyond it); its rules (``nodes``, ``weights``) are kept exact.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.stats
import torch

from hessrmt.curvature.krylov.density import DEFAULT_GRID_POINTS, broaden, default_width
from hessrmt.curvature.krylov.numerics import (
    DEFAULT_SEED,
    PROBE_KINDS,
    UNSET,
    WORK_DTYPE,
    as_operator,
    dtype_name,
    operator_conventions,
    probe_block,
    resolve_rng,
)
from hessrmt.curvature.krylov.quadrature import lanczos_quadrature, radau_rules
from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result

#: Default bytes allowed for the reorthogonalisation bases (num_probes x num_steps x P float64).
REORTH_MEMORY_BUDGET = 2 * 1024**3
#: Quadrature rules of :func:`slq` (module doc).
QUADRATURES = ("gauss", "radau")
#: Most Lanczos steps per probe that keep full reorthogonalisation on by default.
REORTH_MAX_STEPS = 300


@dataclass(frozen=True)
class SLQResult(Result):
    """A stochastic Lanczos quadrature estimate of a spectral density.

    Attributes:
        nodes: (num_probes, num_steps) Gauss quadrature nodes (Ritz values of each probe), or
            (num_probes, num_steps + 1) Gauss-Radau nodes (``quadrature="radau"``; sorted, one
            of them the prescribed node).
        weights: quadrature weights, the shape of ``nodes`` (squared first components; each row
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
        meta: seed, dtype, conventions (probe, steps, reorthogonalisation, quadrature, kernel,
            width rule).
        last_betas: (num_probes,) ``beta_m``, each probe's last residual norm (0 after a
            breakdown): with ``alphas`` and ``betas`` it gives the Gauss-Radau rule at any node
            (:func:`~hessrmt.curvature.krylov.quadrature.radau_rules`). None in results saved
            before it was recorded.
        quadrature: ``"gauss"`` or ``"radau"``.
        radau_node: the prescribed node of the Gauss-Radau rule (None for Gauss).
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
    last_betas: np.ndarray | None = None
    quadrature: str = "gauss"
    radau_node: float | None = None

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

    def node_mass(self) -> tuple[float, float]:
        """The Gauss-Radau rule's mass at its prescribed node: the mean over probes of the
        weight there and its standard error (NaN for one probe). Per probe it is the Christoffel
        function at ``radau_node``, never below the probe's mass there and including the mass
        near it that ``m`` steps cannot resolve: an upper bound of the fraction of eigenvalues
        at ``radau_node``, close to it when the rest of the spectrum is away from it. Needs
        ``quadrature="radau"``."""
        if self.quadrature != "radau" or self.radau_node is None:
            raise InputError("node_mass needs an SLQ result with quadrature='radau'")
        per_probe = np.where(self.nodes == self.radau_node, self.weights, 0.0).sum(axis=1)
        p = per_probe.size
        se = float(per_probe.std(ddof=1) / np.sqrt(p)) if p > 1 else float("nan")
        return float(per_probe.mean()), se

    def moment(self, j: int) -> float:
        """Estimate of tr(A^j) / P: the probe average of sum_k w_k theta_k^j."""
        return float(np.mean(np.sum(self.weights * self.nodes**j, axis=1)))

    def trace_estimate(self, fn: Callable[[np.ndarray], np.ndarray]) -> float:
        """Estimate of tr f(A) = P * mean over probes of sum_k w_k f(theta_k)."""
        values = np.asarray(fn(self.nodes), dtype=np.float64)
        return float(self.dimension * np.mean(np.sum(self.weights * values, axis=1)))


def _radau_grid(
    gauss_nodes: np.ndarray, gauss_weights: np.ndarray, width: float, grid: Any, x0: float
) -> Any:
    """The Radau rule's grid: the caller's array, else the Gauss rule's default grid (its live
    nodes' range +- 5 widths, ``grid`` or 1024 points), extended to ``x0 +- 5 width`` when the
    prescribed node lies beyond it (module doc)."""
    if grid is not None and not isinstance(grid, (int, np.integer)):
        return grid
    live = gauss_nodes[gauss_weights > 0]
    lo, hi = min(float(live.min()), x0) - 5 * width, max(float(live.max()), x0) + 5 * width
    return np.linspace(lo, hi, DEFAULT_GRID_POINTS if grid is None else int(grid))


def slq(
    op: Any,
    num_probes: int = 10,
    num_steps: int = 80,
    *,
    rng: Any = DEFAULT_SEED,
    grid: np.ndarray | int | None = None,
    width: float | None = None,
    probes: str | np.ndarray | torch.Tensor = "rademacher",
    reorthogonalize: bool | None = None,
    memory_budget: int = REORTH_MEMORY_BUDGET,
    size: int | None = None,
    seed: Any = UNSET,
    quadrature: str = "gauss",
    radau_node: float = 0.0,
) -> SLQResult:
    """Stochastic Lanczos quadrature estimate of the spectral density of ``op``.

    Args:
        op: a symmetric linear operator: a hessrmt operator, a square matrix (torch or NumPy), a
            :class:`scipy.sparse.linalg.LinearOperator`, a curvlinops-style operator or a
            ``matvec`` callable with ``size=`` (see :mod:`hessrmt.curvature.adapters`).
        num_probes: number of random probes (>= 2 for an error band).
        num_steps: Lanczos steps per probe ``m`` (capped at P); Gauss quadrature is then exact
            for polynomial moments of degree < 2m.
        rng: randomness of the probes: an int seed (default 0), a NumPy or torch Generator, or
            None (fresh entropy); recorded.
        grid: evaluation grid (array), a number of points, or None (1024 points over the node
            range plus 5 widths on each side).
        width: Gaussian kernel standard deviation; None for the default (module docstring).
        probes: ``"rademacher"`` or ``"gaussian"`` (normalised to unit length), or explicit
            start vectors, an array (P,) or (P, num_probes) (then ``num_probes`` is its column
            count and ``rng`` is unused).
        reorthogonalize: full reorthogonalisation of each probe's Lanczos vectors; None = on
            when ``num_steps <= 300`` and the bases (num_probes x num_steps x P float64) fit
            in ``memory_budget`` bytes.
        memory_budget: bytes allowed for the reorthogonalisation bases under the default.
        size: ``P``, needed only when ``op`` is a plain ``matvec`` callable.
        seed: alias of ``rng`` (the name used before).
        quadrature: ``"gauss"`` (the m-node Gauss rule every SLQ tool uses) or ``"radau"``
            (the m + 1-node Gauss-Radau rule with a node at ``radau_node``, same products; module
            doc).
        radau_node: the prescribed node of ``quadrature="radau"`` (default 0: the null mass).

    Returns:
        An :class:`SLQResult`.

    Example:
        >>> import numpy as np
        >>> eigs = np.linspace(-1.0, 1.0, 50)
        >>> dens = slq(np.diag(eigs), num_probes=4, num_steps=50, rng=0)
        >>> bool(np.isclose(dens.moment(2), np.mean(eigs**2)))  # tr(A^2) / P
        True
        >>> dens.grid.shape, dens.band.shape
        ((1024,), (2, 1024))
    """
    op = as_operator(op, size)
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
    if quadrature not in QUADRATURES:
        raise InputError(f"quadrature must be one of {QUADRATURES}, got {quadrature!r}")
    if quadrature == "radau" and not (
        isinstance(radau_node, (int, float, np.floating, np.integer)) and np.isfinite(radau_node)
    ):
        raise InputError(f"radau_node must be a finite number, got {radau_node!r}")
    p = int(num_probes)
    m = int(min(num_steps, n))
    basis_bytes = p * m * n * 8
    if reorthogonalize is None:
        reorth = m <= REORTH_MAX_STEPS and basis_bytes <= memory_budget
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

    rng, seed_used, rng_how = resolve_rng(rng, seed)
    start_mv = op.num_matvecs
    Z = probe_block(n, p, rng, probes, op.device) if user_probes is None else user_probes
    Q0 = Z / torch.linalg.vector_norm(Z, dim=0)
    rules = lanczos_quadrature(op, Q0, m, reorth=reorth)
    nodes, weights = rules.nodes, rules.weights
    if quadrature == "radau":
        x0 = float(radau_node)
        sigma = float(width) if width is not None else default_width(nodes, weights, m)
        radau_grid = _radau_grid(nodes, weights, sigma, grid, x0)
        nodes, weights = radau_rules(
            rules.alphas, rules.betas, rules.last_betas, rules.num_steps_used, x0
        )
        dens = broaden(nodes, weights, m, grid=radau_grid, width=sigma)
    else:
        dens = broaden(nodes, weights, m, grid=grid, width=width)

    conventions = operator_conventions(op)
    conventions.update(
        {
            "measure": "normalised spectral density (1/P) sum_i delta(x - lambda_i)",
            "probe": f"{probes if user_probes is None else 'user-supplied'}, unit length",
            "num_probes": p,
            "num_steps": m,
            "reorthogonalisation": "full (CGS2) per probe" if reorth else "none",
            "tridiagonal_solver": "scipy.linalg.eigh_tridiagonal",
            "quadrature": "gauss (m nodes, exact to degree 2m - 1)"
            if quadrature == "gauss"
            else f"gauss-radau (m + 1 nodes, one at {float(radau_node)!r}, exact to degree 2m)",
            "weights": "squared first components of the tridiagonal eigenvectors",
            "kernel": "gaussian",
            "width": dens.width,
            "width_rule": "user" if width is not None else "range / ((m - 1) sqrt(8 ln 3))",
            "band": "density -+ 2 standard errors across probes",
            "precision": "recurrence in float64; operator in its own dtype",
            "rng": rng_how if user_probes is None else "probes given by the caller",
        }
    )
    meta = Metadata.create(
        seed=seed_used if user_probes is None else None,
        dtype=dtype_name(op.dtype),
        conventions=conventions,
    )
    return SLQResult(
        nodes=nodes,
        weights=weights,
        grid=dens.grid,
        density=dens.density,
        band=dens.band,
        density_stderr=dens.density_stderr,
        width=dens.width,
        alphas=rules.alphas,
        betas=rules.betas,
        num_steps_used=rules.num_steps_used,
        dimension=int(n),
        num_matvecs=int(op.num_matvecs - start_mv),
        meta=meta,
        last_betas=rules.last_betas,
        quadrature=quadrature,
        radau_node=float(radau_node) if quadrature == "radau" else None,
    )
