"""Power series behind exact free-convolution moments (used by :mod:`hessrmt.rmt.free`).

Free cumulants kappa_k from moments m_k through M(z) = C(z M(z)), M = 1 + sum m_k z^k,
C = 1 + sum kappa_k z^k (Speicher; additive convolution adds free cumulants). Multiplicative
convolution: psi(z) = sum_{k>=1} m_k z^k, chi = psi^{-1}, S(w) = chi(w)(1 + w)/w and
S_{mu boxtimes nu} = S_mu S_nu (``docs/reference/oracles.md`` §0.1). All series are truncated
numpy
coefficient arrays (index = power).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rmt.law import SpectralLaw

__all__ = ["boxtimes_moments", "free_cumulants", "moments_from_free_cumulants"]

# ----------------------------------------------------------------------------- power series


def _mul(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    return np.convolve(a[: n + 1], b[: n + 1])[: n + 1]


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n + 1)
    out[: min(n + 1, a.size)] = a[: n + 1]
    return out


def _compose(f: np.ndarray, g: np.ndarray, n: int) -> np.ndarray:
    """Coefficients of f(g(z)) up to z^n (g(0) = 0), by Horner's rule."""
    f = _pad(f, n)
    g = _pad(g, n)
    out = np.zeros(n + 1)
    out[0] = f[n]
    for k in range(n - 1, -1, -1):
        out = _mul(out, g, n)
        out[0] += f[k]
    return out


def _reverse(f: np.ndarray, n: int) -> np.ndarray:
    """Compositional inverse g of f (f(0) = 0, f'(0) != 0): f(g(w)) = w up to w^n."""
    f = _pad(f, n)
    g = np.zeros(n + 1)
    g[1] = 1.0 / f[1]
    for k in range(2, n + 1):
        c = _compose(f, g, k)[k]
        g[k] = -c / f[1]
    return g


def free_cumulants(moments: ArrayLike) -> np.ndarray:
    """Free cumulants kappa_1..kappa_K from moments m_1..m_K (index 0 of the output is kappa_0
    = 0 placeholder): M(z) = C(z M(z)), M = 1 + sum m_k z^k, C = 1 + sum kappa_k z^k (Speicher)."""
    m = np.concatenate([[1.0], np.asarray(moments, dtype=float)])
    n = m.size - 1
    zm = np.concatenate([[0.0], m])[: n + 1]
    kappa = np.zeros(n + 1)
    for k in range(1, n + 1):
        c = np.concatenate([[1.0], kappa[1:k], np.zeros(n + 1 - k)])
        kappa[k] = m[k] - _compose(c, zm, k)[k]
    return kappa


def moments_from_free_cumulants(kappa: ArrayLike) -> np.ndarray:
    """Inverse of :func:`free_cumulants`: moments m_0..m_K (m_0 = 1) from kappa_0..kappa_K."""
    kappa = np.asarray(kappa, dtype=float)
    n = kappa.size - 1
    c = np.concatenate([[1.0], kappa[1:]])
    m = np.zeros(n + 1)
    m[0] = 1.0
    for k in range(1, n + 1):
        zm = np.concatenate([[0.0], m[:k]])
        m[k] = _compose(c, zm, k)[k]
    return m


def boxtimes_moments(mu: SpectralLaw, nu: SpectralLaw, n: int) -> np.ndarray:
    """Moments m_0..m_n of mu boxtimes nu from S_{mu boxtimes nu} = S_mu S_nu as power series."""

    def s_series(law: SpectralLaw) -> np.ndarray:
        psi = np.array([0.0] + [law.moment(k) for k in range(1, n + 2)])
        if abs(psi[1]) < 1e-300:
            raise InputError("free multiplicative convolution needs laws with nonzero mean")
        chi = _reverse(psi, n + 1)  # chi(w) = sum chi_k w^k
        over_w = chi[1:]  # chi(w)/w
        return _mul(over_w, np.array([1.0, 1.0]), n)  # (1 + w) chi(w)/w

    s = _mul(s_series(mu), s_series(nu), n)
    geo = (-1.0) ** np.arange(n + 1)  # 1/(1 + w)
    chi = np.concatenate([[0.0], _mul(s, geo, n)])[: n + 2]  # w S(w)/(1 + w)
    psi = _reverse(chi, n + 1)
    out = psi[: n + 1].copy()
    out[0] = 1.0
    return out
