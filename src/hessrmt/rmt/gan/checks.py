"""Checks of the GAN subordination density against sampled spectra (moments, simulated-null KS).

Finite-N bias. At N = 300 the ECDF of the sampler differs from the limit law by O(1/N) (e.g. the
GOE's (1/N) E tr M^2 = 1/2 + 1/(2N) in the repository normalisation), which 100 samples resolve.
Both checks therefore remove the 1/N term by Richardson extrapolation between N and N/2:

    m_inf = 2 m(N) - m(N/2),   F_inf = 2 ECDF_N - ECDF_{N/2}

with its standard error from the spectra (independent across spectra), and report the raw
N-sample differences next to them.

Simulated-null KS test (:func:`ks_check`): statistic D = sup_x |F_inf(x) - F(x)| on the pooled
levels. Its null distribution is simulated with data whose limit law is exactly F and whose
dependence is that of a beta = 1 Wigner spectrum: Dumitriu-Edelman GOE levels of the same sizes
(N and N/2, the same number of spectra), mapped through the semicircle CDF to (0, 1) and then by
F^{-1}; the same extrapolated statistic is computed on each null replicate. p = (1 + #{D_null >=
D}) / (1 + n_null). A density that is wrong by more than the extrapolation noise (the authors'
quartic, sup|CDF - ECDF| = 0.012) is rejected.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from hessrmt.errors import InputError
from hessrmt.rmt.gan import density as gd
from hessrmt.rmt.gan.model import GanHessianModel
from hessrmt.rmt.stattests import goe_tridiagonal_levels
from hessrmt.rng import RngLike, as_generator


@dataclasses.dataclass(frozen=True)
class MomentCheck:
    """First four moments: theory, sampled at N (mean over spectra, SE between spectra), and
    the 1/N-extrapolated estimate 2 m(N) - m(N/2) with its SE; z = (extrapolated - theory)/SE."""

    theory: list[float]
    sampled: list[float]
    sampled_se: list[float]
    extrapolated: list[float]
    extrapolated_se: list[float]
    z: list[float]
    n: int
    n_samples: int

    @property
    def max_abs_z(self) -> float:
        return float(np.max(np.abs(self.z)))


def _per_spectrum_moments(spectra: np.ndarray) -> np.ndarray:
    return np.stack([np.mean(spectra**k, axis=1) for k in range(1, 5)], axis=1)


def _mean_se(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / math.sqrt(values.shape[0])
    return m, se


def moment_check(
    theory: np.ndarray, spectra_n: np.ndarray, spectra_half: np.ndarray
) -> MomentCheck:
    """Compare exact moments ``theory`` (4 numbers) with spectra at N (rows) and at N/2."""
    if spectra_n.ndim != 2 or spectra_half.ndim != 2 or spectra_n.shape[0] < 2:
        raise InputError("moment_check needs 2-D arrays of at least two spectra each")
    m_n, se_n = _mean_se(_per_spectrum_moments(spectra_n))
    m_h, se_h = _mean_se(_per_spectrum_moments(spectra_half))
    ext = 2 * m_n - m_h
    ext_se = np.sqrt(4 * se_n**2 + se_h**2)
    th = np.asarray(theory, dtype=float)
    return MomentCheck(
        theory=th.tolist(),
        sampled=m_n.tolist(),
        sampled_se=se_n.tolist(),
        extrapolated=ext.tolist(),
        extrapolated_se=ext_se.tolist(),
        z=((ext - th) / ext_se).tolist(),
        n=int(spectra_n.shape[1]),
        n_samples=int(spectra_n.shape[0]),
    )


@dataclasses.dataclass(frozen=True)
class KSCheck:
    """Simulated-null KS test of the extrapolated ECDF against a CDF (see the module doc)."""

    statistic: float
    raw_statistic: float
    pvalue: float
    null_quantiles: dict[str, float]
    n_null: int
    n: int
    n_samples: int


class _Cdf:
    """CDF and inverse CDF of a law from a callable CDF tabulated on a fine grid."""

    def __init__(
        self, cdf_fn: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, points: int = 20001
    ) -> None:
        self.x = np.linspace(lo, hi, points)
        f = np.maximum.accumulate(np.clip(cdf_fn(self.x), 0.0, 1.0))
        self.f = f

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.x, self.f, left=0.0, right=1.0)

    def inverse(self, u: np.ndarray) -> np.ndarray:
        keep = np.concatenate([[True], np.diff(self.f) > 0])
        return np.interp(u, self.f[keep], self.x[keep])


def _extrapolated_distance(
    pooled_n: np.ndarray, pooled_half: np.ndarray, cdf: _Cdf
) -> tuple[float, float]:
    """sup |2 ECDF_N - ECDF_{N/2} - F| over the pooled levels, and the raw sup |ECDF_N - F|."""
    a = np.sort(pooled_n)
    c = np.sort(pooled_half)
    pts = np.concatenate([a, c])
    f = cdf(pts)
    e_a_hi = np.searchsorted(a, pts, side="right") / a.size
    e_a_lo = np.searchsorted(a, pts, side="left") / a.size
    e_c_hi = np.searchsorted(c, pts, side="right") / c.size
    e_c_lo = np.searchsorted(c, pts, side="left") / c.size
    ext = max(np.max(np.abs(2 * e_a_hi - e_c_hi - f)), np.max(np.abs(2 * e_a_lo - e_c_lo - f)))
    fa = cdf(a)
    raw = max(np.max(np.abs(e_a_hi[: a.size] - fa)), np.max(np.abs(e_a_lo[: a.size] - fa)))
    return float(ext), float(raw)


def _semicircle_cdf_radius2(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, -2.0, 2.0)
    return 0.5 + t * np.sqrt(4 - t * t) / (4 * math.pi) + np.arcsin(t / 2) / math.pi


def ks_check(
    cdf_fn: Callable[[np.ndarray], np.ndarray],
    bounds: tuple[float, float],
    spectra_n: np.ndarray,
    spectra_half: np.ndarray,
    *,
    n_null: int = 100,
    rng: RngLike = None,
) -> KSCheck:
    """Simulated-null KS test of the CDF ``cdf_fn`` (support inside ``bounds``) against spectra
    at N (rows of ``spectra_n``) and N/2 (rows of ``spectra_half``)."""
    if n_null < 1:
        raise InputError(f"n_null must be >= 1, got {n_null}")
    gen = as_generator(rng)
    lo, hi = bounds
    pad = 0.05 * (hi - lo)
    cdf = _Cdf(cdf_fn, lo - pad, hi + pad)
    stat, raw = _extrapolated_distance(spectra_n.ravel(), spectra_half.ravel(), cdf)
    null = np.empty(n_null)
    shapes = [spectra_n.shape, spectra_half.shape]
    for r in range(n_null):
        pooled = []
        for m, n in shapes:
            lev = goe_tridiagonal_levels(n, gen, size=m) * (2.0 / math.sqrt(2.0 * n))
            pooled.append(cdf.inverse(_semicircle_cdf_radius2(lev)).ravel())
        null[r] = _extrapolated_distance(pooled[0], pooled[1], cdf)[0]
    p = (1 + np.count_nonzero(null >= stat)) / (1 + n_null)
    return KSCheck(
        statistic=stat,
        raw_statistic=raw,
        pvalue=float(p),
        null_quantiles={q: float(np.quantile(null, float(q))) for q in ("0.5", "0.95", "0.99")},
        n_null=int(n_null),
        n=int(spectra_n.shape[1]),
        n_samples=int(spectra_n.shape[0]),
    )


def model_cdf(model: GanHessianModel) -> Callable[[np.ndarray], np.ndarray]:
    """x -> F(x) of the subordination law (support computed once)."""
    ivs = gd.support(model)
    return lambda x: gd.cdf(model, x, intervals=ivs)


def repository_cdf(model: GanHessianModel) -> Callable[[np.ndarray], np.ndarray]:
    """x -> F(x) of the authors' quartic density (normalised by its own mass on the grid)."""
    lo, hi = model.spectrum_bounds()
    grid = np.linspace(lo - 0.5, hi + 0.5, 40001)
    rho = gd.repository_density(model, grid)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * np.diff(grid))])

    def fn(x: np.ndarray) -> np.ndarray:
        return np.interp(x, grid, cum, left=0.0, right=cum[-1])

    return fn
