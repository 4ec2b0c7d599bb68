"""Coulomb-gas log-determinant of the GAN Hessian model and its Monte-Carlo check.

Coulomb-gas (large-deviation) approximation used by the paper (``docs/reference/papers.md``
section 6.1, the authors' ``rmt/coulomb.py``):

    (1/N) log E |det(H - x)|  ->  L(x) = int log |l - x| dmu(l),

mu the limiting spectral law (:mod:`hessrmt.rmt.gan.density`). This module is deliberately small
and general: :func:`log_potential` integrates log|l - x| against *any* discrete measure
(nodes, weights), here the Gauss quadrature of :func:`hessrmt.rmt.gan.density.quadrature`
(spin-glass complexity code elsewhere in hessrmt can reuse it).

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
from hessrmt.rmt.gan import density as gd
from hessrmt.rmt.gan.model import GanHessianModel, sample_spectra
from hessrmt.rng import RngLike, as_generator


def log_potential(nodes: np.ndarray, weights: np.ndarray, x: ArrayLike) -> np.ndarray:
    """int log|l - x| dmu(l) for the discrete measure sum_i weights_i delta_{nodes_i}."""
    xs = np.asarray(x, dtype=float)
    flat = xs.ravel()
    out = np.empty(flat.size)
    step = max(1, 4_000_000 // max(nodes.size, 1))
    for s in range(0, flat.size, step):
        d = np.abs(nodes[None, :] - flat[s : s + step, None])
        with np.errstate(divide="ignore"):
            out[s : s + step] = np.log(d) @ weights
    return out.reshape(xs.shape)


def _semicircle_shape_potential(y: np.ndarray, r: float) -> np.ndarray:
    """int_{-r}^{r} sqrt(r^2 - u^2) log|u - y| du in closed form (the semicircle of radius r
    has variance r^2/4 and log-potential y^2/r^2 - 1/2 + log(r/2) inside, minus
    |y| sqrt(y^2 - r^2)/r^2 - log((|y| + sqrt(y^2 - r^2))/r) outside)."""
    ay = np.abs(y)
    root = np.sqrt(np.maximum(ay * ay - r * r, 0.0))
    pot = y * y / (r * r) - 0.5 + math.log(r / 2)
    outside = ay * root / (r * r) - np.log(np.maximum(ay + root, r) / r)
    pot = pot - np.where(ay > r, outside, 0.0)
    return 0.5 * math.pi * r * r * pot


def log_determinant(model: GanHessianModel, x: ArrayLike, *, n: int = 400) -> np.ndarray:
    """L(x) = int log|l - x| dmu(l) for the model's limiting law (atoms included).

    On each support interval [a, c], rho = sqrt((l - a)(c - l)) h(l) with h smooth; the
    logarithmic singularity is removed by subtracting h(x) times the closed-form
    :func:`_semicircle_shape_potential` (h(x) interpolated between the nodes; h(x) = 0 outside
    [a, c]), and the smooth remainder is integrated by the Gauss rule of
    :func:`hessrmt.rmt.gan.density.quadrature`.
    """
    xs = np.asarray(x, dtype=float)
    flat = xs.ravel()
    out = np.zeros(flat.size)
    for a, c in gd.support(model):
        nodes, weights = gd.quadrature(model, [(a, c)], n=n)
        sq = np.sqrt(np.maximum((nodes - a) * (c - nodes), 0.0))
        h = np.where(sq > 0, weights, 0.0)
        h_nodes = gd.density(model, nodes) / np.where(sq > 0, sq, 1.0)
        inside = (flat > a) & (flat < c)
        hx = np.zeros(flat.size)
        hx[inside] = np.interp(flat[inside], nodes, h_nodes)
        # smooth remainder: int log|l - x| sqrt(..) (h(l) - h(x)) dl
        jac = weights / np.where(h_nodes > 0, h_nodes, np.inf)  # = quadrature weight * sqrt(..)
        step = max(1, 4_000_000 // max(nodes.size, 1))
        for s in range(0, flat.size, step):
            sl = slice(s, s + step)
            with np.errstate(divide="ignore", invalid="ignore"):
                lg = np.log(np.abs(nodes[None, :] - flat[sl, None]))
                term = lg * (h[None, :] - hx[sl, None] * jac[None, :])
            out[sl] += np.nansum(term, axis=1)
        out += hx * _semicircle_shape_potential(flat - 0.5 * (a + c), 0.5 * (c - a))
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
