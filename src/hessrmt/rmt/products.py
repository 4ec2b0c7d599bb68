"""Limiting laws of random matrix products: Wishart products and Wigner x Wishart products.

Both are free multiplicative convolutions (``docs/reference/oracles.md`` §7, §11.1;
``docs/reference/papers.md`` §3), solved here by one scalar equation per point with the Newton
eta-continuation of :mod:`hessrmt.rmt.free` (density, cdf, support and sampling come from its
``_SubordinatedLaw`` machinery; conventions of :class:`hessrmt.rmt.law.SpectralLaw`).

**Wishart product** :class:`WishartProduct` ``(ratios, scale)``: the limit of the spectrum of
W = Y Y^T, Y = X_1 ... X_k, X_i of size N_{i-1} x N_i with iid N(0, 1/N_i) entries
(:func:`hessrmt.rmt.ensembles.product_wishart` with ``dims = (N, N_1, ..., N_k)``), times ``scale``.
With r_i = N / N_i its S-transform is S(w) = prod_i 1 / (1 + r_i w) (each factor contributes the
S-transform of MP(r_i); Burda, Jarosz, Livan, Nowak & Swiech, PRE 82 (2010) 061114), i.e. the law
is MP(r_1) boxtimes ... boxtimes MP(r_k). With psi(u) = int u t / (1 - u t) dmu(t) and
chi = psi^{-1}, chi(w) = w S(w) / (1 + w), so psi solves the polynomial equation

    psi = u (1 + psi) prod_i (1 + r_i psi),   u = scale / z,   G(z) = (1 + psi) / z.

Atom at zero: 1 - min(1, min_i N_i / N) = max(0, 1 - 1 / max_i r_i) (rank of Y). For square
factors (all r_i = 1) the moments are Fuss-Catalan numbers C((k+1)n, n) / (kn + 1).

**Wigner x Wishart** :class:`WignerWishartProduct` ``(phi, variance)``: the limit of
C^{1/2} H C^{1/2}, H a GOE with semicircle variance ``variance`` and C = A A^T / m, A of size
n x m, phi = n / m (:func:`hessrmt.rmt.ensembles.wigner_wishart_product`), i.e. semicircle
boxtimes MP(phi). Conditionally on C the matrix is Gaussian with covariance
E[H_ij H_kl] ~ (v/N) C_ik C_jl, so the resolvent solves the (quadratic vector) Dyson equation
R = (z - m C)^{-1} with m = v tr(C R) / N, giving the scalar equations

    m = v int t dnu(t) / (z - m t) = v (omega G_nu(omega) - 1) / m,  omega = z / m,
    G(z) = int dnu(t) / (z - m t) = (1 + m^2 / v) / z,

nu = MP(phi). Moments: m_{2k} = v^k sum over non-crossing pairings pi of 2k points of
m_{K(pi)}(nu) (Kreweras complement; Nica & Speicher, Lecture 14), e.g. m_2 = v nu_1^2,
m_4 = 2 v^2 nu_1^2 nu_2; odd moments vanish. Atom at zero: the atom of nu, max(0, 1 - 1/phi).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hessrmt.errors import ConvergenceError, InputError
from hessrmt.rmt.free import _newton_continuation, _SubordinatedLaw
from hessrmt.rmt.free_series import _mul, _reverse
from hessrmt.rmt.laws import MarchenkoPastur
from hessrmt.rmt.validate import positive as _positive

__all__ = ["WignerWishartProduct", "WishartProduct", "fuss_catalan", "wishart_product_from_dims"]


def fuss_catalan(k: int, n: int) -> int:
    """The n-th Fuss-Catalan number C((k+1) n, n) / (k n + 1): the n-th moment of the product of
    k square Wishart factors (mean 1 each)."""
    return math.comb((k + 1) * n, n) // (k * n + 1)


def _solve(
    law: _SubordinatedLaw, res_jac: Any, fixed: Any, x: np.ndarray, eta: float, init: Any
) -> np.ndarray:
    levels = np.append(law._eta_levels(eta), eta)
    y0 = x + 1j * levels[0]
    w = init(y0)
    with np.errstate(all="ignore"):
        for _ in range(30):
            w = 0.5 * w + 0.5 * fixed(w, y0)
    w, res = _newton_continuation(res_jac, x, levels, w, fixed)
    law.max_residual = float(res.max(initial=0.0))
    bad = ~(res < 1e-6 * (1 + np.abs(w)))
    if np.any(bad):
        raise ConvergenceError(
            f"{type(law).__name__}: the fixed-point equation did not converge at "
            f"{int(bad.sum())} points (e.g. x = {x[bad][0]:.6g}); try a larger eta (now {eta:.3g})"
        )
    return w


class WishartProduct(_SubordinatedLaw):
    """MP(r_1) boxtimes ... boxtimes MP(r_k), times ``scale`` (module docstring).

    ``ratios`` = (r_1, ..., r_k) with r_i = N / N_i. A single ratio is Marchenko-Pastur(r_1).
    """

    def __init__(
        self, ratios: Sequence[float], scale: float = 1.0, *, eta: float | None = None
    ) -> None:
        ratios = [float(r) for r in np.atleast_1d(np.asarray(ratios, dtype=float))]
        if not ratios:
            raise InputError("ratios must list at least one r_i = N / N_i, e.g. (2.0, 0.5)")
        self.ratios = tuple(_positive("ratio", r) for r in ratios)
        self.scale = _positive("scale", scale)
        bound = self.scale * math.prod((1 + math.sqrt(r)) ** 2 for r in self.ratios)
        self._bound = (0.0, bound)
        self._scale = bound
        self.atom_mass = max(0.0, 1.0 - 1.0 / max(self.ratios))
        super().__init__(eta, 1e-10)

    def __repr__(self) -> str:
        return f"WishartProduct(ratios={self.ratios!r}, scale={self.scale!r})"

    def _q(self, g: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Q = prod (1 + r_i psi) with psi = z G - 1, and dQ/dG."""
        psi = z * g - 1.0
        q = np.ones_like(g)
        dq = np.zeros_like(g)
        for r in self.ratios:
            dq = dq * (1.0 + r * psi) + q * r * z
            q = q * (1.0 + r * psi)
        return q, dq

    def _stieltjes_at(self, x: np.ndarray, eta: float) -> np.ndarray:
        # psi = u (1 + psi) Q with psi = z G - 1 and u = s / z, written in G itself (no 0/0
        # near z = 0): Phi(G) = z G - 1 - s G Q(G)
        s = self.scale

        def res_jac(g: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            q, dq = self._q(g, z)
            return (
                z * g - 1.0 - s * g * q,
                z - s * q - s * g * dq,
                (g.imag < 0) & ((z * g).imag < 0),
            )

        def fixed(g: np.ndarray, z: np.ndarray) -> np.ndarray:
            return (1.0 + s * g * self._q(g, z)[0]) / z

        if self.atom_mass > 0:  # G ~ atom / z: solve for psi = z G - 1 (no 0/0 then)

            def res_jac_psi(
                psi: np.ndarray, z: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                q, dq = self._q((1.0 + psi) / z, z)
                # (z / s) psi - (1 + psi) Q: well conditioned for |z| << s
                return (
                    z / s * psi - (1.0 + psi) * q,
                    z / s - q - (1.0 + psi) * dq / z,
                    (psi.imag < 0) & (((1.0 + psi) / z).imag < 0),
                )

            def fixed_psi(psi: np.ndarray, z: np.ndarray) -> np.ndarray:
                return s / z * (1.0 + psi) * self._q((1.0 + psi) / z, z)[0]

            psi = _solve(self, res_jac_psi, fixed_psi, x, eta, lambda z: s / z)
            return (1.0 + psi) / (x + 1j * eta)
        return _solve(self, res_jac, fixed, x, eta, lambda z: 1.0 / z)

    def atoms(self) -> list[tuple[float, float]]:
        return [(0.0, self.atom_mass)] if self.atom_mass > 0 else []

    def moment(self, k: int) -> float:
        """Exact moments from chi(w) = w / ((1 + w) prod (1 + r_i w)) reversed as a power series."""
        if k == 0:
            return 1.0
        n = k + 1
        den = np.array([1.0, 1.0])
        for r in self.ratios:
            den = _mul(np.pad(den, (0, n + 1)), np.pad(np.array([1.0, r]), (0, n + 1)), n)
        inv = np.zeros(n + 1)  # 1 / den as a power series
        inv[0] = 1.0
        for j in range(1, n + 1):
            inv[j] = -np.dot(den[1 : j + 1], inv[j - 1 :: -1][:j])
        chi = np.concatenate([[0.0], inv[:n]])
        psi = _reverse(chi, n)
        return float(psi[k] * self.scale**k)

    def conventions(self) -> dict[str, Any]:
        return {
            "law": "WishartProduct",
            "ratios": list(self.ratios),
            "scale": self.scale,
            "atom_at_zero": self.atom_mass,
            "normalisation": "W = Y Y^T, Y = X_1...X_k, X_i of size N_{i-1} x N_i with entry "
            "variance 1/N_i, r_i = N/N_i, eigenvalues times scale",
            "method": "psi = u(1+psi) prod(1+r_i psi) by Newton with eta continuation",
            "eta": self.eta,
        }


def wishart_product_from_dims(dims: Sequence[int], scale: float = 1.0) -> WishartProduct:
    """The limit law of :func:`hessrmt.rmt.ensembles.product_wishart` with ``dims = (N, N_1,
    ..., N_k)``: r_i = N / N_i."""
    dims = [int(d) for d in dims]
    if len(dims) < 2 or min(dims) < 1:
        raise InputError(f"dims must be (N, N_1, ..., N_k) with positive sizes, got {dims}")
    return WishartProduct([dims[0] / d for d in dims[1:]], scale)


def _mp_stieltjes(nu: MarchenkoPastur, z: np.ndarray) -> np.ndarray:
    """G of MP(phi, s) without cancellation near z = 0: with w = z - s(1 - phi) and
    R = sqrt(z - l_-) sqrt(z - l_+), G = (w - R) / (2 phi s z) = 2 / (w + R) (the two are equal
    since w^2 - R^2 = 4 phi s z); use the form whose denominator does not cancel."""
    w = z - nu.scale * (1 - nu.phi)
    root = np.sqrt(z - nu.lower) * np.sqrt(z - nu.upper)
    plus = w + root
    with np.errstate(all="ignore"):
        first = (w - root) / (2 * nu.phi * nu.scale * z)
        second = 2.0 / plus
    return np.where(np.abs(plus) >= np.abs(w - root), second, first)


class WignerWishartProduct(_SubordinatedLaw):
    """Semicircle(variance) boxtimes MP(phi): the limit of C^{1/2} H C^{1/2} (module docstring)."""

    def __init__(self, phi: float, variance: float = 1.0, *, eta: float | None = None) -> None:
        self.phi = _positive("phi", phi)
        self.variance_ = _positive("variance", variance)
        self.nu = MarchenkoPastur(self.phi)
        bound = 2.0 * math.sqrt(self.variance_) * (1 + math.sqrt(self.phi)) ** 2
        self._bound = (-bound, bound)
        self._scale = bound
        self.atom_mass = self.nu.atom_mass
        super().__init__(eta, 1e-10)

    def __repr__(self) -> str:
        return f"WignerWishartProduct(phi={self.phi!r}, variance={self.variance_!r})"

    def _stieltjes_at(self, x: np.ndarray, eta: float) -> np.ndarray:
        v, nu = self.variance_, self.nu

        def res_jac(m: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            om = z / m
            g = _mp_stieltjes(nu, om)
            ps = nu.phi * nu.scale  # G' from phi s z G^2 - (z - s(1 - phi)) G + 1 = 0
            dg = (g - ps * g * g) / (2 * ps * om * g - om + nu.scale * (1 - nu.phi))
            a = om * g - 1.0
            phi = m - v * a / m
            # d(om g)/dm = (g + om g') (-om / m)
            jac = 1.0 + v * a / (m * m) + v / m * (g + om * dg) * om / m
            gz = (1.0 + m * m / v) / z
            return phi, jac, (m.imag < 0) & (gz.imag < 0)

        def fixed(m: np.ndarray, z: np.ndarray) -> np.ndarray:
            om = z / m
            return v * (om * _mp_stieltjes(nu, om) - 1.0) / m

        m = _solve(self, res_jac, fixed, x, eta, lambda z: v / z)
        # G = (1 + m^2 / v) / z = G_nu(z / m) / m; the second form has no 0/0 at z -> 0
        return _mp_stieltjes(nu, (x + 1j * eta) / m) / m

    def atoms(self) -> list[tuple[float, float]]:
        return [(0.0, self.atom_mass)] if self.atom_mass > 0 else []

    def moment(self, k: int) -> float:
        """Exact moments from the power series of m(u) = v sum_n nu_{n+1} m^n u^{n+1}, u = 1/z,
        and G = u (1 + m^2 / v)."""
        if k == 0:
            return 1.0
        n = k + 1
        nu = [self.nu.moment(j) for j in range(n + 2)]
        m = np.zeros(n + 1)
        for _ in range(n + 1):
            acc = np.zeros(n + 1)
            power = np.zeros(n + 1)
            power[0] = 1.0  # m^0
            for j in range(n):
                term = np.zeros(n + 1)
                term[j + 1 :] = power[: n - j]  # u^{j+1} m^j
                acc += nu[j + 1] * term
                power = _mul(power, m, n)
            m = self.variance_ * acc
        g = np.zeros(n + 1)
        msq = _mul(m, m, n)
        g[1] = 1.0
        g[1:] += msq[:n] / self.variance_
        return float(g[k + 1]) if k + 1 <= n else float("nan")

    def conventions(self) -> dict[str, Any]:
        return {
            "law": "WignerWishartProduct",
            "phi": self.phi,
            "variance": self.variance_,
            "atom_at_zero": self.atom_mass,
            "normalisation": "C^{1/2} H C^{1/2}, H GOE with semicircle variance `variance`, "
            "C = A A^T / m, A n x m, phi = n/m",
            "method": "scalar Dyson equation m = v(omega G_MP(omega) - 1)/m, Newton with eta "
            "continuation",
            "eta": self.eta,
        }
