"""Uncorrelated (Poisson) levels: the null of no level repulsion for local statistics."""

from __future__ import annotations

import numpy as np

from hessrmt.rmt.ensembles._checks import _batch_shape, _check_int
from hessrmt.rng import RngLike, as_generator


def poisson_spectrum(n: int, size: int | None = None, *, rng: RngLike = None) -> np.ndarray:
    """Sorted iid Uniform(0, N) levels: an uncorrelated (Poisson) spectrum with unit mean spacing.

    Already unfolded (density 1); spacings are asymptotically Exp(1), the mean reduced ratio is
    2 ln 2 - 1 (``docs/reference/oracles.md`` §4.3). Shape (N,) or (size, N).
    """
    n = _check_int("n", n)
    gen = as_generator(rng)
    return np.sort(gen.uniform(0.0, n, (*_batch_shape(size), n)), axis=-1)
