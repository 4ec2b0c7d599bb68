"""Gaussian ensembles: dense GOE / GUE / GSE and the Dumitriu-Edelman beta-Hermite tridiagonal
model (conventions: :mod:`hessrmt.rmt.ensembles`)."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from hessrmt.errors import InputError
from hessrmt.rmt.ensembles._checks import _batch_shape, _check_int, _complex_ginibre, _sym
from hessrmt.rmt.validate import positive
from hessrmt.rng import RngLike, as_generator


def goe(
    n: int, size: int | None = None, *, rng: RngLike = None, variance: float = 1.0
) -> np.ndarray:
    """Dense GOE matrix H = sqrt(variance) (M + M^T) / sqrt(2N), M iid N(0, 1).

    Off-diagonal variance ``variance/N``, diagonal variance ``2 variance/N``; the spectrum tends to
    the semicircle of variance ``variance`` (radius ``2 sqrt(variance)``). Shape (N, N), or
    (size, N, N) for a batch. (``docs/reference/oracles.md`` §0.2, row "normalised".)
    """
    n = _check_int("n", n)
    variance = positive("variance", variance)
    gen = as_generator(rng)
    m = gen.standard_normal((*_batch_shape(size), n, n))
    return _sym(m) * np.sqrt(variance / (2.0 * n))


def gue(
    n: int, size: int | None = None, *, rng: RngLike = None, variance: float = 1.0
) -> np.ndarray:
    """Dense GUE matrix H = sqrt(variance) (M + M^*) / sqrt(2N), M iid standard complex Gaussian.

    E|H_ij|^2 = variance/N for all i, j (real diagonal); semicircle of variance ``variance``.
    Shape (N, N) complex, or (size, N, N).
    """
    n = _check_int("n", n)
    variance = positive("variance", variance)
    gen = as_generator(rng)
    m = _complex_ginibre(gen, (*_batch_shape(size), n, n))
    return _sym(m) * np.sqrt(variance / (2.0 * n))


def gse(
    n: int, size: int | None = None, *, rng: RngLike = None, variance: float = 1.0
) -> np.ndarray:
    """Dense GSE matrix of quaternion size N as a 2N x 2N complex Hermitian matrix.

    X = [[A, B], [-conj(B), conj(A)]] with A, B iid standard complex Gaussian N x N; H = sqrt(
    variance) (X + X^*) / sqrt(4N). H is self-dual, so every eigenvalue is doubly degenerate
    (Kramers pairs); the N distinct eigenvalues follow the semicircle of variance ``variance``
    (E (1/2N) tr H^2 = variance (1 - 1/(2N)): the quaternion diagonal is real).
    Shape (2N, 2N), or (size, 2N, 2N).
    For eigenvalues only, :func:`beta_hermite_eigenvalues` with ``beta=4`` is cheaper.
    """
    n = _check_int("n", n)
    variance = positive("variance", variance)
    gen = as_generator(rng)
    shape = (*_batch_shape(size), n, n)
    a = _complex_ginibre(gen, shape)
    b = _complex_ginibre(gen, shape)
    top = np.concatenate([a, b], axis=-1)
    bottom = np.concatenate([-b.conj(), a.conj()], axis=-1)
    x = np.concatenate([top, bottom], axis=-2)
    return _sym(x) * np.sqrt(variance / (4.0 * n))


def beta_hermite_tridiagonal(
    n: int, beta: float, size: int | None = None, *, rng: RngLike = None, variance: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal and off-diagonal of the scaled Dumitriu-Edelman beta-Hermite matrix.

    d_i ~ N(0, 2 variance / (beta N)) and e_k ~ sqrt(variance/(beta N)) chi_{beta (N - k)},
    k = 1..N-1, i.e. sqrt(2 variance/(beta N)) x (1/sqrt 2) tridiag(N(0, 2); chi_{beta(N-1)}, ...,
    chi_beta). Returns (d, e) with shapes (..., N) and (..., N - 1).
    """
    n = _check_int("n", n)
    beta = positive("beta", beta)
    variance = positive("variance", variance)
    gen = as_generator(rng)
    batch = _batch_shape(size)
    d = gen.standard_normal((*batch, n)) * np.sqrt(2.0 * variance / (beta * n))
    dof = beta * np.arange(n - 1, 0, -1, dtype=float)
    e = np.sqrt(gen.chisquare(np.broadcast_to(dof, (*batch, n - 1)))) * np.sqrt(
        variance / (beta * n)
    )
    return d, e


def beta_hermite_eigenvalues(
    n: int,
    beta: float,
    size: int | None = None,
    *,
    rng: RngLike = None,
    variance: float = 1.0,
    select: str = "a",
    select_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Sorted eigenvalues of the beta-Hermite ensemble, any beta > 0, in O(N^2) without densifying.

    The tridiagonal model of :func:`beta_hermite_tridiagonal` (Dumitriu & Edelman 2002) is
    diagonalised with :func:`scipy.linalg.eigvalsh_tridiagonal`. Normalisation: semicircle of
    variance ``variance`` (radius 2 sqrt(variance)) for every beta; beta = 1, 2, 4 give the GOE, GUE
    and the N distinct GSE eigenvalues. Joint density prop. to prod|l_i - l_j|^beta
    exp(-beta N sum l_i^2 / (4 variance)). ``select``/``select_range`` are passed to SciPy
    ("i": index window, "v": value window; windows return ragged output, so only with size=None).
    Shape (N,) or (size, N).
    """
    d, e = beta_hermite_tridiagonal(n, beta, size, rng=rng, variance=variance)
    if select != "a":
        if size is not None:
            raise InputError("select windows are only supported with size=None (one spectrum)")
        return scipy.linalg.eigvalsh_tridiagonal(d, e, select=select, select_range=select_range)
    # All eigenvalues: LAPACK's root-free QR (sterf) is ~3x faster than SciPy's default (stemr).
    if d.ndim == 1:
        return scipy.linalg.eigvalsh_tridiagonal(d, e, lapack_driver="sterf")
    return np.stack(
        [scipy.linalg.eigvalsh_tridiagonal(di, ei, lapack_driver="sterf") for di, ei in zip(d, e)]
    )


def sturm_count(d: np.ndarray, e: np.ndarray, x: np.ndarray | float) -> np.ndarray:
    """Number of eigenvalues < x of the symmetric tridiagonal matrix (d, e), by Sturm sequences.

    Vectorised over ``x`` (Albrecht, Chan & Edelman, Found. Comput. Math. 9 (2008)): the count of
    negative pivots of the LDL^T factorisation of T - x I. Histograms of tridiagonal models need no
    eigenvalues: counts in [a, b) = sturm_count(b) - sturm_count(a).
    """
    d = np.asarray(d, dtype=float)
    e2 = np.asarray(e, dtype=float) ** 2
    x = np.asarray(x, dtype=float)
    tiny = np.finfo(float).tiny
    q = d[0] - x
    count = (q < 0).astype(np.int64)
    for i in range(1, d.shape[0]):
        q = np.where(q == 0, tiny, q)
        q = d[i] - x - e2[i - 1] / q
        count += q < 0
    return count
