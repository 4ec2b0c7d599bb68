"""Reference laws of nearest-neighbour level spacings (unfolded spectra, mean spacing 1).

All functions are vectorised over their first argument and return an array of its shape (a NumPy
scalar for scalar input). Values outside the support (s < 0) give density 0 and cdf 0; NaN input
propagates.

* **Wigner surmise** (2 x 2 matrices, any Dyson index beta > 0; ``docs/reference/oracles.md``
§2):
  P_beta(s) = a_beta s^beta exp(-b_beta s^2), b_beta = [Gamma((beta+2)/2) / Gamma((beta+1)/2)]^2,
  a_beta = 2 Gamma((beta+2)/2)^(beta+1) / Gamma((beta+1)/2)^(beta+2); cdf = P((beta+1)/2, b s^2)
  (regularised lower incomplete gamma function).
* **Poisson**: p(s) = exp(-s).
* **Brody**: p_q(s) = (q+1) alpha s^q exp(-alpha s^(q+1)), alpha = Gamma((q+2)/(q+1))^(q+1);
  cdf = 1 - exp(-alpha s^(q+1)). q = 0 is Poisson, q = 1 the GOE surmise.
* **Exact Gaudin-Mehta law** (N -> infinity bulk, beta = 1, 2, 4; §3), from the gap probability
  E_beta(0; s) written as Fredholm determinants of the sine kernel K(x) = sin(pi x)/(pi x),
  K_+-(x, y) = K(x - y) +- K(x + y) (Bornemann, Markov Process. Related Fields 16 (2010) 803):
  E_2 = det(I - K) on L^2(0, s); E_1 = det(I - K_+) on L^2(0, s/2);
  E_4 = [det(I - K_+) + det(I - K_-)] / 2 on L^2(0, s). Then p_beta = E'' and cdf = 1 + E'.
  The determinants are evaluated by Nystrom discretisation with m Gauss-Legendre nodes and their
  s-derivatives analytically: with A(L) the Nystrom matrix on an interval of length L,
  (log D)' = -tr(R A'), (log D)'' = -tr(R A'') - tr(R A' R A'), R = (I - A)^{-1}, where
  d/dL [L K(L u)] = cos(pi L u) and d^2/dL^2 = -pi u sin(pi L u).
* **GOE next-nearest-neighbour spacing** (Mehta): the GOE second-neighbour spacing (mean 2) has
  the law of the GSE nearest-neighbour spacing scaled by 2: p_NNN(s) = p_GSE(s/2) / 2.

Nystrom with m = 60 nodes is converged to round-off on these intervals (tested against m = 100).
The exact laws are evaluated through a piecewise-Chebyshev interpolant (panels of width 1/4,
degree 16, agreeing with direct evaluation to ~1e-14) of the direct Fredholm values, built once
per beta (about 0.3 s) on [0, s_max] with s_max = 8, 6, 5 for beta = 1, 2, 4. The GOE tail is
*not* negligible at s = 5 (p_1(5) ~ 1.4e-7, p_1(6) ~ 1e-10); beyond s_max the density is below
1e-17 and 1 - cdf below 1e-16 for every beta (checked in the tests), so they are returned as 0
and 1. ``method="direct"`` bypasses the interpolant (one m x m solve per point).
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from hessrmt.errors import InputError

__all__ = [
    "GAUDIN_S_MAX",
    "GAUDIN_VARIANCE",
    "SURMISE_VARIANCE",
    "brody_cdf",
    "brody_pdf",
    "gap_probability",
    "gaudin_cdf",
    "gaudin_pdf",
    "gaudin_variance",
    "nnn_spacing_cdf",
    "nnn_spacing_pdf",
    "poisson_spacing_cdf",
    "poisson_spacing_pdf",
    "wigner_surmise_cdf",
    "wigner_surmise_pdf",
    "wigner_surmise_variance",
]

#: Where the exact laws are cut off (density < 1e-17 beyond; see module docstring).
GAUDIN_S_MAX: dict[int, float] = {1: 8.0, 2: 6.0, 4: 5.0}
#: Exact (Gaudin-Mehta) spacing variances, ``docs/reference/oracles.md`` §3 (verified
# numerically).
GAUDIN_VARIANCE: dict[int, float] = {1: 0.28553, 2: 0.17999, 4: 0.10410}
#: Wigner-surmise spacing variances 4/pi - 1, 3 pi/8 - 1, 45 pi/128 - 1 (closed form).
SURMISE_VARIANCE: dict[int, float] = {
    1: 4.0 / math.pi - 1.0,
    2: 3.0 * math.pi / 8.0 - 1.0,
    4: 45.0 * math.pi / 128.0 - 1.0,
}

_PANEL_WIDTH = 0.25
_CHEB_DEGREE = 16
_NYSTROM_NODES = 60


def _as_float_array(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if np.iscomplexobj(arr):
        raise InputError(f"{name} must be real, got complex values; pass the real part or |x|")
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be an array of real numbers: {exc}") from exc


def _out(arr: np.ndarray) -> np.ndarray:
    """Return a NumPy scalar for 0-d results, the array otherwise."""
    return arr[()] if arr.ndim == 0 else arr


def _check_positive_beta(beta: float) -> float:
    if not np.isscalar(beta) or not np.isfinite(beta) or beta <= 0:
        raise InputError(f"beta must be a finite number > 0 for the Wigner surmise, got {beta!r}")
    return float(beta)


def _check_exact_beta(beta: float) -> int:
    if beta not in (1, 2, 4):
        raise InputError(
            f"the exact Gaudin-Mehta law exists for beta = 1, 2 or 4 (GOE, GUE, GSE), got {beta!r}"
        )
    return int(beta)


# --------------------------------------------------------------------------------------------
# Wigner surmise, Poisson, Brody
# --------------------------------------------------------------------------------------------


def _surmise_constants(beta: float) -> tuple[float, float]:
    """(a_beta, b_beta) of P_beta(s) = a s^beta exp(-b s^2), computed in log space."""
    lg1 = special.gammaln((beta + 2.0) / 2.0)
    lg0 = special.gammaln((beta + 1.0) / 2.0)
    b = math.exp(2.0 * (lg1 - lg0))
    a = 2.0 * math.exp((beta + 1.0) * lg1 - (beta + 2.0) * lg0)
    return a, b


def wigner_surmise_pdf(s: ArrayLike, beta: float) -> np.ndarray:
    """Wigner surmise density P_beta(s) = a_beta s^beta exp(-b_beta s^2), unit mean (§2).

    beta = 1: (pi/2) s exp(-pi s^2/4); beta = 2: (32/pi^2) s^2 exp(-4 s^2/pi); beta = 4:
    (2^18/(3^6 pi^3)) s^4 exp(-64 s^2/(9 pi)). Any beta > 0 is accepted (2 x 2 beta-ensemble).
    """
    beta = _check_positive_beta(beta)
    s = _as_float_array(s, "s")
    a, b = _surmise_constants(beta)
    pos = np.where(s > 0, np.minimum(s, 1e150), 1.0)  # the density is exactly 0 far out
    with np.errstate(over="ignore"):
        val = np.exp(math.log(a) + beta * np.log(pos) - b * pos * pos)  # log space: no inf * 0
    return _out(np.where(s > 0, val, np.where(np.isnan(s), np.nan, 0.0)))


def wigner_surmise_cdf(s: ArrayLike, beta: float) -> np.ndarray:
    """Wigner surmise cdf = P((beta + 1)/2, b_beta s^2) (regularised incomplete gamma), §2."""
    beta = _check_positive_beta(beta)
    s = _as_float_array(s, "s")
    _, b = _surmise_constants(beta)
    pos = np.where(s > 0, s, 0.0)
    with np.errstate(over="ignore"):
        val = special.gammainc((beta + 1.0) / 2.0, b * pos * pos)
    return _out(np.where(np.isnan(s), np.nan, val))


def wigner_surmise_variance(beta: float) -> float:
    """Variance of the beta surmise, Gamma((b+3)/2) Gamma((b+1)/2) / Gamma((b+2)/2)^2 - 1."""
    beta = _check_positive_beta(beta)
    lg = special.gammaln
    return float(math.exp(lg((beta + 3) / 2) + lg((beta + 1) / 2) - 2 * lg((beta + 2) / 2)) - 1.0)


def poisson_spacing_pdf(s: ArrayLike) -> np.ndarray:
    """Poisson (uncorrelated levels) spacing density exp(-s) for s >= 0."""
    s = _as_float_array(s, "s")
    pos = np.where(s >= 0, s, 0.0)
    return _out(np.where(s >= 0, np.exp(-pos), np.where(np.isnan(s), np.nan, 0.0)))


def poisson_spacing_cdf(s: ArrayLike) -> np.ndarray:
    """Poisson spacing cdf 1 - exp(-s) for s >= 0."""
    s = _as_float_array(s, "s")
    pos = np.where(s > 0, s, 0.0)
    return _out(np.where(np.isnan(s), np.nan, -np.expm1(-pos)))


def _check_brody_q(q: float) -> float:
    if not np.isscalar(q) or not np.isfinite(q) or q < 0:
        raise InputError(
            f"Brody parameter q must be a finite number >= 0 (0 Poisson, 1 GOE), got {q!r}"
        )
    return float(q)


def _brody_alpha(q: float) -> float:
    return math.exp((q + 1.0) * special.gammaln((q + 2.0) / (q + 1.0)))


def brody_pdf(s: ArrayLike, q: float) -> np.ndarray:
    """Brody density (q+1) alpha s^q exp(-alpha s^(q+1)), alpha = Gamma((q+2)/(q+1))^(q+1).

    Interpolates between Poisson (q = 0) and the GOE Wigner surmise (q = 1); unit mean for all q.
    """
    q = _check_brody_q(q)
    s = _as_float_array(s, "s")
    alpha = _brody_alpha(q)
    pos = np.where(s > 0, np.minimum(s, 1e300), 1.0)
    logs = np.log(pos)
    with np.errstate(over="ignore"):
        val = (q + 1.0) * alpha * np.exp(q * logs - alpha * np.exp((q + 1.0) * logs))
    val = np.where(s == 0, (q + 1.0) * alpha if q == 0 else 0.0, val)
    inside = s >= 0
    return _out(np.where(inside, val, np.where(np.isnan(s), np.nan, 0.0)))


def brody_cdf(s: ArrayLike, q: float) -> np.ndarray:
    """Brody cdf 1 - exp(-alpha s^(q+1))."""
    q = _check_brody_q(q)
    s = _as_float_array(s, "s")
    alpha = _brody_alpha(q)
    pos = np.where(s > 0, s, 0.0)
    with np.errstate(over="ignore"):
        val = -np.expm1(-alpha * pos ** (q + 1.0))
    return _out(np.where(np.isnan(s), np.nan, val))


# --------------------------------------------------------------------------------------------
# Exact Gaudin-Mehta law via Fredholm determinants (Bornemann 2010)
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _gauss_legendre01(m: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(m)
    return (x + 1.0) / 2.0, w / 2.0


def _fredholm_with_derivatives(
    lengths: np.ndarray, sign: int, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D(L) = det(I - K_sign) on L^2(0, L) and dD/dL, d^2D/dL^2 for each L in ``lengths``.

    sign = 0: kernel K(x - y); sign = +-1: K(x - y) +- K(x + y). Nystrom with m Gauss-Legendre
    nodes t_i in [0, 1] (x_i = L t_i), A_ij = sqrt(w_i w_j) L k(L t_i, L t_j).
    """
    t, w = _gauss_legendre01(m)
    u = t[:, None] - t[None, :]
    v = t[:, None] + t[None, :]
    sw = np.sqrt(w[:, None] * w[None, :])
    out_d = np.empty(lengths.shape)
    out_d1 = np.empty(lengths.shape)
    out_d2 = np.empty(lengths.shape)
    eye = np.eye(m)
    chunk = 64
    for start in range(0, lengths.size, chunk):
        lb = lengths[start : start + chunk, None, None]
        a0 = lb * np.sinc(lb * u)
        a1 = np.cos(np.pi * lb * u)
        a2 = -np.pi * u * np.sin(np.pi * lb * u)
        if sign:
            a0 = a0 + sign * lb * np.sinc(lb * v)
            a1 = a1 + sign * np.cos(np.pi * lb * v)
            a2 = a2 - sign * np.pi * v * np.sin(np.pi * lb * v)
        i_minus_a = eye - a0 * sw
        det_sign, logdet = np.linalg.slogdet(i_minus_a)
        d = det_sign * np.exp(logdet)
        ra1 = np.linalg.solve(i_minus_a, a1 * sw)
        ra2 = np.linalg.solve(i_minus_a, a2 * sw)
        l1 = -np.trace(ra1, axis1=1, axis2=2)
        l2 = -np.trace(ra2, axis1=1, axis2=2) - np.einsum("nij,nji->n", ra1, ra1)
        sl = slice(start, start + lb.shape[0])
        out_d[sl] = d
        out_d1[sl] = d * l1
        out_d2[sl] = d * (l2 + l1 * l1)
    return out_d, out_d1, out_d2


def _gap_direct(s: np.ndarray, beta: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E_beta(0; s), E', E'' for s >= 0 (flat array), by direct Nystrom evaluation."""
    if beta == 2:
        return _fredholm_with_derivatives(s, 0, m)
    if beta == 1:
        d, d1, d2 = _fredholm_with_derivatives(s / 2.0, 1, m)
        return d, d1 / 2.0, d2 / 4.0
    dp = _fredholm_with_derivatives(s, 1, m)
    dm = _fredholm_with_derivatives(s, -1, m)
    return tuple((a + b) / 2.0 for a, b in zip(dp, dm))  # type: ignore[return-value]


class _PiecewiseChebyshev:
    """Piecewise Chebyshev interpolant on [0, s_max] with panels of equal width."""

    def __init__(self, func, s_max: float, width: float, degree: int) -> None:
        self.s_max = s_max
        self.width = width
        self.n_panels = round(s_max / width)
        k = np.arange(degree + 1)
        nodes = np.cos(np.pi * (k + 0.5) / (degree + 1))  # first-kind Chebyshev points
        left = np.arange(self.n_panels) * width
        pts = left[:, None] + (nodes[None, :] + 1.0) * width / 2.0
        values = func(pts.ravel())  # tuple of arrays
        vander_inv = np.linalg.inv(np.polynomial.chebyshev.chebvander(nodes, degree))
        # one contiguous (degree + 1, n_panels) table per function, for fast np.take
        self.coeffs = [
            np.ascontiguousarray((v.reshape(self.n_panels, degree + 1) @ vander_inv.T).T)
            for v in values
        ]

    def __call__(self, s: np.ndarray, which: int) -> np.ndarray:
        coef = self.coeffs[which]
        idx = np.clip((s // self.width).astype(np.int64), 0, self.n_panels - 1)
        x = 2.0 * (s - idx * self.width) / self.width - 1.0
        x2 = 2.0 * x
        b1 = np.zeros_like(x)
        b2 = np.zeros_like(x)
        for j in range(coef.shape[0] - 1, 0, -1):  # Clenshaw recurrence
            b1, b2 = x2 * b1 - b2 + np.take(coef[j], idx), b1
        return x * b1 - b2 + np.take(coef[0], idx)


@functools.lru_cache(maxsize=4)
def _gaudin_interpolant(beta: int) -> _PiecewiseChebyshev:
    def values(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e, e1, e2 = _gap_direct(s, beta, _NYSTROM_NODES)
        return e, 1.0 + e1, e2  # gap probability, cdf, pdf

    return _PiecewiseChebyshev(values, GAUDIN_S_MAX[beta], _PANEL_WIDTH, _CHEB_DEGREE)


def _gaudin_eval(s: ArrayLike, beta: float, which: int, method: str) -> np.ndarray:
    """which: 0 gap probability E(0; s), 1 cdf, 2 pdf."""
    b = _check_exact_beta(beta)
    if method not in ("interpolant", "direct"):
        raise InputError(f"method must be 'interpolant' or 'direct', got {method!r}")
    s = _as_float_array(s, "s")
    flat = s.ravel()
    s_max = GAUDIN_S_MAX[b]
    inside = (flat >= 0) & (flat <= s_max)
    res = np.empty(flat.shape)
    below = {0: 1.0, 1: 0.0, 2: 0.0}[which]
    above = {0: 0.0, 1: 1.0, 2: 0.0}[which]
    res[flat < 0] = below
    res[flat > s_max] = above
    res[np.isnan(flat)] = np.nan
    if inside.any():
        x = flat[inside]
        if method == "direct":
            res[inside] = _gap_direct(x, b, _NYSTROM_NODES)[which] + (1.0 if which == 1 else 0.0)
        else:
            res[inside] = _gaudin_interpolant(b)(x, which)
    if which == 1:
        res = np.clip(res, 0.0, 1.0)
    return _out(res.reshape(s.shape))


Method = Literal["interpolant", "direct"]


def gap_probability(s: ArrayLike, beta: int, *, method: Method = "interpolant") -> np.ndarray:
    """E_beta(0; s): probability that an interval of length s (unfolded) holds no level (§3)."""
    return _gaudin_eval(s, beta, 0, method)


def gaudin_pdf(s: ArrayLike, beta: int, *, method: Method = "interpolant") -> np.ndarray:
    """Exact large-N bulk spacing density p_beta(s) = E_beta''(0; s), beta in {1, 2, 4} (§3).

    Values at s = 0.5, 1, 1.5, 2: GOE 0.6562, 0.7018, 0.3931, 0.1392; GUE 0.5932, 0.9029,
    0.4146, 0.0813; GSE 0.4105, 1.2076, 0.3604, 0.0212 (``docs/reference/oracles.md`` GM-2).
    """
    return _gaudin_eval(s, beta, 2, method)


def gaudin_cdf(s: ArrayLike, beta: int, *, method: Method = "interpolant") -> np.ndarray:
    """Exact large-N bulk spacing cdf 1 + E_beta'(0; s), beta in {1, 2, 4} (§3)."""
    return _gaudin_eval(s, beta, 1, method)


def gaudin_variance(beta: int) -> float:
    """Variance of the exact spacing law, 2 int_0^inf E_beta(0; s) ds - 1 (Gauss-Legendre)."""
    b = _check_exact_beta(beta)
    x, w = np.polynomial.legendre.leggauss(160)
    s_max = GAUDIN_S_MAX[b]
    s = (x + 1.0) * s_max / 2.0
    e = _gap_direct(s, b, _NYSTROM_NODES)[0]
    return float(2.0 * np.sum(w * s_max / 2.0 * e) - 1.0)


def nnn_spacing_pdf(s: ArrayLike, *, exact: bool = True) -> np.ndarray:
    """GOE next-nearest-neighbour spacing density p_GSE(s/2)/2 (mean 2; Mehta, §2).

    ``exact=True`` uses the exact GSE law (Gaudin), ``False`` the beta = 4 Wigner surmise.
    """
    s = _as_float_array(s, "s")
    inner = gaudin_pdf(s / 2.0, 4) if exact else wigner_surmise_pdf(s / 2.0, 4)
    return _out(np.asarray(inner) / 2.0)


def nnn_spacing_cdf(s: ArrayLike, *, exact: bool = True) -> np.ndarray:
    """GOE next-nearest-neighbour spacing cdf F_GSE(s/2) (see :func:`nnn_spacing_pdf`)."""
    s = _as_float_array(s, "s")
    return gaudin_cdf(s / 2.0, 4) if exact else wigner_surmise_cdf(s / 2.0, 4)
