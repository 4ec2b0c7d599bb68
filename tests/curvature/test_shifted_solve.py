"""Multi-shift MINRES (hessrmt.curvature.krylov.shifted_solve) against dense float64 solves."""

import numpy as np
import pytest
import scipy.sparse.linalg
import torch

from hessrmt.curvature import HessianOperator, dense_matrix
from hessrmt.curvature.krylov.shifted_solve import shifted_minres
from hessrmt.errors import InputError


def _sym(P, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((P, P))
    return (g + g.T) / np.sqrt(2 * P) + shift * np.eye(P)


def test_matches_dense_solves_for_every_shift_indefinite_included():
    P = 120
    H = _sym(P, 0)  # semicircle on [-2, 2]: H + sigma is indefinite for |sigma| < 2
    ev = np.linalg.eigvalsh(H)
    B = np.random.default_rng(1).standard_normal((P, 3))
    shifts = [0.3, 1.0, 2.5, -0.7]
    res = shifted_minres(H, B, shifts, rtol=1e-12)
    assert res.converged.all() and res.residuals.max() < 1e-11
    for i, s in enumerate(shifts):
        assert np.min(np.abs(ev + s)) > 1e-3  # nonsingular, though indefinite for most
        exact = np.linalg.solve(H + s * np.eye(P), B)
        np.testing.assert_allclose(res.solutions[i].numpy(), exact, rtol=0, atol=1e-9)
    # u^T (H + s)^-1 u with B = U
    q = shifted_minres(H, B, shifts, rtol=1e-12).quadratic_forms(B)
    qd = [[B[:, j] @ np.linalg.solve(H + s * np.eye(P), B[:, j]) for j in range(3)] for s in shifts]
    np.testing.assert_allclose(q, qd, rtol=1e-9)


def test_agrees_with_scipy_minres_iterates():
    """Same iteration as scipy's MINRES (its shift s solves (A - s I) x = b): after a fixed number
    of steps the iterates coincide to rounding."""
    P = 80
    H = _sym(P, 3)
    b = np.random.default_rng(4).standard_normal(P)
    res = shifted_minres(H, b, [0.4], rtol=1e-14, maxiter=15)
    ref, _ = scipy.sparse.linalg.minres(H, b, shift=-0.4, rtol=1e-14, maxiter=15)
    assert res.iterations[0] == 15 and not res.converged.any()
    np.testing.assert_allclose(res.solutions[0, :, 0].numpy(), ref, rtol=1e-8, atol=1e-10)


def test_flags_what_did_not_converge_and_singular_shifts():
    P = 60
    H = _sym(P, 5)
    b = np.ones(P)
    res = shifted_minres(H, b, [0.5, 5.0], rtol=1e-10, maxiter=4)
    # four steps: far from converged at 0.5 (indefinite), the well-conditioned 5.0 closer
    assert not res.converged[0, 0]
    assert res.residuals[0, 0] > 1e-4
    assert res.residuals[1, 0] < res.residuals[0, 0]
    # the true residual is reported, and it matches the recursive estimate before convergence
    np.testing.assert_allclose(res.residuals, res.estimated_residuals, rtol=1e-6)
    # an exactly singular shift: flagged through its residual (b has a component in the kernel)
    lam = np.linalg.eigvalsh(H)[10]
    sing = shifted_minres(H, b, [-lam], rtol=1e-10, maxiter=3 * P)
    assert not sing.converged.all()


def test_hessian_operator_float64_against_dense():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=gen)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)
    ).double()
    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), [(x, y)], dtype=torch.float64)
    Hd = dense_matrix(op).numpy()
    P = Hd.shape[0]
    lo = np.linalg.eigvalsh(Hd)[0]
    assert lo < 0  # an indefinite Hessian: small shifts stay indefinite
    U = np.linalg.qr(np.random.default_rng(2).standard_normal((P, 2)))[0]
    shifts = [0.5 * -lo, 2 * -lo, 1.0]
    res = shifted_minres(op, U, shifts, rtol=1e-12)
    assert res.converged.all()
    q = res.quadratic_forms(U)
    for i, s in enumerate(shifts):
        exact = np.einsum("pj,pj->j", U, np.linalg.solve(Hd + s * np.eye(P), U))
        np.testing.assert_allclose(q[i], exact, rtol=1e-9)
    assert res.num_matvecs == int(res.iterations.sum()) + len(shifts) * 2


def test_bad_input():
    H = _sym(10, 0)
    with pytest.raises(InputError, match="shape"):
        shifted_minres(H, np.ones(9), [1.0])
    with pytest.raises(InputError, match="shifts"):
        shifted_minres(H, np.ones(10), [np.nan])
    with pytest.raises(InputError, match="rtol"):
        shifted_minres(H, np.ones(10), [1.0], rtol=0)
    with pytest.raises(InputError, match="nan"):
        shifted_minres(H, np.full(10, np.nan), [1.0])
    zero = shifted_minres(H, np.zeros((10, 2)), [1.0])
    assert zero.converged.all() and float(zero.solutions.abs().max()) == 0.0
