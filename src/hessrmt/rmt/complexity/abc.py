"""Auffinger-Ben Arous-Cerny complexity of the pure spherical p-spin glass, in closed form.

Model (ABC, CPAM 66 (2013) 165-201, arXiv 1003.1129; ``docs/reference/oracles.md`` §12,
``docs/reference/papers.md`` §8): H_N(sigma) = N^{-(p-1)/2} sum J_{i1..ip} sigma_i1 ... sigma_ip,
J iid N(0, 1), sigma on the sphere of radius sqrt(N), E[H(s)H(s')] = N (s.s'/N)^p. Energies are
per site: Crt_{N,k}(u) counts critical points of index k with H_N <= N u.

* E_inf(p) = 2 sqrt((p - 1)/p), the threshold energy (the edge of the shifted semicircle).
* I_1(u) = -(u/E_inf^2) sqrt(u^2 - E_inf^2) - ln(-u + sqrt(u^2 - E_inf^2)) + ln E_inf for
  u <= -E_inf: the GOE (beta = 1) top-eigenvalue large-deviation rate in energy units.
* Theta_{k,p}(u) = lim (1/N) ln E Crt_{N,k}(u)
  = 1/2 ln(p - 1) - (p - 2)/(4(p - 1)) u^2 - (k + 1) I_1(u)  for u <= -E_inf,
  = 1/2 ln(p - 1) - (p - 2)/p                                 for u >= -E_inf.
* Theta_p(u) (all indices) = 1/2 ln(p - 1) - (p - 2)/(4(p - 1)) u^2 - I_1(u) for u <= -E_inf;
  1/2 ln(p - 1) - (p - 2)/(4(p - 1)) u^2 on [-E_inf, 0]; 1/2 ln(p - 1) for u >= 0.
* -E_k: the root of Theta_{k,p}(-E_k) = 0 below -E_inf (Brent's method); E_0 > E_1 > ... > E_inf,
  -E_0 the (annealed) ground-state energy.

Everything here is pure NumPy/SciPy and vectorised over ``u``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from hessrmt.errors import InputError

__all__ = [
    "check_k",
    "check_p",
    "e_inf",
    "i1",
    "i1_derivative",
    "theta_k",
    "theta_total",
    "threshold",
    "thresholds",
]


def check_p(p: float) -> int:
    """``p`` as an int >= 2 (an :class:`InputError` otherwise)."""
    if isinstance(p, bool) or not isinstance(p, (int, np.integer, float, np.floating)):
        raise InputError(f"p must be an integer >= 2, got {p!r}")
    if not math.isfinite(float(p)) or float(p) != int(p) or int(p) < 2:
        raise InputError(f"p must be an integer >= 2 (the spin order), got {p!r}")
    return int(p)


def check_k(k: int) -> int:
    """``k`` as an int >= 0 (an :class:`InputError` otherwise)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or int(k) < 0:
        raise InputError(f"k (the index) must be an integer >= 0, got {k!r}")
    return int(k)


def e_inf(p: int) -> float:
    """E_inf(p) = 2 sqrt((p - 1)/p) (ABC's threshold energy)."""
    p = check_p(p)
    return 2.0 * math.sqrt((p - 1) / p)


def _u_array(u: ArrayLike) -> np.ndarray:
    arr = np.asarray(u, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise InputError("the energy u must be finite")
    return arr


def i1(u: ArrayLike, p: int) -> np.ndarray:
    """I_1(u) for u <= -E_inf (0 for u >= -E_inf), the GOE top-eigenvalue rate in energy units.

    I_1(u) = -(u/E^2) sqrt(u^2 - E^2) - ln(-u + sqrt(u^2 - E^2)) + ln E, E = E_inf(p).
    """
    e = e_inf(p)
    u = _u_array(u)
    w = np.minimum(u, -e)
    root = np.sqrt(np.maximum(w * w - e * e, 0.0))
    out = -(w / e**2) * root - np.log((-w + root) / e)
    return np.where(u <= -e, np.maximum(out, 0.0), 0.0)


def i1_derivative(u: ArrayLike, p: int) -> np.ndarray:
    """dI_1/du = -(2/E_inf^2) sqrt(u^2 - E_inf^2) for u <= -E_inf (0 above)."""
    e = e_inf(p)
    u = _u_array(u)
    return np.where(u <= -e, -(2.0 / e**2) * np.sqrt(np.maximum(u * u - e * e, 0.0)), 0.0)


def theta_k(u: ArrayLike, p: int, k: int) -> np.ndarray:
    """Theta_{k,p}(u): the annealed complexity of index-k critical points below energy u."""
    p, k = check_p(p), check_k(k)
    e = e_inf(p)
    u = _u_array(u)
    w = np.minimum(u, -e)
    return 0.5 * math.log(p - 1) - (p - 2) / (4.0 * (p - 1)) * w * w - (k + 1) * i1(w, p)


def theta_total(u: ArrayLike, p: int) -> np.ndarray:
    """Theta_p(u): the annealed complexity of all critical points below energy u."""
    p = check_p(p)
    u = _u_array(u)
    w = np.minimum(u, 0.0)
    return 0.5 * math.log(p - 1) - (p - 2) / (4.0 * (p - 1)) * w * w - i1(w, p)


def threshold(p: int, k: int) -> float:
    """E_k(p) > 0: -E_k is the root of Theta_{k,p}(u) = 0 below -E_inf (Brent, xtol 1e-15).

    For p = 2 the landscape is trivial (Theta_{k,2} = 0 at u = -E_inf = -sqrt 2): E_k = E_inf.
    """
    p, k = check_p(p), check_k(k)
    e = e_inf(p)
    if p == 2:
        return e

    def f(u: float) -> float:
        return float(theta_k(u, p, k))

    lo = -e - 1.0
    while f(lo) > 0.0:
        lo = -e + 2.0 * (lo + e)
    return -brentq(f, lo, -e, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)


def thresholds(p: int, kmax: int) -> np.ndarray:
    """[E_0, ..., E_kmax] for spin order ``p``."""
    kmax = check_k(kmax)
    return np.array([threshold(p, k) for k in range(kmax + 1)])
