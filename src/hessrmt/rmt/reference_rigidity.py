"""Exact and asymptotic number variance Sigma^2(L) and spectral rigidity Delta_3(L).

Unfolded spectra (mean spacing 1), N -> infinity bulk; ``docs/reference/oracles.md`` §5 and
Mehta,
*Random Matrices*, 3rd ed. (2004), chs. 6, 7, 16. beta = 0 means Poisson.

Exact values come from the two-level cluster function Y_2(r) (s(r) = sin(pi r)/(pi r),
s'(r) = ds/dr, Si the sine integral):

* GUE (beta = 2): Y_2(r) = s(r)^2;
* GOE (beta = 1): Y_2(r) = s(r)^2 + s'(r) (1/2 - Si(pi r)/pi)   [int_r^inf s = 1/2 - Si(pi r)/pi];
* GSE (beta = 4): Y_2(r) = s(2r)^2 - s'(2r) Si(2 pi r)/pi   [Mehta ch. 7: s(2r)^2 - D(2r) I(2r)];

all satisfy int_{-inf}^{inf} Y_2 = 1 (tested), and

  Sigma^2(L) = L - 2 int_0^L (L - r) Y_2(r) dr,
  Delta_3(L) = L/15 - (1/(15 L^4)) int_0^L (L - r)^3 (2L^2 - 9Lr - 3r^2) Y_2(r) dr,

integrated by composite Gauss-Legendre quadrature (16 nodes per panel of width 1/2; the
integrands are entire, so this is accurate to ~1e-13). Poisson: Sigma^2 = L, Delta_3 = L/15.
Cross-checks in the tests: Mehta's closed forms in Si/Ci (e.g. Sigma^2_4(L) = Sigma^2_2(2L)/2 +
Si(2 pi L)^2/(4 pi^2)) agree to 1e-11; Delta_3 from Sigma^2 by Pandey's identity; level-repulsion
exponent 1 - Y_2 ~ r^beta; and Monte Carlo (GOE and GSE tridiagonal spectra) within 4 SE. The GSE
curves are not tabulated in ``docs/reference/oracles.md``; they rest on those checks.

Asymptotic (Dyson-Mehta; gamma = Euler's constant):

* GOE: Sigma^2 ~ (2/pi^2)[ln(2 pi L) + gamma + 1 - pi^2/8], Delta_3 ~ (1/pi^2)[ln(2 pi L) + gamma
  - 5/4 - pi^2/8];
* GUE: Sigma^2 ~ (1/pi^2)[ln(2 pi L) + gamma + 1], Delta_3 ~ (1/(2 pi^2))[ln(2 pi L) + gamma - 5/4];
* GSE: Sigma^2 ~ (1/(2 pi^2))[ln(4 pi L) + gamma + 1 + pi^2/8], Delta_3 ~ (1/(4 pi^2))[ln(4 pi L)
  + gamma - 5/4 + pi^2/8].

The log asymptotics are poor for GOE Delta_3 at small L (0.063 instead of 0.102 at L = 2): use the
exact curves for plots and tests.
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
    "cluster_function",
    "delta3_asymptotic",
    "delta3_exact",
    "number_variance_asymptotic",
    "number_variance_exact",
]

_PANEL = 0.5
_NODES_PER_PANEL = 16
_MAX_L = 1.0e5


def _check_beta(beta: float) -> int:
    if beta not in (0, 1, 2, 4):
        raise InputError(f"beta must be 0 (Poisson), 1 (GOE), 2 (GUE) or 4 (GSE), got {beta!r}")
    return int(beta)


def _check_lengths(L: ArrayLike) -> np.ndarray:
    arr = _as_float_array(L, "L")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError("window lengths L must be finite and > 0 (in units of the mean spacing)")
    return arr


def _dsinc(r: np.ndarray) -> np.ndarray:
    """s'(r) = d/dr sin(pi r)/(pi r), with a Taylor series near 0 to avoid cancellation."""
    r = np.asarray(r, dtype=np.float64)
    x = np.pi * r
    small = np.abs(x) < 0.5
    safe = np.where(small, 1.0, r)
    far = (np.cos(np.pi * safe) - np.sinc(safe)) / safe
    # s'(r) = sum_{k>=1} (-1)^k pi^(2k) 2k r^(2k-1) / (2k+1)!
    series = np.zeros_like(r)
    x2 = x * x
    term = np.ones_like(r)  # x^(2k-2) / (2k+1)! * (-1)^(k-1) accumulated below
    for k in range(1, 12):
        coeff = (-1) ** k * 2 * k / math.factorial(2 * k + 1)
        series = series + coeff * term
        term = term * x2
    series = series * np.pi * x  # pi^(2k) r^(2k-1) = pi * x^(2k-1)
    return np.where(small, series, far)


def cluster_function(r: ArrayLike, beta: int) -> np.ndarray:
    """Two-level cluster function Y_2(r) of the bulk (see module docstring); even in r."""
    b = _check_beta(beta)
    r = np.abs(_as_float_array(r, "r"))
    if b == 0:
        return _out(np.zeros_like(r))
    if b == 2:
        return _out(np.sinc(r) ** 2)
    if b == 1:
        si = special.sici(np.pi * r)[0]
        return _out(np.sinc(r) ** 2 + _dsinc(r) * (0.5 - si / np.pi))
    si = special.sici(2.0 * np.pi * r)[0]
    return _out(np.sinc(2.0 * r) ** 2 - _dsinc(2.0 * r) * si / np.pi)


@functools.lru_cache(maxsize=4)
def _panel_rule() -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(_NODES_PER_PANEL)
    return (x + 1.0) / 2.0, w / 2.0


def _integrate_against(L: float, beta: int, weight) -> float:
    """int_0^L weight(r) Y_2(r) dr by composite Gauss-Legendre."""
    if L > _MAX_L:
        raise InputError(f"exact curves are computed for L <= {_MAX_L:g}; use the asymptotics")
    t, w = _panel_rule()
    edges = np.arange(0.0, L, _PANEL)
    widths = np.minimum(_PANEL, L - edges)
    r = (edges[:, None] + widths[:, None] * t[None, :]).ravel()
    wr = (widths[:, None] * w[None, :]).ravel()
    return float(np.sum(wr * weight(r) * cluster_function(r, beta)))


def number_variance_exact(L: ArrayLike, beta: int) -> np.ndarray:
    """Sigma^2(L) = L - 2 int_0^L (L - r) Y_2(r) dr (exact, large N; beta in {0, 1, 2, 4}).

    Values (``docs/reference/oracles.md`` NV-1): GOE 0.4463, 0.5837, 0.7684, 0.9087, 1.0491 and
    GUE 0.3442,
    0.4157, 0.5090, 0.5793, 0.6495 at L = 1, 2, 5, 10, 20.
    """
    b = _check_beta(beta)
    lengths = _check_lengths(L)
    if b == 0:
        return _out(lengths.copy())
    out = np.array(
        [
            ell - 2.0 * _integrate_against(ell, b, lambda r, ell=ell: ell - r)
            for ell in lengths.ravel()
        ]
    )
    return _out(out.reshape(lengths.shape))


def delta3_exact(L: ArrayLike, beta: int) -> np.ndarray:
    """Delta_3(L) = L/15 - (1/(15 L^4)) int_0^L (L-r)^3 (2L^2 - 9Lr - 3r^2) Y_2(r) dr (exact).

    Values (NV-1): GOE 0.0605, 0.1024, 0.1738, 0.2357, 0.3014 and GUE 0.0607, 0.0946, 0.1406,
    0.1757, 0.2108 at L = 1, 2, 5, 10, 20. Poisson: L/15.
    """
    b = _check_beta(beta)
    lengths = _check_lengths(L)
    if b == 0:
        return _out(lengths / 15.0)

    def one(ell: float) -> float:
        def weight(r: np.ndarray) -> np.ndarray:
            return (ell - r) ** 3 * (2.0 * ell * ell - 9.0 * ell * r - 3.0 * r * r)

        return ell / 15.0 - _integrate_against(ell, b, weight) / (15.0 * ell**4)

    out = np.array([one(ell) for ell in lengths.ravel()])
    return _out(out.reshape(lengths.shape))


def number_variance_asymptotic(L: ArrayLike, beta: int) -> np.ndarray:
    """Large-L (Dyson-Mehta) number variance; see the module docstring. Poisson: L (exact)."""
    b = _check_beta(beta)
    lengths = _check_lengths(L)
    g = np.euler_gamma
    pi2 = np.pi**2
    if b == 0:
        val = lengths.copy()
    elif b == 1:
        val = (2.0 / pi2) * (np.log(2 * np.pi * lengths) + g + 1.0 - pi2 / 8.0)
    elif b == 2:
        val = (1.0 / pi2) * (np.log(2 * np.pi * lengths) + g + 1.0)
    else:
        val = (1.0 / (2 * pi2)) * (np.log(4 * np.pi * lengths) + g + 1.0 + pi2 / 8.0)
    return _out(val)


def delta3_asymptotic(L: ArrayLike, beta: int) -> np.ndarray:
    """Large-L (Dyson-Mehta) spectral rigidity; see the module docstring. Poisson: L/15 (exact)."""
    b = _check_beta(beta)
    lengths = _check_lengths(L)
    g = np.euler_gamma
    pi2 = np.pi**2
    if b == 0:
        val = lengths / 15.0
    elif b == 1:
        val = (1.0 / pi2) * (np.log(2 * np.pi * lengths) + g - 1.25 - pi2 / 8.0)
    elif b == 2:
        val = (1.0 / (2 * pi2)) * (np.log(2 * np.pi * lengths) + g - 1.25)
    else:
        val = (1.0 / (4 * pi2)) * (np.log(4 * np.pi * lengths) + g - 1.25 + pi2 / 8.0)
    return _out(val)
