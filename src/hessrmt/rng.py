"""Randomness: every sampler takes ``rng`` (a Generator, an int seed or None) through here.

No function in hessrmt touches global random state. Passing the same seed gives the same result;
the seed used is recorded in every result's metadata (see :mod:`hessrmt.results`).
"""

from __future__ import annotations

import numpy as np

from hessrmt.errors import InputError

RngLike = np.random.Generator | int | np.integer | np.random.SeedSequence | None


def as_generator(rng: RngLike = None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``rng``.

    A Generator is returned as is (so the caller's stream advances); an int or SeedSequence seeds
    a new PCG64 generator; ``None`` draws fresh OS entropy (not reproducible, and said so in the
    metadata by :func:`seed_of`).
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        if isinstance(rng, (int, np.integer)) and rng < 0:
            raise InputError(f"seed must be a non-negative integer, got {rng}")
        return np.random.default_rng(rng)
    raise InputError(
        f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}"
    )


def seed_of(rng: RngLike) -> int | None:
    """The integer seed behind ``rng`` where there is one (for metadata), else ``None``."""
    if isinstance(rng, (int, np.integer)):
        return int(rng)
    return None


def spawn(rng: RngLike, n: int) -> list[np.random.Generator]:
    """``n`` independent child generators of ``rng`` (for parallel or per-replicate streams)."""
    return list(as_generator(rng).spawn(n))
