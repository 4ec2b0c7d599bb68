"""Complexity Theta(u_D, u_G) of the GAN spin glass, thresholds theta_D, theta_G, index
constraints and vectorised sweeps (arXiv 2101.02524; the authors' ``rmt/constants.py``,
``rmt/coulomb.py``, ``rmt/complexity.py``; ``docs/reference/papers.md`` section 6.1).

Constants (p discriminator and q generator spin orders, sigma_z latent noise scale, kappa the
discriminator's share of the N dimensions):

* b = sigma_z sqrt((p + q)(p + q - 1) 2^{p+q}),  b1 = sqrt(p (p - 1) kappa);
* s^2 = sigma_z^2 (p + q)^2 2^{3(p+q)} / 2,  s1^2 = p^2 / 2;
* C = (13/2) ln 2 + 5 ln pi - (kappa/2) ln(p + sigma_z^2 (p + q) 2^{p+q})
  - ((1 - kappa)/2) ln(sigma_z^2 (p + q) 2^{p+q}) - (kappa/2) ln kappa
  - ((1 - kappa)/2) ln(1 - kappa).

Exponent f(x, x1) = C - x^2/(2 s^2) - x1^2/(2 s1^2) + L(x; x1), with L the Coulomb-gas
log-determinant (:mod:`hessrmt.rmt.gan.coulomb`) of H(x1) = b M + [[b1 M1 - x1 I, 0], [0, 0]].

Region: (x, x1) counts towards Theta(u_D, u_G) iff x < P = (p + q) 2^{p+q} u_G and
x1 > R x + Q, Q = -p u_D, R = -p / (2^{p+q} (p + q)); Theta = max of f over the region. So a grid
point enters once u_G > g(x) = x / ((p + q) 2^{p+q}) and u_D > d(x, x1) = (R x - x1) / p, and

* Theta on a (u_D, u_G) grid is a 2-D running maximum ("dominance maximum") of f binned by
  (d, g) (exact on the grid; no loop over the 500 x 500 energies);
* theta_D = min{u_D : Theta(u_D, u_G) > 0 for some u_G} = min of d over {f > 0}, and
  theta_G = min of g over {f > 0} (grid-free in u; the authors take the same minima on their
  u grid).

Index constraint (as coded by the authors; ``docs/reference/oracles.md`` section 12):
f - k_G kappa I(x; sqrt(2 (1 - kappa)) b) - k_D (1 - kappa) I(-(x + x1); sqrt(2 kappa (b^2 +
b1^2))) with I(u; E) = |u| sqrt(u^2 - E^2)/E^2 - log(|u| + sqrt(u^2 - E^2)) + log E for
|u| >= E, +inf inside (the GOE top-eigenvalue large-deviation rate).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable

import numpy as np

from hessrmt.errors import InputError
from hessrmt.rmt.gan import batch as gb
from hessrmt.rmt.gan.model import GanHessianModel

#: The authors' grids (``scripts/rmt_sigmaz_exp.py``).
PAPER_X = (-1000.0, 25.0, 2000)
PAPER_X1 = (-15.0, 40.0, 100)
PAPER_U_POINTS = 500


def check_parameters(p: int, q: int, sigma_z: float, kappa: float) -> None:
    """Raise :class:`InputError` unless p, q >= 2 are integers, sigma_z > 0, 0 < kappa < 1."""
    for name, val in (("p", p), ("q", q)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 2:
            raise InputError(f"{name} must be an integer >= 2 (spin-glass order), got {val!r}")
    if not (isinstance(sigma_z, (int, float, np.floating)) and math.isfinite(sigma_z)):
        raise InputError(f"sigma_z must be a finite number > 0, got {sigma_z!r}")
    if sigma_z <= 0:
        raise InputError(f"sigma_z must be > 0 (latent noise scale), got {sigma_z}")
    if not (isinstance(kappa, (int, float, np.floating)) and 0.0 < kappa < 1.0):
        raise InputError(f"kappa must lie strictly between 0 and 1, got {kappa!r}")


@dataclasses.dataclass(frozen=True)
class GanConstants:
    """b, b1, s^2, s1^2 and the log-constant C of the complexity (module docstring)."""

    p: int
    q: int
    sigma_z: float
    kappa: float
    b: float
    b1: float
    s_sq: float
    s1_sq: float
    log_constant: float

    @classmethod
    def of(cls, p: int, q: int, sigma_z: float, kappa: float) -> GanConstants:
        check_parameters(p, q, sigma_z, kappa)
        n = p + q
        two = 2.0**n
        b = sigma_z * math.sqrt(n * (n - 1) * two)
        b1 = math.sqrt(p * (p - 1) * kappa)
        s_sq = sigma_z**2 * n**2 * 2.0 ** (3 * n) / 2
        s1_sq = p**2 / 2
        c = (
            6.5 * math.log(2)
            + 5 * math.log(math.pi)
            - kappa / 2 * math.log(p + sigma_z**2 * n * two)
            - (1 - kappa) / 2 * math.log(sigma_z**2 * n * two)
            - kappa / 2 * math.log(kappa)
            - (1 - kappa) / 2 * math.log(1 - kappa)
        )
        return cls(int(p), int(q), float(sigma_z), float(kappa), b, b1, s_sq, s1_sq, c)

    def model(self, x1: float) -> GanHessianModel:
        return GanHessianModel(self.kappa, self.b, self.b1, float(x1))

    def g_of(self, x: np.ndarray) -> np.ndarray:
        """u_G above which x is in the region: x / ((p + q) 2^{p+q})."""
        return x / ((self.p + self.q) * 2.0 ** (self.p + self.q))

    def d_of(self, x: np.ndarray, x1: np.ndarray) -> np.ndarray:
        """u_D above which (x, x1) is in the region: (R x - x1) / p."""
        r = -self.p / (2.0 ** (self.p + self.q) * (self.p + self.q))
        return (r * x - x1) / self.p


def goe_ldp_rate(u: np.ndarray, e: float) -> np.ndarray:
    """I(u; E) = |u| sqrt(u^2 - E^2)/E^2 - log(|u| + sqrt(u^2 - E^2)) + log E, +inf for |u| < E."""
    au = np.abs(np.asarray(u, dtype=float))
    root = np.sqrt(np.maximum(au * au - e * e, 0.0))
    val = au * root / (e * e) - np.log(np.maximum(au + root, e)) + math.log(e)
    return np.where(au >= e, val, np.inf)


@dataclasses.dataclass(frozen=True)
class ExponentGrid:
    """f(x, x1) on a grid: ``values[i, j]`` at x1 = ``x1[i]``, x = ``x[j]``; ``log_det`` is the
    Coulomb-gas L(x; x1) alone."""

    constants: GanConstants
    x: np.ndarray
    x1: np.ndarray
    log_det: np.ndarray

    @property
    def values(self) -> np.ndarray:
        c = self.constants
        xx, yy = self.x[None, :], self.x1[:, None]
        return c.log_constant - xx**2 / (2 * c.s_sq) - yy**2 / (2 * c.s1_sq) + self.log_det

    def index_values(self, k_d: int = 0, k_g: int = 0) -> np.ndarray:
        """f minus the index penalties for (k_D, k_G) (as in the authors' code)."""
        c = self.constants
        out = self.values
        xx, yy = np.broadcast_arrays(self.x[None, :], self.x1[:, None])
        if k_g > 0:
            out = out - k_g * c.kappa * goe_ldp_rate(xx, math.sqrt(2 * (1 - c.kappa)) * c.b)
        if k_d > 0:
            e_d = math.sqrt(2 * c.kappa * (c.b**2 + c.b1**2))
            out = out - k_d * (1 - c.kappa) * goe_ldp_rate(-(xx + yy), e_d)
        return out


def _deprecated_nodes(nodes: int | None) -> None:
    if nodes is not None:
        warnings.warn(
            "nodes is ignored since the exponent grid is solved in closed form (no quadrature); "
            "drop the argument",
            DeprecationWarning,
            stacklevel=3,
        )


def exponent_grid(
    constants: GanConstants,
    x: np.ndarray | None = None,
    x1: np.ndarray | None = None,
    *,
    nodes: int | None = None,
    progress: Iterable | None = None,
    chunk: int = 25,
) -> ExponentGrid:
    """f on the grid (default: the authors' 2000 x-values in [-1000, 25] and 100 x1-values in
    [-15, 40]). The x1 values are solved ``chunk`` at a time in one vectorised pass
    (:func:`hessrmt.rmt.gan.batch.log_determinant`: one batched solve of G(x + i0) at every
    (x, x1) and the closed-form subordination log-potential; no quadrature, so the narrow
    (1 - kappa)-mass component near 0 at small sigma_z is not missed); ``progress`` wraps the
    chunk loop (e.g. ``tqdm``). ``nodes`` (the quadrature nodes of an earlier version) is
    deprecated and ignored: passing it warns."""
    _deprecated_nodes(nodes)
    xs = np.linspace(*PAPER_X[:2], PAPER_X[2]) if x is None else np.asarray(x, dtype=float)
    x1s = np.linspace(*PAPER_X1[:2], PAPER_X1[2]) if x1 is None else np.asarray(x1, dtype=float)
    ld = np.empty((x1s.size, xs.size))
    starts = range(0, x1s.size, max(1, int(chunk)))
    it = starts if progress is None else progress(starts)
    c = constants
    for s in it:
        sl = slice(s, s + max(1, int(chunk)))
        params = gb.Params(c.kappa, c.b, c.b1, x1s[sl])
        ld[sl] = gb.log_determinant(params, xs)
    return ExponentGrid(constants, xs, x1s, ld)


def thresholds(grid: ExponentGrid, values: np.ndarray | None = None) -> tuple[float, float]:
    """(theta_D, theta_G): min of d and of g over the grid points with f > 0 (nan if none)."""
    f = grid.values if values is None else values
    pos = f > 0
    if not pos.any():
        return math.nan, math.nan
    xx, yy = np.broadcast_arrays(grid.x[None, :], grid.x1[:, None])
    c = grid.constants
    return float(c.d_of(xx[pos], yy[pos]).min()), float(c.g_of(xx[pos]).min())


@dataclasses.dataclass(frozen=True)
class ThetaMap:
    """Theta(u_D, u_G) on a grid: ``theta[i, j]`` at u_G = ``u_g[i]``, u_D = ``u_d[j]``
    (-inf where the region holds no grid point)."""

    u_d: np.ndarray
    u_g: np.ndarray
    theta: np.ndarray


def theta_map(
    grid: ExponentGrid, values: np.ndarray | None = None, points: int = PAPER_U_POINTS
) -> ThetaMap:
    """Theta on the authors' (u_D, u_G) box (from the x, x1 ranges) by a 2-D running maximum.

    A grid point with entry levels (d, g) is in the region of (u_D, u_G) iff d < u_D and
    g < u_G; binning each point into the first u-cell strictly above its (d, g) and taking the
    running maximum along both axes gives max f over the region at every cell.
    """
    f = grid.values if values is None else values
    c = grid.constants
    xx, yy = np.broadcast_arrays(grid.x[None, :], grid.x1[:, None])
    d = c.d_of(xx, yy).ravel()
    g = c.g_of(xx).ravel()
    r = -c.p / (2.0 ** (c.p + c.q) * (c.p + c.q))
    u_g = np.linspace(c.g_of(grid.x.min()), c.g_of(grid.x.max()), points)
    u_d = np.linspace(
        (grid.x.max() * r - grid.x1.max()) / c.p, (grid.x.min() * r - grid.x1.min()) / c.p, points
    )
    i = np.searchsorted(u_g, g, side="right")
    j = np.searchsorted(u_d, d, side="right")
    keep = (i < points) & (j < points)
    cell = np.full((points, points), -np.inf)
    np.maximum.at(cell, (i[keep], j[keep]), f.ravel()[keep])
    cell = np.maximum.accumulate(np.maximum.accumulate(cell, axis=0), axis=1)
    return ThetaMap(u_d, u_g, cell)


@dataclasses.dataclass(frozen=True)
class ThresholdSweep:
    """theta_D, theta_G (and whether each sits on the grid edge) along one swept parameter."""

    parameter: str
    values: np.ndarray
    theta_d: np.ndarray
    theta_g: np.ndarray
    d_at_edge: np.ndarray
    g_at_edge: np.ndarray


def threshold_sweep(
    p: int,
    q: int,
    *,
    kappa: float | np.ndarray,
    sigma_z: float | np.ndarray,
    x: np.ndarray,
    x1: np.ndarray,
    nodes: int | None = None,
    progress: Iterable | None = None,
) -> ThresholdSweep:
    """Thresholds along sigma_z (array ``sigma_z``, scalar ``kappa``) or along kappa (array
    ``kappa``, scalar ``sigma_z``). For each value: one exponent grid (all x1 and x in
    one batched solve, :func:`exponent_grid`) and the grid-free minima of :func:`thresholds`.
    ``nodes`` is deprecated and ignored (as for :func:`exponent_grid`)."""
    _deprecated_nodes(nodes)
    s_arr, k_arr = np.atleast_1d(sigma_z), np.atleast_1d(kappa)
    if s_arr.size > 1 and k_arr.size > 1:
        raise InputError("sweep either sigma_z or kappa, not both")
    parameter, values = ("kappa", k_arr) if k_arr.size > 1 else ("sigma_z", s_arr)
    out = np.full((4, values.size), np.nan)
    it = range(values.size) if progress is None else progress(range(values.size))
    for i in it:
        s = float(s_arr[0] if parameter == "kappa" else values[i])
        k = float(values[i] if parameter == "kappa" else k_arr[0])
        c = GanConstants.of(p, q, s, k)
        grid = exponent_grid(c, x, x1)
        td, tg = thresholds(grid)
        out[:, i] = (
            td,
            tg,
            float(np.isclose(td, c.d_of(x[-1], x1[-1]))),
            float(np.isclose(tg, c.g_of(x[0]))),
        )
    return ThresholdSweep(parameter, values.astype(float), out[0], out[1], out[2] > 0, out[3] > 0)
