"""BBP outliers: where a finite-rank perturbation pushes an eigenvalue out of the bulk, and how much
the outlier's eigenvector remembers the spike (``docs/reference/oracles.md`` §8).

Conventions: Stieltjes G(z) = int dmu(l)/(z - l) (G ~ 1/z); the bulk is a
:class:`~hessrmt.rmt.law.SpectralLaw` with support [a, b].

* **Additive rank one** H = X + theta v v^T, X with limiting law mu (Benaych-Georges & Nadakuditi,
  Adv. Math. 227 (2011)): for theta > 0 an outlier at rho = G^{-1}(1/theta) = theta + R(1/theta)
  > b exists iff theta > 1/G(b+), and |<u, v>|^2 -> -1 / (theta^2 G'(rho)). (theta < 0: the
  mirror statement below a.) Semicircle of variance s^2: threshold s, rho = theta + s^2/theta,
  overlap 1 - s^2/theta^2 (Baik-Ben Arous-Peche; Peche; Feral-Peche).
* **Spiked covariance** W = Sigma^{1/2} Z Z^T Sigma^{1/2} / n, Sigma = I + (l - 1) v v^T,
  phi = p/n (Baik-Ben Arous-Peche 2005; Paul 2007): for l > 1 + sqrt(phi) an outlier at
  l (1 + phi/(l - 1)), squared overlap (1 - phi/(l - 1)^2) / (1 + phi/(l - 1)). The general
  multiplicative version (Benaych-Georges & Nadakuditi, theta = l - 1): the outlier solves
  T(rho) = 1/theta with T(z) = z G(z) - 1, squared overlap -(theta + 1)/(theta^2 rho T'(rho))
  (:func:`bbp_outlier_multiplicative`, :func:`bbp_overlap_multiplicative`; reduces to the MP
  closed forms above, checked in the tests).
* **Deformed model** (§8.4) H = s X + D with spikes theta_i in D: outliers at
  theta_i + R_{sX}(1/theta_i), R_{sX}(w) = s R_X(s w).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rmt.law import SpectralLaw
from hessrmt.rmt.laws import stieltjes_derivative
from hessrmt.rmt.validate import finite as _num

__all__ = [
    "ScaledLaw",
    "bbp_outlier",
    "bbp_outlier_multiplicative",
    "bbp_overlap",
    "bbp_overlap_multiplicative",
    "bbp_threshold",
    "deformed_outliers",
    "semicircle_outlier",
    "semicircle_overlap",
    "spiked_covariance_outlier",
    "spiked_covariance_overlap",
    "spiked_covariance_threshold",
]


# ----------------------------------------------------------------------------- closed forms
def semicircle_outlier(theta: float, variance: float = 1.0) -> float | None:
    """Outlier of GOE(variance) + theta v v^T: theta + variance/theta iff |theta| > sqrt(variance)
    (else ``None``: the top eigenvalue sticks to the edge 2 sqrt(variance))."""
    theta, variance = _num("theta", theta), _num("variance", variance)
    if variance <= 0:
        raise InputError(f"variance must be positive, got {variance}")
    if abs(theta) <= math.sqrt(variance):
        return None
    return theta + variance / theta


def semicircle_overlap(theta: float, variance: float = 1.0) -> float:
    """Limit of |<u, v>|^2 for the outlier eigenvector: 1 - variance/theta^2 above threshold,
    else 0."""
    theta, variance = _num("theta", theta), _num("variance", variance)
    if abs(theta) <= math.sqrt(variance):
        return 0.0
    return 1.0 - variance / theta**2


def spiked_covariance_threshold(phi: float) -> float:
    """Population spike l above which an outlier separates: 1 + sqrt(phi)."""
    return 1.0 + math.sqrt(_num("phi", phi))


def spiked_covariance_outlier(ell: float, phi: float, scale: float = 1.0) -> float | None:
    """Outlier of the spiked sample covariance (phi = p/n, population spike ``ell`` times
    ``scale``): scale l (1 + phi/(l - 1)) iff l > 1 + sqrt(phi), else ``None`` (the top eigenvalue
    sticks to scale (1 + sqrt(phi))^2)."""
    ell, phi = _num("ell", ell), _num("phi", phi)
    if phi <= 0:
        raise InputError(f"phi must be positive, got {phi}")
    if ell <= spiked_covariance_threshold(phi):
        return None
    return scale * ell * (1.0 + phi / (ell - 1.0))


def spiked_covariance_overlap(ell: float, phi: float) -> float:
    """Limit of |<u, v>|^2: (1 - phi/(l - 1)^2) / (1 + phi/(l - 1)) above threshold, else 0."""
    ell, phi = _num("ell", ell), _num("phi", phi)
    if ell <= spiked_covariance_threshold(phi):
        return 0.0
    return (1.0 - phi / (ell - 1.0) ** 2) / (1.0 + phi / (ell - 1.0))


# ----------------------------------------------------------------------------- general bulk
def _real_g(bulk: SpectralLaw, x: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = complex(bulk.stieltjes(np.array([complex(x, 0.0)]))[0])
    return g.real if np.isfinite(g) else math.inf


def _edge_offset(bulk: SpectralLaw) -> float:
    a, b = bulk.support()
    return 1e-12 * max(b - a, abs(a), abs(b), 1e-300)


def bbp_threshold(bulk: SpectralLaw, side: str = "right") -> float:
    """Critical spike 1/G(b+) (right) or 1/G(a-) (left, negative); 0 when G diverges at the edge
    (then every spike of that sign separates)."""
    a, b = bulk.support()
    if side == "right":
        g = _real_g(bulk, b)
    elif side == "left":
        g = _real_g(bulk, a)
    else:
        raise InputError(f"side must be 'right' or 'left', got {side!r}")
    return 0.0 if not math.isfinite(g) or g == 0 else 1.0 / g


def bbp_outlier(bulk: SpectralLaw, theta: float) -> float | None:
    """Limit of the outlier of X + theta v v^T for a bulk law mu: rho = G^{-1}(1/theta).

    For theta > 0, rho solves G(rho) = 1/theta on (b, b + theta] (G decreases from G(b+) to 0
    there, and a + theta <= rho <= b + theta); it exists iff theta > 1/G(b+). Symmetric for
    theta < 0 below a. Returns ``None`` when there is no outlier. Solved by Brent's method to
    ~1e-14 relative (Benaych-Georges & Nadakuditi 2011; ``docs/reference/oracles.md`` §8.3).
    """
    theta = _num("theta", theta)
    if theta == 0:
        return None
    a, b = bulk.support()
    d = _edge_offset(bulk)
    target = 1.0 / theta
    if theta > 0:
        lo, hi = max(b + d, a + theta), b + theta
        g_edge = _real_g(bulk, b)
        if math.isfinite(g_edge) and g_edge <= target:
            return None
    else:
        lo, hi = a + theta, min(a - d, b + theta)
        g_edge = _real_g(bulk, a)
        if math.isfinite(g_edge) and g_edge >= target:
            return None
    f = lambda x: _real_g(bulk, x) - target  # noqa: E731
    if lo >= hi or f(lo) * f(hi) > 0:
        lo, hi = (b + d, b + 2 * theta + 1) if theta > 0 else (a + 2 * theta - 1, a - d)
    return float(scipy.optimize.brentq(f, lo, hi, xtol=1e-15 * max(1.0, abs(hi)), rtol=1e-15))


def bbp_overlap(bulk: SpectralLaw, theta: float) -> float:
    """Limit of |<u, v>|^2 for the outlier eigenvector u: -1/(theta^2 G'(rho)) (0 without an
    outlier)."""
    rho = bbp_outlier(bulk, theta)
    if rho is None:
        return 0.0
    dg = float(np.real(stieltjes_derivative(bulk, np.array([complex(rho, 0.0)]))[0]))
    return -1.0 / (theta * theta * dg)


def bbp_outlier_multiplicative(bulk: SpectralLaw, ell: float) -> float | None:
    """Outlier of (I + (l - 1) v v^T)^{1/2} X (I + (l - 1) v v^T)^{1/2} for a bulk law mu on
    [0, inf) (spiked covariance: mu = MP(phi)): with theta = l - 1 > 0 and T(z) = z G(z) - 1,
    rho solves T(rho) = 1/theta above the edge b; it exists iff theta > 1/T(b+)
    (Benaych-Georges & Nadakuditi 2011, multiplicative case). For MP(phi) this is
    l (1 + phi/(l - 1)) (§8.2)."""
    theta = _num("ell", ell) - 1.0
    if theta <= 0:
        return None
    _, b = bulk.support()
    d = _edge_offset(bulk)

    def t(x: float) -> float:
        return x * _real_g(bulk, x) - 1.0

    t_edge = t(b)
    if math.isfinite(t_edge) and t_edge <= 1.0 / theta:
        return None
    # T(x) <= b/(x - b) on x > b, so T(x) = 1/theta needs x <= b (1 + theta)
    hi = max(b * (1.0 + theta), b + d) * (1 + 1e-12) + 1e-300
    f = lambda x: t(x) - 1.0 / theta  # noqa: E731
    lo = b + d
    if f(hi) > 0:
        hi = 2 * hi + 1.0
    return float(scipy.optimize.brentq(f, lo, hi, xtol=1e-15 * max(1.0, hi), rtol=1e-15))


def bbp_overlap_multiplicative(bulk: SpectralLaw, ell: float) -> float:
    """Limit of |<u, v>|^2 in the multiplicative spiked model: -(theta + 1)/(theta^2 rho
    T'(rho)) with theta = l - 1, T(z) = z G(z) - 1 (0 without an outlier). For MP(phi) it equals
    (1 - phi/(l - 1)^2) / (1 + phi/(l - 1)) (formula derived here from the multiplicative
    Benaych-Georges-Nadakuditi set-up; verified against that closed form in the tests)."""
    rho = bbp_outlier_multiplicative(bulk, ell)
    if rho is None:
        return 0.0
    theta = float(ell) - 1.0
    z = np.array([complex(rho, 0.0)])
    g = float(np.real(bulk.stieltjes(z)[0]))
    dg = float(np.real(stieltjes_derivative(bulk, z)[0]))
    dt = g + rho * dg
    return -(theta + 1.0) / (theta * theta * rho * dt)


# ----------------------------------------------------------------------------- deformed model
class ScaledLaw(SpectralLaw):
    """The law of s X for X ~ ``law`` (s > 0): G_{sX}(z) = G_X(z/s)/s, R_{sX}(w) = s R_X(s w)."""

    def __init__(self, law: SpectralLaw, s: float) -> None:
        self.law = law
        self.s = _num("s", s)
        if self.s <= 0:
            raise InputError(f"scale s must be positive, got {s}")

    def density(self, x: ArrayLike) -> np.ndarray:
        return self.law.density(np.asarray(x, dtype=float) / self.s) / self.s

    def cdf(self, x: ArrayLike) -> np.ndarray:
        return self.law.cdf(np.asarray(x, dtype=float) / self.s)

    def support(self) -> tuple[float, float]:
        a, b = self.law.support()
        return (self.s * a, self.s * b)

    def atoms(self) -> list[tuple[float, float]]:
        return [(self.s * a, m) for a, m in self.law.atoms()]

    def stieltjes(self, z: ArrayLike) -> np.ndarray:
        return self.law.stieltjes(np.asarray(z, dtype=complex) / self.s) / self.s

    def stieltjes_derivative(self, z: ArrayLike) -> np.ndarray:
        z = np.asarray(z, dtype=complex)
        return stieltjes_derivative(self.law, z / self.s) / self.s**2

    def moment(self, k: int) -> float:
        return self.s**k * self.law.moment(k)

    def conventions(self) -> dict[str, Any]:
        return {"law": "ScaledLaw", "s": self.s, "base": self.law.conventions()}


def deformed_outliers(
    thetas: Sequence[float] | ArrayLike, noise: SpectralLaw, s: float = 1.0
) -> list[float | None]:
    """Outliers of H = s X + D, D = diag(theta_1, ..., theta_r, 0, ...), X ~ ``noise`` free from D
    (§8.4): z_i = theta_i + R_{sX}(1/theta_i) = G_{sX}^{-1}(1/theta_i), ``None`` below threshold.
    For a semicircle of variance sigma^2: theta + s^2 sigma^2 / theta iff |theta| > s sigma."""
    law = noise if s == 1.0 else ScaledLaw(noise, s)
    return [bbp_outlier(law, float(t)) for t in np.atleast_1d(np.asarray(thetas, dtype=float))]
