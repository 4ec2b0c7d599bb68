"""How badly do the semicircle and Marchenko-Pastur laws fit a spectrum? Moment fits with distances.

Conventions (``docs/reference/oracles.md`` §0, §6): Semicircle(variance s^2, center c) is the
limit of a GOE
with off-diagonal variance s^2/N (radius 2s); MP(phi, scale) is the limit of W = X X^T / n, X of
size p x n with entry variance ``scale``, phi = p/n (mean ``scale``, variance scale^2 phi, atom
1 - 1/phi at 0 when phi > 1).

Fits are by moment matching on all eigenvalues (zeros included): semicircle c = mean,
s^2 = variance; MP scale = mean, phi = variance / mean^2. Reported distances:

* ``ks_statistic`` = sup_x |F_n(x) - F(x)| (exact: evaluated on both sides of every eigenvalue),
* ``wasserstein`` = int |F_n(x) - F(x)| dx (1-Wasserstein; quadrature on a merged grid),
* ``plausible`` = ks_statistic <= ``ks_threshold``, the (1 - alpha) quantile of the same statistic
  (with the fit redone) on ``n_null`` spectra simulated from the *matrix* model at the same size:
  GOE eigenvalues (Dumitriu-Edelman tridiagonal) for the semicircle, real Wishart (Laguerre
  bidiagonal) eigenvalues for MP. Eigenvalues are far more rigid than iid draws, so an iid KS
  critical value would be much too lenient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result
from hessrmt.rmt.law import SpectralLaw
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle
from hessrmt.rng import RngLike, as_generator, seed_of

__all__ = [
    "LawFit",
    "fit_marchenko_pastur",
    "fit_semicircle",
    "ks_distance",
    "wasserstein_distance",
]


@dataclass(frozen=True)
class LawFit(Result):
    """A fitted limiting law and how far the spectrum is from it.

    ``name`` is "semicircle" or "marchenko-pastur"; ``params`` holds the law's parameters
    (``variance``, ``center`` or ``phi``, ``scale``); :meth:`to_law` rebuilds the law.
    """

    kind = "law_fit"

    name: str
    params: dict[str, float]
    n_eigenvalues: int
    ks_statistic: float
    wasserstein: float
    ks_threshold: float
    alpha: float
    n_null: int
    plausible: bool
    method: str = "moments"
    meta: Metadata = field(default_factory=Metadata)

    def to_law(self) -> SpectralLaw:
        if self.name == "semicircle":
            return Semicircle(self.params["variance"], self.params["center"])
        return MarchenkoPastur(self.params["phi"], self.params["scale"])


def clean_eigenvalues(eigs: ArrayLike, what: str = "a law") -> np.ndarray:
    """Sorted float64 copy of ``eigs`` for fitting ``what``: real, finite, at least 10 values
    (InputError naming the problem otherwise)."""
    x = np.asarray(eigs)
    if np.iscomplexobj(x):
        raise InputError("eigenvalues must be real; got a complex array")
    x = np.asarray(x, dtype=float).ravel()
    if x.size < 10:
        raise InputError(f"need at least 10 eigenvalues to fit {what}, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise InputError("eigenvalues contain NaN or inf; remove them before fitting")
    return np.sort(x)


_clean = clean_eigenvalues


def ks_distance(eigs: ArrayLike, law: SpectralLaw) -> float:
    """sup_x |F_n(x) - F(x)| between the empirical cdf of ``eigs`` and ``law.cdf``, evaluated
    exactly (both one-sided limits at each eigenvalue, so atoms are handled)."""
    x = np.sort(np.asarray(eigs, dtype=float).ravel())
    n = x.size
    f_at = law.cdf(x)
    f_before = law.cdf(np.nextafter(x, -np.inf))
    upper = np.searchsorted(x, x, side="right") / n  # F_n(x)
    lower = np.searchsorted(x, x, side="left") / n  # F_n(x-)
    return float(max(np.max(np.abs(upper - f_at)), np.max(np.abs(lower - f_before))))


def wasserstein_distance(eigs: ArrayLike, law: SpectralLaw, *, grid: int = 8192) -> float:
    """W1 = int |F_n(x) - F(x)| dx on a grid merging the eigenvalues and ``grid`` uniform points
    over the union of both supports (trapezoid on F, exact steps for F_n)."""
    x = np.sort(np.asarray(eigs, dtype=float).ravel())
    a, b = law.support()
    lo, hi = min(a, x[0]), max(b, x[-1])
    pts = np.unique(np.concatenate([np.linspace(lo, hi, grid), x]))
    mid = 0.5 * (pts[1:] + pts[:-1])
    fn = np.searchsorted(x, mid, side="right") / x.size  # constant on each cell
    f = law.cdf(pts)
    fm = law.cdf(mid)
    # Simpson on each cell for |F_n - F| (F_n constant in the cell)
    cell = (np.abs(fn - f[:-1]) + 4 * np.abs(fn - fm) + np.abs(fn - f[1:])) / 6
    return float(np.sum(cell * np.diff(pts)))


def _moments_semicircle(x: np.ndarray) -> dict[str, float]:
    var = float(np.var(x))
    if var <= 0:
        raise InputError("eigenvalues are all equal; a semicircle needs a positive variance")
    return {"variance": var, "center": float(np.mean(x))}


#: A mean eigenvalue at or below ``MP_MEAN_RTOL * max|lambda|`` is round-off, not a scale: a
#: traceless spectrum (e.g. the residual H1 of a ReLU network) would otherwise give
#: phi = var / mean^2 ~ 1e30.
MP_MEAN_RTOL = 1e-8


def _moments_mp(x: np.ndarray) -> dict[str, float]:
    mean = float(np.mean(x))
    scale = float(np.max(np.abs(x))) if x.size else 0.0
    if mean <= 0:
        raise InputError(
            f"Marchenko-Pastur needs a positive mean eigenvalue (got {mean:.3g}); is this a "
            "covariance-type (positive semi-definite) spectrum?"
        )
    if mean <= MP_MEAN_RTOL * scale:
        raise InputError(
            f"mean eigenvalue {mean:.3g} is not positive beyond round-off ({MP_MEAN_RTOL:g} "
            f"max|lambda| = {MP_MEAN_RTOL * scale:.3g}); Marchenko-Pastur needs a positive "
            "semi-definite, covariance-type spectrum"
        )
    var = float(np.var(x))
    if var <= 0:
        raise InputError("eigenvalues are all equal; MP needs a positive variance")
    return {"phi": var / mean**2, "scale": mean}


def _null_threshold(
    name: str, n: int, params: dict[str, float], n_null: int, alpha: float, gen: np.random.Generator
) -> float:
    from hessrmt.rmt import ensembles  # local: keeps fit importable early

    stats = np.empty(n_null)
    for i in range(n_null):
        if name == "semicircle":
            y = ensembles.beta_hermite_eigenvalues(n, 1.0, rng=gen)
            law: SpectralLaw = Semicircle(**_moments_semicircle(y))
        else:
            m = max(1, round(n / params["phi"]))
            y = ensembles.beta_laguerre_eigenvalues(n, m, 1.0, rng=gen)
            law = MarchenkoPastur(**_moments_mp(y))
        stats[i] = ks_distance(y, law)
    return float(np.quantile(stats, 1.0 - alpha))


def _fit(
    name: str,
    eigs: ArrayLike,
    params_of: Any,
    law_of: Any,
    n_null: int,
    alpha: float,
    rng: RngLike,
) -> LawFit:
    x = _clean(eigs)
    if not (0 < alpha < 1):
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
    if isinstance(n_null, bool) or not isinstance(n_null, int) or n_null < 0:
        raise InputError(f"n_null must be a non-negative integer, got {n_null!r}")
    params = params_of(x)
    law = law_of(params)
    ks = ks_distance(x, law)
    w1 = wasserstein_distance(x, law)
    gen = as_generator(rng)
    thr = _null_threshold(name, x.size, params, n_null, alpha, gen) if n_null > 0 else math.nan
    conventions = law.conventions()
    conventions["fit"] = "moment matching on all eigenvalues (zeros included)"
    conventions["null"] = (
        "GOE tridiagonal eigenvalues" if name == "semicircle" else "real Wishart eigenvalues"
    ) + " at the same size, fit redone on each"
    return LawFit(
        name=name,
        params=params,
        n_eigenvalues=int(x.size),
        ks_statistic=ks,
        wasserstein=w1,
        ks_threshold=thr,
        alpha=float(alpha),
        n_null=int(n_null),
        plausible=bool(ks <= thr) if n_null > 0 else False,
        meta=Metadata.create(seed=seed_of(rng), dtype="float64", conventions=conventions),
    )


def fit_semicircle(
    eigs: ArrayLike, *, n_null: int = 100, alpha: float = 0.05, rng: RngLike = 0
) -> LawFit:
    """Fit Semicircle(variance, center) by moments (center = mean, variance = variance of the
    eigenvalues) and report KS, W1 and plausibility against a simulated GOE null (module
    docstring). ``n_null=0`` skips the simulation (``plausible`` is then False, threshold NaN)."""
    return _fit(
        "semicircle",
        eigs,
        _moments_semicircle,
        lambda p: Semicircle(p["variance"], p["center"]),
        n_null,
        alpha,
        rng,
    )


def fit_marchenko_pastur(
    eigs: ArrayLike, *, n_null: int = 100, alpha: float = 0.05, rng: RngLike = 0
) -> LawFit:
    """Fit MarchenkoPastur(phi, scale) by moments (scale = mean, phi = variance/mean^2, zeros
    included so phi > 1 captures an atom) and report KS, W1 and plausibility against a simulated
    real-Wishart null of the same size (module docstring)."""
    return _fit(
        "marchenko-pastur",
        eigs,
        _moments_mp,
        lambda p: MarchenkoPastur(p["phi"], p["scale"]),
        n_null,
        alpha,
        rng,
    )
