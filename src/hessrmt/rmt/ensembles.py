"""Random-matrix ensembles: Gaussian (dense, tridiagonal), Wishart, Haar, products, sparse, spiked.

Conventions (``rmt-oracles.md`` §0, §10):

* **Wigner/Gaussian ("normalised")**: off-diagonal variance ``variance / N`` (E|H_ij|^2 for
  complex entries), diagonal variance ``2 variance / N`` for the GOE, so the eigenvalue density
  converges to the semicircle of variance ``variance`` (radius ``2 sqrt(variance)``) for every beta;
  E (1/N) tr H^2 = variance (1 + 1/N) for the GOE.
* **beta-Hermite** (Dumitriu & Edelman, J. Math. Phys. 43 (2002) 5830): the DE matrix
  (1/sqrt 2) tridiag(N(0, 2); chi_{beta(N-1)}, ..., chi_beta) has radius sqrt(2 beta N); it is
  multiplied by sqrt(2 variance / (beta N)) here, so its semicircle has radius 2 sqrt(variance)
  for every beta (the same law as the dense GOE/GUE for beta = 1, 2, and as the N distinct
  eigenvalues of the GSE for beta = 4).
* **Wishart**: W = X X^* / n with X of size p x n with iid entries of variance ``variance``
  (complex: E|X_ij|^2 = variance); ratio phi = p / n; Marchenko-Pastur edges
  variance (1 +- sqrt(phi))^2, mean eigenvalue ``variance``, atom 1 - 1/phi at zero when phi > 1.
* **Haar**: QR of a Ginibre matrix with the phases of diag(R) moved into Q (Mezzadri, Notices AMS
  54 (2007)).

Every sampler takes ``size`` (``None`` for one sample, an int B for a batch: the batch axis comes
first) and ``rng`` (a numpy Generator, an int seed or None; see :func:`hessrmt.rng.as_generator`).
No global random state is touched.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg

from hessrmt.errors import InputError
from hessrmt.rmt.validate import positive
from hessrmt.rng import RngLike, as_generator

__all__ = [
    "beta_hermite_eigenvalues",
    "beta_hermite_tridiagonal",
    "beta_laguerre_eigenvalues",
    "goe",
    "gse",
    "gue",
    "haar_orthogonal",
    "haar_unitary",
    "percolated_wigner",
    "percolated_wishart",
    "poisson_spectrum",
    "product_wishart",
    "spiked_covariance",
    "spiked_wigner",
    "sturm_count",
    "wigner_wishart_product",
    "wishart",
]

CONVENTIONS: dict[str, str] = {
    "wigner": "off-diagonal variance variance/N (GOE diagonal 2 variance/N); semicircle "
    "variance `variance`, radius 2 sqrt(variance)",
    "beta_hermite": "Dumitriu-Edelman tridiagonal times sqrt(2 variance/(beta N)): radius "
    "2 sqrt(variance) for every beta",
    "wishart": "W = X X^*/n, X p x n, entry variance `variance`, phi = p/n",
    "haar": "phase-fixed QR (Mezzadri 2007)",
}


# --------------------------------------------------------------------------- argument checks
def _check_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _batch_shape(size: int | None) -> tuple[int, ...]:
    if size is None:
        return ()
    return (_check_int("size", size),)


def _check_prob(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a probability in (0, 1], got {value!r}") from None
    if not (0.0 < v <= 1.0):
        raise InputError(f"{name} must be a probability in (0, 1], got {value!r}")
    return v


def _complex_ginibre(gen: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """iid standard complex Gaussians, E|Z|^2 = 1."""
    return (gen.standard_normal(shape) + 1j * gen.standard_normal(shape)) / np.sqrt(2.0)


def _sym(m: np.ndarray) -> np.ndarray:
    return m + np.swapaxes(m, -1, -2).conj()


# --------------------------------------------------------------------------- Gaussian ensembles
def goe(
    n: int, size: int | None = None, *, rng: RngLike = None, variance: float = 1.0
) -> np.ndarray:
    """Dense GOE matrix H = sqrt(variance) (M + M^T) / sqrt(2N), M iid N(0, 1).

    Off-diagonal variance ``variance/N``, diagonal variance ``2 variance/N``; the spectrum tends to
    the semicircle of variance ``variance`` (radius ``2 sqrt(variance)``). Shape (N, N), or
    (size, N, N) for a batch. (``rmt-oracles.md`` §0.2, row "normalised".)
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


# --------------------------------------------------------------------------- Wishart / Laguerre
def wishart(
    p: int,
    n: int,
    size: int | None = None,
    *,
    rng: RngLike = None,
    complex: bool = False,
    variance: float = 1.0,
) -> np.ndarray:
    """Wishart matrix W = X X^* / n, X of size p x n with iid (complex) N(0, variance) entries.

    Ratio phi = p / n (any value); the spectrum tends to Marchenko-Pastur(phi, scale=variance)
    with edges variance (1 +- sqrt(phi))^2 and an atom 1 - 1/phi at zero when phi > 1.
    Shape (p, p), or (size, p, p); complex Hermitian when ``complex=True``.
    """
    p = _check_int("p", p)
    n = _check_int("n", n)
    variance = positive("variance", variance)
    gen = as_generator(rng)
    shape = (*_batch_shape(size), p, n)
    x = _complex_ginibre(gen, shape) if complex else gen.standard_normal(shape)
    w = x @ np.swapaxes(x, -1, -2).conj()
    return w * (variance / n)


def beta_laguerre_eigenvalues(
    p: int,
    n: int,
    beta: float,
    size: int | None = None,
    *,
    rng: RngLike = None,
    variance: float = 1.0,
) -> np.ndarray:
    """Sorted eigenvalues of the beta-Laguerre (Wishart) ensemble via the bidiagonal DE model.

    With m = min(p, n) and k = max(p, n), B is m x m lower bidiagonal with diagonal chi_{beta k},
    chi_{beta(k-1)}, ..., chi_{beta(k-m+1)} and sub-diagonal chi_{beta(m-1)}, ..., chi_beta
    (Dumitriu & Edelman 2002, a = beta k / 2). The eigenvalues of B B^T / (beta n) times
    ``variance`` have the law of the nonzero eigenvalues of the Wishart matrix X X^* / n (beta = 1
    real, 2 complex) and tend to Marchenko-Pastur(phi = p/n, scale=variance) for every beta; when
    p > n the p - n exact zeros are prepended. Shape (p,) or (size, p).
    """
    p = _check_int("p", p)
    n = _check_int("n", n)
    beta = positive("beta", beta)
    variance = positive("variance", variance)
    gen = as_generator(rng)
    batch = _batch_shape(size)
    m, k = min(p, n), max(p, n)
    diag_dof = beta * (k - np.arange(m, dtype=float))
    sub_dof = beta * np.arange(m - 1, 0, -1, dtype=float)
    a = np.sqrt(gen.chisquare(np.broadcast_to(diag_dof, (*batch, m))))
    b = np.sqrt(gen.chisquare(np.broadcast_to(sub_dof, (*batch, m - 1))))
    # B lower bidiagonal: B_ii = a_i, B_{i+1,i} = b_i. B^T B is tridiagonal with
    # diagonal a_i^2 + b_i^2 (b_m = 0) and off-diagonal a_{i+1} b_i.
    b_pad = np.concatenate([b, np.zeros((*batch, 1))], axis=-1)
    td = a**2 + b_pad**2
    te = a[..., 1:] * b
    scale = variance / (beta * n)

    def one(tdi: np.ndarray, tei: np.ndarray) -> np.ndarray:
        ev = scipy.linalg.eigvalsh_tridiagonal(tdi, tei, lapack_driver="sterf")
        ev = np.clip(ev, 0.0, None) * scale
        return np.concatenate([np.zeros(p - m), ev])

    if td.ndim == 1:
        return one(td, te)
    return np.stack([one(x, y) for x, y in zip(td, te)])


# --------------------------------------------------------------------------- Haar
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


# --------------------------------------------------------------------------- products
def product_wishart(
    dims: Sequence[int],
    size: int | None = None,
    *,
    rng: RngLike = None,
    complex: bool = False,
) -> np.ndarray:
    """W = Y Y^* for the product Y = X_1 X_2 ... X_k of rectangular Gaussian factors.

    ``dims = (N, N_1, ..., N_k)``: X_i has size N_{i-1} x N_i with iid (complex) N(0, 1/N_i)
    entries, so every factor X_i X_i^* has mean eigenvalue 1 and E (1/N) tr W = 1. For square
    factors the limit is Fuss-Catalan (moments 1, 3, 12, 55 for k = 2). rank W = min(N, N_1, ...,
    N_k) almost surely: an atom of mass 1 - min_i N_i / N at zero (``rmt-oracles.md`` §11.1).
    The product is formed in the Hermitian form Y Y^* (no non-symmetric eigenproblem).
    Shape (N, N) or (size, N, N).
    """
    dims = [_check_int("dims entry", d) for d in dims]
    if len(dims) < 2:
        raise InputError("dims must list at least (N, N_1) for one factor, e.g. (600, 300, 900)")
    gen = as_generator(rng)
    batch = _batch_shape(size)
    y = None
    for rows, cols in itertools.pairwise(dims):
        shape = (*batch, rows, cols)
        x = _complex_ginibre(gen, shape) if complex else gen.standard_normal(shape)
        x = x / np.sqrt(cols)
        y = x if y is None else y @ x
    assert y is not None
    w = y @ np.swapaxes(y, -1, -2).conj()
    return 0.5 * _sym(w)


def wigner_wishart_product(
    n: int, m: int, size: int | None = None, *, rng: RngLike = None, variance: float = 1.0
) -> np.ndarray:
    """Hermitian form C^{1/2} H C^{1/2} of the product H C, H a GOE(n, variance), C = A A^T / m.

    A has size n x m with iid N(0, 1) entries. With the thin SVD A = U S V^T, C^{1/2} =
    U S U^T / sqrt(m), so the result has rank <= m: an atom of mass 1 - m/n at zero when m < n
    (``rmt-oracles.md`` §11.1). Shape (n, n) or (size, n, n).
    """
    n = _check_int("n", n)
    m = _check_int("m", m)
    gen = as_generator(rng)
    h = goe(n, size, rng=gen, variance=variance)
    a = gen.standard_normal((*_batch_shape(size), n, m))
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    us = u * (s[..., None, :] / np.sqrt(m))
    inner = np.swapaxes(u, -1, -2) @ h @ u  # (k, k) with k = min(n, m)
    out = us @ inner @ np.swapaxes(us, -1, -2)
    return 0.5 * _sym(out)


# --------------------------------------------------------------------------- sparse / percolated
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
    ``rmt-oracles.md`` §11.2). Dense output, shape (N, N) or (size, N, N).
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


# --------------------------------------------------------------------------- spiked models
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
    (``rmt-oracles.md`` §8.1; :mod:`hessrmt.rmt.outliers`). Returns H (shape (n, n) or (size, n,
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
    (1 - phi/(l-1)^2) / (1 + phi/(l-1)) (``rmt-oracles.md`` §8.2). Returns W (shape (p, p) or
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


# --------------------------------------------------------------------------- Poisson
def poisson_spectrum(n: int, size: int | None = None, *, rng: RngLike = None) -> np.ndarray:
    """Sorted iid Uniform(0, N) levels: an uncorrelated (Poisson) spectrum with unit mean spacing.

    Already unfolded (density 1); spacings are asymptotically Exp(1), the mean reduced ratio is
    2 ln 2 - 1 (``rmt-oracles.md`` §4.3). Shape (N,) or (size, N).
    """
    n = _check_int("n", n)
    gen = as_generator(rng)
    return np.sort(gen.uniform(0.0, n, (*_batch_shape(size), n)), axis=-1)
