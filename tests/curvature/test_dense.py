"""dense_matrix and eigenvalues against known matrices and spectra."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from hessrmt.curvature import DenseMatrixInfo, HessianOperator, dense_matrix, eigenvalues
from hessrmt.curvature.dense import dense_matrix_with_info
from hessrmt.curvature.linop import CurvatureOperator, DenseOperator
from hessrmt.errors import InputError
from tests.curvature.models import mlp_tanh, reference_hessian, small_cnn


def known_spectrum_matrix(n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Q diag(lam) Q^T with a random orthogonal Q and prescribed eigenvalues lam."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.sort(np.concatenate([np.linspace(-1.0, 1.0, n - 2), [3.0, 7.5]]))
    return torch.from_numpy((Q * lam) @ Q.T), lam


class Asymmetric(CurvatureOperator):
    """A deliberately non-symmetric matrix, to see the asymmetry measured and removed."""

    def __init__(self, A: torch.Tensor) -> None:
        super().__init__(A.shape[0], A.dtype, A.device)
        self.A = A

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.A @ V


@pytest.mark.parametrize("chunk_size", [1, 7, 40, 1000])
def test_dense_matrix_reproduces_matrix(chunk_size: int) -> None:
    A, _ = known_spectrum_matrix(40)
    A = (A + A.T) / 2
    op = DenseOperator(A)
    M, info = dense_matrix_with_info(op, chunk_size=chunk_size)
    assert torch.equal(M, A)
    assert isinstance(info, DenseMatrixInfo)
    assert info.chunk_size == min(chunk_size, 40)
    assert info.num_chunks == -(-40 // min(chunk_size, 40))
    assert info.num_matvecs == 40 == op.num_matvecs
    assert info.asymmetry_max == 0.0


def test_symmetrization_and_reported_asymmetry() -> None:
    gen = torch.Generator().manual_seed(0)
    S = torch.randn(30, 30, generator=gen, dtype=torch.float64)
    S = S + S.T
    K = torch.randn(30, 30, generator=gen, dtype=torch.float64)
    K = 1e-3 * (K - K.T)
    M, info = dense_matrix_with_info(Asymmetric(S + K), chunk_size=8)
    assert torch.allclose(M, S, rtol=0, atol=1e-15)
    assert torch.equal(M, M.T)
    expected_max = float((2 * K).abs().max() / (S + K).abs().max())
    assert info.asymmetry_max == pytest.approx(expected_max, rel=1e-12)
    expected_fro = float(torch.linalg.matrix_norm(2 * K) / (2 * torch.linalg.matrix_norm(S + K)))
    assert info.asymmetry_fro == pytest.approx(expected_fro, rel=1e-12)
    raw, info_raw = dense_matrix_with_info(Asymmetric(S + K), symmetrize=False)
    assert torch.equal(raw, S + K)
    assert info_raw.asymmetry_max == pytest.approx(expected_max, rel=1e-12)


def test_symmetrize_block_loop_on_large_matrix() -> None:
    """More than one 1024-block: the blockwise symmetrisation must cover every block pair."""
    gen = torch.Generator().manual_seed(1)
    A = torch.randn(1100, 1100, generator=gen, dtype=torch.float64)
    M, info = dense_matrix_with_info(Asymmetric(A), chunk_size=550)
    assert torch.allclose(M, (A + A.T) / 2, rtol=0, atol=0)
    assert info.asymmetry_max == pytest.approx(float((A - A.T).abs().max() / A.abs().max()))
    fro = float(torch.linalg.matrix_norm(A - A.T) / (2 * torch.linalg.matrix_norm(A)))
    assert info.asymmetry_fro == pytest.approx(fro, rel=1e-12)


def test_memory_budget_chooses_chunk_and_refuses_too_small() -> None:
    A, _ = known_spectrum_matrix(50)
    op = DenseOperator((A + A.T) / 2)
    P, item = 50, 8
    budget = P * P * item + 10 * 4 * P * item
    M, info = dense_matrix_with_info(op, memory_budget=budget)
    assert info.chunk_size == 10
    assert torch.equal(M, op.matrix)
    with pytest.raises(InputError, match="too small"):
        dense_matrix(op, memory_budget=P * P * item)
    with pytest.raises(InputError):
        dense_matrix(op, chunk_size=0)


def test_dense_matrix_of_model_operator_with_progress_bar() -> None:
    p = mlp_tanh()
    op = HessianOperator(p.model, p.loss_fn, p.batches)
    M, info = dense_matrix_with_info(op, chunk_size=30, progress=True)
    H = reference_hessian(p)
    assert float((M - H).norm() / H.norm()) < 1e-10
    assert info.asymmetry_max < 1e-13  # double backward: symmetric to round-off
    assert info.meta.conventions["curvature"] == "hessian"
    assert info.num_chunks == 3


@pytest.fixture(scope="module", params=["mlp_tanh", "small_cnn"])
def model_problem(request):
    """A model (structured Sequential HVP path / generic double-backward path) and its float64
    Hessian by torch.func.hessian (the independent oracle)."""
    problem = {"mlp_tanh": mlp_tanh, "small_cnn": small_cnn}[request.param]()
    return problem, reference_hessian(problem)


def test_model_matrix_independent_of_chunking_and_budget(model_problem) -> None:
    """The same matrix whatever the column blocking (odd chunks, all at once, chosen
    by a memory budget): equal to 1e-14 relative (vmapped passes of different widths may round
    differently, nothing more) and equal to the torch.func Hessian to 1e-12."""
    problem, H = model_problem
    op = HessianOperator(problem.model, problem.loss_fn, problem.batches)
    P = op.shape[0]
    scale = float(H.abs().max())
    base = dense_matrix(op, chunk_size=P)
    assert float((base - H).abs().max()) < 1e-12 * scale
    budgets = [P * P * 8 + 4 * P * 8 * c for c in (5, 32)]
    for kwargs in [{"chunk_size": 5}, {"chunk_size": 13}, *({"memory_budget": b} for b in budgets)]:
        M, info = dense_matrix_with_info(op, **kwargs)
        assert float((M - base).abs().max()) <= 1e-14 * scale, kwargs
        assert info.num_chunks == -(-P // info.chunk_size) and info.num_matvecs == P
    assert dense_matrix_with_info(op, memory_budget=budgets[0])[1].chunk_size == 5


def test_model_eigenvalues_against_torch_func(model_problem) -> None:
    problem, H = model_problem
    op = HessianOperator(problem.model, problem.loss_fn, problem.batches)
    w = eigenvalues(op, chunk_size=40)
    ref = torch.linalg.eigvalsh(H)
    assert w.dtype == torch.float64
    assert float((w - ref).abs().max()) < 1e-12 * float(ref.abs().max())


def test_float32_operator_matrix_to_float32_precision(model_problem) -> None:
    """float32 operator: a float32 matrix equal to the float64 Hessian to float32 precision (a few
    hundred eps32 relative; observed ~1e-7), with its round-off asymmetry reported at that level
    while the float64 build is symmetric to ~1e-15."""
    problem, H = model_problem
    op32 = HessianOperator(problem.model, problem.loss_fn, problem.batches, dtype=torch.float32)
    M32, info32 = dense_matrix_with_info(op32)
    assert M32.dtype == torch.float32 and info32.meta.dtype == "float32"
    err = float((M32.double() - H).abs().max() / H.abs().max())
    eps32 = float(torch.finfo(torch.float32).eps)
    assert 0 < err < 300 * eps32
    assert info32.asymmetry_max < 300 * eps32
    op64 = HessianOperator(problem.model, problem.loss_fn, problem.batches)
    _, info64 = dense_matrix_with_info(op64)
    assert info64.asymmetry_max < 1e-13 and info64.meta.dtype == "float64"
    w32 = eigenvalues(M32)
    assert w32.dtype == torch.float32
    ref = torch.linalg.eigvalsh(H)
    assert float((w32.double() - ref).abs().max()) < 300 * eps32 * float(ref.abs().max())


def test_dense_info_saves_and_loads(tmp_path) -> None:
    gen = torch.Generator().manual_seed(3)
    A = torch.randn(12, 12, generator=gen, dtype=torch.float64)
    _, info = dense_matrix_with_info(Asymmetric(A), chunk_size=5)
    assert info.asymmetry_max > 0 and info.num_chunks == 3
    info.save(tmp_path / "info")
    back = DenseMatrixInfo.load(tmp_path / "info")
    for f in dataclasses.fields(DenseMatrixInfo):
        assert getattr(back, f.name) == getattr(info, f.name), f.name
    assert back.num_params == 12 and back.method == "operator"


def test_eigenvalues_known_spectrum() -> None:
    A, lam = known_spectrum_matrix(60, seed=3)
    w = eigenvalues(A)
    assert isinstance(w, torch.Tensor)
    np.testing.assert_allclose(w.numpy(), lam, rtol=0, atol=1e-13)
    wn = eigenvalues(A.numpy())
    assert isinstance(wn, np.ndarray)
    np.testing.assert_allclose(wn, lam, rtol=0, atol=1e-13)
    w2, V = eigenvalues(A, vectors=True)
    assert torch.allclose(V.T @ V, torch.eye(60, dtype=torch.float64), atol=1e-13)
    assert torch.allclose(A @ V, V * w2, atol=1e-12)
    # float32 input stays float32
    assert eigenvalues(A.float()).dtype == torch.float32


def test_eigenvalues_of_operator() -> None:
    A, lam = known_spectrum_matrix(20, seed=4)
    op = DenseOperator((A + A.T) / 2)
    np.testing.assert_allclose(eigenvalues(op, chunk_size=6).numpy(), lam, atol=1e-13)


def test_eigenvalues_errors() -> None:
    with pytest.raises(InputError, match="square"):
        eigenvalues(torch.zeros(3, 4))
    with pytest.raises(InputError, match="non-finite"):
        eigenvalues(torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]]))
    with pytest.raises(InputError):
        eigenvalues([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(InputError):
        eigenvalues(torch.eye(2), chunk_size=3)
    with pytest.raises(InputError):
        dense_matrix(torch.eye(3))
    bad = torch.eye(4, dtype=torch.float64)
    bad[3, 0] = float("inf")
    with pytest.raises(InputError, match="non-finite"):
        dense_matrix(Asymmetric(bad))
    nan_diag = torch.eye(4, dtype=torch.float64)
    nan_diag[2, 2] = float("nan")
    with pytest.raises(InputError, match="non-finite"):
        dense_matrix(Asymmetric(nan_diag), symmetrize=False)
    with pytest.raises(InputError, match="non-empty square"):
        eigenvalues(torch.zeros(0, 0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"chunk_size": 0}, "chunk_size must be a positive int"),
        ({"chunk_size": 2.5}, "chunk_size must be a positive int"),
        ({"memory_budget": 0}, "memory_budget must be positive"),
        ({"memory_budget": -5}, "memory_budget must be positive"),
        ({"memory_budget": 10}, "too small"),
        ({"fast_path": "yes"}, "fast_path must be True, False or 'auto'"),
        ({"fast_path": True}, "not softmax regression"),
    ],
)
def test_dense_matrix_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        dense_matrix(DenseOperator(torch.eye(6, dtype=torch.float64)), **kwargs)


def test_eigenvalues_of_integer_and_chunk_larger_than_size() -> None:
    w = eigenvalues(np.array([[2, 1], [1, 2]]))
    assert w.dtype == np.float64
    np.testing.assert_allclose(w, [1.0, 3.0], atol=1e-15)
    A, lam = known_spectrum_matrix(9, seed=5)
    M, info = dense_matrix_with_info(DenseOperator((A + A.T) / 2), chunk_size=100)
    assert info.chunk_size == 9 and info.num_chunks == 1
    np.testing.assert_allclose(eigenvalues(M).numpy(), lam, atol=1e-13)
