"""The one Lanczos recurrence, the multiplicity check and the density broadening, checked
against dense float64 references (Lanczos relation, projected matrix, interlacing witness)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from hessrmt.curvature.krylov.density import broaden, gaussian_density
from hessrmt.curvature.krylov.multiplicity import missed_direction
from hessrmt.curvature.krylov.quadrature import lanczos_quadrature
from hessrmt.curvature.krylov.recurrence import lanczos_extend, start_state
from hessrmt.curvature.linop import DenseOperator
from hessrmt.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread")


def _sym(n: int, seed: int, eigs: np.ndarray | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = rng.standard_normal(n) if eigs is None else eigs
    A = (Q * lam) @ Q.T
    return (A + A.T) / 2


def _unit_rows(n: int, b: int, seed: int) -> torch.Tensor:
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, b)))
    return torch.as_tensor(Q.T.copy())


@pytest.mark.parametrize("b", [1, 3])
def test_block_lanczos_relation_and_projection(b: int) -> None:
    """A V = V T + Q^T B-coupling, V orthonormal, T = V^T A V (dense float64 references)."""
    n, m = 50, 24
    A = _sym(n, 1)
    op = DenseOperator(torch.as_tensor(A))
    st = start_state(_unit_rows(n, b, 2), m, store_products=True, projection=True)
    lanczos_extend(
        op, st, m, breakdown_rtol=1e-12, on_breakdown="replace", rng=np.random.default_rng(0)
    )
    V = st.V[0].numpy()
    T = st.T[0]
    np.testing.assert_allclose(V @ V.T, np.eye(m), atol=1e-13)
    np.testing.assert_allclose(T, V @ A @ V.T, atol=1e-12)
    np.testing.assert_allclose(st.AV[0].numpy(), V @ A, atol=1e-12)  # the kept products
    # residual of the Krylov relation is the next block times its coupling: A V^T - V^T T
    R = A @ V.T - V.T @ T
    np.testing.assert_allclose(R[:, -b:], st.Q[0].numpy().T @ st.B[0], atol=1e-12)
    np.testing.assert_allclose(R[:, :-b], 0.0, atol=1e-12)
    assert op.num_matvecs == m


def test_three_term_and_full_reorthogonalisation_agree_early() -> None:
    """A few steps on a well-conditioned matrix: both variants give the same tridiagonal, and
    batched probes give what each probe gives alone."""
    n, p, m = 40, 3, 8
    A = _sym(n, 3)
    op = DenseOperator(torch.as_tensor(A))
    Q0 = _unit_rows(n, p, 4).T.contiguous()
    full = lanczos_quadrature(op, Q0, m, reorth=True)
    plain = lanczos_quadrature(op, Q0, m, reorth=False)
    np.testing.assert_allclose(plain.alphas, full.alphas, atol=1e-10)
    np.testing.assert_allclose(plain.betas, full.betas, atol=1e-10)
    one = lanczos_quadrature(op, Q0[:, 1:2].contiguous(), m, reorth=True)
    np.testing.assert_allclose(one.alphas[0], full.alphas[1], atol=1e-13)
    # Gauss quadrature: sum w theta^j = q^T A^j q for j < 2m (dense reference)
    q = Q0[:, 0].numpy()
    for j in range(2 * m):
        moment = float(np.sum(full.weights[0] * full.nodes[0] ** j))
        assert moment == pytest.approx(q @ np.linalg.matrix_power(A, j) @ q, rel=1e-9, abs=1e-12)


def test_breakdown_stops_at_the_number_of_distinct_eigenvalues() -> None:
    n = 30
    A = _sym(n, 5, eigs=np.repeat([1.0, 2.0, 5.0], 10))
    op = DenseOperator(torch.as_tensor(A))
    rules = lanczos_quadrature(op, _unit_rows(n, 2, 6).T.contiguous(), 10, reorth=False)
    np.testing.assert_array_equal(rules.num_steps_used, [3, 3])
    live = rules.nodes[rules.weights > 0]
    np.testing.assert_allclose(np.sort(np.unique(np.round(live, 8))), [1.0, 2.0, 5.0], atol=1e-8)


def test_three_term_recurrence_takes_single_vectors_only() -> None:
    with pytest.raises(InputError, match="single"):
        start_state(_unit_rows(10, 2, 0), 5, reorth=False)


def test_missed_direction_finds_a_skipped_copy() -> None:
    """diag(5, 5, 1, ...): returning (5, 1) with one copy of 5 is detected; (5, 5) passes."""
    n = 20
    d = np.r_[5.0, 5.0, np.linspace(-1.0, 1.0, n - 2)]
    op = DenseOperator(torch.as_tensor(np.diag(d)))
    e = np.eye(n)
    rng = np.random.default_rng(0)
    X = torch.as_tensor(e[[0, 3]].copy())  # eigenvectors of 5 and of d[3]
    y = missed_direction(op, X, np.array([5.0, d[3]]), 5.0, "LA", 10, 1e-6, rng)
    assert y is not None
    assert abs(float(y[0, 1])) == pytest.approx(1.0, abs=1e-8)  # the other copy of 5
    X2 = torch.as_tensor(e[[0, 1]].copy())
    assert missed_direction(op, X2, np.array([5.0, 5.0]), 5.0, "LA", 10, 1e-6, rng) is None


def test_broaden_is_the_probe_mean_and_integrates_to_one() -> None:
    rng = np.random.default_rng(1)
    nodes = rng.standard_normal((4, 6))
    weights = rng.random((4, 6))
    weights /= weights.sum(axis=1, keepdims=True)
    dens = broaden(nodes, weights, 6, grid=4001)
    np.testing.assert_allclose(
        dens.density, gaussian_density(nodes, weights, dens.grid, dens.width).mean(axis=0)
    )
    assert scipy.integrate.trapezoid(dens.density, dens.grid) == pytest.approx(1.0, abs=1e-6)
    assert np.all(dens.band[0] <= dens.density) and np.all(dens.density <= dens.band[1])
    with pytest.raises(InputError, match="width"):
        broaden(nodes, weights, 6, width=-1.0)


def test_projected_matrix_eigenvalues_interlace() -> None:
    """Ritz values from the recurrence lie inside the spectrum (Cauchy interlacing)."""
    n = 40
    A = _sym(n, 8)
    op = DenseOperator(torch.as_tensor(A))
    st = start_state(_unit_rows(n, 1, 9), 12, projection=True)
    lanczos_extend(op, st, 12, breakdown_rtol=1e-12)
    theta = scipy.linalg.eigh(st.T[0], eigvals_only=True)
    lam = np.linalg.eigvalsh(A)
    assert lam[0] - 1e-12 <= theta.min() and theta.max() <= lam[-1] + 1e-12
