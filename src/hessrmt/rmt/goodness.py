"""Goodness of fit of a spectrum to a limiting law with a simulated null.

``ks_pvalue_simulated(eigs, law, n_sim, rng)``: the KS distance D = sup |F_n - F| between the N
eigenvalues and ``law`` and its p-value (1 + #{D_sim >= D}) / (1 + n_sim) under the null of N iid
draws from ``law`` (``law.sample``). Eigenvalues of a random matrix are more rigid than iid draws
(their KS distance to the limit is O(log N / N) rather than O(N^-1/2)), so for a spectrum that
does follow the law this p-value is conservative (too large, rarely small); it has power against
a wrong law of the same size (tests show both). Atoms are handled exactly by
:func:`hessrmt.rmt.fit.ks_distance`; eigenvalues that are zero to round-off (|l| < 1e-9 max(1,
max |l|), :func:`zero_fraction`'s threshold) are set to exactly 0 first (:func:`snap_zeros`), since
float64 ``eigvalsh`` returns them as +-1e-15 and the laws' atoms sit at exactly 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rmt.fit import ks_distance
from hessrmt.rmt.law import SpectralLaw
from hessrmt.rng import RngLike, as_generator

__all__ = ["ks_pvalue_simulated", "snap_zeros", "zero_fraction"]


def ks_pvalue_simulated(
    eigs: ArrayLike, law: SpectralLaw, *, n_sim: int = 200, rng: RngLike = None
) -> tuple[float, float]:
    """(KS distance, simulated p-value) of ``eigs`` against ``law`` (module docstring)."""
    x = np.sort(np.asarray(eigs, dtype=float).ravel())
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise InputError("the spectrum must be a non-empty array of finite eigenvalues")
    if n_sim < 1:
        raise InputError(f"n_sim must be at least 1, got {n_sim}")
    gen = as_generator(rng)
    x = snap_zeros(x)
    d = ks_distance(x, law)
    null = np.array([ks_distance(law.sample(x.size, gen), law) for _ in range(n_sim)])
    return d, float((1 + np.sum(null >= d)) / (1 + n_sim))


def snap_zeros(eigs: ArrayLike, rel_tol: float = 1e-9) -> np.ndarray:
    """Copy of ``eigs`` with |l| < rel_tol max(1, max |l|) set to exactly 0."""
    x = np.array(eigs, dtype=float).ravel()
    if x.size:
        x[np.abs(x) < rel_tol * max(1.0, float(np.max(np.abs(x))))] = 0.0
    return x


def zero_fraction(eigs: ArrayLike, rel_tol: float = 1e-9) -> float:
    """Fraction of eigenvalues with |l| < rel_tol max(1, max |l|)
    (``docs/reference/oracles.md`` §11.2: float64 ``eigvalsh``, relative threshold 1e-9)."""
    x = np.asarray(eigs, dtype=float).ravel()
    if x.size == 0:
        raise InputError("the spectrum is empty")
    thr = rel_tol * max(1.0, float(np.max(np.abs(x))))
    return float(np.mean(np.abs(x) < thr))
