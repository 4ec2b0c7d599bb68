"""Coulomb-gas ingredients of a Kac-Rice complexity for any limiting spectral law.

For a :class:`~hessrmt.rmt.law.SpectralLaw` mu this module gives, in *standardised units*
(x = (lambda - mean)/std, so that the ABC semicircle is the law of variance 1, radius 2):

* the log-potential Omega_mu(y) = int ln|y - lambda| dmu(lambda) (the exponential rate of
  E|det(y - M)| in the Coulomb-gas / equilibrium-measure approximation
  N^-1 ln E|det(y - M)| -> Omega_mu(y); exact for the GOE, ``docs/reference/oracles.md`` §6.1
  and §12), computed by quadrature of the density (Chebyshev-type substitution
  lambda = c - r cos t, which makes square-root edges smooth) plus the atoms;
* the large-deviation rate J_mu(y) of one eigenvalue leaving the *right* edge b of mu, y >= b.
  **Approximation used** (the one of the GAN spin-glass code, ``docs/reference/papers.md`` §6.1,
  and ``docs/reference/oracles.md`` §12): the GOE (beta = 1) top-eigenvalue rate of the
  semicircle centred at
  the law's mean with the same right edge, R = b - mean (standardised: centre 0, R = b):

      J_mu(y) = (y/R^2) sqrt(y^2 - R^2) - ln((y + sqrt(y^2 - R^2))/R),   y >= R.

  For the semicircle of variance 1 (R = 2) this *is* the exact GOE rate, equal to ABC's I_1 in
  energy units (I_1(u) = J(2u/E_inf)); for other laws it is an approximation (the exact rate
  depends on the matrix model, not on the limiting law alone).

The module is general on purpose (any SpectralLaw, or a density on a grid through
:class:`~hessrmt.rmt.laws.EmpiricalLaw`-free :func:`log_potential_grid`), so that other spin-glass
models (the GAN spin glass) can share it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rmt.law import SpectralLaw

__all__ = [
    "CoulombGas",
    "edge_rate",
    "interval_log_potential",
    "log_potential",
    "log_potential_grid",
    "semicircle_shape_potential",
    "theta_rule",
]


def edge_rate(y: ArrayLike, radius: float) -> np.ndarray:
    """GOE top-eigenvalue rate of a semicircle of radius ``radius`` centred at 0, for y >= radius.

    J(y) = (y/R^2) sqrt(y^2 - R^2) - ln((y + sqrt(y^2 - R^2))/R); 0 for y <= R (inside the bulk
    the rate of the largest eigenvalue is infinite at speed N; callers restrict to y >= R).
    Scale invariant: J depends on y/R only.
    """
    y = np.asarray(y, dtype=float)
    w = np.maximum(y, radius)
    root = np.sqrt(np.maximum(w * w - radius * radius, 0.0))
    out = (w / radius**2) * root - np.log((w + root) / radius)
    return np.where(y > radius, np.maximum(out, 0.0), 0.0)


def log_potential_grid(x: ArrayLike, grid: ArrayLike, density: ArrayLike) -> np.ndarray:
    """int ln|x - l| rho(l) dl for a density tabulated on a uniform ``grid`` (trapezoid in each
    cell with the exact integral of the log over the cell, so x may lie inside the grid).

    The density is used as given (not renormalised). Accuracy O(h^2) for smooth densities.
    """
    g = np.asarray(grid, dtype=float)
    rho = np.asarray(density, dtype=float)
    if g.ndim != 1 or g.shape != rho.shape or g.size < 2:
        raise InputError("grid and density must be 1-D arrays of the same length >= 2")
    h = np.diff(g)
    if np.any(h <= 0):
        raise InputError("grid must be strictly increasing")
    x = np.asarray(x, dtype=float)

    def prim(t: np.ndarray) -> np.ndarray:  # antiderivative of ln|t|
        a = np.abs(t)
        return np.where(a > 0, t * np.log(np.where(a > 0, a, 1.0)) - t, 0.0)

    # piecewise-constant cell mass (midpoint density) times the exact cell average of ln|x - l|
    mass = 0.5 * (rho[:-1] + rho[1:]) * h
    xs = x[..., None]
    avg = (prim(xs - g[:-1]) - prim(xs - g[1:])) / h
    return (avg * mass).sum(-1)


def log_potential(nodes: np.ndarray, weights: np.ndarray, x: ArrayLike) -> np.ndarray:
    """int log|l - x| dmu(l) for the discrete measure sum_i weights_i delta_{nodes_i}."""
    xs = np.asarray(x, dtype=float)
    flat = xs.ravel()
    out = np.empty(flat.size)
    step = max(1, 4_000_000 // max(nodes.size, 1))
    for s in range(0, flat.size, step):
        d = np.abs(nodes[None, :] - flat[s : s + step, None])
        with np.errstate(divide="ignore"):
            out[s : s + step] = np.log(d) @ weights
    return out.reshape(xs.shape)


def semicircle_shape_potential(y: ArrayLike, r: ArrayLike) -> np.ndarray:
    """int_{-r}^{r} sqrt(r^2 - u^2) log|u - y| du in closed form (broadcast over y and r).

    The semicircle of radius r has variance r^2/4 and log-potential y^2/r^2 - 1/2 + log(r/2)
    for |y| <= r, minus |y| sqrt(y^2 - r^2)/r^2 - log((|y| + sqrt(y^2 - r^2))/r) outside
    (``docs/reference/oracles.md`` section 6.1); its total mass is pi r^2 / 2.
    """
    y = np.asarray(y, dtype=float)
    r = np.asarray(r, dtype=float)
    ay = np.abs(y)
    root = np.sqrt(np.maximum(ay * ay - r * r, 0.0))
    pot = y * y / (r * r) - 0.5 + np.log(r / 2)
    outside = ay * root / (r * r) - np.log(np.maximum(ay + root, r) / r)
    pot = pot - np.where(ay > r, outside, 0.0)
    return 0.5 * math.pi * r * r * pot


@functools.lru_cache(maxsize=8)
def theta_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights for theta in (0, pi) (n nodes): the angle rule of
    :func:`interval_log_potential` (lambda = centre - radius cos theta)."""
    t, wt = np.polynomial.legendre.leggauss(int(n))
    theta, w = 0.5 * math.pi * (t + 1.0), 0.5 * math.pi * wt
    theta.flags.writeable = False
    w.flags.writeable = False
    return theta, w


def interval_log_potential(
    x: ArrayLike,
    a: ArrayLike,
    c: ArrayLike,
    rho_nodes: ArrayLike,
    theta: np.ndarray,
    w_theta: np.ndarray,
    *,
    chunk: int = 4_000_000,
) -> np.ndarray:
    """int_a^c log|l - x| rho(l) dl for a density known at the angle nodes of [a, c], batched.

    Shapes: ``x`` (m, K) evaluation points, ``a``, ``c`` (m,) interval ends, ``rho_nodes``
    (m, n) the density at lambda_j = (a + c)/2 - (c - a)/2 cos(theta_j) (``theta``,
    ``w_theta`` from :func:`theta_rule`). Returns (m, K). One row per measure.

    Method (square-root edges, rho = sqrt((l - a)(c - l)) h(l), h smooth): the logarithmic
    singularity at x in (a, c) is removed by subtracting h(x) times the closed form
    :func:`semicircle_shape_potential` (h(x) interpolated linearly between the nodes; 0 outside
    [a, c]); the smooth remainder int log|l - x| sqrt(..) (h(l) - h(x)) dl is integrated by
    the angle rule, whose Jacobian (c - a)/2 sin(theta) cancels the edges. Spectrally accurate
    for x away from [a, c], about 1e-4 inside with 400 nodes (tested against the semicircle).
    """
    xs = np.atleast_2d(np.asarray(x, dtype=float))
    a = np.atleast_1d(np.asarray(a, dtype=float))
    c = np.atleast_1d(np.asarray(c, dtype=float))
    rho = np.atleast_2d(np.asarray(rho_nodes, dtype=float))
    m, k = xs.shape
    half = 0.5 * (c - a)
    nodes = 0.5 * (a + c)[:, None] - half[:, None] * np.cos(theta)[None, :]
    sin = np.sin(theta)[None, :]
    weights = w_theta[None, :] * half[:, None] * sin * rho  # quadrature weights (include rho)
    sq = half[:, None] * sin  # sqrt((l - a)(c - l)) at the nodes
    h_nodes = rho / np.where(sq > 0, sq, 1.0)
    h = np.where(sq > 0, weights, 0.0)
    jac = weights / np.where(h_nodes > 0, h_nodes, np.inf)  # = w_theta * half * sin * sq
    out = np.zeros((m, k))
    hx = np.zeros((m, k))
    for i in range(m):
        inside = (xs[i] > a[i]) & (xs[i] < c[i])
        hx[i, inside] = np.interp(xs[i, inside], nodes[i], h_nodes[i])
    rows = max(1, chunk // max(k * nodes.shape[1], 1))
    for s in range(0, m, rows):
        sl = slice(s, s + rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.log(np.abs(nodes[sl, None, :] - xs[sl, :, None]))
            term = lg * (h[sl, None, :] - hx[sl, :, None] * jac[sl, None, :])
        out[sl] = np.nansum(term, axis=2)
    out += hx * semicircle_shape_potential(xs - 0.5 * (a + c)[:, None], half[:, None])
    return out


@functools.lru_cache(maxsize=8)
def _leggauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (cached: NumPy solves an n x n eigenproblem)."""
    if n < 8:
        raise InputError(f"nodes must be at least 8, got {n}")
    t, w = np.polynomial.legendre.leggauss(n)
    t.flags.writeable = False
    w.flags.writeable = False
    return t, w


@dataclass(frozen=True)
class _Rule:
    t: np.ndarray
    w: np.ndarray


class CoulombGas:
    """Omega_mu and the edge rate J_mu of a SpectralLaw, in standardised units (module docstring).

    ``standardize=True`` (default) maps the law affinely to mean 0, variance 1:
    Omega_std(y) = Omega_mu(mean + std y) - ln std. ``standardize=False`` uses the law as given.
    ``nodes`` Gauss-Legendre nodes in the angle variable are used for y outside the support
    (spectral accuracy for square-root edges); inside the support the log singularity is
    subtracted and the same number of nodes is used on each side of y.
    The law must have a right edge: a finite support whose top is not an atom.
    """

    def __init__(self, law: SpectralLaw, *, standardize: bool = True, nodes: int = 400) -> None:
        if not isinstance(law, SpectralLaw):
            raise InputError(f"expected a SpectralLaw, got {type(law).__name__}")
        lo, hi = (float(v) for v in law.support())
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
            raise InputError(
                f"{law!r} has no right edge (support [{lo}, {hi}]); the complexity needs a law "
                "whose support is a finite interval with a continuous part"
            )
        atoms = [(float(x), float(m)) for x, m in law.atoms() if m > 0]
        ac_mass = 1.0 - sum(m for _, m in atoms)
        if ac_mass <= 1e-12 or any(abs(x - hi) <= 1e-12 * max(1.0, abs(hi)) for x, _ in atoms):
            raise InputError(
                f"{law!r} has no right edge: its largest point is an atom, not the edge of a "
                "density; use a law with an absolutely continuous part at the top of its support"
            )
        self.law = law
        self.atoms_ = atoms
        self.lo, self.hi = lo, hi
        if standardize:
            mean = float(law.mean())
            var = float(law.variance())
            if not (math.isfinite(var) and var > 0):
                raise InputError(f"{law!r} has no finite positive variance to standardise by")
            self.shift, self.scale = mean, math.sqrt(var)
        else:
            self.shift, self.scale = 0.0, 1.0
        t, w = _leggauss(int(nodes))
        self._rule = _Rule(0.5 * math.pi * (t + 1.0), 0.5 * math.pi * w)
        self._gl01 = (0.5 * (t + 1.0)[None, :], 0.5 * w[None, :])
        c, r = 0.5 * (lo + hi), 0.5 * (hi - lo)
        self._c, self._r = c, r
        lam = c - r * np.cos(self._rule.t)
        self._lam = lam
        self._wdens = self._rule.w * r * np.sin(self._rule.t) * np.asarray(law.density(lam))

    # ---------------------------------------------------------------------------- geometry
    @property
    def right_edge(self) -> float:
        """The right edge b in standardised units."""
        return (self.hi - self.shift) / self.scale

    @property
    def left_edge(self) -> float:
        return (self.lo - self.shift) / self.scale

    def conventions(self) -> dict[str, object]:
        return {
            "law": self.law.conventions(),
            "units": "standardised (mean 0, variance 1)"
            if self.scale != 1.0 or self.shift
            else "as given",
            "shift": self.shift,
            "scale": self.scale,
            "log_det": "Coulomb gas: N^-1 ln E|det(y - M)| -> int ln|y - l| dmu(l)",
            "edge_rate": "GOE rate of the semicircle centred at the mean with the same right edge",
        }

    # ---------------------------------------------------------------------------- Omega
    def _omega_inside(self, x: np.ndarray) -> np.ndarray:
        """Omega at points strictly inside the support, by singularity subtraction:
        int rho(l) ln|x - l| dl = rho(x) L(x) + int (rho(l) - rho(x)) ln|x - l| dl, with
        L(x) = int_lo^hi ln|x - l| dl in closed form and the second (continuous) integrand by
        Gauss-Legendre in the angle variable on [0, t_x] and [t_x, pi] (about 1e-11 for the
        semicircle with the default 400 nodes)."""
        lo, hi, c, r = self.lo, self.hi, self._c, self._r
        tx = np.arccos(np.clip((c - x) / r, -1.0, 1.0))[:, None]
        s, w = self._gl01
        t = np.concatenate([tx * s, tx + (math.pi - tx) * s], axis=1)
        wt = np.concatenate([tx * w * np.ones_like(s), (math.pi - tx) * w * np.ones_like(s)], 1)
        lam = c - r * np.cos(t)
        rx = np.asarray(self.law.density(x), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (np.asarray(self.law.density(lam)) - rx[:, None]) * r * np.sin(t)
            f = np.where(lam == x[:, None], 0.0, f * np.log(np.abs(x[:, None] - lam)))
        big_l = (x - lo) * np.log(x - lo) - (x - lo) + (hi - x) * np.log(hi - x) - (hi - x)
        out = (wt * f).sum(1) + rx * big_l
        for a, m in self.atoms_:
            with np.errstate(divide="ignore"):
                out = out + m * np.log(np.abs(x - a))
        return out

    def omega(self, y: ArrayLike) -> np.ndarray:
        """Omega(y) = int ln|y - x| dmu_std(x) (standardised units), vectorised over ``y``.

        Points outside the support use one Gauss-Legendre rule for all (fast, spectral accuracy);
        points inside subtract the log singularity (about 1e-11 for the semicircle).
        """
        y = np.asarray(y, dtype=float)
        x = (self.shift + self.scale * y).ravel()
        out = np.empty(x.shape)
        outside = (x <= self.lo) | (x >= self.hi)
        if np.any(outside):
            xo = x[outside]
            with np.errstate(divide="ignore"):
                vals = np.log(np.abs(xo[:, None] - self._lam)) @ self._wdens
                for a, m in self.atoms_:
                    vals = vals + m * np.log(np.abs(xo - a))
            out[outside] = vals
        if not np.all(outside):
            out[~outside] = self._omega_inside(x[~outside])
        return out.reshape(y.shape) - math.log(self.scale)

    def omega_coarse(self, y: ArrayLike, points: int = 2001) -> np.ndarray:
        """Omega(y) from the density tabulated on ``points`` grid points (error O(h^2)): a cheap
        locator for optimisation over many y (:func:`log_potential_grid`), not for results."""
        if not hasattr(self, "_coarse"):
            g = np.linspace(self.lo, self.hi, int(points))
            self._coarse = (g, np.asarray(self.law.density(g), dtype=float))
        g, rho = self._coarse
        x = self.shift + self.scale * np.asarray(y, dtype=float)
        out = log_potential_grid(x, g, rho)
        for a, m in self.atoms_:
            with np.errstate(divide="ignore"):
                out = out + m * np.log(np.abs(x - a))
        return out - math.log(self.scale)

    def rate(self, y: ArrayLike) -> np.ndarray:
        """J(y): large-deviation rate of one eigenvalue at y >= right edge (module docstring)."""
        return edge_rate(y, self.right_edge)
