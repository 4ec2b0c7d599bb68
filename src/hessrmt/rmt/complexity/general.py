"""Kac-Rice complexity of the spherical p-spin with the semicircle replaced by any spectral law.

Derivation (``docs/reference/spin-glass.md`` §2). ABC's asymptotics can be written, with the
Hessian's shift y = -a v, a = sqrt(p/(p - 1)) = 2/E_inf(p), and Omega_sc the log-potential of the
semicircle of variance 1 (``docs/reference/oracles.md`` §6.1, §12), as

    Theta_p(u)     = C + sup_{v <= u} [ -v^2/2 + Omega(-a v) ],     C = 1/2 ln(p-1) + 1/2,
    Theta_{k,p}(u) = C + sup_{v <= min(u, -b/a)} [ -v^2/2 + Omega(-a v) - k J(-a v) ],

because Omega_sc(y) = y^2/4 - 1/2 - J_sc(y) for y > 2 (J_sc the GOE edge rate; b = 2 the
right edge): the log-determinant already carries the cost of the first outlier, and index k
costs k more eigenvalues beyond the shift. Replacing (Omega_sc, J_sc, b = 2) by
(Omega_mu, J_mu, b_mu) of a law mu in standardised units
(:class:`~hessrmt.rmt.complexity.coulomb.CoulombGas`) gives the complexity "with the exact
limiting density" (Granziol, arXiv 2006.07721; ``docs/reference/papers.md`` §3). The Gaussian
part (C, -v^2/2, the scale a) is kept from ABC; only the Hessian's law changes. The index-k
Hessian is y - M with M ~ mu, so the index counts eigenvalues of M above y and the
threshold is -E_inf(mu) = -b_mu / a.

Normalisation (``normalise``): "abc" keeps C = 1/2 ln(p - 1) + 1/2; "total" sets
C_mu = 1/2 ln(p - 1) - sup_v [-v^2/2 + Omega_mu(-a v)] so that the total complexity at u = +inf is
1/2 ln(p - 1) for every law, as for the p-spin (the number of critical points is then the ABC
number and only its distribution over energies and indices changes). Both coincide for the
semicircle.

Bands: -E_k(mu) = the smallest v with Theta_{k}(v) = 0 (NaN where Theta_k < 0 everywhere: no
index-k critical points at exponential scale); the layered structure survives for index k when
E_k(mu) > E_inf(mu), i.e. Theta_k(-E_inf(mu)) > 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq, minimize_scalar

from hessrmt.errors import InputError
from hessrmt.rmt.complexity.abc import check_k, check_p
from hessrmt.rmt.complexity.coulomb import CoulombGas

__all__ = ["U_LIMIT", "LawBands", "law_bands", "law_theta_k", "law_theta_total"]

#: |u| beyond this is outside the range the numerics support (an InputError)
U_LIMIT = 50.0


def _scale(p: int) -> float:
    return math.sqrt(p / (p - 1))


def _const(p: int) -> float:
    return 0.5 * math.log(p - 1) + 0.5


def _constant(p: int, gas: CoulombGas, normalise: str) -> float:
    """C of the module docstring for ``normalise`` = "abc" or "total"."""
    if normalise == "abc":
        return _const(p)
    if normalise != "total":
        raise InputError(f"normalise must be 'abc' or 'total', got {normalise!r}")
    a = _scale(p)
    span = max(abs(gas.left_edge), abs(gas.right_edge)) / a + 2.0
    v = np.linspace(-span, span, 801)
    vals = -0.5 * v * v + gas.omega_coarse(-a * v)  # cheap locator, then exact refinement
    i = int(np.argmax(vals))
    vals[i] = -0.5 * v[i] ** 2 + float(gas.omega(-a * v[i]))
    res = minimize_scalar(
        lambda t: 0.5 * t * t - float(gas.omega(-a * t)),
        bounds=(v[max(i - 1, 0)], v[min(i + 1, v.size - 1)]), method="bounded",
        options={"xatol": 1e-12},
    )  # fmt: skip
    return 0.5 * math.log(p - 1) - max(float(vals[i]), -float(res.fun))


def _check_u(u: float) -> float:
    u = float(u)
    if not math.isfinite(u) or abs(u) > U_LIMIT:
        raise InputError(
            f"u = {u!r} is beyond the supported energy range [-{U_LIMIT:g}, {U_LIMIT:g}]"
        )
    return u


class _Integrand:
    """g_k(v) = C - v^2/2 + Omega(-a v) - k J(-a v) (k = None: no index constraint)."""

    def __init__(
        self, gas: CoulombGas, p: int, k: int | None, extra_cost=None, normalise: str = "abc"
    ) -> None:
        self.gas, self.p, self.k = gas, p, k
        self.a, self.c = _scale(p), _constant(p, gas, normalise)
        self.extra_cost = extra_cost

    @property
    def v_edge(self) -> float:
        return -self.gas.right_edge / self.a

    def __call__(self, v: ArrayLike) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        y = -self.a * v
        out = self.c - 0.5 * v * v + self.gas.omega(y)
        if self.extra_cost is not None:
            out = out - self.extra_cost(y)
        elif self.k:
            out = out - self.k * self.gas.rate(y)
        return out


def _sup(g: _Integrand, hi: float, points: int = 121) -> float:
    """sup of g over [hi - span, hi] (g -> -inf as v -> -inf): grid, then bounded refinement."""
    span = 3.0
    while float(g(hi - span)) > float(g(hi)) and span < 4 * U_LIMIT:
        span *= 2
    grid = np.linspace(hi - span, hi, points)
    vals = g(grid)
    i = int(np.argmax(vals))
    best = float(vals[i])
    if 0 < i < points - 1:
        res = minimize_scalar(
            lambda t: -float(g(t)), bounds=(grid[i - 1], grid[i + 1]), method="bounded",
            options={"xatol": 1e-12},
        )  # fmt: skip
        best = max(best, -float(res.fun))
    return best


def law_theta_k(
    u: float, p: int, k: int, gas: CoulombGas, *, cost=None, normalise: str = "abc"
) -> float:
    """Theta_{k}(u) for the law of ``gas`` (module docstring); ``cost(y)`` overrides k J(y)."""
    p, k = check_p(p), check_k(k)
    u = _check_u(u)
    g = _Integrand(gas, p, k, cost, normalise)
    return _sup(g, min(u, g.v_edge))


def law_theta_total(u: float, p: int, gas: CoulombGas, *, normalise: str = "abc") -> float:
    """Theta(u) (all indices) for the law of ``gas``: C + sup_{v <= u} [-v^2/2 + Omega(-a v)]."""
    p = check_p(p)
    u = _check_u(u)
    return _sup(_Integrand(gas, p, None, None, normalise), u)


def _first_zero(g: _Integrand, hi: float) -> float:
    """The smallest v <= hi with g(v) = 0 (NaN if g < 0 on (-inf, hi])."""
    lo = hi - 3.0
    while float(g(lo)) >= 0 and lo > hi - 4 * U_LIMIT:
        lo = hi - 2 * (hi - lo)
    grid = np.linspace(lo, hi, 241)
    vals = g(grid)
    idx = np.flatnonzero(vals >= 0)
    if idx.size == 0:
        return math.nan
    j = int(idx[0])
    if j == 0:
        return float(grid[0])
    return brentq(lambda t: float(g(t)), grid[j - 1], grid[j], xtol=1e-14, rtol=1e-15)


@dataclass(frozen=True)
class LawBands:
    """Threshold and bands of one law: E_inf = b/a, E = [E_0..E_K] (NaN: index k absent),
    theta_at_threshold[k] = Theta_k(-E_inf), survives[k] = E_k > E_inf."""

    p: int
    e_inf: float
    e: tuple[float, ...]
    theta_at_threshold: tuple[float, ...]
    right_edge: float

    @property
    def survives(self) -> tuple[bool, ...]:
        return tuple(bool(t > 0) for t in self.theta_at_threshold)

    def to_dict(self) -> dict[str, object]:
        return {
            "p": self.p,
            "E_inf": self.e_inf,
            "E": list(self.e),
            "theta_at_threshold": list(self.theta_at_threshold),
            "layered": list(self.survives),
            "right_edge_standardised": self.right_edge,
        }


def law_bands(p: int, kmax: int, gas: CoulombGas, *, cost=None, normalise: str = "abc") -> LawBands:
    """E_inf(mu) and E_0..E_kmax(mu); ``cost(k, y)`` overrides the index cost k J(y)."""
    p, kmax = check_p(p), check_k(kmax)
    es, at = [], []
    for k in range(kmax + 1):
        c = None if cost is None else (lambda y, k=k: cost(k, y))
        g = _Integrand(gas, p, k, c, normalise)
        v0 = _first_zero(g, g.v_edge)
        es.append(-v0 if math.isfinite(v0) else math.nan)
        at.append(float(g(g.v_edge)))
    return LawBands(p, gas.right_edge / _scale(p), tuple(es), tuple(at), gas.right_edge)
