"""Spiked (finite-rank perturbed) Wigner and covariance models, for BBP outlier tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.rmt.ensembles._checks import _batch_shape, _check_int
from hessrmt.rmt.ensembles.gaussian import goe
from hessrmt.rng import RngLike, as_generator


def _orthonormal_directions(
    gen: np.random.Generator, batch: tuple[int, ...], n: int, r: int
) -> np.ndarray:
    z = gen.standard_normal((*batch, n, r))
    q, rr = np.linalg.qr(z)
    d = np.diagonal(rr, axis1=-2, axis2=-1)
    return q * np.sign(d)[..., None, :]


def _as_spikes(name: str, values: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be a finite number or a 1-D list of numbers, got {values!r}")
    return arr


def spiked_wigner(
    n: int,
    thetas: float | Sequence[float],
    size: int | None = None,
    *,
    rng: RngLike = None,
    variance: float = 1.0,
    return_vectors: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Additive spiked model H = X + sum_i theta_i v_i v_i^T, X a GOE(n, variance).

    The v_i are orthonormal, uniformly random (Haar) directions. BBP: for |theta| > sigma =
    sqrt(variance) an outlier at theta + variance/theta with squared overlap 1 - variance/theta^2
    (``docs/reference/oracles.md`` §8.1; :mod:`hessrmt.rmt.outliers`). Returns H (shape (n, n)
    or (size, n,
    n)) and, with ``return_vectors=True``, also V of shape (..., n, r) whose columns are the v_i.
    """
    n = _check_int("n", n)
    th = _as_spikes("thetas", thetas)
    if th.size > n:
        raise InputError(f"at most n = {n} spikes, got {th.size}")
    gen = as_generator(rng)
    batch = _batch_shape(size)
    h = goe(n, size, rng=gen, variance=variance)
    v = _orthonormal_directions(gen, batch, n, th.size)
    h = h + (v * th) @ np.swapaxes(v, -1, -2)
    return (h, v) if return_vectors else h


def spiked_covariance(
    p: int,
    n: int,
    spikes: float | Sequence[float],
    size: int | None = None,
    *,
    rng: RngLike = None,
    return_vectors: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Spiked sample covariance W = Sigma^{1/2} Z Z^T Sigma^{1/2} / n, Z p x n iid N(0, 1).

    Sigma = I + sum_i (l_i - 1) v_i v_i^T with orthonormal random v_i and population spikes
    l_i = ``spikes`` (> 0). phi = p / n. BBP (Baik-Ben Arous-Peche 2005, Paul 2007): for
    l > 1 + sqrt(phi) an outlier at l (1 + phi/(l - 1)) with squared overlap
    (1 - phi/(l-1)^2) / (1 + phi/(l-1)) (``docs/reference/oracles.md`` §8.2). Returns W (shape
    (p, p) or
    (size, p, p)) and, with ``return_vectors=True``, V of shape (..., p, r).
    """
    p = _check_int("p", p)
    n = _check_int("n", n)
    ell = _as_spikes("spikes", spikes)
    if np.any(ell <= 0):
        raise InputError(f"population spikes must be positive variances, got {spikes!r}")
    if ell.size > p:
        raise InputError(f"at most p = {p} spikes, got {ell.size}")
    gen = as_generator(rng)
    batch = _batch_shape(size)
    v = _orthonormal_directions(gen, batch, p, ell.size)
    z = gen.standard_normal((*batch, p, n))
    # Sigma^{1/2} = I + V diag(sqrt(l) - 1) V^T
    vt = np.swapaxes(v, -1, -2)
    x = z + (v * (np.sqrt(ell) - 1.0)) @ (vt @ z)
    w = x @ np.swapaxes(x, -1, -2) / n
    return (w, v) if return_vectors else w
