"""Haar-distributed orthogonal and unitary matrices (phase-fixed QR, Mezzadri 2007)."""

from __future__ import annotations

import numpy as np

from hessrmt.rmt.ensembles._checks import _batch_shape, _check_int, _complex_ginibre
from hessrmt.rng import RngLike, as_generator


def _haar(n: int, size: int | None, rng: RngLike, complex_: bool) -> np.ndarray:
    n = _check_int("n", n)
    gen = as_generator(rng)
    shape = (*_batch_shape(size), n, n)
    z = _complex_ginibre(gen, shape) if complex_ else gen.standard_normal(shape)
    q, r = np.linalg.qr(z)
    d = np.diagonal(r, axis1=-2, axis2=-1)
    phase = d / np.abs(d)
    return q * phase[..., None, :]


def haar_orthogonal(n: int, size: int | None = None, *, rng: RngLike = None) -> np.ndarray:
    """Haar-distributed orthogonal matrix: QR of a real Ginibre matrix, columns times sign(R_jj).

    (Mezzadri 2007.) Shape (N, N) or (size, N, N).
    """
    return _haar(n, size, rng, complex_=False)


def haar_unitary(n: int, size: int | None = None, *, rng: RngLike = None) -> np.ndarray:
    """Haar-distributed unitary matrix: QR of a complex Ginibre matrix, column j times
    R_jj/|R_jj| (Mezzadri 2007; without this phase fix the law is not Haar). Shape (N, N) or
    (size, N, N)."""
    return _haar(n, size, rng, complex_=True)
