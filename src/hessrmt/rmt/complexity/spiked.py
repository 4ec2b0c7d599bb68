"""GOE plus a deterministic rank-r perturbation in the Kac-Rice Hessian (general activations).

Model (``docs/reference/spin-glass.md`` §4; arXiv 2004.03959 as summarised in
``docs/reference/papers.md`` §7): at a critical point the Hessian is y - (M + D), M the GOE of
semicircle variance 1 (radius 2), D = sum_i theta_i e_i e_i^T deterministic, r = rank fixed. The
index counts eigenvalues of M + D above the shift y.

**Top-eigenvalue rate of M + theta e e^T (beta = 1, exact; Maida, EJP 12 (2007)), derived from the
density ratio exp(N theta/2 e^T H e - N theta^2/4) and the rank-one spherical integral
(Guionnet & Maida 2005):**

    I_theta(x) = I_0(x)                                       if theta <= G(x),
               = (x - theta)^2/4 - Omega(x)/2 + (ln theta)/2   if theta >  G(x),      x >= 2,

with G(x) = (x - sqrt(x^2 - 4))/2, Omega the semicircle log-potential and I_0 the GOE rate
(``docs/reference/oracles.md`` §6.1, §12). It vanishes at the BBP location
rho = theta + 1/theta for
theta > 1 (and at 2 for theta <= 1): above the BBP threshold theta = 1 the rate changes.

**Index cost (approximation: rates of distinct eigenvalues add, exact for r = 1 and k <= 1).**
Exactly k eigenvalues above y >= 2 costs

    Cost_k(y) = sum_i B_i(y) + (sum of the k smallest of {A_i(y) - B_i(y)} U {I_0(y) x k}),

A_i = inf_{x >= y} I_{theta_i}(x) (spike i above y), B_i = inf_{x <= y} I_{theta_i}(x) (below y).
With no spike Cost_k = k I_0, ABC's. The log-determinant (Omega(y)) is unchanged at leading order
by a finite-rank D, so the total complexity equals ABC's (the leading log-complexity of the paper)
while the bands E_k move: Theta_k(u) = C + sup_{v <= min(u, -2/a)} [-v^2/2 + Omega(-a v)
- Cost_k(-a v)] (:mod:`~hessrmt.rmt.complexity.general`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rmt.complexity.coulomb import CoulombGas, edge_rate
from hessrmt.rmt.complexity.general import LawBands, law_bands, law_theta_k
from hessrmt.rmt.laws import Semicircle

__all__ = ["bbp_location", "index_cost", "spiked_bands", "spiked_rate", "spiked_theta_k"]

_SC = Semicircle(1.0)


def _theta(theta: float) -> float:
    t = float(theta)
    if not math.isfinite(t) or t < 0:
        raise InputError(f"spike strengths must be finite and >= 0, got {theta!r}")
    return t


def bbp_location(theta: float) -> float:
    """Where the top eigenvalue of M + theta e e^T sits: theta + 1/theta above theta = 1, else 2."""
    t = _theta(theta)
    return t + 1.0 / t if t > 1.0 else 2.0


def spiked_rate(x: ArrayLike, theta: float) -> np.ndarray:
    """I_theta(x) for x >= 2 (module docstring); +inf below the bulk edge 2."""
    t = _theta(theta)
    x = np.asarray(x, dtype=float)
    xc = np.maximum(x, 2.0)
    i0 = edge_rate(xc, 2.0)
    g = (xc - np.sqrt(xc * xc - 4.0)) / 2.0
    if t == 0.0:
        out = i0
    else:
        spiked = (xc - t) ** 2 / 4.0 - 0.5 * _SC.log_potential(xc) + 0.5 * math.log(t)
        out = np.where(t <= g, i0, np.maximum(spiked, 0.0))
    return np.where(x >= 2.0, out, np.inf)


def _above_below(y: float, theta: float) -> tuple[float, float]:
    rho = bbp_location(theta)
    rate = float(spiked_rate(y, theta))
    return (0.0, rate) if rho >= y else (rate, 0.0)


def index_cost(k: int, y: ArrayLike, thetas: Sequence[float]) -> np.ndarray:
    """Cost_k(y): rate of exactly k eigenvalues of M + D above y >= 2 (module docstring)."""
    ys = np.atleast_1d(np.asarray(y, dtype=float))
    out = np.empty(ys.shape)
    for i, yv in enumerate(ys.ravel()):
        if yv < 2.0:
            out.flat[i] = math.inf
            continue
        i0 = float(edge_rate(yv, 2.0))
        base, margins = 0.0, []
        for t in thetas:
            a, b = _above_below(yv, t)
            base += b
            margins.append(a - b)
        pool = sorted(margins + [i0] * k)
        out.flat[i] = base + sum(pool[:k])
    return out.reshape(np.shape(y))


def _gas() -> CoulombGas:
    return CoulombGas(_SC, standardize=False)


def spiked_theta_k(u: float, p: int, k: int, thetas: Sequence[float]) -> float:
    """Theta_k(u) of the p-spin whose Kac-Rice Hessian is GOE + rank-r spikes ``thetas``."""
    ts = [_theta(t) for t in thetas]
    return law_theta_k(u, p, k, _gas(), cost=lambda y: index_cost(k, y, ts))


def spiked_bands(p: int, kmax: int, thetas: Sequence[float]) -> LawBands:
    """E_inf (unchanged: the bulk edge) and E_0..E_kmax with the spikes ``thetas``."""
    ts = [_theta(t) for t in thetas]
    return law_bands(p, kmax, _gas(), cost=lambda k, y: index_cost(k, y, ts))
