"""The GAN Hessian model's limiting law for many parameter sets at once (vectorised over x1,
sigma_z, kappa, ...): support edges in closed form, density at quadrature nodes, log-determinant.

Same law and conventions as :mod:`hessrmt.rmt.gan.density` (H = b M + [[b1 M1 - x1 I, 0],
[0, 0]], semicircle variances v = b^2/2 and v1 = b1^2/2, G(z) = int rho/(z - l)); only the
general case 0 < kappa < 1, b > 0, b1 > 0 is batched (the closed-form limits stay scalar).

**Support edges (Biane 1997, Cor. 3 / Prop. 2).** mu = mu_D boxplus semicircle(v) with
mu_D = kappa semicircle(-x1, v1) + (1 - kappa) delta_0. For real w outside supp mu_D let

    h(w) = int dmu_D(s) / (w - s)^2 = kappa |t(w + x1)| / sqrt((w + x1)^2 - 4 v1) + (1 - kappa)/w^2,
    psi(w) = w + v G_D(w),   G_D(w) = kappa t(w + x1) + (1 - kappa)/w,

t the semicircle transform of :func:`hessrmt.rmt.gan.density._semicircle_g`. The complement of
supp mu is psi({w : h(w) < 1/v}) and psi is increasing there, so the edges are psi(w) at the
roots of h(w) = 1/v. h is convex on each gap of supp mu_D and infinite at its finite ends (the
block edges have square-root density, 0 is an atom), so: one root on each outer gap, and on the
gap between the block and 0 (when |x1| > 2 sqrt v1) two roots if min h < 1/v, else none (the
components have merged). Roots by vectorised bisection (h monotone on each bracket) to round-off.

**Density** at given real points: the algorithm of :func:`hessrmt.rmt.gan.density.density`
(damped fixed point at Im z = 0.25 scale, then the physical quartic root followed down a
geometric ladder of Im z to 1e-13 scale with Newton and the companion-matrix fallback), with the
parameters carried per point, so one pass serves every (x, parameter set).

**Log-determinant** L(x) = int log|l - x| dmu(l) by
:func:`hessrmt.rmt.complexity.coulomb.interval_log_potential` on each support interval.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import ConvergenceError, InputError
from hessrmt.rmt.complexity.coulomb import interval_log_potential, theta_rule
from hessrmt.rmt.gan import density as gd

_BISECT = 200  # bisection steps (stop early once every bracket is at round-off)


class Params:
    """Parameter arrays (kappa, b, b1, x1) broadcast to one shape; general case only."""

    def __init__(self, kappa: ArrayLike, b: ArrayLike, b1: ArrayLike, x1: ArrayLike) -> None:
        arrs = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (kappa, b, b1, x1)))
        k, b_, b1_, x1_ = (np.array(a, dtype=float) for a in arrs)
        if not all(np.all(np.isfinite(a)) for a in (k, b_, b1_, x1_)):
            raise InputError("batched GAN law: kappa, b, b1 and x1 must be finite")
        if np.any((k <= 0) | (k >= 1)) or np.any(b_ <= 0) or np.any(b1_ <= 0):
            raise InputError(
                "batched GAN law needs 0 < kappa < 1, b > 0 and b1 > 0 (the closed-form limits "
                "are handled by hessrmt.rmt.gan.density one model at a time)"
            )
        self.kappa, self.b, self.b1, self.x1 = k, b_, b1_, x1_
        self.v, self.v1 = b_**2 / 2.0, b1_**2 / 2.0

    @property
    def shape(self) -> tuple[int, ...]:
        return self.kappa.shape

    def scale(self) -> np.ndarray:
        """Width of :meth:`GanHessianModel.spectrum_bounds` (the Weyl bound on the support)."""
        r, r1 = math.sqrt(2.0) * self.b, math.sqrt(2.0) * self.b1
        hi = np.maximum(-self.x1 + r1, 0.0) + r
        lo = np.minimum(-self.x1 - r1, 0.0) - r
        return hi - lo

    def take(self, idx: np.ndarray) -> Params:
        return Params(self.kappa[idx], self.b[idx], self.b1[idx], self.x1[idx])


def _t_real(zeta: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """Semicircle transform (variance v1) at real |zeta| > 2 sqrt(v1): the branch ~ 1/zeta."""
    r2 = 4.0 * v1
    root = np.sqrt(np.maximum(zeta * zeta - r2, 0.0))
    return 2.0 / (zeta + np.sign(zeta) * root)


def _h(w: np.ndarray, p: Params) -> np.ndarray:
    zeta = w + p.x1
    root = np.sqrt(np.maximum(zeta * zeta - 4.0 * p.v1, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return p.kappa * np.abs(_t_real(zeta, p.v1)) / root + (1.0 - p.kappa) / (w * w)


def _psi(w: np.ndarray, p: Params) -> np.ndarray:
    return w + p.v * (p.kappa * _t_real(w + p.x1, p.v1) + (1.0 - p.kappa) / w)


def _bisect(lo: np.ndarray, hi: np.ndarray, up: np.ndarray, f) -> np.ndarray:
    """Root of f(w) = 0 in [lo, hi]; ``up``: f increasing (negative at lo). Vectorised."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(_BISECT):
        mid = 0.5 * (lo + hi)
        if np.all((mid == lo) | (mid == hi)):
            break
        neg = f(mid) < 0
        go_right = neg == up
        lo = np.where(go_right, mid, lo)
        hi = np.where(go_right, hi, mid)
    return 0.5 * (lo + hi)


def support_edges(p: Params) -> np.ndarray:
    """Edges of the support, shape p.shape + (4,): [a1, c1, a2, c2] for two components,
    [a, c, nan, nan] for one (module docstring)."""
    shape = p.shape
    q = Params(p.kappa.ravel(), p.b.ravel(), p.b1.ravel(), p.x1.ravel())
    r1 = 2.0 * np.sqrt(q.v1)
    a_lo, a_hi = -q.x1 - r1, -q.x1 + r1
    left0, right0 = np.minimum(a_lo, 0.0), np.maximum(a_hi, 0.0)
    sv = np.sqrt(q.v)
    inv_v = 1.0 / q.v

    def f(w: np.ndarray) -> np.ndarray:
        return _h(w, q) - inv_v

    # h < 1/(distance to the support of mu_D)^2, so the outer roots lie within sqrt(v) of it
    w_left = _bisect(left0 - 2.0 * sv, left0, np.ones(q.shape, bool), f)
    w_right = _bisect(right0, right0 + 2.0 * sv, np.zeros(q.shape, bool), f)
    out = np.full((*q.shape, 4), np.nan)
    out[:, 0] = _psi(w_left, q)
    out[:, 3] = _psi(w_right, q)
    gap = (a_hi < 0.0) | (a_lo > 0.0)
    if np.any(gap):
        g = q.take(gap)
        g1 = np.where(a_hi[gap] < 0, a_hi[gap], 0.0)
        g2 = np.where(a_hi[gap] < 0, 0.0, a_lo[gap])
        # minimum of the convex h on (g1, g2) by golden-section search
        lo, hi = g1.copy(), g2.copy()
        phi = (math.sqrt(5.0) - 1.0) / 2.0
        for _ in range(120):
            m1, m2 = hi - phi * (hi - lo), lo + phi * (hi - lo)
            left_lower = _h(m1, g) < _h(m2, g)
            hi = np.where(left_lower, m2, hi)
            lo = np.where(left_lower, lo, m1)
        w_min = 0.5 * (lo + hi)
        open_gap = _h(w_min, g) < 1.0 / g.v
        if np.any(open_gap):
            gg = g.take(open_gap)
            inv = 1.0 / gg.v

            def fg(w: np.ndarray, gg: Params = gg, inv: np.ndarray = inv) -> np.ndarray:
                return _h(w, gg) - inv

            wm = w_min[open_gap]
            w_c1 = _bisect(g1[open_gap], wm, np.zeros(wm.shape, bool), fg)
            w_a2 = _bisect(wm, g2[open_gap], np.ones(wm.shape, bool), fg)
            rows = np.flatnonzero(gap)[open_gap]
            out[rows, 1] = _psi(w_c1, gg)
            out[rows, 2] = _psi(w_a2, gg)
    two = ~np.isnan(out[:, 1])
    one = out.copy()
    one[~two, 1] = out[~two, 3]
    one[~two, 3] = np.nan
    return one.reshape((*shape, 4))


def _semicircle_g(zeta: np.ndarray, v1: np.ndarray) -> np.ndarray:
    r = 2.0 * np.sqrt(v1)
    return 2.0 / (zeta + np.sqrt(zeta - r) * np.sqrt(zeta + r))


def _subordination(p: Params, z: np.ndarray, g: np.ndarray) -> np.ndarray:
    w = z - p.v * g
    return p.kappa * _semicircle_g(w + p.x1, p.v1) + (1.0 - p.kappa) / w


def stieltjes(
    p: Params, z: np.ndarray, *, tol: float = 1e-13, max_iter: int = 200_000
) -> np.ndarray:
    """G(z) (Im z > 0) by the damped fixed point of :func:`hessrmt.rmt.gan.density.stieltjes`;
    ``z`` and the parameters have the same shape (one parameter set per point)."""
    zz = np.asarray(z, dtype=complex).ravel()
    flat = Params(*(a.ravel() for a in (p.kappa, p.b, p.b1, p.x1)))
    g = 1.0 / zz
    active = np.arange(zz.size)
    sub = flat
    for _ in range(max_iter):
        new = 0.5 * (g[active] + _subordination(sub, zz[active], g[active]))
        done = np.abs(new - g[active]) <= tol * np.abs(new)
        g[active] = new
        if np.all(done):
            return g.reshape(np.shape(z))
        if np.any(done):
            active = active[~done]
            sub = sub.take(~done)
    raise ConvergenceError(
        f"batched GAN subordination did not converge at {active.size} points in {max_iter} steps"
    )


def _quartic(p: Params, z: np.ndarray) -> np.ndarray:
    """Coefficients (5, n) of :func:`hessrmt.rmt.gan.density.quartic_coefficients`, per point
    (that function broadcasts over parameter arrays shaped like ``z``)."""
    return gd.quartic_coefficients(p, z)  # type: ignore[arg-type]


def boundary_value(p: Params, x: ArrayLike, *, ladder: int = 40) -> np.ndarray:
    """lim_{eta -> 0+} G(x + i eta) (Im <= 0), one parameter set per point
    (``x`` broadcast against ``p.shape``); rho(x) = -Im G / pi."""
    xs = np.asarray(x, dtype=float)
    if np.any(~np.isfinite(xs)):
        raise InputError("density: x must be finite")
    shape = np.broadcast_shapes(xs.shape, p.shape)
    flat = Params(*(np.broadcast_to(a, shape).ravel() for a in (p.kappa, p.b, p.b1, p.x1)))
    xf = np.broadcast_to(xs, shape).ravel().astype(float)
    scale = flat.scale()
    g = stieltjes(flat, xf + 1j * 0.25 * scale)
    for frac in np.geomspace(0.25, gd.ETA_MIN, ladder)[1:]:
        z = xf + 1j * frac * scale
        coeffs = _quartic(flat, z)
        for _ in range(12):
            pp, dp = gd._horner(coeffs, g)
            step = pp / np.where(dp == 0, 1.0, dp)
            g = g - step
            if np.all(np.abs(step) <= 1e-14 * np.abs(g)):
                break
        with np.errstate(invalid="ignore", divide="ignore"):
            res = np.abs(_subordination(flat, z, g) - g) / np.abs(g)
            bad = ~(np.abs(step) <= 1e-10 * np.abs(g)) | (g.imag >= 0) | ~(res < 1e-7)
        if np.any(bad):
            roots = gd.batched_roots(coeffs[:, bad])
            sub = flat.take(bad)
            pb = Params(*(a[:, None] for a in (sub.kappa, sub.b, sub.b1, sub.x1)))
            zb = z[bad][:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.abs(_subordination(pb, zb, roots) - roots) / np.abs(roots)
            r = np.where((roots.imag < 0) & np.isfinite(r), r, np.inf)
            g[bad] = roots[np.arange(roots.shape[0]), np.argmin(r, axis=1)]
    return (g.real - 1j * np.abs(g.imag)).reshape(shape)


def density(p: Params, x: ArrayLike, *, ladder: int = 40) -> np.ndarray:
    """rho(x) = |Im G(x + i0)| / pi, one parameter set per point (:func:`boundary_value`)."""
    return np.abs(boundary_value(p, x, ladder=ladder).imag) / math.pi


def log_potential_exact(p: Params, x: ArrayLike, *, ladder: int = 40) -> np.ndarray:
    """L(x) = int log|l - x| dmu(l) in closed form through subordination (no quadrature).

    With G = G_mu(x + i0), omega = x - v G (so G = G_D(omega)) and t = t(omega + x1):

        L(x) = kappa (-log|t| + v1 Re(t^2)/2) + (1 - kappa) log|omega| + v Re(G^2)/2.

    Derivation (``docs/reference/gan-spin-glass.md``): d/dz of int log(z - l) dmu = G_mu(z);
    with G_mu(z) = G_D(omega(z)), omega = z - v G_mu, the function
    int log(omega(z) - s) dmu_D(s) + (z - omega(z))^2 / (2v) has derivative
    G_D(omega) omega' + G_mu (1 - omega') = G_mu and the same log z behaviour at infinity, so the
    two are equal; the semicircle's own log-potential is -log t + v1 t^2/2 (derivative t by
    zeta = v1 t + 1/t). Real parts at z = x + i0 give L. Exact wherever G is, inside narrow
    components too (which a fixed quadrature can miss).
    """
    xs = np.asarray(x, dtype=float)
    g = boundary_value(p, xs, ladder=ladder)
    shape = g.shape
    k, v, v1, x1 = (np.broadcast_to(a, shape) for a in (p.kappa, p.v, p.v1, p.x1))
    omega = xs - v * g
    t = _semicircle_g(omega + x1 + 0j, v1)
    with np.errstate(divide="ignore"):
        return (
            k * (-np.log(np.abs(t)) + 0.5 * v1 * (t * t).real)
            + (1.0 - k) * np.log(np.abs(omega))
            + 0.5 * v * (g * g).real
        )


def log_determinant(p: Params, x: ArrayLike) -> np.ndarray:
    """L(x) = int log|l - x| dmu(l) for every parameter set (rows, p 1-D) at every x (columns),
    shape (len(p), len(x)), by the closed form :func:`log_potential_exact`."""
    if len(p.shape) != 1:
        raise InputError("log_determinant: pass a 1-D batch of parameter sets")
    xs = np.atleast_1d(np.asarray(x, dtype=float))
    rows = Params(*(a[:, None] for a in (p.kappa, p.b, p.b1, p.x1)))
    return log_potential_exact(rows, xs[None, :])


def log_determinant_quadrature(p: Params, x: ArrayLike, *, n: int = 400) -> np.ndarray:
    """L(x) as :func:`log_determinant`, but by quadrature of the density (the scalar method):
    an independent check of the closed form where the density has no structure narrower than
    the node spacing (it misses a narrow component inside a wider one, e.g. the (1 - kappa)
    mass near 0 when b is small and |x1| < 2 sqrt(v1)). Shape (len(p), len(x)).
    Support by :func:`support_edges`, the density at n Chebyshev-angle
    nodes per interval by :func:`density` (one batched solve), the integral by
    :func:`hessrmt.rmt.complexity.coulomb.interval_log_potential`."""
    if len(p.shape) != 1:
        raise InputError("log_determinant: pass a 1-D batch of parameter sets")
    xs = np.atleast_1d(np.asarray(x, dtype=float))
    edges = support_edges(p)  # (m, 4)
    theta, wth = theta_rule(n)
    a = edges[:, 0::2]  # (m, 2)
    c = edges[:, 1::2]
    has = ~np.isnan(a)
    a_f, c_f = np.where(has, a, 0.0), np.where(has, c, 1.0)
    nodes = 0.5 * (a_f + c_f)[..., None] - 0.5 * (c_f - a_f)[..., None] * np.cos(theta)
    rows = np.repeat(np.arange(p.shape[0]), 2)[has.ravel()]
    rho = np.zeros(nodes.shape)
    sub = p.take(rows)
    rho[has] = density(
        Params(*(q[:, None] for q in (sub.kappa, sub.b, sub.b1, sub.x1))), nodes[has]
    )
    out = np.zeros((p.shape[0], xs.size))
    for j in range(2):
        idx = np.flatnonzero(has[:, j])
        if idx.size:
            out[idx] += interval_log_potential(
                np.broadcast_to(xs, (idx.size, xs.size)),
                a[idx, j],
                c[idx, j],
                rho[idx, j],
                theta,
                wth,
            )
    return out
