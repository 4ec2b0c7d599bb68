"""Reference laws of consecutive-spacing ratios (``docs/reference/oracles.md`` §4).

Conventions: r_i = s_{i+1} / s_i in (0, inf) on the sorted raw spectrum; reduced ratio
r~ = min(r, 1/r) in [0, 1]. ``beta = 0`` means Poisson (independent levels).

* **Atas surmise** (Atas, Bogomolny, Giraud, Roux, PRL 110, 084101 (2013), 3 x 3 matrices):
  P_W(r) = (r + r^2)^beta / (1 + r + r^2)^(1 + 3 beta/2) / Z_beta,
  Z_beta = 2 pi Gamma(1 + beta) / (3^(3(1 + beta)/2) Gamma(1 + beta/2)^2); any beta > 0 allowed.
  Symmetry P_W(r) = P_W(1/r) / r^2, so the reduced ratio has density 2 P_W(r~) on [0, 1].
* **Poisson**: P(r) = 1/(1 + r)^2, reduced 2/(1 + r~)^2; cdfs r/(1 + r) and 2 r~/(1 + r~).
* **Finite-N correction** (Atas et al.): delta P(r) = C_beta/(1 + r)^2 [(r + 1/r)^(-beta) -
  c_beta (r + 1/r)^(-beta-1)], c_beta fixed by int delta P = 0 (computed here by Gauss-Jacobi
  quadrature; 2.659792 / 2.409940 / 2.228991) and C_beta = 0.233378 / 0.578846 / 3.60123 fitted by
  Atas et al. for beta = 1, 2, 4. ``corrected=True`` uses P_W + delta P, whose mean reduced ratio
  0.530745 / 0.599692 / 0.674452 matches the large-N values (the best large-N reference density).

CDFs come from Gauss-Jacobi quadrature of t^beta g(t) on [0, x] (exact weight for the t^beta
factor); for beta in {0, 1, 2, 4} they are served from a degree-48 Chebyshev interpolant of the
quadrature on [0, 1] (agreement ~2e-14, tested against the quadrature). Unreduced values for
r > 1 use the symmetry: F(r) = 1 - F(1/r).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from hessrmt.errors import InputError
from hessrmt.rmt.reference_spacing import _as_float_array, _out

__all__ = [
    "ATAS_C",
    "MEAN_RATIO",
    "MEAN_REDUCED_RATIO",
    "atas_c_small",
    "atas_z",
    "conditional_mean_ratio",
    "mean_ratio_surmise",
    "mean_reduced_ratio",
    "mean_reduced_ratio_surmise",
    "ratio_cdf",
    "ratio_pdf",
]

#: Large-N mean reduced ratio <r~> (Atas et al. 2013; Poisson 2 ln 2 - 1 exactly), §4.3.
MEAN_REDUCED_RATIO: dict[str, float] = {
    "poisson": 2.0 * math.log(2.0) - 1.0,
    "goe": 0.5307,
    "gue": 0.5996,
    "gse": 0.6744,
}
#: Large-N mean unreduced ratio <r> (Atas et al.; infinite for Poisson), §4.3.
MEAN_RATIO: dict[str, float] = {"poisson": math.inf, "goe": 1.7781, "gue": 1.3684, "gse": 1.1769}
#: Fitted amplitudes C_beta of the finite-N correction (Atas et al. 2013), §4.4.
ATAS_C: dict[int, float] = {1: 0.233378, 2: 0.578846, 4: 3.60123}

_QUAD_NODES = 40
_CHEB_DEGREE = 48


def _check_beta(beta: float) -> float:
    if not np.isscalar(beta) or not np.isfinite(beta) or beta < 0:
        raise InputError(f"beta must be a finite number >= 0 (0 = Poisson), got {beta!r}")
    return float(beta)


def _check_corrected(beta: float, corrected: bool) -> None:
    if corrected and beta not in (1, 2, 4):
        raise InputError(
            f"the finite-N correction of Atas et al. is known for beta = 1, 2, 4 only, got "
            f"beta={beta!r}; use corrected=False"
        )


def atas_z(beta: float) -> float:
    """Normalisation Z_beta = 2 pi Gamma(1 + b) / (3^(3(1+b)/2) Gamma(1 + b/2)^2) of P_W."""
    beta = _check_beta(beta)
    lz = (
        math.log(2.0 * math.pi)
        + special.gammaln(1.0 + beta)
        - 1.5 * (1.0 + beta) * math.log(3.0)
        - 2.0 * special.gammaln(1.0 + beta / 2.0)
    )
    return math.exp(lz)


@functools.lru_cache(maxsize=64)
def _jacobi01(n: int, a: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes/weights for int_0^1 t^a f(t) dt (Gauss-Jacobi on [-1, 1] mapped to [0, 1])."""
    y, w = special.roots_jacobi(n, 0.0, a)
    return (y + 1.0) / 2.0, w / 2.0 ** (a + 1.0)


def _int_tpow(func, a: float, x: np.ndarray, n: int = _QUAD_NODES) -> np.ndarray:
    """int_0^x t^a func(t) dt for each x >= 0 (func smooth on [0, max x])."""
    t, w = _jacobi01(n, a)
    x = np.asarray(x, dtype=np.float64)
    flat = x.ravel()
    out = np.empty(flat.shape)
    chunk = max(1, 2_000_000 // n)
    for i in range(0, flat.size, chunk):
        xs = flat[i : i + chunk, None]
        out[i : i + chunk] = xs[:, 0] ** (a + 1.0) * np.sum(w * func(xs * t), axis=1)
    return out.reshape(x.shape)


def _smooth_surmise(beta: float):
    """g with P_W(t) = t^beta g(t)."""
    z = atas_z(beta)

    def g(t: np.ndarray) -> np.ndarray:
        return (1.0 + t) ** beta / (1.0 + t + t * t) ** (1.0 + 1.5 * beta) / z

    return g


def _delta_parts(beta: float):
    """(f0, f1) with (1+t)^-2 (t + 1/t)^-beta = t^beta f0(t) and the beta + 1 term t^(beta+1) f1."""

    def f0(t: np.ndarray) -> np.ndarray:
        return (1.0 + t) ** -2 * (1.0 + t * t) ** -beta

    def f1(t: np.ndarray) -> np.ndarray:
        return (1.0 + t) ** -2 * (1.0 + t * t) ** (-beta - 1.0)

    return f0, f1


@functools.lru_cache(maxsize=8)
def atas_c_small(beta: int) -> float:
    """c_beta solving int_0^inf delta P(r) dr = 0 (by symmetry, the ratio of two [0, 1] integrals).

    c_beta = int_0^1 (1+r)^-2 (r + 1/r)^-beta dr / int_0^1 (1+r)^-2 (r + 1/r)^(-beta-1) dr.
    """
    b = float(beta)
    f0, f1 = _delta_parts(b)
    num = _int_tpow(f0, b, np.array(1.0), 60)
    den = _int_tpow(f1, b + 1.0, np.array(1.0), 60)
    return float(num / den)


def _smooth_total(beta: float, corrected: bool):
    """g with density(t) = t^beta g(t) on [0, 1] (surmise, plus delta P when corrected)."""
    if beta == 0:
        return lambda t: 1.0 / (1.0 + t) ** 2
    g = _smooth_surmise(beta)
    if not corrected:
        return g
    big_c = ATAS_C[int(beta)]
    small_c = atas_c_small(int(beta))
    f0, f1 = _delta_parts(beta)

    def total(t: np.ndarray) -> np.ndarray:
        return g(t) + big_c * (f0(t) - small_c * t * f1(t))

    return total


@functools.lru_cache(maxsize=16)
def _half_cdf_interpolant(beta: float, corrected: bool) -> np.polynomial.Chebyshev:
    g = _smooth_total(beta, corrected)
    return np.polynomial.Chebyshev.interpolate(
        lambda x: _int_tpow(g, beta, x), _CHEB_DEGREE, domain=[0.0, 1.0]
    )


def _half_cdf(x: np.ndarray, beta: float, corrected: bool, direct: bool) -> np.ndarray:
    """G(x) = int_0^x P(t) dt for x in [0, 1] (G(1) = 1/2)."""
    if beta == 0:
        return x / (1.0 + x)
    if not direct and beta in (1.0, 2.0, 4.0):
        return _half_cdf_interpolant(beta, corrected)(x)
    return _int_tpow(_smooth_total(beta, corrected), beta, x)


def _density(r: np.ndarray, beta: float, corrected: bool) -> np.ndarray:
    """Unreduced density at r >= 0 (r may exceed 1; P(r) = P(1/r)/r^2 is used for r > 1)."""
    big = r > 1.0
    with np.errstate(divide="ignore"):
        inv = 1.0 / np.where(big, r, 1.0)
    small = np.where(big, 0.0, r)
    return np.where(
        big, _density_01(inv, beta, corrected) * inv * inv, _density_01(small, beta, corrected)
    )


def _density_01(r: np.ndarray, beta: float, corrected: bool) -> np.ndarray:
    """Unreduced density at 0 <= r <= 1."""
    if beta == 0:
        return 1.0 / (1.0 + r) ** 2
    z = atas_z(beta)
    val = (r + r * r) ** beta / (1.0 + r + r * r) ** (1.0 + 1.5 * beta) / z
    if corrected:
        x = r / (1.0 + r * r)  # = 1 / (r + 1/r), finite at r = 0 and r -> inf
        val = val + ATAS_C[int(beta)] / (1.0 + r) ** 2 * (
            x**beta - atas_c_small(int(beta)) * x ** (beta + 1.0)
        )
    return val


def ratio_pdf(
    r: ArrayLike, beta: float, *, reduced: bool = True, corrected: bool = False
) -> np.ndarray:
    """Density of the spacing ratio: P_W (+ delta P if ``corrected``); beta = 0 is Poisson.

    ``reduced=True``: density of r~ = min(r, 1/r), 2 P(r~) on [0, 1] (0 outside);
    ``reduced=False``: density of r on [0, inf) (GOE: (27/8)(r + r^2)/(1 + r + r^2)^(5/2)).
    """
    beta = _check_beta(beta)
    _check_corrected(beta, corrected)
    r = _as_float_array(r, "r")
    upper = 1.0 if reduced else np.inf
    inside = (r >= 0) & (r <= upper)
    safe = np.where(inside, r, 0.0)
    val = _density(safe, beta, corrected) * (2.0 if reduced else 1.0)
    return _out(np.where(inside, val, np.where(np.isnan(r), np.nan, 0.0)))


def ratio_cdf(
    r: ArrayLike,
    beta: float,
    *,
    reduced: bool = True,
    corrected: bool = False,
    method: str = "interpolant",
) -> np.ndarray:
    """CDF of the (reduced) spacing ratio for the law of :func:`ratio_pdf`.

    Reduced: 2 G(x) for x in [0, 1], G(x) = int_0^x P(t) dt; unreduced: G(r) for r <= 1 and
    1 - G(1/r) for r > 1 (symmetry). Poisson closed forms 2x/(1 + x) and r/(1 + r).
    ``method="direct"`` skips the Chebyshev interpolant and integrates by Gauss-Jacobi.
    """
    beta = _check_beta(beta)
    _check_corrected(beta, corrected)
    if method not in ("interpolant", "direct"):
        raise InputError(f"method must be 'interpolant' or 'direct', got {method!r}")
    r = _as_float_array(r, "r")
    direct = method == "direct"
    x = np.where(np.isnan(r), 0.0, np.clip(r, 0.0, np.inf))
    if reduced:
        val = 2.0 * _half_cdf(np.minimum(x, 1.0), beta, corrected, direct)
    else:
        with np.errstate(divide="ignore"):
            inv = np.where(x > 1.0, 1.0 / np.where(x > 1.0, x, 1.0), 0.0)
        low = _half_cdf(np.minimum(x, 1.0), beta, corrected, direct)
        high = 1.0 - _half_cdf(inv, beta, corrected, direct)
        val = np.where(x > 1.0, high, low)
    val = np.clip(np.where(x == 0.0, 0.0, val), 0.0, 1.0)
    return _out(np.where(np.isnan(r), np.nan, val))


def mean_reduced_ratio_surmise(beta: float) -> float:
    """<r~> under the surmise: 2 int_0^1 r P_W(r) dr (beta = 0: 2 ln 2 - 1).

    Closed forms 4 - 2 sqrt 3 (GOE), 2 sqrt 3/pi - 1/2 (GUE), 32 sqrt 3/(15 pi) - 1/2 (GSE).
    """
    return mean_reduced_ratio(beta, corrected=False)


def mean_reduced_ratio(beta: float, *, corrected: bool = True) -> float:
    """<r~> = 2 int_0^1 r P(r) dr under P_W (+ delta P if ``corrected``, beta in {1, 2, 4})."""
    beta = _check_beta(beta)
    _check_corrected(beta, corrected)
    if beta == 0:
        return 2.0 * math.log(2.0) - 1.0
    g = _smooth_total(beta, corrected)
    return float(2.0 * _int_tpow(g, beta + 1.0, np.array(1.0), 60))


def mean_ratio_surmise(beta: float) -> float:
    """<r> (unreduced) under P_W: int_0^1 r P_W + int_0^1 P_W(u)/u du (inf for Poisson).

    Closed forms 7/4 (GOE), 27 sqrt 3/(8 pi) - 1/2 (GUE), 243 sqrt 3/(80 pi) - 1/2 (GSE).
    """
    beta = _check_beta(beta)
    if beta == 0:
        return math.inf
    g = _smooth_total(beta, False)
    one = np.array(1.0)
    return float(_int_tpow(g, beta + 1.0, one, 60) + _int_tpow(g, beta - 1.0, one, 60))


def conditional_mean_ratio(beta: float, r_max: float = 10.0, *, corrected: bool = False) -> float:
    """<r | r < r_max> = int_0^r_max r P(r) dr / F(r_max) (unreduced ratio), §4.3.

    Surmise values at r_max = 10: Poisson 1.637685, GOE 1.460340, GUE 1.316627, GSE 1.172924.
    Paper 1's histograms cover r in [0, 10], hence this quantity.
    """
    beta = _check_beta(beta)
    _check_corrected(beta, corrected)
    if not np.isfinite(r_max) or r_max <= 0:
        raise InputError(f"r_max must be a finite positive number, got {r_max!r}")
    if beta == 0:
        num = math.log1p(r_max) + 1.0 / (1.0 + r_max) - 1.0
        return num * (1.0 + r_max) / r_max
    g = _smooth_total(beta, corrected)
    x = min(r_max, 1.0)
    num = float(_int_tpow(g, beta + 1.0, np.array(x), 60))
    if r_max > 1.0:
        # int_1^r_max r P(r) dr = int_{1/r_max}^1 P(u)/u du (symmetry), smooth on that interval
        y, w = np.polynomial.legendre.leggauss(80)
        a = 1.0 / r_max
        u = a + (y + 1.0) * (1.0 - a) / 2.0
        num += float(np.sum(w * (1.0 - a) / 2.0 * u ** (beta - 1.0) * g(u)))
    cdf = float(ratio_cdf(r_max, beta, reduced=False, corrected=corrected, method="direct"))
    return num / cdf
