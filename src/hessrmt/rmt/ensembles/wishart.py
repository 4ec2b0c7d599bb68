"""Wishart and beta-Laguerre samplers, products of Wishart matrices and Wigner-Wishart products
(conventions: :mod:`hessrmt.rmt.ensembles`)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import scipy.linalg

from hessrmt.errors import InputError
from hessrmt.rmt.ensembles._checks import _batch_shape, _check_int, _complex_ginibre, _sym
from hessrmt.rmt.ensembles.gaussian import goe
from hessrmt.rmt.validate import positive
from hessrmt.rng import RngLike, as_generator


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
    N_k) almost surely: an atom of mass 1 - min_i N_i / N at zero
    (``docs/reference/oracles.md`` §11.1).
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
    (``docs/reference/oracles.md`` §11.1). Shape (n, n) or (size, n, n).
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
