"""Numerical free convolution, additive and multiplicative, by subordination
(docs/reference/oracles.md §7).

Conventions: G(z) = int dmu(l)/(z - l) (G ~ 1/z, Im G < 0 for Im z > 0), F = 1/G, density
rho(x) = -(1/pi) Im G(x + i eta) at a tiny eta (``eta`` argument, default 1e-13 x the scale of the
support, so the Poisson smoothing error is below 1e-12).

**Additive** (Biane; Belinschi & Bercovici 2007; Voiculescu): G_{mu boxplus nu}(z) =
G_mu(w1(z)) = G_nu(w2(z)) with w1 + w2 = z + F(z). With h(w) = F(w) - w, w1 is the fixed point
w1 = z + h_nu(z + h_mu(w1)), an analytic self-map of the upper half plane. It is solved by Newton's
method with backtracking (step accepted only if the residual drops and Im w1, Im w2 > 0),
continued in eta from eta0 ~ 4 x (spread) down to ``eta`` (geometric, ratio 1/8), starting from
w1 = z where the map is a strong contraction; points where Newton stalls fall back to the damped
fixed point w <- (w + T(w))/2. It needs only G and G' of the two laws, so it works for empirical
(atomic) measures exactly as for closed forms.

**Multiplicative** (Belinschi & Bercovici; S_{mu boxtimes nu} = S_mu S_nu), for laws on [0, inf):
with y = x + i eta, G_{mu boxtimes nu}(y) = a1 G_mu(a1) / y where a1 = y / (a2 - F_nu(a2)) and
a2 = y / (a1 - F_mu(a1)) (the eta-transform subordination eta_{mu boxtimes nu}(1/y) =
eta_mu(1/a1) written in the reciprocal variables a_j = 1/w_j); same Newton continuation.

Moments are exact (free cumulants for boxplus, S-transform power series for boxtimes). The cdf is
tabulated once (trapezoid on a 4097-point cosine grid over the support, accuracy ~1e-7) and
sampling uses its inverse. ``support()`` refines the outer edges by bisection on the density.

Size: one cohesive thing, the two subordination solvers and the Newton continuation they
share, over ~500 lines.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.integrate
import scipy.interpolate
from numpy.typing import ArrayLike

from hessrmt.errors import ConvergenceError, InputError
from hessrmt.rmt.free_series import (
    boxtimes_moments,
    free_cumulants,
    moments_from_free_cumulants,
)
from hessrmt.rmt.law import SpectralLaw
from hessrmt.rmt.laws import stieltjes_derivative
from hessrmt.rng import RngLike, as_generator

__all__ = [
    "FreeAdditiveConvolution",
    "FreeMultiplicativeConvolution",
    "free_additive_convolution",
    "free_cumulants",
    "free_multiplicative_convolution",
    "moments_from_free_cumulants",
]

# ----------------------------------------------------------------------------- Newton machinery


def _newton_continuation(
    residual_and_jac: Any,
    x: np.ndarray,
    eta_levels: np.ndarray,
    init: np.ndarray,
    fixed_map: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve Phi(w; x + i eta) = 0 for every x, continuing in eta down ``eta_levels``.

    ``residual_and_jac(w, z) -> (Phi, Phi', in_domain)``; ``fixed_map(w, z) -> T(w)`` with
    Phi = w - T(w) (fallback damped iteration). Newton steps are accepted only if the residual
    drops and the point stays in the domain (backtracking). Returns the solution at the last level
    and the final residual magnitudes.
    """
    w = init.astype(complex).copy()
    z = x + 0j
    for eta in eta_levels:
        z = x + 1j * eta
        with np.errstate(all="ignore"):
            phi, jac, _ = residual_and_jac(w, z)
        idx = np.arange(x.size)  # points still iterating at this level
        fallback_used = np.zeros(x.size, dtype=bool)
        for _ in range(60):
            if idx.size == 0:
                break
            wi, zi, ph, jc = w[idx], z[idx], phi[idx], jac[idx]
            res = np.abs(ph)
            with np.errstate(all="ignore"):
                step = ph / np.where(jc == 0, 1.0, jc)
            scale = 1.0 + np.abs(wi)
            small = np.isfinite(step) & (np.abs(step) <= 1e-14 * scale)
            wi = np.where(small, wi - step, wi)
            finished = small | (res <= 1e-13 * scale)
            # backtracking line search on the others: accept if the residual drops in-domain
            t = 1.0
            accepted = finished.copy()
            for _ in range(20):
                cand = wi - t * step
                with np.errstate(all="ignore"):
                    pc, jcc, dom = residual_and_jac(cand, zi)
                    ok = dom & np.isfinite(pc) & (np.abs(pc) < res) & ~accepted
                wi = np.where(ok, cand, wi)
                ph = np.where(ok, pc, ph)
                jc = np.where(ok, jcc, jc)
                accepted |= ok
                if accepted.all():
                    break
                t *= 0.5
            stalled = ~accepted
            # no progress possible at machine precision: done
            finished |= stalled & (np.abs(step) <= 1e-11 * scale)
            stalled &= ~finished
            retry = stalled & ~fallback_used[idx]
            if retry.any():
                # damped fixed point, once per point and level (globally convergent in C+)
                ws, zs = wi[retry], zi[retry]
                with np.errstate(all="ignore"):
                    for _ in range(200):
                        ws = 0.5 * ws + 0.5 * fixed_map(ws, zs)
                    pr, jr, _ = residual_and_jac(ws, zs)
                wi[retry], ph[retry], jc[retry] = ws, pr, jr
                fallback_used[idx[retry]] = True
            finished |= stalled & ~retry  # second stall at this level: give up here
            w[idx], phi[idx], jac[idx] = wi, ph, jc
            idx = idx[~finished]
    with np.errstate(all="ignore"):
        phi, _, _ = residual_and_jac(w, z)
    return w, np.abs(phi)


class _SubordinatedLaw(SpectralLaw):
    """Common machinery: density from G at tiny eta, refined support, tabulated cdf, sampling."""

    _bound: tuple[float, float]
    _scale: float

    def __init__(self, eta: float | None, tol: float) -> None:
        self.eta = 1e-13 * self._scale if eta is None else float(eta)
        if not self.eta > 0:
            raise InputError(f"eta must be positive, got {eta!r}")
        self.tol = float(tol)
        self._support: tuple[float, float] | None = None
        self._atoms: list[tuple[float, float]] | None = None
        self._table: tuple[np.ndarray, np.ndarray] | None = None
        self.max_residual = 0.0

    # subclasses implement _stieltjes_at(x, eta) -> G(x + i eta) for real x arrays
    def _stieltjes_at(self, x: np.ndarray, eta: float) -> np.ndarray:
        raise NotImplementedError

    def _eta_levels(self, eta: float) -> np.ndarray:
        eta0 = 4.0 * self._scale
        if eta >= eta0:
            return np.array([eta])
        k = math.ceil(math.log(eta0 / eta) / math.log(8.0))
        return eta0 * 0.125 ** np.arange(k + 1)[:-1].astype(float)

    def stieltjes_upper(self, x: ArrayLike, eta: float | None = None) -> np.ndarray:
        """G(x + i eta) for real x (eta defaults to the law's tiny ``eta``)."""
        x = np.asarray(x, dtype=float)
        flat = x.ravel()
        out = self._stieltjes_at(flat, self.eta if eta is None else float(eta))
        return out.reshape(x.shape)

    def stieltjes(self, z: ArrayLike) -> np.ndarray:
        """G(z) for z in the upper half plane (lower half plane by conjugate symmetry)."""
        z = np.asarray(z, dtype=complex)
        flat = z.ravel()
        out = np.empty(flat.shape, dtype=complex)
        up = flat.imag >= 0
        for mask, conj in ((up, False), (~up, True)):
            if mask.any():
                zz = flat[mask].conj() if conj else flat[mask]
                g = self._stieltjes_grouped(zz)
                out[mask] = g.conj() if conj else g
        return out.reshape(z.shape)

    def stieltjes_derivative(self, z: ArrayLike) -> np.ndarray:
        """G'(z) by a central difference of step 1e-5 x scale (off the support; accuracy ~1e-9
        relative). The additive convolution overrides this with the exact chain rule."""
        z = np.asarray(z, dtype=complex)
        h = 1e-5 * self._scale
        return (self.stieltjes(z + h) - self.stieltjes(z - h)) / (2 * h)

    def _stieltjes_grouped(self, z: np.ndarray) -> np.ndarray:
        out = np.empty(z.shape, dtype=complex)
        for eta in np.unique(z.imag):
            m = z.imag == eta
            out[m] = self._stieltjes_at(z.real[m], max(float(eta), self.eta))
        return out

    def _atom_part(self, x: np.ndarray, eta: float) -> np.ndarray:
        out = np.zeros(x.shape)
        for loc, mass in self.atoms():
            out += mass * eta / ((x - loc) ** 2 + eta**2) / np.pi
        return out

    def density(self, x: ArrayLike) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        g = self.stieltjes_upper(x)
        rho = -g.imag / np.pi - self._atom_part(x, self.eta)
        lo, hi = self._bound
        return np.where((x >= lo) & (x <= hi), np.clip(rho, 0.0, None), 0.0)

    def support(self) -> tuple[float, float]:
        if self._support is None:
            lo, hi = self._bound
            grid = np.linspace(lo, hi, 401)
            rho = self.density(grid)
            # absolute threshold at 1e-8 of a uniform density on the bound (robust to
            # integrable singularities, above the O(eta) smoothing outside the support)
            thr = 1e-8 / max(hi - lo, 1e-300)
            idx = np.flatnonzero(rho > thr)
            atoms = [a for a, _ in self.atoms()]
            if idx.size == 0:
                a = b = float(np.mean(atoms)) if atoms else 0.5 * (lo + hi)
            else:
                a = self._bisect_edge(grid[max(idx[0] - 1, 0)], grid[idx[0]], thr)
                b = self._bisect_edge(grid[min(idx[-1] + 1, grid.size - 1)], grid[idx[-1]], thr)
            if atoms:
                a, b = min(a, *atoms), max(b, *atoms)
            self._support = (float(a), float(b))
        return self._support

    def _bisect_edge(self, outside: float, inside: float, thr: float) -> float:
        """Locate the density threshold crossing between ``outside`` and ``inside`` by repeated
        33-point subdivision (vectorised; each round shrinks the bracket 32-fold)."""
        for _ in range(10):
            pts = np.linspace(outside, inside, 33)
            above = self.density(pts) > thr
            above[-1] = True
            k = int(np.argmax(above))
            if k > 0:
                outside, inside = float(pts[k - 1]), float(pts[k])
            else:
                inside = float(pts[0])
                break
            if abs(inside - outside) < 1e-14 * self._scale:
                break
        return 0.5 * (outside + inside)

    def edges(self) -> tuple[float, float]:
        """Outer edges of the absolutely continuous part (to ~1e-12 of the scale)."""
        return self.support()

    def _cdf_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative mass of the continuous part on a doubly clustered grid.

        x = m - h cos t with t = pi (1 - cos(pi s)) / 2, s uniform on [0, 1] (2049 nodes): the
        integrand rho(x(s)) x'(s) vanishes at the ends for square-root edges and stays integrable
        for x^(-2/3)-type singular edges; cumulative Simpson in s, PCHIP in x.
        """
        if self._table is None:
            a, b = self.support()
            m, h = 0.5 * (a + b), 0.5 * (b - a)
            s = np.linspace(0.0, 1.0, 2049)
            t = 0.5 * np.pi * (1.0 - np.cos(np.pi * s))
            x = m - h * np.cos(t)
            dx = h * np.sin(t) * 0.5 * np.pi**2 * np.sin(np.pi * s)
            f = self.density(x) * dx
            cum = scipy.integrate.cumulative_simpson(f, x=s, initial=0.0)
            cum = np.maximum.accumulate(np.clip(cum, 0.0, None))
            keep = np.concatenate([[True], np.diff(x) > 0])
            self._table = (x[keep], cum[keep])
            self._interp = scipy.interpolate.PchipInterpolator(x[keep], cum[keep])
        return self._table

    def cdf(self, x: ArrayLike) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        grid, cum = self._cdf_table()
        inside = self._interp(np.clip(x, grid[0], grid[-1]))
        out = np.where(x < grid[0], 0.0, np.where(x > grid[-1], cum[-1], inside))
        for loc, mass in self.atoms():
            out = out + mass * (x >= loc)
        return np.clip(out, 0.0, 1.0)

    def total_mass(self) -> float:
        """Numerical mass of the continuous part plus atoms (should be 1; a solver check)."""
        return float(self._cdf_table()[1][-1] + sum(m for _, m in self.atoms()))

    def sample(self, n: int, rng: RngLike = None) -> np.ndarray:
        """iid draws by inverse of the tabulated cdf (atoms as a mixture)."""
        gen = as_generator(rng)
        grid, cum = self._cdf_table()
        atoms = self.atoms()
        masses = np.array([m for _, m in atoms] + [cum[-1]])
        comp = gen.choice(masses.size, size=n, p=masses / masses.sum())
        out = np.interp(gen.random(n) * cum[-1], cum, grid)
        for i, (loc, _) in enumerate(atoms):
            out[comp == i] = loc
        return out


# ----------------------------------------------------------------------------- additive


def _g_and_dg(law: SpectralLaw, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    both = getattr(law, "stieltjes_and_derivative", None)
    if both is not None:
        return both(w)
    return law.stieltjes(w), stieltjes_derivative(law, w)


def _bound_of(law: SpectralLaw) -> tuple[float, float]:
    a, b = law.support()
    return float(a), float(b)


class FreeAdditiveConvolution(_SubordinatedLaw):
    """mu boxplus nu computed by additive subordination (see the module docstring)."""

    def __init__(
        self, mu: SpectralLaw, nu: SpectralLaw, *, eta: float | None = None, tol: float = 1e-10
    ) -> None:
        self.mu, self.nu = mu, nu
        (a1, b1), (a2, b2) = _bound_of(mu), _bound_of(nu)
        self._bound = (a1 + a2, b1 + b2)
        self._scale = max(b1 + b2 - a1 - a2, 1e-12) + math.sqrt(
            max(mu.variance() + nu.variance(), 0.0)
        )
        super().__init__(eta, tol)

    def __repr__(self) -> str:
        return f"FreeAdditiveConvolution({self.mu!r}, {self.nu!r})"

    def _h_and_dh(self, law: SpectralLaw, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g, dg = _g_and_dg(law, w)
        return 1.0 / g - w, -dg / (g * g) - 1.0

    def subordination(self, x: ArrayLike, eta: float) -> tuple[np.ndarray, np.ndarray]:
        """(w1, w2) at z = x + i eta: G(z) = G_mu(w1) = G_nu(w2), w1 + w2 = z + 1/G(z)."""
        x = np.asarray(x, dtype=float)

        def res_jac(w: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            hm, dhm = self._h_and_dh(self.mu, w)
            w2 = z + hm
            hn, dhn = self._h_and_dh(self.nu, w2)
            return w - z - hn, 1.0 - dhn * dhm, (w.imag > 0) & (w2.imag > 0)

        def fixed(w: np.ndarray, z: np.ndarray) -> np.ndarray:
            return z + self._h_and_dh(self.nu, z + self._h_and_dh(self.mu, w)[0])[0]

        levels = np.append(self._eta_levels(eta), eta)
        z0 = x + 1j * levels[0]
        w = z0.copy()
        for _ in range(30):  # strong contraction at large eta
            w = fixed(w, z0)
        w1, res = _newton_continuation(res_jac, x, levels, w, fixed)
        self.max_residual = float(res.max(initial=0.0))
        if not np.all(res < 1e-6 * (1 + np.abs(w1))):
            bad = x[res >= 1e-6 * (1 + np.abs(w1))]
            raise ConvergenceError(
                f"free additive subordination did not converge at {bad.size} points (e.g. x = "
                f"{bad[0]:.6g}); try a larger eta (current {eta:.3g})"
            )
        w2 = x + 1j * eta + self._h_and_dh(self.mu, w1)[0]
        return w1, w2

    def _stieltjes_at(self, x: np.ndarray, eta: float) -> np.ndarray:
        w1, _ = self.subordination(x, eta)
        return self.mu.stieltjes(w1)

    def stieltjes_derivative(self, z: ArrayLike) -> np.ndarray:
        """G'(z) = G_mu'(w1) w1'(z), w1' = (1 + h_nu'(w2)) / (1 - h_nu'(w2) h_mu'(w1)) (implicit
        differentiation of the subordination equation), for Im z >= 0 (conjugate below)."""
        z = np.asarray(z, dtype=complex)
        flat = z.ravel()
        out = np.empty(flat.shape, dtype=complex)
        for conj in (False, True):
            mask = (flat.imag < 0) if conj else (flat.imag >= 0)
            if not mask.any():
                continue
            zz = flat[mask].conj() if conj else flat[mask]
            res = np.empty(zz.shape, dtype=complex)
            for eta in np.unique(zz.imag):
                m = zz.imag == eta
                e = max(float(eta), self.eta)
                w1, w2 = self.subordination(zz.real[m], e)
                _, dhm = self._h_and_dh(self.mu, w1)
                _, dhn = self._h_and_dh(self.nu, w2)
                _, dg = _g_and_dg(self.mu, w1)
                res[m] = dg * (1.0 + dhn) / (1.0 - dhn * dhm)
            out[mask] = res.conj() if conj else res
        return out.reshape(z.shape)

    def atoms(self) -> list[tuple[float, float]]:
        """Atoms at a + b whenever mu({a}) + nu({b}) > 1, of mass mu({a}) + nu({b}) - 1
        (Bercovici & Voiculescu)."""
        if self._atoms is None:
            out: list[tuple[float, float]] = []
            am, an = self.mu.atoms(), self.nu.atoms()
            if am and an:
                top_n = max(m for _, m in an)
                for a, ma in am:
                    if ma + top_n <= 1 + 1e-14:
                        continue
                    out.extend((a + b, ma + mb - 1) for b, mb in an if ma + mb > 1 + 1e-14)
            self._atoms = out
        return self._atoms

    def moment(self, k: int) -> float:
        if k == 0:
            return 1.0
        km = free_cumulants([self.mu.moment(j) for j in range(1, k + 1)])
        kn = free_cumulants([self.nu.moment(j) for j in range(1, k + 1)])
        return float(moments_from_free_cumulants(km + kn)[k])

    def conventions(self) -> dict[str, Any]:
        return {
            "law": "FreeAdditiveConvolution",
            "mu": self.mu.conventions(),
            "nu": self.nu.conventions(),
            "method": "additive subordination, Newton with eta continuation",
            "eta": self.eta,
        }


def free_additive_convolution(
    mu: SpectralLaw, nu: SpectralLaw, *, eta: float | None = None, tol: float = 1e-10
) -> FreeAdditiveConvolution:
    """The free additive convolution mu boxplus nu (the limit law of A + Q B Q^* with Q Haar).

    ``mu`` and ``nu`` are any :class:`SpectralLaw` with a Stieltjes transform (closed forms,
    :class:`~hessrmt.rmt.laws.EmpiricalLaw`, or another convolution). See the module docstring
    for the method and conventions.
    """
    for name, law in (("mu", mu), ("nu", nu)):
        if not isinstance(law, SpectralLaw):
            raise InputError(f"{name} must be a SpectralLaw, got {type(law).__name__}")
    return FreeAdditiveConvolution(mu, nu, eta=eta, tol=tol)


# ----------------------------------------------------------------------------- multiplicative


class FreeMultiplicativeConvolution(_SubordinatedLaw):
    """mu boxtimes nu for laws on [0, inf), by multiplicative subordination (module docstring)."""

    def __init__(
        self, mu: SpectralLaw, nu: SpectralLaw, *, eta: float | None = None, tol: float = 1e-10
    ) -> None:
        self.mu, self.nu = mu, nu
        (a1, b1), (a2, b2) = _bound_of(mu), _bound_of(nu)
        if a1 < 0 or a2 < 0:
            raise InputError(
                "free multiplicative convolution needs both laws supported on [0, inf); "
                f"got supports starting at {a1:.3g} and {a2:.3g}"
            )
        self._bound = (a1 * a2, b1 * b2)
        self._scale = max(b1 * b2, 1e-12)
        super().__init__(eta, tol)

    def __repr__(self) -> str:
        return f"FreeMultiplicativeConvolution({self.mu!r}, {self.nu!r})"

    @staticmethod
    def _u_and_du(law: SpectralLaw, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """u(a) = a - F(a) and u'(a) = 1 + G'(a)/G(a)^2."""
        g, dg = _g_and_dg(law, a)
        return a - 1.0 / g, 1.0 + dg / (g * g)

    def subordination(self, x: ArrayLike, eta: float) -> tuple[np.ndarray, np.ndarray]:
        """(a1, a2) at y = x + i eta: G(y) = a1 G_mu(a1) / y = a2 G_nu(a2) / y."""
        x = np.asarray(x, dtype=float)

        def res_jac(a: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            u1, du1 = self._u_and_du(self.mu, a)
            a2 = y / u1
            da2 = -y * du1 / (u1 * u1)
            u2, du2 = self._u_and_du(self.nu, a2)
            dom = (a.imag > 0) & (a2.imag > 0)
            return a - y / u2, 1.0 + y * du2 / (u2 * u2) * da2, dom

        def fixed(a: np.ndarray, y: np.ndarray) -> np.ndarray:
            a2 = y / self._u_and_du(self.mu, a)[0]
            return y / self._u_and_du(self.nu, a2)[0]

        levels = np.append(self._eta_levels(eta), eta)
        y0 = x + 1j * levels[0]
        a = y0.copy()
        for _ in range(30):
            a = 0.5 * a + 0.5 * fixed(a, y0)
        a1, res = _newton_continuation(res_jac, x, levels, a, fixed)
        self.max_residual = float(res.max(initial=0.0))
        if not np.all(res < 1e-6 * (1 + np.abs(a1))):
            bad = x[res >= 1e-6 * (1 + np.abs(a1))]
            raise ConvergenceError(
                f"free multiplicative subordination did not converge at {bad.size} points (e.g. "
                f"x = {bad[0]:.6g}); try a larger eta (current {eta:.3g})"
            )
        a2 = (x + 1j * eta) / self._u_and_du(self.mu, a1)[0]
        return a1, a2

    def _stieltjes_at(self, x: np.ndarray, eta: float) -> np.ndarray:
        a1, _ = self.subordination(x, eta)
        return a1 * self.mu.stieltjes(a1) / (x + 1j * eta)

    def atoms(self) -> list[tuple[float, float]]:
        """Atom at 0 of mass max(mu({0}), nu({0})) (Belinschi; for laws on [0, inf))."""
        if self._atoms is None:
            m0 = max(
                sum(m for a, m in self.mu.atoms() if a == 0.0),
                sum(m for a, m in self.nu.atoms() if a == 0.0),
            )
            self._atoms = [(0.0, m0)] if m0 > 0 else []
        return self._atoms

    def moment(self, k: int) -> float:
        return float(boxtimes_moments(self.mu, self.nu, max(k, 1))[k])

    def conventions(self) -> dict[str, Any]:
        return {
            "law": "FreeMultiplicativeConvolution",
            "mu": self.mu.conventions(),
            "nu": self.nu.conventions(),
            "method": "multiplicative subordination (reciprocal variables), Newton with eta "
            "continuation",
            "eta": self.eta,
        }


def free_multiplicative_convolution(
    mu: SpectralLaw, nu: SpectralLaw, *, eta: float | None = None, tol: float = 1e-10
) -> FreeMultiplicativeConvolution:
    """The free multiplicative convolution mu boxtimes nu of two laws on [0, inf) (the limit of
    the spectrum of A^{1/2} Q B Q^* A^{1/2}, Q Haar). S_{mu boxtimes nu} = S_mu S_nu; e.g.
    MP(1) boxtimes MP(1) is Fuss-Catalan (moments 1, 3, 12, 55; right edge 27/4)."""
    for name, law in (("mu", mu), ("nu", nu)):
        if not isinstance(law, SpectralLaw):
            raise InputError(f"{name} must be a SpectralLaw, got {type(law).__name__}")
    return FreeMultiplicativeConvolution(mu, nu, eta=eta, tol=tol)
