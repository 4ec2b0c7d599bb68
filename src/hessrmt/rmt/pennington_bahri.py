"""Pennington & Bahri (ICML 2017): the Wishart + Wigner model of a Hessian at a critical point.

Model (conventions fixed so that the critical energy formula below comes out exactly; see
``docs/reference/papers.md`` section 4 and ``docs/reference/oracles.md`` section 13 of the
project's references):

* H = H0 + H1 with H0 and H1 freely independent;
* H0 is Marchenko-Pastur with ratio ``phi`` and mean 1: R_{H0}(w) = 1 / (1 - phi w)
  (H0 = X X^T / m, X of size n x m with unit-variance entries, phi = n / m; an atom of mass
  1 - 1/phi at 0 when phi > 1);
* H1 is a semicircle of variance 2 epsilon: R_{H1}(w) = 2 epsilon w, support
  [-2 sqrt(2 epsilon), 2 sqrt(2 epsilon)] (H1 = sqrt(2 epsilon) W, W = (A + A^T) / sqrt(2 n)).

In the paper phi is the number of parameters per data point (per output) and epsilon the loss
(energy) of the critical point; both identifications are *unverified* against the paper's text.

Stieltjes transform (G(z) = int rho(l) / (z - l) dl, G ~ 1/z, Im G < 0 for Im z > 0). Inverting
z = R(G) + 1/G = 1 / (1 - phi G) + 2 epsilon G + 1/G gives the cubic

    2 epsilon phi G^3 - (2 epsilon + z phi) G^2 + (z - 1 + phi) G - 1 = 0,

and rho(x) = -Im G(x + i0+) / pi. The physical root is selected by *continuity*: it is the unique
root that is analytic in the upper half-plane with G ~ 1/z, so we follow it from z = x + iY
(|z| large, where it is the root near 1/z + 1/z^2 + m2/z^3) down a geometric ladder of Im z to the
real axis, taking at each step the root nearest the previous value (no "largest |Im G|" rule).

Support edges are the critical values z(G*) at the real roots G* of z'(G) = 0, i.e. of the quartic

    2 eps phi^2 G^4 - 4 eps phi G^3 + (2 eps + phi - phi^2) G^2 + 2 phi G - 1 = 0,

kept where the continued density is positive between consecutive edges.

Index alpha(eps, phi) = int_{-inf}^0 rho (the fraction of negative eigenvalues), computed by
Gauss-Legendre quadrature with square-root edge substitutions.

Critical energy (phi < 1; the left edge touches 0), s = sqrt(1 + 8 phi):

    eps_c(phi) = (1/16)(1 - 20 phi - 8 phi^2 + (1 + 8 phi)^{3/2}) = (3 - s)^3 (1 + s) / 128,

with edge value G_c = -8 / ((3 - s)(1 + s)); eps_c = 0 for phi >= 1. Near eps_c the index follows
alpha ~ alpha0(phi) |(eps - eps_c)/eps_c|^{3/2} with

    alpha0(phi) = 2 (3 - s) / (3 pi sqrt(s) (1 + s)),   alpha0(0) = 2 / (3 pi).

For phi >= 1, H0 has an atom 1 - 1/phi at 0 which H1 spreads symmetrically for any eps > 0, so
alpha > 0 for every eps > 0 and alpha -> (1 - 1/phi)/2 as eps -> 0+. At eps = 0 exactly the law is
Marchenko-Pastur (with its atom at 0, which is *not* counted as negative: alpha(0, phi) = 0).

Size: one cohesive thing, the theory of one model (the cubic, its law, index, critical energy
and the result type), over ~500 lines; splitting it would scatter the branch choices of one cubic.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result
from hessrmt.rmt.law import SpectralLaw
from hessrmt.rng import RngLike, as_generator, seed_of

__all__ = [
    "CONVENTIONS",
    "PenningtonBahriLaw",
    "PenningtonBahriTheory",
    "alpha0",
    "critical_energy",
    "critical_energy_numeric",
    "cubic_coefficients",
    "evaluate",
    "index",
    "index_free_sum",
    "sample_model_eigenvalues",
]

#: Conventions recorded in the metadata of every theory result.
CONVENTIONS: dict[str, str] = {
    "model": "H = H0 + H1, H0 and H1 freely independent (Pennington & Bahri, ICML 2017)",
    "H0": "Marchenko-Pastur, ratio phi, mean 1: R(w) = 1/(1 - phi w), atom 1 - 1/phi at 0 if phi>1",
    "H1": "semicircle of variance 2 epsilon: R(w) = 2 epsilon w, radius 2 sqrt(2 epsilon)",
    "phi": "parameters / (data points x outputs) (paper convention unverified)",
    "epsilon": "energy (loss) of the critical point, residual variance 2 epsilon",
    "stieltjes": "G(z) = int rho(l)/(z - l) dl, G ~ 1/z, Im G < 0 for Im z > 0",
    "index": "alpha = mass of (-inf, 0) (strictly negative eigenvalues)",
    "root_selection": "continuation in Im z from |z| large down to the real axis",
}

_GL_NODES = 192  # Gauss-Legendre nodes per integration piece


def _check_params(phi: float, epsilon: float) -> tuple[float, float]:
    try:
        phi_f = float(phi)
        eps_f = float(epsilon)
    except (TypeError, ValueError) as exc:
        raise InputError(f"phi and epsilon must be numbers, got {phi!r} and {epsilon!r}") from exc
    if not math.isfinite(phi_f) or phi_f <= 0:
        raise InputError(
            f"phi (parameters per data point) must be a positive finite number, got {phi!r}"
        )
    if not math.isfinite(eps_f) or eps_f < 0:
        raise InputError(
            f"epsilon (energy of the critical point) must be finite and >= 0, got {epsilon!r}"
        )
    return phi_f, eps_f


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def critical_energy(phi: float) -> float:
    """Closed-form critical energy eps_c(phi) = (1/16)(1 - 20 phi - 8 phi^2 + (1 + 8 phi)^{3/2}).

    The energy at which the left edge of the H0 + H1 support touches 0 (phi < 1); 0 for
    phi >= 1 (the H0 atom at 0 makes the index positive for every eps > 0). eps_c(0) = 1/8.
    Derived from z(G) = 0, z'(G) = 0 (``docs/reference/oracles.md`` section 13, PB-1).
    """
    phi_f = float(phi)
    if not math.isfinite(phi_f) or phi_f < 0:
        raise InputError(f"phi must be a finite number >= 0, got {phi!r}")
    if phi_f >= 1.0:
        return 0.0
    s = math.sqrt(1.0 + 8.0 * phi_f)
    # (3 - s)^3 (1 + s) / 128 is the same number without the cancellation of the expanded form.
    return (3.0 - s) ** 3 * (1.0 + s) / 128.0


def alpha0(phi: float) -> float | None:
    """The 3/2-law prefactor alpha0(phi) = 2 (3 - s) / (3 pi sqrt(s) (1 + s)), s = sqrt(1 + 8 phi).

    alpha(eps) ~ alpha0 |(eps - eps_c)/eps_c|^{3/2} as eps -> eps_c+ (functional form unverified
    against the paper; prefactor derived from the square-root edge and dz*/d eps = 2 G_c).
    Returns ``None`` for phi >= 1 where there is no critical energy (alpha0(1) = 0).
    """
    phi_f = float(phi)
    if not math.isfinite(phi_f) or phi_f < 0:
        raise InputError(f"phi must be a finite number >= 0, got {phi!r}")
    if phi_f > 1.0:
        return None
    s = math.sqrt(1.0 + 8.0 * phi_f)
    return 2.0 * (3.0 - s) / (3.0 * math.pi * math.sqrt(s) * (1.0 + s))


def cubic_coefficients(z: ArrayLike, phi: float, epsilon: float) -> np.ndarray:
    """Coefficients (highest degree first, last axis) of the cubic for G at the points ``z``.

    2 eps phi G^3 - (2 eps + z phi) G^2 + (z - 1 + phi) G - 1 = 0.
    """
    z = np.asarray(z, dtype=complex)
    c3 = np.full(z.shape, 2.0 * epsilon * phi, dtype=complex)
    c2 = -(2.0 * epsilon + z * phi)
    c1 = z - 1.0 + phi
    c0 = np.full(z.shape, -1.0, dtype=complex)
    return np.stack([c3, c2, c1, c0], axis=-1)


def _z_of_g(g: np.ndarray, phi: float, epsilon: float) -> np.ndarray:
    """The inverse of G: z(G) = 1/(1 - phi G) + 2 eps G + 1/G."""
    return 1.0 / (1.0 - phi * g) + 2.0 * epsilon * g + 1.0 / g


def _poly_roots(coeffs: np.ndarray) -> np.ndarray:
    """Roots of a batch of polynomials (coefficients on the last axis, leading one nonzero)."""
    coeffs = np.asarray(coeffs, dtype=complex)
    if not np.any(coeffs.imag):
        # real polynomials (z on the real axis): a real companion matrix gives exactly real
        # roots and exact conjugate pairs, so "no imaginary part" is not blurred by rounding
        coeffs = coeffs.real
    deg = coeffs.shape[-1] - 1
    batch = coeffs.shape[:-1]
    monic = coeffs[..., 1:] / coeffs[..., :1]
    comp = np.zeros((*batch, deg, deg), dtype=coeffs.dtype)
    comp[..., 0, :] = -monic
    if deg > 1:
        idx = np.arange(deg - 1)
        comp[..., idx + 1, idx] = 1.0
    return np.linalg.eigvals(comp).astype(complex)


def _mp_stieltjes(z: np.ndarray, phi: float) -> np.ndarray:
    """MP (ratio phi, mean 1) Stieltjes transform, branch with G ~ 1/z (sqrt continued in C+)."""
    lo, hi = (1.0 - math.sqrt(phi)) ** 2, (1.0 + math.sqrt(phi)) ** 2
    # sqrt((z - lo)(z - hi)) with the branch ~ z at infinity: product of principal square roots.
    root = np.sqrt(z - lo) * np.sqrt(z - hi)
    return (z - (1.0 - phi) - root) / (2.0 * phi * z)


# --------------------------------------------------------------------------------------------
# The law
# --------------------------------------------------------------------------------------------


class PenningtonBahriLaw(SpectralLaw):
    """The limiting spectral law of H0 + H1 = MP(phi) free-plus semicircle(variance 2 epsilon).

    See the module docstring for the model, the cubic and the root selection. ``epsilon = 0``
    gives Marchenko-Pastur itself (with its atom 1 - 1/phi at 0 when phi > 1); for epsilon > 0
    the law is absolutely continuous.
    """

    def __init__(
        self, phi: float, epsilon: float, *, ladder_steps: int = 80, eta_min: float = 1e-12
    ) -> None:
        self.phi, self.epsilon = _check_params(phi, epsilon)
        if ladder_steps < 10:
            raise InputError(f"ladder_steps must be >= 10, got {ladder_steps}")
        self.ladder_steps = int(ladder_steps)
        self.eta_min = float(eta_min)
        self._scale = 1.0 + self.phi + 2.0 * math.sqrt(2.0 * self.epsilon)
        self._intervals: list[tuple[float, float]] | None = None
        self._masses: list[float] | None = None

    # -- Stieltjes transform -------------------------------------------------------------------

    def _continue(self, x: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """G(x + i eta) for eta >= 0 by continuation of the physical root from Im z large."""
        phi, eps = self.phi, self.epsilon
        x = np.asarray(x, dtype=float)
        eta = np.broadcast_to(np.asarray(eta, dtype=float), x.shape)
        big = 100.0 * (self._scale + np.abs(x))
        m2 = 1.0 + phi + 2.0 * eps  # second moment of H0 + H1
        z = x + 1j * big
        g = 1.0 / z + 1.0 / z**2 + m2 / z**3  # asymptotic expansion, G ~ 1/z
        floor = np.maximum(eta, self.eta_min * self._scale)
        roots = _poly_roots(cubic_coefficients(z, phi, eps))
        pick = np.argmin(np.abs(roots - g[..., None]), axis=-1)
        g = np.take_along_axis(roots, pick[..., None], axis=-1)[..., 0]
        # geometric ladder from big to floor, per point; the root is tracked by Newton steps
        # started from the previous value (small steps in C+, where the physical root never
        # meets another root), then re-selected among all roots at the end
        log_b, log_f = np.log(big), np.log(floor)
        for t in np.linspace(0.0, 1.0, self.ladder_steps)[1:]:
            z = x + 1j * np.exp(log_b + t * (log_f - log_b))
            c3, c2, c1 = 2.0 * eps * phi, -(2.0 * eps + z * phi), z - 1.0 + phi
            for _ in range(3):
                f = ((c3 * g + c2) * g + c1) * g - 1.0
                df = (3.0 * c3 * g + 2.0 * c2) * g + c1
                safe = df != 0
                g = g - np.where(safe, f, 0.0) / np.where(safe, df, 1.0)
        roots = _poly_roots(cubic_coefficients(z, phi, eps))
        pick = np.argmin(np.abs(roots - g[..., None]), axis=-1)
        g = np.take_along_axis(roots, pick[..., None], axis=-1)[..., 0]
        # final step to the requested eta (may be exactly 0: the limit from above)
        z = x + 1j * eta
        roots = _poly_roots(cubic_coefficients(z, phi, eps))
        pick = np.argmin(np.abs(roots - g[..., None]), axis=-1)
        g_final = np.take_along_axis(roots, pick[..., None], axis=-1)[..., 0]
        # On the real axis conjugate roots are equally far only if g is real; the limit from
        # above has Im G <= 0 (rounding can leave a tiny positive part).
        on_axis = eta == 0
        g_final = np.where(on_axis & (g_final.imag > 0), np.conj(g_final), g_final)
        return g_final

    def stieltjes(self, z: ArrayLike) -> np.ndarray:
        """G(z) for Im z >= 0 (boundary values from above); conjugate symmetry for Im z < 0."""
        z = np.asarray(z, dtype=complex)
        if self.epsilon == 0.0:
            zz = np.where(z.imag < 0, np.conj(z), z)
            out = _mp_stieltjes(zz, self.phi)
            return np.where(z.imag < 0, np.conj(out), out)
        lower = z.imag < 0
        g = self._continue(z.real, np.abs(z.imag))
        return np.where(lower, np.conj(g), g)

    # -- density, support, atoms ---------------------------------------------------------------

    def _mp_density(self, x: np.ndarray) -> np.ndarray:
        phi = self.phi
        lo, hi = (1.0 - math.sqrt(phi)) ** 2, (1.0 + math.sqrt(phi)) ** 2
        inside = (x > lo) & (x < hi)
        xs = np.where(inside, x, 0.5 * (lo + hi))
        val = np.sqrt((hi - xs) * (xs - lo)) / (2.0 * math.pi * phi * xs)
        return np.where(inside, val, 0.0)

    def density(self, x: ArrayLike) -> np.ndarray:
        """rho(x) = -Im G(x + i0+) / pi of the absolutely continuous part."""
        x = np.asarray(x, dtype=float)
        if self.epsilon == 0.0:
            return self._mp_density(x)
        g = self._continue(x, np.zeros_like(x))
        return np.maximum(-g.imag, 0.0) / math.pi

    def edges(self) -> np.ndarray:
        """Candidate edges: z(G*) at the real roots G* of z'(G) = 0, sorted (eps > 0)."""
        phi, eps = self.phi, self.epsilon
        if eps == 0.0:
            lo, hi = (1.0 - math.sqrt(phi)) ** 2, (1.0 + math.sqrt(phi)) ** 2
            return np.array([lo, hi])
        quartic = np.array(
            [2 * eps * phi**2, -4 * eps * phi, 2 * eps + phi - phi**2, 2 * phi, -1.0]
        )
        roots = np.roots(quartic)
        real = roots[np.abs(roots.imag) <= 1e-7 * np.maximum(1.0, np.abs(roots))].real
        polished = []
        dq = np.polyder(quartic)
        for r in real:
            for _ in range(8):  # Newton polish of the critical point
                d = np.polyval(dq, r)
                if d == 0:
                    break
                r = r - np.polyval(quartic, r) / d
            if r != 0.0 and abs(1.0 - phi * r) > 1e-14:
                polished.append(r)
        return np.sort(_z_of_g(np.array(polished, dtype=float), phi, eps))

    def support_intervals(self) -> list[tuple[float, float]]:
        """Disjoint intervals [a, b] on which the density is positive (eps > 0), or MP's bulk."""
        if self._intervals is not None:
            return list(self._intervals)
        e = self.edges()
        if self.epsilon == 0.0:
            self._intervals = [(float(e[0]), float(e[1]))]
            return list(self._intervals)
        intervals: list[tuple[float, float]] = []
        if len(e) >= 2:
            mids = 0.5 * (e[:-1] + e[1:])
            dens = self.density(mids)
            for i, d in enumerate(dens):
                if d > 0:
                    a, b = float(e[i]), float(e[i + 1])
                    if intervals and intervals[-1][1] >= a:
                        intervals[-1] = (intervals[-1][0], b)
                    else:
                        intervals.append((a, b))
        if not intervals:  # pragma: no cover - would mean the edge finder failed
            raise RuntimeError(
                f"no support found for phi={self.phi}, epsilon={self.epsilon}; please report"
            )
        self._intervals = intervals
        return list(intervals)

    def support(self) -> tuple[float, float]:
        ivs = self.support_intervals()
        lo, hi = ivs[0][0], ivs[-1][1]
        if self.atoms():
            lo = min(lo, 0.0)
        return lo, hi

    def atoms(self) -> list[tuple[float, float]]:
        """The H0 atom (0, 1 - 1/phi) when epsilon = 0 and phi > 1; none for epsilon > 0."""
        if self.epsilon == 0.0 and self.phi > 1.0:
            return [(0.0, 1.0 - 1.0 / self.phi)]
        return []

    # -- integrals -----------------------------------------------------------------------------

    def _nodes(
        self, a: float, b: float, left_edge: bool, right_edge: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Quadrature nodes and weights for int_a^b, with sqrt-edge substitutions at the ends
        flagged as support edges (x = a + (b - a) u^2 at a left edge, the mirror image at a right
        edge, x = (a + b)/2 - (b - a)/2 cos(theta) at both), so the integrand is smooth."""
        t, w = np.polynomial.legendre.leggauss(_GL_NODES)
        if b <= a:
            return np.empty(0), np.empty(0)
        if left_edge and right_edge:
            th = 0.5 * math.pi * (t + 1.0)
            x = 0.5 * (a + b) - 0.5 * (b - a) * np.cos(th)
            jac = 0.25 * math.pi * (b - a) * np.sin(th)
        elif left_edge or right_edge:
            u = 0.5 * (t + 1.0)
            x = a + (b - a) * u**2 if left_edge else b - (b - a) * u**2
            jac = (b - a) * u
        else:
            x = 0.5 * (a + b) + 0.5 * (b - a) * t
            jac = np.full_like(t, 0.5 * (b - a))
        return x, w * jac

    def _integrate(self, a: float, b: float, left_edge: bool, right_edge: bool) -> float:
        """int_a^b rho (see :meth:`_nodes`)."""
        x, w = self._nodes(a, b, left_edge, right_edge)
        return float(np.sum(w * self.density(x))) if x.size else 0.0

    def _interval_masses(self) -> list[float]:
        if self._masses is None:
            self._masses = [self._integrate(a, b, True, True) for a, b in self.support_intervals()]
        return list(self._masses)

    def _ac_cdf(self, xs: np.ndarray) -> np.ndarray:
        """Absolutely continuous part of the cdf at the points ``xs`` (one density call)."""
        ivs, masses = self.support_intervals(), self._interval_masses()
        base = np.zeros(xs.size)
        pieces: list[tuple[int, float, np.ndarray, np.ndarray]] = []
        for i, x in enumerate(xs):
            for (a, b), mass in zip(ivs, masses):
                if x <= a:
                    break
                if x >= b:
                    base[i] += mass
                elif x - a <= b - x:
                    pieces.append((i, 1.0, *self._nodes(a, float(x), True, False)))
                else:
                    base[i] += mass
                    pieces.append((i, -1.0, *self._nodes(float(x), b, False, True)))
        if pieces:
            nodes = np.concatenate([p[2] for p in pieces])
            rho = self.density(nodes)
            start = 0
            for i, sign, x, w in pieces:
                base[i] += sign * float(np.sum(w * rho[start : start + x.size]))
                start += x.size
        return base

    def cdf(self, x: ArrayLike) -> np.ndarray:
        """mu((-inf, x]) including atoms (Gauss-Legendre with sqrt-edge substitutions)."""
        x = np.asarray(x, dtype=float)
        flat = self._ac_cdf(x.ravel())
        for loc, mass in self.atoms():
            flat = flat + mass * (x.ravel() >= loc)
        return np.clip(flat, 0.0, 1.0).reshape(x.shape)

    def index(self) -> float:
        """alpha = mu((-inf, 0)): the fraction of strictly negative eigenvalues."""
        return float(self._ac_cdf(np.zeros(1))[0])

    def total_mass(self) -> float:
        """Mass of the absolutely continuous part plus atoms (1 up to quadrature error)."""
        return sum(self._interval_masses()) + sum(m for _, m in self.atoms())

    # -- moments -------------------------------------------------------------------------------

    def free_cumulants(self, k: int) -> np.ndarray:
        """Free cumulants kappa_1..kappa_k: phi^(j-1) from MP, plus 2 eps at order 2."""
        kap = np.array([self.phi ** (j - 1) for j in range(1, k + 1)], dtype=float)
        if k >= 2:
            kap[1] += 2.0 * self.epsilon
        return kap

    def moment(self, k: int) -> float:
        """k-th moment from the free cumulants (moment-cumulant recursion).

        m_n = sum_{s=1}^n kappa_s [w^{n-s}] M(w)^s with M(w) = sum_j m_j w^j, m_0 = 1
        (Speicher's functional relation); m_1 = 1, m_2 = 1 + phi + 2 eps.
        """
        if k < 0 or int(k) != k:
            raise InputError(f"moment order must be a non-negative integer, got {k!r}")
        k = int(k)
        if k == 0:
            return 1.0
        kap = self.free_cumulants(k)
        m = np.zeros(k + 1)
        m[0] = 1.0
        for n in range(1, k + 1):
            total = 0.0
            power = np.zeros(k + 1)
            power[0] = 1.0  # M^0
            for s in range(1, n + 1):
                power = np.convolve(power, m[: n + 1])[: k + 1]  # M^s truncated (m_n still 0)
                total += kap[s - 1] * power[n - s]
            m[n] = total
        return float(m[k])

    def conventions(self) -> dict[str, Any]:
        return {
            "law": "PenningtonBahriLaw",
            "phi": self.phi,
            "epsilon": self.epsilon,
            **CONVENTIONS,
        }

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        """Eigenvalues of one n x n random matrix H0 + H1 (finite-n, not iid draws)."""
        return sample_model_eigenvalues(n, self.phi, self.epsilon, rng=rng)


# --------------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------------


def index(epsilon: float, phi: float) -> float:
    """alpha(eps, phi): the fraction of negative eigenvalues of H0 + H1 (0 for eps <= eps_c)."""
    phi_f, eps_f = _check_params(phi, epsilon)
    if eps_f == 0.0:
        return 0.0  # Marchenko-Pastur: nothing strictly negative (the atom sits at 0)
    return PenningtonBahriLaw(phi_f, eps_f).index()


def _left_edge(phi: float, epsilon: float) -> float:
    return PenningtonBahriLaw(phi, epsilon).support_intervals()[0][0]


def critical_energy_numeric(phi: float, *, xtol: float = 1e-15) -> float:
    """The energy at which the numerically located left support edge crosses 0 (phi < 1).

    Root of eps -> left edge of supp(H0 + H1) on (0, 1/8 + ...); independent of the closed form
    (used to check it, PB-1). Returns 0 for phi >= 1.
    """
    phi_f = float(phi)
    if not math.isfinite(phi_f) or phi_f <= 0:
        raise InputError(f"phi must be positive and finite, got {phi!r}")
    if phi_f >= 1.0:
        return 0.0
    lo, hi = 1e-14, 0.2  # edge > 0 at tiny eps (MP edge (1 - sqrt(phi))^2 > 0), < 0 at 0.2
    if _left_edge(phi_f, lo) <= 0:  # pragma: no cover - only for phi extremely close to 1
        return 0.0
    return float(optimize.brentq(lambda e: _left_edge(phi_f, e), lo, hi, xtol=xtol, rtol=1e-15))


def sample_model_eigenvalues(
    n: int, phi: float, epsilon: float, size: int | None = None, *, rng: RngLike = None
) -> np.ndarray:
    """Eigenvalues of H = X X^T / m + sqrt(2 eps) W, the finite-n version of the model.

    X is n x m with iid N(0, 1) entries, m = round(n / phi); W = (A + A^T) / sqrt(2 n) with A iid
    N(0, 1) (semicircle radius 2). Sorted ascending; shape (n,) or (size, n).
    """
    phi_f, eps_f = _check_params(phi, epsilon)
    if int(n) != n or n < 2:
        raise InputError(f"matrix size n must be an integer >= 2, got {n!r}")
    n = int(n)
    m = max(1, round(n / phi_f))
    gen = as_generator(rng)
    count = 1 if size is None else int(size)
    out = np.empty((count, n))
    for i in range(count):
        X = gen.standard_normal((n, m))
        A = gen.standard_normal((n, n))
        H = X @ X.T / m + math.sqrt(2.0 * eps_f) * (A + A.T) / math.sqrt(2.0 * n)
        out[i] = np.linalg.eigvalsh(H)
    return out[0] if size is None else out


def index_free_sum(
    h0_eigenvalues: ArrayLike,
    h1_variance: float,
    *,
    h1_mean: float = 0.0,
    samples: int = 8,
    rng: RngLike = None,
) -> tuple[float, float]:
    """Index of H0 + H1 for a GIVEN H0 spectrum and a free semicircle H1 of the given mean and
    variance: the model of Pennington & Bahri with the network's actual H0 and H1 scales.

    Monte Carlo at the matrix size n = len(h0_eigenvalues): the fraction of negative eigenvalues
    of diag(h0) + h1_mean I + sqrt(h1_variance) W, W = (A + A^T) / sqrt(2 n) a GOE matrix whose
    spectrum has variance 1. A GOE matrix is rotation invariant, so this is the finite-n version
    of the free sum h0 ⊞ semicircle (Voiculescu; e.g. Mingo & Speicher, "Free Probability and
    Random Matrices", 2017, ch. 4). With h0 a Marchenko-Pastur sample of ratio phi and
    h1_variance = 2 eps it reproduces :func:`index` (eps, phi) up to finite-n effects.

    Returns (mean fraction, its standard error over ``samples`` draws).
    """
    d = np.asarray(h0_eigenvalues, dtype=float).ravel()
    if d.size < 2 or not np.all(np.isfinite(d)):
        raise InputError("h0_eigenvalues must hold at least 2 finite numbers")
    v = float(h1_variance)
    if not (math.isfinite(v) and v >= 0) or not math.isfinite(float(h1_mean)):
        raise InputError(f"h1_variance must be finite and >= 0, got {h1_variance!r}")
    if int(samples) != samples or samples < 2:
        raise InputError(f"samples must be an integer >= 2, got {samples!r}")
    gen = as_generator(rng)
    n = d.size
    base = np.diag(d + float(h1_mean))
    fractions = np.empty(int(samples))
    for i in range(int(samples)):
        A = gen.standard_normal((n, n))
        ev = np.linalg.eigvalsh(base + math.sqrt(v) * (A + A.T) / math.sqrt(2.0 * n))
        fractions[i] = np.mean(ev < 0)
    return float(fractions.mean()), float(fractions.std(ddof=1) / math.sqrt(samples))


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PenningtonBahriTheory(Result):
    """One evaluation of the Pennington-Bahri theory at (phi, epsilon).

    Fields: ``index`` = alpha(eps, phi); ``epsilon_c`` (closed form) and ``alpha0`` (None for
    phi > 1); ``support`` = list of [a, b] intervals; ``atoms`` = [(location, mass)] of H0 + H1
    (only at eps = 0); ``h0_atom`` = 1 - 1/phi mass of H0 at 0 (0 for phi <= 1); ``x`` and
    ``density`` a grid covering the support (absolutely continuous part).
    """

    kind = "pennington_bahri_theory"

    phi: float
    epsilon: float
    epsilon_c: float
    index: float
    alpha0: float | None
    support: list[list[float]]
    atoms: list[list[float]]
    h0_atom: float
    total_mass: float
    x: np.ndarray
    density: np.ndarray
    meta: Metadata = dataclasses.field(default_factory=Metadata)

    def to_summary_dict(self) -> dict[str, Any]:
        """The JSON object printed by ``hessrmt theory pennington-bahri --json``."""
        return {
            "theory": "pennington-bahri",
            "phi": self.phi,
            "epsilon": self.epsilon,
            "epsilon_c": self.epsilon_c,
            "index": self.index,
            "alpha0": self.alpha0,
            "support": self.support,
            "atoms": self.atoms,
            "h0_atom": self.h0_atom,
            "total_mass": self.total_mass,
            "conventions": dict(self.meta.conventions),
        }


def evaluate(phi: float, epsilon: float, *, grid_points: int = 801) -> PenningtonBahriTheory:
    """Evaluate the theory at (phi, epsilon): index, eps_c, alpha0, support, atoms, density grid."""
    phi_f, eps_f = _check_params(phi, epsilon)
    if grid_points < 3:
        raise InputError(f"grid_points must be >= 3, got {grid_points}")
    law = PenningtonBahriLaw(phi_f, eps_f)
    ivs = law.support_intervals()
    lo, hi = ivs[0][0], ivs[-1][1]
    pad = 0.05 * (hi - lo)
    x = np.linspace(min(lo, 0.0) - pad, hi + pad, int(grid_points))
    rho = law.density(x)
    return PenningtonBahriTheory(
        phi=phi_f,
        epsilon=eps_f,
        epsilon_c=critical_energy(phi_f),
        index=index(eps_f, phi_f),
        alpha0=alpha0(phi_f),
        support=[[a, b] for a, b in ivs],
        atoms=[[loc, mass] for loc, mass in law.atoms()],
        h0_atom=max(0.0, 1.0 - 1.0 / phi_f),
        total_mass=law.total_mass(),
        x=x,
        density=rho,
        meta=Metadata.create(seed=seed_of(None), dtype="float64", conventions=CONVENTIONS),
    )
