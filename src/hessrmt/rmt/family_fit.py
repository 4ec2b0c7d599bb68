"""Fit a spectrum by each random-matrix family and rank the families (issue 13, item 2).

Two methods. ``method="w1"`` (default): W1 fits that respect the atom at zero, with the atom
either matched to the measured zero fraction (``atom="matched"``, one more parameter
``zero_mass``) or the family's own (``atom="family"``), and a *refitting* parametric bootstrap
for intervals and KS p-values (:mod:`hessrmt.rmt.family_w1`). ``method="moments"``: the moment
fits below with a bootstrap that does not refit (kept for comparison: the fourth moment is driven
by heavy tails and gave fitted atoms of 0.54-0.95 on network spectra whose zero fraction is
0.01-0.08).

Families (name: parameters; the moment fit matches the moments about 0 of all eigenvalues, zeros
included; conventions of each law's class):

* ``semicircle``: Semicircle(variance, center): center = m1, variance = m2 - m1^2.
* ``marchenko-pastur``: MarchenkoPastur(phi, scale): scale = m1, phi = var / m1^2 (atom
  1 - 1/phi predicted).
* ``wishart-product``: WishartProduct((r1, r2), scale) (two factors, r1 >= r2): scale = m1 and
  (r1, r2) by least squares on the normalised 2nd and 3rd moments (atom 1 - 1/r1 predicted).
* ``wigner-wishart-product``: WignerWishartProduct(phi, variance): m2 = v, m4 = 2 v^2 (1 + phi).
* ``percolated-wigner``: PercolatedWigner(c, variance): m2 = v, m4 = v^2 (2 + 3/c) (atom by
  Bordenave-Lelarge-Salez predicted).
* ``percolated-wishart``: PercolatedWishart(phi, c, scale) (X X^T / n with Bernoulli(c/n)
  dilution): scale = m1 and (phi, c) by least squares on a2 = m2/m1^2 = 1 + phi + 3/c and
  a3 = m3/m1^3 = 1 + 3 phi + phi^2 + 9 (1 + phi)/c + 15/c^2 (atom by maximum matching predicted).
* ``free-sum``: scale x PenningtonBahriLaw(phi, epsilon), the Pennington-Bahri H0 + H1 form
  MP(phi, mean 1) free-plus semicircle(variance 2 epsilon) (:mod:`hessrmt.rmt.pennington_bahri`):
  W1 fits only (skipped by the moment method).

Reported per family (moments method): parameters, percentile intervals of the parameters from a
parametric bootstrap (``n_boot`` spectra of iid draws of the spectrum's own size from the fitted
law, refitted by the same moments), the 1-Wasserstein (W1) and Kolmogorov-Smirnov distances, the
number of parameters, and a p-value P(KS_boot >= KS_obs) from the same bootstrap, where KS_boot
is each bootstrap sample's distance to the *fitted* law (not refitted: a law is built per family
only once), so its null distribution is not that of the fitted statistic (the W1 method refits).
iid draws are less rigid than eigenvalues, which makes the p-value conservative. Families are
ranked by W1
(smaller first); ``best`` is the first. Laws on [0, inf) (MP, Wishart products) are not fitted to a
spectrum with a non-positive mean or more than 25% negative nonzero eigenvalues (listed as
skipped). The percolated-Wigner mean degree is capped to [0.05, 50] (above 50 the law is within the
cavity solver's noise of the semicircle, and the solver's cost grows with c); the percolated-
Wishart c to [0.05, 50] likewise. Eigenvalues within
1e-9 max(1, max|l|) of 0 are set to 0 (the laws' atoms sit at exactly 0). Moments are sensitive
to outliers: remove them first (e.g. with :func:`hessrmt.rmt.bulk.split_spectrum`) when a
spectrum has them (``outliers="remove"`` does this with :func:`hessrmt.rmt.bulk.split_spectrum`
and lists them apart: the spiked versions of the families).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rmt.family_w1 import ATOM_MODES, bootstrap_w1, check_positive_family, fit_w1
from hessrmt.rmt.fit import clean_eigenvalues, ks_distance, wasserstein_distance
from hessrmt.rmt.goodness import snap_zeros
from hessrmt.rmt.law import SpectralLaw
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle
from hessrmt.rmt.percolation import PercolatedWigner
from hessrmt.rmt.percolation_wishart import PercolatedWishart
from hessrmt.rmt.products import WignerWishartProduct, WishartProduct
from hessrmt.rng import RngLike, as_generator

__all__ = [
    "DEFAULT_FAMILIES",
    "FAMILIES",
    "METHODS",
    "FamilyFit",
    "fit_families",
    "fit_family_params",
    "format_pvalue",
    "law_of",
]

#: fitting methods: W1 with the atom handled explicitly (:mod:`hessrmt.rmt.family_w1`, default)
#: or the moment fits of this module
METHODS = ("w1", "moments")

_FLOOR = 1e-6  # smallest shape parameter a moment fit may return


def _moments(x: np.ndarray, k: int) -> np.ndarray:
    return np.array([np.mean(x**j) for j in range(k + 1)])


def _fit_semicircle(x: np.ndarray) -> dict[str, float]:
    return {"center": float(np.mean(x)), "variance": float(max(np.var(x), _FLOOR))}


def _fit_mp(x: np.ndarray) -> dict[str, float]:
    check_positive_family("marchenko-pastur", x)
    m1 = float(np.mean(x))
    return {"phi": float(max(np.var(x) / m1**2, _FLOOR)), "scale": m1}


def _fit_wishart_product(x: np.ndarray) -> dict[str, float]:
    check_positive_family("wishart-product", x)
    m = _moments(x, 3)
    a2, a3 = m[2] / m[1] ** 2, m[3] / m[1] ** 3

    def res(logr: np.ndarray) -> np.ndarray:
        law = WishartProduct(np.exp(logr))
        return np.array([law.moment(2) / a2 - 1.0, law.moment(3) / a3 - 1.0])

    total = max(a2 - 1.0, 2 * _FLOOR)  # r1 + r2 = a2 - 1
    lo, hi = math.log(_FLOOR), math.log(1e3)
    start = np.clip(np.log([total * 0.6, total * 0.4]), lo + 1e-9, hi - 1e-9)
    sol = scipy.optimize.least_squares(res, start, bounds=(lo, hi))
    r1, r2 = sorted(np.exp(sol.x), reverse=True)
    return {"r1": float(r1), "r2": float(r2), "scale": float(m[1])}


def _fit_wigner_wishart(x: np.ndarray) -> dict[str, float]:
    m2, m4 = float(np.mean(x**2)), float(np.mean(x**4))
    v = max(m2, _FLOOR)
    return {"phi": float(max(m4 / (2 * v * v) - 1.0, _FLOOR)), "variance": v}


def _fit_percolated(x: np.ndarray) -> dict[str, float]:
    m2, m4 = float(np.mean(x**2)), float(np.mean(x**4))
    v = max(m2, _FLOOR)
    excess = m4 / (v * v) - 2.0
    c = 3.0 / excess if excess > 0 else 50.0
    return {"c": float(min(max(c, 0.05), 50.0)), "variance": v}


def _law_percolated(p: dict[str, float]) -> SpectralLaw:
    return PercolatedWigner(p["c"], p["variance"], population=600, sweeps=12, grid=121, rng=0)


def _fit_percolated_wishart(x: np.ndarray) -> dict[str, float]:
    check_positive_family("percolated-wishart", x)
    m = _moments(x, 3)
    a2, a3 = m[2] / m[1] ** 2, m[3] / m[1] ** 3

    def res(v: np.ndarray) -> np.ndarray:
        phi, u = np.exp(v[0]), np.exp(v[1])  # u = 1 / c
        return np.array(
            [
                (1 + phi + 3 * u) / a2 - 1.0,
                (1 + 3 * phi + phi**2 + 9 * (1 + phi) * u + 15 * u * u) / a3 - 1.0,
            ]
        )

    lo, hi = np.log([1e-3, 1.0 / 50.0]), np.log([1e3, 1.0 / 0.05])
    start = np.clip(np.log([max(a2 - 1.0, 1e-3) / 2, 0.2]), lo + 1e-9, hi - 1e-9)
    sol = scipy.optimize.least_squares(res, start, bounds=(lo, hi))
    return {"phi": float(np.exp(sol.x[0])), "c": float(np.exp(-sol.x[1])), "scale": float(m[1])}


def _law_percolated_wishart(p: dict[str, float]) -> SpectralLaw:
    return PercolatedWishart(
        p["phi"], p["c"], p["scale"], population=600, sweeps=12, grid=121, rng=0
    )


def _no_moment_fit(x: np.ndarray) -> dict[str, float]:
    raise InputError("free-sum has no moment fit here; use method='w1'")


def _law_free_sum(p: dict[str, float]) -> SpectralLaw:
    from hessrmt.rmt.outliers import ScaledLaw
    from hessrmt.rmt.pennington_bahri import PenningtonBahriLaw

    return ScaledLaw(PenningtonBahriLaw(p["phi"], p["epsilon"]), p["scale"])


#: family name -> (moment fit, law builder, number of parameters)
FAMILIES: dict[
    str, tuple[Callable[[np.ndarray], dict[str, float]], Callable[..., SpectralLaw], int]
] = {
    "semicircle": (_fit_semicircle, lambda p: Semicircle(p["variance"], p["center"]), 2),
    "marchenko-pastur": (_fit_mp, lambda p: MarchenkoPastur(p["phi"], p["scale"]), 2),
    "wishart-product": (
        _fit_wishart_product,
        lambda p: WishartProduct([p["r1"], p["r2"]], p["scale"]),
        3,
    ),
    "wigner-wishart-product": (
        _fit_wigner_wishart,
        lambda p: WignerWishartProduct(p["phi"], p["variance"]),
        2,
    ),
    "percolated-wigner": (_fit_percolated, _law_percolated, 2),
    "percolated-wishart": (_fit_percolated_wishart, _law_percolated_wishart, 3),
    "free-sum": (_no_moment_fit, _law_free_sum, 3),
}


#: families fitted when none are named: all but ``percolated-wishart``, which is opt-in (name it):
#: its quantile tables (16-28 bipartite population-dynamics runs) cost about a minute of CPU per
#: process, and it contains Marchenko-Pastur as its c -> infinity limit
DEFAULT_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f != "percolated-wishart")


def law_of(family: str, params: dict[str, float]) -> SpectralLaw:
    """The law of ``family`` with ``params`` (as returned by :func:`fit_family_params`)."""
    _check_family(family)
    return FAMILIES[family][1](params)


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise InputError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")


def _clean(eigs: ArrayLike) -> np.ndarray:
    x = clean_eigenvalues(eigs, "a family")
    if np.ptp(x) <= 1e-12 * max(1.0, float(np.max(np.abs(x)))):
        raise InputError("the spectrum is constant; a spectral family cannot be fitted to it")
    return np.sort(snap_zeros(x))


def fit_family_params(family: str, eigs: ArrayLike) -> dict[str, float]:
    """Moment-fitted parameters of ``family`` (module docstring)."""
    _check_family(family)
    return FAMILIES[family][0](_clean(eigs))


@dataclass(frozen=True)
class FamilyFit:
    """One family's fit: ``intervals`` maps each parameter to its (2.5%, 97.5%) bootstrap
    percentiles; ``pvalue`` is the parametric-bootstrap KS p-value (module docstring)."""

    family: str
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    w1: float
    ks: float
    pvalue: float
    n_params: int
    atom_at_zero: float
    n_boot: int
    pvalue_floor: float = math.nan

    @property
    def pvalue_at_floor(self) -> bool:
        """True when p equals the bootstrap's floor 1 / (B + 1): no replicate was as far from
        its law as the data; the true p may be anywhere below it."""
        return bool(math.isfinite(self.pvalue_floor) and self.pvalue <= self.pvalue_floor)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "params": dict(self.params),
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "w1": self.w1,
            "ks": self.ks,
            "pvalue": self.pvalue,
            "n_params": self.n_params,
            "atom_at_zero": self.atom_at_zero,
            "n_boot": self.n_boot,
            "pvalue_floor": self.pvalue_floor,
            "pvalue_at_floor": self.pvalue_at_floor,
        }


def _intervals(
    params: dict[str, float], boot: list[dict[str, float]]
) -> dict[str, tuple[float, float]]:
    if not boot:
        return {k: (math.nan, math.nan) for k in params}
    return {
        k: (
            float(np.percentile([b[k] for b in boot], 2.5)),
            float(np.percentile([b[k] for b in boot], 97.5)),
        )
        for k in params
    }


def fit_one(
    family: str,
    eigs: ArrayLike,
    *,
    n_boot: int = 50,
    rng: RngLike = None,
    method: str = "w1",
    atom: str = "matched",
) -> FamilyFit:
    """Fit ``family`` to ``eigs`` with a parametric bootstrap of ``n_boot`` replicates
    (``method``/``atom``: module docstring)."""
    _check_family(family)
    _check_method(method, atom)
    x = _clean(eigs)
    gen = as_generator(rng)
    n_params = FAMILIES[family][2]
    if method == "w1":
        params, law = fit_w1(family, x, atom)
        boot = bootstrap_w1(family, x, law, atom=atom, n_boot=n_boot, gen=gen)
        pvalue = boot["pvalue"] if n_boot else math.nan
        return FamilyFit(
            family,
            params,
            _intervals(params, boot["params_boot"]),
            boot["w1"],
            boot["ks"],
            pvalue,
            n_params + (1 if atom == "matched" else 0),
            law.atom,
            n_boot,
            1.0 / (1 + len(boot["ks_boot"])) if boot["ks_boot"] else math.nan,
        )
    fit, build, _ = FAMILIES[family]
    params = fit(x)
    law = build(params)
    ks_obs = ks_distance(x, law)
    w1 = wasserstein_distance(x, law)
    boot_params: list[dict[str, float]] = []
    ks_boot = []
    for _ in range(n_boot):
        xb = snap_zeros(law.sample(x.size, gen))
        ks_boot.append(ks_distance(np.sort(xb), law))
        try:
            boot_params.append(fit(xb))
        except InputError:
            continue
    pvalue = float((1 + np.sum(np.array(ks_boot) >= ks_obs)) / (1 + n_boot)) if n_boot else math.nan
    atom_mass = float(sum(m for a, m in law.atoms() if a == 0.0))
    return FamilyFit(
        family,
        params,
        _intervals(params, boot_params),
        w1,
        ks_obs,
        pvalue,
        n_params,
        atom_mass,
        n_boot,
        1.0 / (1 + n_boot) if n_boot else math.nan,
    )


def format_pvalue(fit: dict[str, Any], digits: int = 3) -> str:
    """A fit's bootstrap p-value as text: "<= 0.0196" when it equals the floor 1 / (B + 1) (the
    bootstrap cannot resolve a smaller p), else the value (``digits`` significant)."""
    p, floor = fit.get("pvalue", math.nan), fit.get("pvalue_floor", math.nan)
    if p is None or not math.isfinite(p):
        return "nan"
    if floor is not None and math.isfinite(floor) and p <= floor:
        return f"<= {floor:.{max(digits, 2)}g}"
    return f"{p:.{digits}g}"


def _check_method(method: str, atom: str) -> None:
    if method not in METHODS:
        raise InputError(f"unknown fitting method {method!r}; choose from {', '.join(METHODS)}")
    if atom not in ATOM_MODES:
        raise InputError(f"atom must be one of {', '.join(ATOM_MODES)}, got {atom!r}")


def fit_families(
    eigs: ArrayLike,
    families: Sequence[str] | None = None,
    *,
    n_boot: int = 50,
    rng: RngLike = None,
    outliers: str = "keep",
    method: str = "w1",
    atom: str = "matched",
    zero_rtol: float | None = None,
) -> dict[str, Any]:
    """Fit every family in ``families`` (default: :data:`DEFAULT_FAMILIES`) and rank by W1.

    ``zero_rtol``: eigenvalues with ``|l| <= zero_rtol max|l|`` are zeros (set to 0, so the
    matched atom is their fraction), the rule of :func:`hessrmt.rmt.bulk.split_spectrum`; pass
    :func:`hessrmt.rmt.bulk.default_zero_rtol` of the precision the eigenvalues were computed in
    (float32 round-off zeros sit at ~1e-7 max|l|, far above the float64 default). None: the
    float64 rule of the module docstring.

    ``outliers="remove"`` keeps outliers apart explicitly (the spiked versions of the families):
    :func:`hessrmt.rmt.bulk.split_spectrum` (default rules) finds them, every family is fitted to
    the rest (bulk and zeros), and the outliers are reported under ``"outliers"``.

    Returns ``{"families": [FamilyFit.to_dict(), ...] best first, "best": name, "skipped":
    {family: reason}, "n_eigenvalues": N, "conventions": {...}}``. A family whose fit is not
    defined for the spectrum (e.g. Marchenko-Pastur with a non-positive mean) is listed under
    ``skipped`` with the reason.
    """
    names = list(DEFAULT_FAMILIES) if not families else list(dict.fromkeys(families))
    for name in names:
        _check_family(name)
    _check_method(method, atom)
    if zero_rtol is not None:
        if not (isinstance(zero_rtol, (int, float)) and 0 <= zero_rtol < 1):
            raise InputError(f"zero_rtol must be a number in [0, 1), got {zero_rtol!r}")
        eigs = clean_eigenvalues(eigs, "a family").copy()
        eigs[np.abs(eigs) <= zero_rtol * float(np.max(np.abs(eigs)))] = 0.0
    x = _clean(eigs)
    if outliers not in ("keep", "remove"):
        raise InputError(f"outliers must be 'keep' or 'remove', got {outliers!r}")
    removed = np.zeros(0)
    if outliers == "remove":
        from hessrmt.rmt.bulk import split_spectrum

        split = {"dtype": "float64"} if zero_rtol is None else {"zero_rtol": zero_rtol}
        mask = split_spectrum(x, **split).outlier_mask
        removed = x[mask]
        x = _clean(x[~mask])
    gen = as_generator(rng)
    fits: list[FamilyFit] = []
    skipped: dict[str, str] = {}
    for name in names:
        try:
            fits.append(fit_one(name, x, n_boot=n_boot, rng=gen, method=method, atom=atom))
        except InputError as exc:
            skipped[name] = str(exc)
    if not fits:
        raise InputError(
            "no family could be fitted: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
        )
    fits.sort(key=lambda f: f.w1)
    return {
        "families": [f.to_dict() for f in fits],
        "best": fits[0].family,
        "skipped": skipped,
        "n_eigenvalues": int(x.size),
        "outliers": [float(v) for v in removed],
        "conventions": {
            "method": method,
            "atom": atom if method == "w1" else "predicted by the moment-fitted family",
            "fit": "W1 (quantile coupling, LAD in scale/shift, shape on a log grid refined by "
            "quantile interpolation); atom "
            + (
                "matched to the measured zero fraction (parameter zero_mass)"
                if atom == "matched"
                else "the family's own"
            )
            if method == "w1"
            else "moments about 0 of all eigenvalues (zeros included)",
            "ranking": "by W1, smaller first",
            "pvalue": "parametric bootstrap, iid draws from the fitted law, each refitted, KS "
            "of each draw to its own refitted law"
            if method == "w1"
            else "parametric bootstrap, iid draws from the fitted law, KS to the fitted "
            "law (no refit): conservative",
            "zero_tolerance": "|l| < 1e-9 max(1, max|l|) set to 0"
            if zero_rtol is None
            else f"|l| <= {zero_rtol:g} max|l| set to 0",
            "n_boot": n_boot,
            "outliers": "removed by split_spectrum before fitting (listed apart)"
            if outliers == "remove"
            else "kept (fitted with the rest)",
        },
    }
