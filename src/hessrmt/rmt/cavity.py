"""Cavity (population dynamics) resolvent of sparse symmetric random matrices.

Method: Rogers, Castillo, Kuehn & Takeda, "Cavity approach to the spectral density of sparse
symmetric random matrices", PRE 78 (2008) 031116 (its population-dynamics algorithm, written
here in the Stieltjes convention G(z) = int dmu(l) / (z - l) of :mod:`hessrmt.rmt.law`).

For a locally tree-like matrix with Poisson(c) degrees and iid couplings J, the cavity diagonal
resolvents g obey, in distribution,

    g  =d  1 / (z - sum_{l=1}^{K} J_l^2 g_l),        K ~ Poisson(c)   (excess degree of ER),

and the resolvent diagonal G_ii has the same law (the full degree of an Erdos-Renyi vertex is also
Poisson(c)); G(z) = E[G_ii]. The law of g is represented by a population of ``population`` complex
numbers updated in parallel sweeps (each member replaced by the right-hand side with fresh K, J
and members drawn at random); after ``burn_in`` sweeps, E[G] is averaged over ``sweeps`` further
sweeps. The estimate carries Monte Carlo noise of order population^-1/2 (reported as a standard
error); for real x the density is read at z = x + i eta with a small ``eta``.

**Bipartite graphs** (:func:`bipartite_population_dynamics`, sparse Wishart W = J J^T, J with
rows "r" and columns "a"): the chiral matrix A = [[0, J], [J^T, 0]] is the weighted adjacency of
a bipartite tree-like graph, and the same recursion alternates between the two sides,

    g_r  =d  1 / (zeta - sum_{l=1}^{K_r} J_l^2 g_a,l),     K_r ~ Poisson(c_r),
    g_a  =d  1 / (zeta - sum_{l=1}^{K_a} J_l^2 g_r,l),     K_a ~ Poisson(c_a),

with c_r, c_a the mean degrees of a row and of a column. The row block of (zeta - A)^{-1} is
zeta (zeta^2 - W)^{-1}, so G_W(z) = E[g_r(sqrt z)] / sqrt z (sqrt z in the upper half-plane).
Working at zeta = s + i eta (s = sqrt(lambda)) rather than at z = lambda + i eta keeps the Cauchy
smoothing symmetric about 0 (A's spectrum is symmetric), which matters because W's density can be
singular at 0. Dense check: with sum J^2 -> v (rows) and phi v (columns) and g = g_r / zeta this
is g = 1 / (z - v / (1 - phi v g)), the Marchenko-Pastur equation
(``docs/reference/beyond-rmt.md`` §8).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rng import RngLike, as_generator

__all__ = ["bipartite_population_dynamics", "population_dynamics"]


def _check_run(z: np.ndarray, population: int, burn_in: int, sweeps: int) -> None:
    if z.size == 0 or np.any(z.imag <= 0):
        raise InputError("population dynamics needs points z with Im z > 0")
    if population < 10 or burn_in < 0 or sweeps < 1:
        raise InputError("population >= 10, burn_in >= 0 and sweeps >= 1 are required")


def _max_degree(mean_degree: float) -> int:
    """Poisson degrees are truncated at c + 8 sqrt(c) + 8 (probability ~1e-15 of more)."""
    return int(mean_degree + 8 * np.sqrt(mean_degree) + 8)


def _resample(
    sub: np.random.Generator,
    zc: np.ndarray,
    pop: np.ndarray,
    mean_degree: float,
    kmax: int,
    coupling_sq: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray],
) -> np.ndarray:
    """One cavity update of a population: g_new = 1 / (z - sum_{k <= K} J_k^2 g_{i_k}), with
    K ~ Poisson(mean_degree) (truncated at ``kmax``) and members i_k drawn from ``pop``."""
    population = pop.shape[1]
    deg = np.minimum(sub.poisson(mean_degree, population), kmax)
    idx = sub.integers(0, population, size=(population, kmax))
    jsq = coupling_sq(sub, (population, kmax)) * (np.arange(kmax) < deg[:, None])
    return 1.0 / (zc - np.einsum("pk,cpk->cp", jsq, pop[:, idx]))


def _mean_and_block_se(record: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the recorded sweeps and its standard error from blocks of 4 sweeps (successive
    sweeps are correlated): spread of the block means / sqrt(#blocks); NaN with fewer than 2
    blocks (fewer than 8 sweeps), where it cannot be estimated."""
    rec = np.array(record)  # (sweeps, chunk)
    blocks = rec[: rec.shape[0] // 4 * 4].reshape(-1, 4, rec.shape[1]).mean(axis=1)
    nb = blocks.shape[0]
    if nb < 2:
        return rec.mean(axis=0), np.full(rec.shape[1], np.nan)
    return rec.mean(axis=0), np.abs(blocks.std(axis=0, ddof=1)) / np.sqrt(nb)


def population_dynamics(
    z: ArrayLike,
    mean_degree: float,
    coupling_sq: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray],
    *,
    population: int = 2000,
    burn_in: int = 40,
    sweeps: int = 40,
    rng: RngLike = None,
    chunk: int = 32,
    init: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(E[G(z)], its Monte Carlo standard error) at every point of ``z`` (Im z > 0).

    ``coupling_sq(gen, shape)`` draws iid squared couplings J^2. Points are processed in chunks
    of ``chunk`` with one shared stream of graph randomness per chunk (seeded from ``rng``).
    ``init`` (same shape as ``z``) starts every member at a guess (e.g. the dense limit's G; the
    default 1/z needs far more sweeps near the real axis, where the map contracts only by ~eta).
    """
    z = np.asarray(z, dtype=complex).ravel()
    _check_run(z, population, burn_in, sweeps)
    if not mean_degree > 0:
        raise InputError(f"mean degree c must be positive, got {mean_degree!r}")
    gen = as_generator(rng)
    kmax = _max_degree(mean_degree)
    mean = np.empty(z.size, dtype=complex)
    err = np.empty(z.size)
    for start in range(0, z.size, chunk):
        zc = z[start : start + chunk, None]
        sub = np.random.default_rng(gen.integers(2**63))
        if init is None:
            start_val = 1.0 / zc
        else:
            start_val = np.asarray(init, dtype=complex).ravel()[start : start + chunk, None]
        pop = np.broadcast_to(start_val, (zc.shape[0], population)).astype(complex)
        record = []
        for sweep in range(burn_in + sweeps):
            pop = _resample(sub, zc, pop, mean_degree, kmax, coupling_sq)
            if sweep >= burn_in:
                record.append(pop.mean(axis=1))
        mean[start : start + chunk], err[start : start + chunk] = _mean_and_block_se(record)
    return mean, err


def bipartite_population_dynamics(
    zeta: ArrayLike,
    row_degree: float,
    col_degree: float,
    coupling_sq: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray],
    *,
    population: int = 2000,
    burn_in: int = 40,
    sweeps: int = 40,
    rng: RngLike = None,
    chunk: int = 32,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(E[g_r(zeta)], its Monte Carlo standard error): the row diagonal of the resolvent of the
    chiral matrix A (module docstring), Im zeta > 0.

    ``init`` = (g_r, g_a) starting values, each of the shape of ``zeta`` (default 1 / zeta). Two
    populations of ``population`` members are updated alternately; the rest as
    :func:`population_dynamics`.
    """
    zeta = np.asarray(zeta, dtype=complex).ravel()
    _check_run(zeta, population, burn_in, sweeps)
    if not (row_degree > 0 and col_degree > 0):
        raise InputError(
            f"mean degrees must be positive, got rows {row_degree!r}, columns {col_degree!r}"
        )
    gen = as_generator(rng)
    kr, ka = _max_degree(row_degree), _max_degree(col_degree)
    mean = np.empty(zeta.size, dtype=complex)
    err = np.empty(zeta.size)
    for start in range(0, zeta.size, chunk):
        zc = zeta[start : start + chunk, None]
        sub = np.random.default_rng(gen.integers(2**63))
        if init is None:
            r0 = a0 = 1.0 / zc
        else:
            r0 = np.asarray(init[0], dtype=complex).ravel()[start : start + chunk, None]
            a0 = np.asarray(init[1], dtype=complex).ravel()[start : start + chunk, None]
        shape = (zc.shape[0], population)
        gr = np.broadcast_to(r0, shape).astype(complex)
        ga = np.broadcast_to(a0, shape).astype(complex)
        record = []
        for sweep in range(burn_in + sweeps):
            ga = _resample(sub, zc, gr, col_degree, ka, coupling_sq)
            gr = _resample(sub, zc, ga, row_degree, kr, coupling_sq)
            if sweep >= burn_in:
                record.append(gr.mean(axis=1))
        mean[start : start + chunk], err[start : start + chunk] = _mean_and_block_se(record)
    return mean, err
