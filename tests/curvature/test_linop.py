"""The operator API users of SciPy and curvlinops expect (issue 12): algebra, products on
tensors, arrays and lists of parameter-shaped tensors, transposes, clear errors; dtypes."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

from hessrmt.curvature import GGNOperator, HessianOperator, ResidualOperator, eigenvalues
from hessrmt.curvature.linop import DenseOperator, ScaledOperator, SumOperator
from hessrmt.errors import InputError
from tests.curvature.models import mlp_tanh, reference_hessian


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def sym(n: int, seed: int) -> torch.Tensor:
    A = torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (A + A.T) / 2


def test_sum_scale_and_transpose_against_dense_matrices() -> None:
    A, B = sym(7, 0), sym(7, 1)
    a, b = DenseOperator(A), DenseOperator(B)
    V = torch.randn(7, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    cases = {
        "a + b": (a + b, A + B),
        "a - b": (a - b, A - B),
        "2.5 * a": (2.5 * a, 2.5 * A),
        "a * -3": (a * -3, -3 * A),
        "a / 4": (a / 4, A / 4),
        "-a": (-a, -A),
        "0.5 * (a + 2 * b) - a": (0.5 * (a + 2 * b) - a, 0.5 * (A + 2 * B) - A),
        "a.T": (a.T, A),
        "a.H": (a.H, A),
        "a.adjoint()": (a.adjoint(), A),
    }
    for name, (op, M) in cases.items():
        assert torch.allclose(op @ V, M @ V, rtol=0, atol=1e-14), name
        assert torch.allclose(op @ V[:, 0], M @ V[:, 0], rtol=0, atol=1e-14), name
    assert isinstance(a + b, SumOperator) and isinstance(2 * a, ScaledOperator)
    assert len((a + b + a).terms) == 3  # sums are flattened
    assert (2 * (3 * a)).scale == 6.0
    # v @ A = A v for a symmetric A; a row block (k, P) gives (k, P)
    assert torch.allclose(V[:, 0] @ a, A @ V[:, 0], atol=1e-14)
    assert torch.allclose(V.T @ a, (A @ V).T, atol=1e-14)
    assert a.T is a and a.transpose() is a
    assert torch.allclose(sum([a, b, a]) @ V, (2 * A + B) @ V, atol=1e-14)


def test_products_come_back_as_tensors_on_the_operator_device_or_numpy_on_request() -> None:
    A = sym(5, 3)
    op = DenseOperator(A)
    v = np.arange(5.0)
    out = op @ v  # NumPy in: a torch tensor out (the operator's device and dtype)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert torch.allclose(out, A @ torch.as_tensor(v))
    as_np = op.matvec(v, numpy=True)
    assert isinstance(as_np, np.ndarray)
    np.testing.assert_allclose(as_np, A.numpy() @ v, rtol=1e-14)
    block = op.matmat(np.eye(5)[:, :2], numpy=True)
    np.testing.assert_allclose(block, A.numpy()[:, :2], rtol=1e-14)
    np.testing.assert_allclose((op @ [1.0, 0, 0, 0, 0]).numpy(), A.numpy()[:, 0])  # a list


def test_model_operator_on_lists_of_parameter_shaped_tensors() -> None:
    """curvlinops' list format: one tensor per parameter, of its shape (one vector) or with a
    trailing column dimension k (a block); the result has the same layout."""
    p = mlp_tanh()
    H = reference_hessian(p)
    op = HessianOperator(p.model, p.loss_fn, p.batches, dtype=torch.float64)
    gen = torch.Generator().manual_seed(5)
    vs = [torch.randn(q.shape, generator=gen, dtype=torch.float64) for q in p.model.parameters()]
    flat = torch.cat([v.reshape(-1) for v in vs])
    out = op @ vs
    assert [o.shape for o in out] == [q.shape for q in p.model.parameters()]
    assert rel(torch.cat([o.reshape(-1) for o in out]), H @ flat) < 1e-10
    blocks = [torch.stack([v, 2 * v], dim=-1) for v in vs]  # (*shape, 2)
    out2 = op @ blocks
    assert [o.shape for o in out2] == [(*q.shape, 2) for q in p.model.parameters()]
    got = torch.cat([o.reshape(-1, 2) for o in out2])
    assert rel(got, H @ torch.stack([flat, 2 * flat], dim=1)) < 1e-10
    # the same on a sum of operators (it keeps the parameter layout)
    G = GGNOperator(p.model, p.loss_fn, p.batches, dtype=torch.float64)
    R = ResidualOperator(p.model, p.loss_fn, p.batches, dtype=torch.float64)
    summed = (G + R) @ vs
    assert rel(torch.cat([o.reshape(-1) for o in summed]), H @ flat) < 1e-10


def test_wrong_input_gives_input_error() -> None:
    p = mlp_tanh()
    op = HessianOperator(p.model, p.loss_fn, p.batches, dtype=torch.float64)
    P = op.shape[0]
    other = DenseOperator(sym(P + 1, 0))
    bad = [
        lambda: op @ "vector",
        lambda: op @ None,
        lambda: op @ torch.zeros(P, 2, 2, dtype=torch.float64),
        lambda: op @ torch.zeros(P + 1, dtype=torch.float64),
        lambda: op @ np.zeros(P, dtype=complex),
        lambda: op @ [torch.zeros(3)],
        lambda: op @ [torch.zeros((*q.shape, 2)) for q in p.model.parameters()][:-1],
        lambda: op @ [torch.zeros(q.shape) for q in p.model.parameters()][:-1] + [torch.zeros(9)],
        lambda: op @ op,
        lambda: op + other,
        lambda: op + DenseOperator(sym(P, 0).float()),
        lambda: op * op,
        lambda: "a" * op,
        lambda: op * float("nan"),
        lambda: op / 0,
        lambda: True * op,
    ]
    for i, f in enumerate(bad):
        with pytest.raises(InputError):
            f()
        assert i >= 0
    with pytest.raises(InputError, match=r"nn\.Module"):
        HessianOperator(None, p.loss_fn, p.batches)
    with pytest.raises(InputError, match="point"):
        HessianOperator.from_function(lambda th, b: th["w"].sum(), {"w": 1.0}, p.batches)
    for f in (lambda: op + 1, lambda: op - torch.ones(P), lambda: np.eye(P) + op):
        with pytest.raises(InputError, match="add operators"):
            f()
    with pytest.raises(TypeError):  # anything else: Python's own error, no private names
        op + "a"


def test_dtype_none_is_the_model_dtype_and_half_precisions_are_refused() -> None:
    p = mlp_tanh()
    model32 = copy.deepcopy(p.model).float()
    batches32 = [(x.float(), y) for x, y in p.batches]
    assert HessianOperator(p.model, p.loss_fn, p.batches).dtype == torch.float64
    op32 = HessianOperator(model32, p.loss_fn, batches32)
    assert op32.dtype == torch.float32  # not silently copied to float64
    assert next(model32.parameters()).dtype == torch.float32
    for half in (torch.float16, torch.bfloat16):
        with pytest.raises(InputError, match="float32"):
            HessianOperator(p.model, p.loss_fn, p.batches, dtype=half)
        with pytest.raises(InputError, match="float32"):
            HessianOperator(copy.deepcopy(p.model).to(half), p.loss_fn, p.batches)
        with pytest.raises(InputError, match="float32"):
            DenseOperator(torch.eye(3, dtype=half))
        with pytest.raises(InputError, match="float32"):
            eigenvalues(torch.eye(3, dtype=half))
    # a float16 model evaluated in float32 is fine (the parameters are cast)
    op = HessianOperator(copy.deepcopy(p.model).half(), p.loss_fn, p.batches, dtype=torch.float32)
    assert op.dtype == torch.float32
    with pytest.raises(InputError, match="float32"):
        HessianOperator(p.model, p.loss_fn, p.batches, dtype=torch.int64)


def test_select_is_the_selection_and_params_its_deprecated_alias() -> None:
    p = mlp_tanh()
    new = HessianOperator(p.model, p.loss_fn, p.batches, select="^4")
    with pytest.warns(DeprecationWarning, match="select="):
        old = HessianOperator(p.model, p.loss_fn, p.batches, params="^4")
    assert new.param_names == old.param_names == ["4.weight", "4.bias"]
    assert new.conventions()["select"] == "^4"
    with pytest.raises(InputError, match="once"):
        HessianOperator(p.model, p.loss_fn, p.batches, select="^4", params="^0")
    point = dict(p.model.named_parameters())

    def loss_of(theta, batch):
        return p.loss_fn(torch.func.functional_call(p.model, theta, (batch[0],)), batch[1])

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = HessianOperator.from_function(loss_of, point=point, data=p.batches, select="^4")
    assert f.param_names == ["4.weight", "4.bias"]
    v = torch.randn(f.shape[0], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert rel(f @ v, new @ v) < 1e-12


def test_eigenvalues_of_complex_hermitian_and_non_symmetric_input() -> None:
    """Issue 19: eigenvalues of [[1, i], [-i, 1]] are 0 and 2 (were returned as [1, 1])."""
    w = eigenvalues(np.array([[1, 1j], [-1j, 1]]))
    np.testing.assert_allclose(w, [0.0, 2.0], atol=1e-15)
    assert w.dtype == np.float64
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6))
    Hm = (Z + Z.conj().T) / 2
    w, V = eigenvalues(torch.as_tensor(Hm), vectors=True)
    np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(Hm), atol=1e-13)
    assert V.is_complex()
    np.testing.assert_allclose((V @ torch.diag(w).to(V.dtype) @ V.mH).numpy(), Hm, atol=1e-13)
    with pytest.raises(InputError, match="not Hermitian"):
        eigenvalues(np.array([[1, 1j], [1j, 1]]))
    with pytest.raises(InputError, match="not symmetric"):
        eigenvalues(np.array([[1.0, 2.0], [0.0, 1.0]]))
    # round-off asymmetry passes
    A = sym(5, 9).numpy()
    A[0, 1] += 1e-15
    eigenvalues(A)


def test_numpy_on_the_left_defers_to_the_operator() -> None:
    A = sym(4, 6)
    op = DenseOperator(A)
    x = np.arange(4.0)
    out = x @ op  # x^T A = (A x)^T: a torch tensor
    assert torch.allclose(out, A @ torch.as_tensor(x), atol=1e-14)
    with pytest.raises(InputError, match="add operators"):
        np.eye(4) + op
