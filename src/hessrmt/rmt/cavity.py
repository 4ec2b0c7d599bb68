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
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rng import RngLike, as_generator

__all__ = ["population_dynamics"]


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
    if z.size == 0 or np.any(z.imag <= 0):
        raise InputError("population dynamics needs points z with Im z > 0")
    if not mean_degree > 0:
        raise InputError(f"mean degree c must be positive, got {mean_degree!r}")
    if population < 10 or burn_in < 0 or sweeps < 1:
        raise InputError("population >= 10, burn_in >= 0 and sweeps >= 1 are required")
    gen = as_generator(rng)
    kmax = int(mean_degree + 8 * np.sqrt(mean_degree) + 8)
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
            deg = np.minimum(sub.poisson(mean_degree, population), kmax)
            idx = sub.integers(0, population, size=(population, kmax))
            jsq = coupling_sq(sub, (population, kmax)) * (np.arange(kmax) < deg[:, None])
            field = np.einsum("pk,cpk->cp", jsq, pop[:, idx])
            pop = 1.0 / (zc - field)
            if sweep >= burn_in:
                record.append(pop.mean(axis=1))
        rec = np.array(record)  # (sweeps, chunk)
        mean[start : start + chunk] = rec.mean(axis=0)
        # sweeps are correlated; use the spread of the per-sweep means over sqrt(#blocks of 4)
        blocks = rec[: rec.shape[0] // 4 * 4].reshape(-1, 4, rec.shape[1]).mean(axis=1)
        nb = max(blocks.shape[0], 2)
        err[start : start + chunk] = np.abs(blocks.std(axis=0, ddof=1) if nb > 1 else 0) / np.sqrt(
            nb
        )
    return mean, err
