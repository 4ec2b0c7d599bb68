"""Coulomb-gas log-determinant of the GAN Hessian model and its Monte-Carlo check.

Coulomb-gas (large-deviation) approximation used by the paper (``docs/reference/papers.md``
section 6.1, the authors' ``rmt/coulomb.py``):

    (1/N) log E |det(H - x)|  ->  L(x) = int log |l - x| dmu(l),

mu the limiting spectral law (:mod:`hessrmt.rmt.gan.density`). The Coulomb-gas integrals
themselves live in one place, :mod:`hessrmt.rmt.complexity.coulomb` (``log_potential`` for a
discrete measure, ``interval_log_potential`` for a density with square-root edges); this module
applies them to the GAN law and holds the Monte-Carlo check.

Accuracy: for x at distance >~ (interval width)/n from the support the quadrature is spectrally
accurate; inside the support the logarithmic singularity limits it to about 1e-4 with n = 400
nodes per interval (tested against the closed-form semicircle log-potential,
``docs/reference/oracles.md`` section 6.1: x^2/(4 s^2) - 1/2 + log s for |x| <= 2 s).

Monte Carlo: the annealed (1/N) log mean |det(H - x)| (the authors' ``mc_log_determinant``) and
the quenched (1/N) mean log|det(H - x)|, from sampled spectra; their gap to L(x) shrinks like
1/N (measured by :func:`finite_n_trend`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from hessrmt.errors import InputError
from hessrmt.rmt.complexity.coulomb import (  # noqa: F401  (log_potential: re-exported)
    interval_log_potential,
    log_potential,
    theta_rule,
)
from hessrmt.rmt.gan import density as gd
from hessrmt.rmt.gan.model import GanHessianModel, sample_spectra
from hessrmt.rng import RngLike, as_generator


def log_determinant(
    model: GanHessianModel, x: ArrayLike, *, n: int = 400, method: str = "exact"
) -> np.ndarray:
    """L(x) = int log|l - x| dmu(l) for the model's limiting law (atoms included).

    ``method="exact"`` (default): in the general case (0 < kappa < 1, b > 0, b1 > 0) the
    closed form through subordination, :func:`hessrmt.rmt.gan.batch.log_potential_exact`
    (no quadrature, exact inside narrow components too); in the limits (kappa in {0, 1},
    b = 0 or b1 = 0, where the law is a semicircle plus atoms) the quadrature below, which is
    exact to ~1e-10 there. ``method="quadrature"``: on each support interval [a, c] the density
    at the n angle nodes goes to
    :func:`hessrmt.rmt.complexity.coulomb.interval_log_potential` (singularity subtraction
    with the closed-form semicircle shape; the shared Coulomb-gas code of the spin-glass
    complexity); atoms add mass * log|x - atom|. The quadrature misses structure narrower than
    its node spacing: at small b (small sigma_z) with |x1| < 2 sqrt(v1) the (1 - kappa) mass
    near 0 forms such a component and L(x) was off by up to ~0.7 (see ``batch``'s docstring);
    ``n`` is used by the quadrature only. For many models at once (the complexity grids) use
    :func:`hessrmt.rmt.gan.batch.log_determinant`.
    """
    if method not in ("exact", "quadrature"):
        raise InputError(f"method must be 'exact' or 'quadrature', got {method!r}")
    general = 0.0 < model.kappa < 1.0 and model.b > 0.0 and model.b1 > 0.0
    if method == "exact" and general:
        from hessrmt.rmt.gan import batch as gb  # batch imports density, not this module

        xs = np.asarray(x, dtype=float)
        params = gb.Params(model.kappa, model.b, model.b1, model.x1)
        return gb.log_potential_exact(params, xs)
    xs = np.asarray(x, dtype=float)
    flat = xs.ravel()
    out = np.zeros(flat.size)
    theta, w_theta = theta_rule(n)
    for a, c in gd.support(model):
        nodes = 0.5 * (a + c) - 0.5 * (c - a) * np.cos(theta)
        rho = gd.density(model, nodes)
        out += interval_log_potential(flat[None, :], a, c, rho[None, :], theta, w_theta)[0]
    for loc, mass in gd.atoms(model):
        with np.errstate(divide="ignore"):
            out = out + mass * np.log(np.abs(flat - loc))
    return out.reshape(xs.shape)


def monte_carlo_log_determinant(
    spectra: np.ndarray, x: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From sampled spectra (rows): annealed (1/N) log mean_s |det(H_s - x)|, quenched
    (1/N) mean_s log|det(H_s - x)| and the quenched value's standard error."""
    xs = np.atleast_1d(np.asarray(x, dtype=float))
    n_s, n = spectra.shape
    if n_s < 2:
        raise InputError("monte_carlo_log_determinant needs at least two spectra")
    logdet = np.log(np.abs(spectra[:, :, None] - xs[None, None, :])).sum(axis=1)  # (S, K)
    annealed = (logsumexp(logdet, axis=0) - math.log(n_s)) / n
    quenched = logdet.mean(axis=0) / n
    se = logdet.std(axis=0, ddof=1) / n / math.sqrt(n_s)
    return annealed, quenched, se


@dataclasses.dataclass(frozen=True)
class LogDetTrend:
    """Coulomb gas vs Monte Carlo at several N: gaps (MC - theory) per N and x, and the fitted
    1/N law gap(N) ~ a + c / N per x (a should be ~0: the gap closes as N grows)."""

    sizes: list[int]
    x: list[float]
    theory: list[float]
    annealed: list[list[float]]
    quenched: list[list[float]]
    quenched_se: list[list[float]]
    intercept_annealed: list[float]
    slope_annealed: list[float]
    intercept_quenched: list[float]
    slope_quenched: list[float]


def finite_n_trend(
    model: GanHessianModel,
    x: ArrayLike,
    sizes: tuple[int, ...] = (50, 100, 200, 400),
    n_samples: int = 100,
    rng: RngLike = None,
) -> LogDetTrend:
    """Monte-Carlo log|det(H - x)| at each N in ``sizes`` against the Coulomb gas L(x); the gap
    is fitted by least squares as a + c/N (one fit per x, annealed and quenched)."""
    if len(sizes) < 2:
        raise InputError("finite_n_trend needs at least two matrix sizes")
    gen = as_generator(rng)
    xs = np.atleast_1d(np.asarray(x, dtype=float))
    theory = log_determinant(model, xs)
    ann, que, se = [], [], []
    for n in sizes:
        spectra = sample_spectra(model, int(n), n_samples, gen)
        a, q, s = monte_carlo_log_determinant(spectra, xs)
        ann.append(a - theory)
        que.append(q - theory)
        se.append(s)
    design = np.stack([np.ones(len(sizes)), 1.0 / np.asarray(sizes, dtype=float)], axis=1)
    fit_a = np.linalg.lstsq(design, np.asarray(ann), rcond=None)[0]
    fit_q = np.linalg.lstsq(design, np.asarray(que), rcond=None)[0]
    return LogDetTrend(
        sizes=[int(n) for n in sizes],
        x=xs.tolist(),
        theory=theory.tolist(),
        annealed=np.asarray(ann).tolist(),
        quenched=np.asarray(que).tolist(),
        quenched_se=np.asarray(se).tolist(),
        intercept_annealed=fit_a[0].tolist(),
        slope_annealed=fit_a[1].tolist(),
        intercept_quenched=fit_q[0].tolist(),
        slope_quenched=fit_q[1].tolist(),
    )
