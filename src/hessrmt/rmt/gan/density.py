"""Limiting spectral density of the GAN Hessian model by subordination.

Derivation (``docs/reference/oracles.md`` section 14, ``docs/reference/gan-spin-glass.md``):
H = b M + D with D = (b1 M1 - x1 I) + 0 independent of the orthogonally invariant b M, a
semicircle of variance v = b^2 / 2. Pastur's equation (additive subordination with a semicircle)
gives, for Im z > 0,

    w = z - v G,   G = kappa t + (1 - kappa) / w,   t = G_{S1}(w + x1),
    (b1^2 / 2) t^2 - (w + x1) t + 1 = 0,

t being the Stieltjes transform of the block semicircle (variance v1 = b1^2 / 2). Eliminating t
gives the quartic :func:`quartic_coefficients` in G (oracle GAN-3).

Numerics:

* **Upper half-plane**: damped fixed point G <- (G + F(G)) / 2 from G = 1/z,
  F(G) = kappa t(w + x1) + (1 - kappa) / w, with t(zeta) = 2 / (zeta + sqrt(zeta - 2 sqrt v1)
  sqrt(zeta + 2 sqrt v1)) (principal roots: the branch with t ~ 1/zeta). Every iterate keeps
  Im G < 0, so Im w >= Im z > 0 and the iteration stays on the physical sheet.
* **Real axis**: from the fixed point at z = x + i eta0 the physical root of the quartic is
  followed down a geometric ladder of eta to 1e-13 (Newton from the previous rung's root,
  accepted only if it solves the subordination equation with the physical branch of t; else
  the companion-matrix root that does), and rho(x) = |Im G| / pi, taking the
  conjugate when the followed root has Im G > 0 (at real z the roots come in conjugate pairs).
  Never "the root with the largest imaginary part": that rule picks spurious roots.
* **Support**: in the general case the edges in closed form (Biane's criterion,
  :func:`hessrmt.rmt.gan.batch.support_edges`); in the closed-form limits the closure of
  {rho > 0} on a fine grid, each edge refined by bisection.
* **Atoms**: none when b > 0 (a free convolution with a semicircle is absolutely continuous,
  Biane 1997). At b = 0 the law is kappa * semicircle(-x1, v1) + (1 - kappa) delta_0 (atom at 0
  of mass 1 - kappa; and at -x1 of mass kappa when also b1 = 0).
* **Closed-form limits** (used when a parameter sits exactly at it, and checked against the
  general solver near it): kappa = 0: semicircle of variance v; kappa = 1: semicircle of
  variance v + v1 centred at -x1; b1 = 0: the cubic
  v^2 G^3 - v (2z + x1) G^2 + (z (z + x1) + v) G - (z + (1 - kappa) x1) = 0
  (real coefficients at real z, so at most one conjugate pair: rho = |Im root| / pi).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import ConvergenceError, InputError
from hessrmt.rmt.gan.model import GanHessianModel

#: Smallest Im z of the real-axis ladder.
ETA_MIN = 1e-13
#: Relative density threshold below which a grid point counts as outside the support.
SUPPORT_THRESHOLD = 1e-7


def _semicircle_g(zeta: np.ndarray, v: float) -> np.ndarray:
    """Stieltjes transform of the semicircle of variance v (centre 0), branch G ~ 1/zeta."""
    if v == 0.0:
        return 1.0 / zeta
    r = 2.0 * math.sqrt(v)
    return 2.0 / (zeta + np.sqrt(zeta - r) * np.sqrt(zeta + r))


def _as_upper(z: ArrayLike) -> np.ndarray:
    zz = np.asarray(z, dtype=complex)
    if np.any(~np.isfinite(zz)) or np.any(zz.imag <= 0):
        raise InputError("z must be finite with Im z > 0 (the upper half-plane)")
    return zz


def stieltjes(
    model: GanHessianModel, z: ArrayLike, *, tol: float = 1e-13, max_iter: int = 200_000
) -> np.ndarray:
    """G(z) = int rho(l) / (z - l) dl for Im z > 0 by the damped subordination fixed point.

    Raises :class:`ConvergenceError` when the iteration has not settled (|step| > tol |G|)
    within ``max_iter`` steps (it is slow only for Im z << the spectral scale).
    """
    zz = _as_upper(z)
    shape = zz.shape
    zz = zz.ravel()
    k, v, v1, x1 = model.kappa, model.v, model.v1, model.x1
    g = 1.0 / zz
    active = np.arange(zz.size)
    for _ in range(max_iter):
        za, ga = zz[active], g[active]
        w = za - v * ga
        f = (1.0 - k) / w if k < 1 else np.zeros_like(w)
        if k > 0:
            f = f + k * _semicircle_g(w + x1, v1)
        new = 0.5 * (ga + f)
        done = np.abs(new - ga) <= tol * np.abs(new)
        g[active] = new
        active = active[~done]
        if active.size == 0:
            return g.reshape(shape)
    raise ConvergenceError(
        f"GAN subordination fixed point did not converge at {active.size} points within "
        f"{max_iter} iterations (smallest Im z = {zz.imag.min():.3g}); use a larger Im z"
    )


def quartic_coefficients(model: GanHessianModel, z: ArrayLike) -> np.ndarray:
    """Coefficients (highest degree first, shape (5, ...)) of the quartic in G at z.

    From ``docs/reference/oracles.md`` section 14 (verified symbolically in the tests):
    b^4 (b^2 k + b1^2); -2 b^2 (b^2 k x1 + 3 b^2 k z + 2 b1^2 z); 2 (b^4 k - 2 b^2 b1^2 k +
    2 b^2 b1^2 + 4 b^2 k x1 z + 6 b^2 k z^2 + 2 b1^2 z^2); -4 (-b^2 k^2 x1 + b^2 k x1 + 2 b^2 k z
    - 2 b1^2 k z + 2 b1^2 z + 2 k x1 z^2 + 2 k z^3); -4 (-b1^2 k^2 + 2 b1^2 k - b1^2
    + 2 k^2 x1 z - 2 k x1 z - 2 k z^2).
    """
    zz = np.asarray(z, dtype=complex)
    b, c, k, x = model.b, model.b1, model.kappa, model.x1
    b2, c2 = b * b, c * c
    one = np.ones_like(zz)
    return np.stack(
        [
            b2 * b2 * (b2 * k + c2) * one,
            -2 * b2 * (b2 * k * x + 3 * b2 * k * zz + 2 * c2 * zz),
            2
            * (
                b2 * b2 * k
                - 2 * b2 * c2 * k
                + 2 * b2 * c2
                + 4 * b2 * k * x * zz
                + 6 * b2 * k * zz**2
                + 2 * c2 * zz**2
            ),
            -4
            * (
                -b2 * k * k * x
                + b2 * k * x
                + 2 * b2 * k * zz
                - 2 * c2 * k * zz
                + 2 * c2 * zz
                + 2 * k * x * zz**2
                + 2 * k * zz**3
            ),
            -4
            * (-c2 * k * k + 2 * c2 * k - c2 + 2 * k * k * x * zz - 2 * k * x * zz - 2 * k * zz**2),
        ]
    )


def cubic_coefficients_b1_zero(model: GanHessianModel, z: ArrayLike) -> np.ndarray:
    """The b1 = 0 limit: v^2 G^3 - v (2z + x1) G^2 + (z (z + x1) + v) G - (z + (1 - k) x1)."""
    zz = np.asarray(z, dtype=complex)
    v, x, k = model.v, model.x1, model.kappa
    one = np.ones_like(zz)
    return np.stack([v * v * one, -v * (2 * zz + x), zz * (zz + x) + v, -(zz + (1 - k) * x)])


def batched_roots(coeffs: np.ndarray) -> np.ndarray:
    """Roots of many polynomials at once: coeffs (d + 1, m) -> roots (m, d) (companion eigs)."""
    c = np.asarray(coeffs, dtype=complex)
    d = c.shape[0] - 1
    m = c.shape[1]
    comp = np.zeros((m, d, d), dtype=complex)
    comp[:, 0, :] = -(c[1:] / c[0]).T
    if d > 1:
        comp[:, np.arange(1, d), np.arange(d - 1)] = 1.0
    return np.linalg.eigvals(comp)


def _scale(model: GanHessianModel) -> float:
    lo, hi = model.spectrum_bounds()
    return max(hi - lo, 1e-300)


def _closed_form_kind(model: GanHessianModel) -> str | None:
    if model.b == 0.0:
        return "b=0"
    if model.kappa == 0.0:
        return "kappa=0"
    if model.kappa == 1.0:
        return "kappa=1"
    if model.b1 == 0.0:
        return "b1=0"
    return None


def _semicircle_density(x: np.ndarray, centre: float, v: float) -> np.ndarray:
    if v == 0.0:
        return np.zeros_like(x)
    return np.sqrt(np.clip(4 * v - (x - centre) ** 2, 0.0, None)) / (2 * math.pi * v)


def density(model: GanHessianModel, x: ArrayLike, *, ladder: int = 40) -> np.ndarray:
    """The absolutely continuous part rho(x) of the limiting spectral law at real points x.

    Closed forms at kappa in {0, 1} and b = 0; the cubic (one conjugate pair) at b1 = 0;
    otherwise the quartic root continued from the fixed point at z = x + i eta0 down to
    eta = 1e-13 (see the module docstring).
    """
    xs = np.asarray(x, dtype=float)
    if np.any(~np.isfinite(xs)):
        raise InputError("density: x must be finite")
    flat = xs.ravel()
    kind = _closed_form_kind(model)
    if kind == "b=0":
        out = model.kappa * _semicircle_density(flat, -model.x1, model.v1)
    elif kind == "kappa=0":
        out = _semicircle_density(flat, 0.0, model.v)
    elif kind == "kappa=1":
        out = _semicircle_density(flat, -model.x1, model.v + model.v1)
    elif kind == "b1=0":
        roots = batched_roots(cubic_coefficients_b1_zero(model, flat.astype(complex)))
        out = np.abs(roots.imag).max(axis=1) / math.pi
    else:
        out = _continued_density(model, flat, ladder)
    return out.reshape(xs.shape)


def _horner(coeffs: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(g) and P'(g) for coefficient rows (highest first) evaluated pointwise."""
    p = coeffs[0].copy()
    dp = np.zeros_like(p)
    for c in coeffs[1:]:
        dp = dp * g + p
        p = p * g + c
    return p, dp


def _fixed_point_residual(model: GanHessianModel, z: np.ndarray, g: np.ndarray) -> np.ndarray:
    """|kappa t(w + x1) + (1 - kappa)/w - G| / |G| with the physical (principal) branch of t.

    Zero exactly for the physical root; the spurious quartic roots solve the system with the
    other branch of t and leave a residual (this is what tells two nearby roots apart)."""
    w = z - model.v * g
    f = model.kappa * _semicircle_g(w + model.x1, model.v1) + (1 - model.kappa) / w
    return np.abs(f - g) / np.abs(g)


def _continued_density(model: GanHessianModel, x: np.ndarray, ladder: int) -> np.ndarray:
    """Follow the physical quartic root from the fixed point at eta0 to eta = 1e-13 * scale by
    Newton's method on each rung (a few steps from the previous rung's root). A step is kept
    only if it converged, stays in the lower half-plane and solves the subordination equation
    with the physical branch (:func:`_fixed_point_residual` < 1e-7); elsewhere the companion
    root with Im G < 0 and the smallest residual is taken."""
    scale = _scale(model)
    eta0 = 0.25 * scale
    g = stieltjes(model, x + 1j * eta0)
    for eta in np.geomspace(eta0, ETA_MIN * scale, ladder)[1:]:
        z = x + 1j * eta
        coeffs = quartic_coefficients(model, z)
        for _ in range(12):
            p, dp = _horner(coeffs, g)
            step = p / np.where(dp == 0, 1.0, dp)
            g = g - step
            if np.all(np.abs(step) <= 1e-14 * np.abs(g)):
                break
        with np.errstate(invalid="ignore", divide="ignore"):
            bad = (
                ~(np.abs(step) <= 1e-10 * np.abs(g))
                | (g.imag >= 0)  # the physical branch has Im G < 0 for Im z > 0
                | ~(_fixed_point_residual(model, z, g) < 1e-7)
            )
        if np.any(bad):
            roots = batched_roots(coeffs[:, bad])
            zb = np.broadcast_to(z[bad][:, None], roots.shape)
            with np.errstate(invalid="ignore", divide="ignore"):
                res = _fixed_point_residual(model, zb, roots)
            res = np.where((roots.imag < 0) & np.isfinite(res), res, np.inf)
            g[bad] = roots[np.arange(roots.shape[0]), np.argmin(res, axis=1)]
    return np.abs(g.imag) / math.pi


def atoms(model: GanHessianModel) -> list[tuple[float, float]]:
    """Atoms (location, mass): none for b > 0; at b = 0, 1 - kappa at 0 (and kappa at -x1 when
    b1 = 0 too)."""
    if model.b > 0:
        return []
    out: list[tuple[float, float]] = []
    if model.kappa < 1:
        out.append((0.0, 1.0 - model.kappa))
    if model.kappa > 0 and model.b1 == 0:
        if model.x1 == 0.0 and out:
            out[0] = (0.0, 1.0)
        else:
            out.append((-model.x1, model.kappa))
    return sorted(out)


def support(
    model: GanHessianModel, *, grid_points: int = 2049, tol: float | None = None
) -> list[tuple[float, float]]:
    """Intervals of the support of the continuous part. General case (0 < kappa < 1, b, b1 > 0):
    the closed-form edges of :func:`hessrmt.rmt.gan.batch.support_edges` (to round-off).
    Closed-form limits: a grid of ``grid_points`` with each edge refined by bisection to ``tol``
    (default 1e-9 times the spectral scale)."""
    lo, hi = model.spectrum_bounds()
    scale = _scale(model)
    tol = 1e-9 * scale if tol is None else tol
    if model.b == 0.0 and model.v1 == 0.0:
        return []
    if _closed_form_kind(model) is None:
        # general case: edges in closed form (Biane's criterion, hessrmt.rmt.gan.batch); no
        # grid, so a component narrower than any grid step (the (1 - kappa) mass near 0 when b
        # is small) is found too
        from hessrmt.rmt.gan.batch import Params, support_edges

        e = support_edges(Params(model.kappa, model.b, model.b1, model.x1))
        return [(float(a), float(c)) for a, c in zip(e[0::2], e[1::2], strict=True) if a == a]
    pad = 1e-3 * scale
    grid = np.linspace(lo - pad, hi + pad, grid_points)
    rho = density(model, grid)
    thr = SUPPORT_THRESHOLD * max(float(rho.max()), 1e-300)
    inside = rho > thr
    if not inside.any():
        return []
    change = np.flatnonzero(np.diff(inside.astype(int)))
    # edges bracketed by [grid[i], grid[i + 1]]; outside->inside is a left edge
    brackets = [(grid[i], grid[i + 1], bool(inside[i + 1])) for i in change]

    def is_in(points: np.ndarray) -> np.ndarray:
        return density(model, points) > thr

    a = np.array([br[0] for br in brackets])
    c = np.array([br[1] for br in brackets])
    left = np.array([br[2] for br in brackets])  # True: a outside, c inside
    while np.any(c - a > tol):
        mid = 0.5 * (a + c)
        mid_in = is_in(mid)
        move_c = mid_in == left  # the inside end moves for a left edge, outside end otherwise
        c = np.where(move_c, mid, c)
        a = np.where(move_c, a, mid)
    edges = 0.5 * (a + c)
    out = []
    for edge, is_left in zip(edges, left, strict=True):
        if is_left:
            out.append([float(edge), math.nan])
        elif out and math.isnan(out[-1][1]):
            out[-1][1] = float(edge)
    return [(s, e) for s, e in out if not math.isnan(e)]


def quadrature(
    model: GanHessianModel, intervals: list[tuple[float, float]] | None = None, n: int = 400
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (weights already include rho) of a discrete measure that integrates
    smooth functions against the continuous part of the law to near machine precision.

    On each support interval [a, c]: x = (a + c)/2 - (c - a)/2 cos(theta), Gauss-Legendre in
    theta in (0, pi); the Jacobian (c - a)/2 sin(theta) cancels the square-root edges.
    """
    ivs = support(model) if intervals is None else intervals
    t, wt = np.polynomial.legendre.leggauss(n)
    theta = 0.5 * math.pi * (t + 1.0)
    wth = 0.5 * math.pi * wt
    xs, ws = [], []
    for a, c in ivs:
        x = 0.5 * (a + c) - 0.5 * (c - a) * np.cos(theta)
        xs.append(x)
        ws.append(wth * 0.5 * (c - a) * np.sin(theta))
    if not xs:
        return np.empty(0), np.empty(0)
    x = np.concatenate(xs)
    return x, np.concatenate(ws) * density(model, x)


def cdf(
    model: GanHessianModel,
    x: ArrayLike,
    *,
    intervals: list[tuple[float, float]] | None = None,
    grid_points: int = 8001,
) -> np.ndarray:
    """The cumulative distribution function (atoms included) at the points x.

    Integrates rho on a fine grid of the support by the trapezoid rule after the substitution
    of :func:`quadrature` (so the square-root edges cost nothing), then interpolates.
    """
    xs = np.asarray(x, dtype=float)
    ivs = support(model) if intervals is None else intervals
    theta = np.linspace(0.0, math.pi, grid_points)
    out = np.zeros(xs.shape)
    for a, c in ivs:
        nodes = 0.5 * (a + c) - 0.5 * (c - a) * np.cos(theta)
        f = density(model, nodes) * 0.5 * (c - a) * np.sin(theta)
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(theta))])
        out = out + np.interp(xs, nodes, cum, left=0.0, right=cum[-1])
    for loc, mass in atoms(model):
        out = out + mass * (xs >= loc)
    return out


# ---------------------------------------------------------------------------------------------
# the repository's quartic, for comparison only
# ---------------------------------------------------------------------------------------------


def repository_density(model: GanHessianModel, x: ArrayLike) -> np.ndarray:
    """The density of the authors' ``rmt/spectrum.py`` (reproduction mode only: it does NOT match
    the authors' own sampler, ``docs/reference/papers.md`` section 6.2).

    A quartic in t with coefficients [AD, AE + BD, AF + CD + BE + kappa b^2/2, BF + CE, CF] from
    (A, B, C) = (1, -x, (1 - kappa) b^2 / 2) and (D, E, F) = (1 + b1^2 / (b^2 kappa),
    -(b1^2 x / (b^2 kappa) - x1), -(1 - kappa) b1^2 / (2 kappa)); density = max(-Im roots) *
    2 / (pi b^2), clipped at 0 ("root with maximal imaginary part", as coded).
    """
    xs = np.asarray(x, dtype=float).ravel()
    b, b1, k, x1 = model.b, model.b1, model.kappa, model.x1
    if b <= 0 or not 0 < k < 1:
        raise InputError("the repository quartic needs b > 0 and 0 < kappa < 1")
    aa, bb, cc = 1.0, -xs, (1 - k) * b**2 / 2
    dd = 1 + b1**2 / b**2 / k
    ee = -(b1**2 / b**2 / k * xs - x1)
    ff = -(1 - k) / k * b1**2 / 2
    one = np.ones_like(xs)
    coeffs = np.stack(
        [
            aa * dd * one,
            aa * ee + bb * dd,
            (aa * ff + cc * dd + k * b**2 / 2) * one + bb * ee,
            bb * ff + cc * ee,
            cc * ff * one,
        ]
    )
    roots = batched_roots(coeffs.astype(complex))
    out = np.maximum((-roots.imag).max(axis=1) * 2 / (math.pi * b**2), 0.0)
    return out.reshape(np.shape(x))
