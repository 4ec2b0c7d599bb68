"""Percolated (randomly diluted) Wigner and Wishart matrices (Granziol, arXiv 2006.07721)."""

from __future__ import annotations

import numpy as np

from hessrmt.rmt.ensembles._checks import _batch_shape, _check_int, _check_prob
from hessrmt.rmt.validate import positive
from hessrmt.rng import RngLike, as_generator


def percolated_wigner(
    n: int,
    keep_prob: float,
    size: int | None = None,
    *,
    rng: RngLike = None,
    variance: float = 1.0,
    diagonal: bool = False,
) -> np.ndarray:
    """Diluted Wigner matrix: each off-diagonal pair kept with probability ``keep_prob``.

    H_ij = H_ji = B_ij g_ij with B_ij ~ Bernoulli(keep_prob) and g_ij ~ N(0, variance /
    (N keep_prob)), so E|H_ij|^2 = variance/N as for :func:`goe` (semicircle of variance
    ``variance`` when N keep_prob -> infinity). The diagonal is zero unless ``diagonal=True`` (then
    N(0, 2 variance/(N keep_prob)) entries kept with the same probability). At fixed mean degree
    c = N keep_prob the spectrum has an atom at zero of mass >= e^{-c} (Bauer-Golinelli for c <= e;
    ``docs/reference/oracles.md`` §11.2). Dense output, shape (N, N) or (size, N, N).
    """
    n = _check_int("n", n)
    keep_prob = _check_prob("keep_prob", keep_prob)
    variance = positive("variance", variance)
    gen = as_generator(rng)
    shape = (*_batch_shape(size), n, n)
    g = gen.standard_normal(shape) * np.sqrt(variance / (n * keep_prob))
    mask = gen.random(shape) < keep_prob
    upper = np.triu(g * mask, k=1)
    h = upper + np.swapaxes(upper, -1, -2)
    if diagonal:
        idx = np.arange(n)
        dg = np.diagonal(g, axis1=-2, axis2=-1) * np.diagonal(mask, axis1=-2, axis2=-1)
        h[..., idx, idx] = np.sqrt(2.0) * dg
    return h


def percolated_wishart(
    p: int,
    n: int,
    keep_prob: float,
    size: int | None = None,
    *,
    rng: RngLike = None,
    variance: float = 1.0,
) -> np.ndarray:
    """Diluted Wishart W = X X^T / n, X_ij = B_ij g_ij, B_ij ~ Bernoulli(keep_prob),
    g_ij ~ N(0, variance / keep_prob).

    E X_ij^2 = variance as for :func:`wishart` (Marchenko-Pastur(p/n, variance) when
    n keep_prob -> infinity). Rows of X that are entirely dropped give exact zero eigenvalues.
    Shape (p, p) or (size, p, p).
    """
    p = _check_int("p", p)
    n = _check_int("n", n)
    keep_prob = _check_prob("keep_prob", keep_prob)
    variance = positive("variance", variance)
    gen = as_generator(rng)
    shape = (*_batch_shape(size), p, n)
    x = gen.standard_normal(shape) * np.sqrt(variance / keep_prob)
    x = x * (gen.random(shape) < keep_prob)
    return x @ np.swapaxes(x, -1, -2) / n
