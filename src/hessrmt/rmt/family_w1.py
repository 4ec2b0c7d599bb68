"""W1 fits of the random-matrix families that respect the atom at zero, and the refitting
parametric bootstrap (issue 13, items 1-2; ``docs/reference/beyond-rmt.md`` §5).

**Fit.** The fitted law is ``a delta_0 + (1 - a)(s X + c)`` (:class:`~hessrmt.rmt.family_tables.
FittedLaw`), X the continuous part of the family's unit law at shape theta. Two atom modes:

* ``atom="matched"`` (default): a is a fitted parameter, the measured zero fraction of the
  spectrum (its maximum-likelihood value, since X has no atom), and (theta, s, c) minimise the
  1-Wasserstein distance between the *nonzero* eigenvalues and s X + c. With the sorted nonzero
  eigenvalues y_(1..n) and u_i = (i - 1/2)/n, W1 ~ (1/n) sum_i |y_(i) - s Q_theta(u_i) - c|
  (quantile coupling, mid-point rule), which for fixed theta is a least-absolute-deviation
  regression: s is the |Q|-weighted median of y/Q (c = 0), or (semicircle) c = median(y - s Q)
  profiled over s (convex). theta: the best point of a log grid (:func:`~hessrmt.rmt.
  family_tables.shape_grid`), refined between its neighbours with the tables interpolated in
  quantile space (bounded Brent in log theta; Nelder-Mead in (log r1, log r2) for products).
* ``atom="family"``: a is the family's own atom at theta (e.g. 1 - 1/phi), and all eigenvalues
  (zeros included) are fitted by the same W1 criterion with the full law's quantile function: a
  family whose atom does not match the data pays for it in W1.

The laws on [0, inf) (MP, Wishart products, percolated Wishart) are not fitted to spectra with a
non-positive mean or more than 25% negative nonzero eigenvalues.

**Bootstrap (refitting).** ``n_boot`` spectra of the data's size are drawn iid from the fitted law
(zeros with probability a), each is *refitted* by the same procedure, and the statistic is the KS
distance of each replicate to its own refitted law: p = (1 + #{KS_b >= KS_obs}) / (1 + n_boot)
(Stute, Gonzalez Manteiga & Presedo Quindimil, JASA 88 (1993) 1149: parametric bootstrap for
goodness of fit with estimated parameters). Without the refit the null distribution of KS is
too wide (the fitted law is closer to the data than the true one) and p-values are conservative
for the null and lose power; with it they are approximately uniform under the family
(``tests/rmt/test_family_w1.py`` checks the size at levels 0.1-0.5 and the power against a wrong
family). Parameter intervals: 2.5% and 97.5% percentiles of the refitted parameters. iid draws
are less rigid than eigenvalues, so for true random-matrix spectra the test is conservative.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.optimize

from hessrmt.errors import InputError
from hessrmt.rmt.family_tables import (
    U_GRID,
    FittedLaw,
    axes,
    exact_atom,
    interpolated_quantiles,
    shape_grid,
)
from hessrmt.rmt.fit import ks_distance, wasserstein_distance
from hessrmt.rmt.goodness import snap_zeros

__all__ = ["ATOM_MODES", "bootstrap_w1", "check_positive_family", "fit_w1"]

ATOM_MODES = ("matched", "family")
_POSITIVE = ("marchenko-pastur", "wishart-product", "percolated-wishart")


def check_positive_family(name: str, x: np.ndarray) -> None:
    """InputError when a law on [0, inf) cannot describe ``x`` (non-positive mean or more than
    25% negative nonzero eigenvalues)."""
    nonzero = x[x != 0]
    neg = float(np.mean(nonzero < 0)) if nonzero.size else 0.0
    if np.mean(x) <= 0 or neg > 0.25:
        raise InputError(
            f"{name} is a law on [0, inf) but {neg:.0%} of the nonzero eigenvalues are negative "
            f"(mean {np.mean(x):.3g}); not fitted"
        )


def _weighted_median_scale(y: np.ndarray, q: np.ndarray) -> float:
    """argmin_{s >= 0} sum |y - s q|: the |q|-weighted median of y / q."""
    nz = q != 0
    if not np.any(nz):
        return 1.0
    r, w = y[nz] / q[nz], np.abs(q[nz])
    order = np.argsort(r)
    cum = np.cumsum(w[order])
    s = float(r[order][np.searchsorted(cum, 0.5 * cum[-1])])
    return max(s, 1e-300)


def _lad(y: np.ndarray, q: np.ndarray, shift: bool) -> tuple[float, float, float]:
    """(loss, s, c) minimising mean |y - s q - c| (c = 0 unless ``shift``)."""
    if not shift:
        s = _weighted_median_scale(y, q)
        return float(np.mean(np.abs(y - s * q))), s, 0.0

    def loss(s: float) -> float:
        return float(np.mean(np.abs(y - s * q - np.median(y - s * q))))

    top = 4.0 * (np.ptp(y) + 1e-300) / max(np.ptp(q), 1e-300)
    s = float(scipy.optimize.minimize_scalar(loss, bounds=(0.0, top), method="bounded").x)
    s = max(s, 1e-300)
    return loss(s), s, float(np.median(y - s * q))


def _quantiles(
    family: str, grid: list[tuple[float, ...]], shape: tuple[float, ...], u: np.ndarray, mode: str
) -> np.ndarray:
    qc_tab = interpolated_quantiles(family, grid, shape)
    if mode == "matched":
        return np.interp(u, U_GRID, qc_tab)
    atom = exact_atom(family, shape)
    if atom <= 0:
        return np.interp(u, U_GRID, qc_tab)
    below = (1.0 - atom) * float(np.interp(0.0, qc_tab, U_GRID))  # mass of X < 0, scaled
    lo = np.interp(np.minimum(u, below) / (1.0 - atom), U_GRID, qc_tab)
    hi = np.interp(np.clip((u - atom) / (1.0 - atom), 0.0, 1.0), U_GRID, qc_tab)
    return np.where(u < below, lo, np.where(u < below + atom, 0.0, hi))


def _params(family: str, shape: tuple[float, ...], s: float, c: float) -> dict[str, float]:
    if family == "semicircle":
        return {"variance": s * s, "center": c}
    if family == "marchenko-pastur":
        return {"phi": shape[0], "scale": s}
    if family == "wishart-product":
        r1, r2 = sorted(shape, reverse=True)
        return {"r1": r1, "r2": r2, "scale": s}
    if family == "wigner-wishart-product":
        return {"phi": shape[0], "variance": s * s}
    if family == "free-sum":
        return {"phi": shape[0], "epsilon": shape[1], "scale": s}
    if family == "percolated-wishart":
        return {"phi": shape[0], "c": shape[1], "scale": s}
    return {"c": shape[0], "variance": s * s}


def fit_w1(family: str, x: np.ndarray, atom: str = "matched") -> tuple[dict[str, float], FittedLaw]:
    """W1 fit of ``family`` to the sorted, zero-snapped spectrum ``x`` (module docstring).

    Returns (params, law): params as in :func:`hessrmt.rmt.family_fit.law_of` plus, in
    ``matched`` mode, ``zero_mass`` (the fitted atom a).
    """
    if atom not in ATOM_MODES:
        raise InputError(f"atom must be one of {ATOM_MODES}, got {atom!r}")
    if family in _POSITIVE:
        check_positive_family(family, x)
    zero_mass = float(np.mean(x == 0))
    y = x[x != 0] if atom == "matched" else x
    if y.size < 10:
        raise InputError(
            f"{family}: need at least 10 nonzero eigenvalues to fit the continuous part, got "
            f"{y.size}"
        )
    u = (np.arange(y.size) + 0.5) / y.size
    grid = shape_grid(family, atom)
    shift = family == "semicircle"

    def profile(shape: tuple[float, ...]) -> tuple[float, float, float]:
        return _lad(y, _quantiles(family, grid, shape, u, atom), shift)

    losses = [profile(g)[0] for g in grid]
    best = grid[int(np.argmin(losses))]
    if len(best) == 1:
        t = np.log([g[0] for g in grid])
        k = int(np.argmin(losses))
        lo, hi = t[max(k - 1, 0)], t[min(k + 1, t.size - 1)]
        res = scipy.optimize.minimize_scalar(
            lambda v: profile((math.exp(v),))[0],
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-3},
        )
        if res.fun < min(losses):
            best = (float(math.exp(res.x)),)
    elif len(best) == 2:
        va, vb = axes(family, grid)
        lo2, hi2 = np.array([va[0], vb[0]]), np.array([va[-1], vb[-1]])

        def canon(v: np.ndarray) -> tuple[float, ...]:
            w = np.exp(np.clip(v, lo2, hi2)).tolist()
            return tuple(sorted(w, reverse=True)) if family == "wishart-product" else tuple(w)

        def obj(v: np.ndarray) -> float:
            return profile(canon(v))[0]

        res = scipy.optimize.minimize(
            obj,
            np.log(best),
            method="Nelder-Mead",
            options={"maxfev": 60, "xatol": 1e-3, "fatol": 1e-12},
        )
        if res.fun < min(losses):
            best = canon(res.x)
    _, s, c = profile(best)
    a = zero_mass if atom == "matched" else exact_atom(family, best)
    law = FittedLaw(
        family, best, interpolated_quantiles(family, grid, best), a, s, c, atom_mode=atom
    )
    params = _params(family, best, s, c)
    if atom == "matched":
        params["zero_mass"] = zero_mass
    return params, law


def bootstrap_w1(
    family: str,
    x: np.ndarray,
    law: FittedLaw,
    *,
    atom: str,
    n_boot: int,
    gen: np.random.Generator,
) -> dict[str, Any]:
    """Refitting parametric bootstrap (module docstring): ``{"pvalue", "ks", "w1",
    "ks_boot", "params_boot", "n_failed"}``."""
    ks_obs = ks_distance(x, law)
    ks_boot: list[float] = []
    params_boot: list[dict[str, float]] = []
    failed = 0
    for _ in range(n_boot):
        xb = np.sort(snap_zeros(law.sample(x.size, gen)))
        try:
            pb, lb = fit_w1(family, xb, atom)
        except InputError:
            failed += 1
            continue
        ks_boot.append(ks_distance(xb, lb))
        params_boot.append(pb)
    done = len(ks_boot)
    pvalue = float((1 + np.sum(np.array(ks_boot) >= ks_obs)) / (1 + done)) if done else math.nan
    return {
        "pvalue": pvalue,
        "ks": ks_obs,
        "w1": wasserstein_distance(x, law),
        "ks_boot": ks_boot,
        "params_boot": params_boot,
        "n_failed": failed,
    }
