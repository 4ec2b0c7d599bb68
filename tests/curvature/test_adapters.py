"""Any linear operator into lanczos / slq / hutchinson_trace / hutchpp_trace; rng= and seed=.

Oracles: dense float64 ``numpy.linalg.eigh`` for eigenvalues and ``trace`` for traces; for the
stochastic estimators, the same estimator on a :class:`DenseOperator` of the same float64 matrix
with the same seed (the probes are identical, so every adapter must reproduce it to round-off).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch

from hessrmt.curvature import hutchinson_trace, hutchpp_trace, lanczos, slq
from hessrmt.curvature.adapters import LinearOperatorAdapter, as_linear_operator
from hessrmt.curvature.linop import CurvatureOperator, DenseOperator
from hessrmt.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread")

N = 60


def _matrix(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((N, N)))
    eigs = np.r_[np.linspace(-1.0, 1.0, N - 3), 3.0, 4.0, 5.0]
    A = (Q * eigs) @ Q.T
    return (A + A.T) / 2


A = _matrix()


class TorchStyle:
    """A curvlinops-style torch operator: shape, torch dtype and device, ``@`` only."""

    def __init__(self, M: np.ndarray) -> None:
        self.M = torch.as_tensor(M)
        self.shape = self.M.shape
        self.dtype = self.M.dtype
        self.device = self.M.device

    def __matmul__(self, X: torch.Tensor) -> torch.Tensor:
        assert isinstance(X, torch.Tensor)
        return self.M @ X


class NumpyMatvecOnly:
    """A NumPy operator with shape and ``matvec`` only (no matmat, no ``@``)."""

    def __init__(self, M: np.ndarray) -> None:
        self.M = M
        self.shape = M.shape

    def matvec(self, x: np.ndarray) -> np.ndarray:
        assert isinstance(x, np.ndarray) and x.ndim == 1
        return self.M @ x


def _kinds() -> dict[str, tuple[object, dict, str]]:
    """name -> (operator, extra kwargs, expected output kind of eigenvectors)."""
    M = torch.as_tensor(A)
    return {
        "numpy": (A, {}, "numpy"),
        "torch": (M, {}, "torch"),
        "hessrmt": (DenseOperator(M), {}, "torch"),
        "scipy-linop": (scipy.sparse.linalg.aslinearoperator(A), {}, "numpy"),
        "scipy-sparse": (scipy.sparse.csr_matrix(A), {}, "numpy"),
        "curvlinops-style": (TorchStyle(A), {}, "torch"),
        "matvec-object": (NumpyMatvecOnly(A), {}, "numpy"),
        "callable": (lambda v: M @ v, {"size": N}, "torch"),
    }


@pytest.mark.parametrize("name", sorted(_kinds()))
def test_every_operator_kind_gives_the_dense_answer(name: str) -> None:
    op, kw, kind = _kinds()[name]
    ref = np.linalg.eigh(A)[0]
    res = lanczos(op, 3, "LA", tol=1e-10, **kw)
    np.testing.assert_allclose(res.eigenvalues, ref[::-1][:3], atol=1e-9)
    X = res.eigenvectors
    assert isinstance(X, np.ndarray if kind == "numpy" else torch.Tensor)
    Xn = np.asarray(X)
    np.testing.assert_allclose(np.linalg.norm(A @ Xn - Xn * res.eigenvalues, axis=0), 0, atol=1e-8)
    # the stochastic estimators see exactly the probes a DenseOperator sees
    dense = DenseOperator(torch.as_tensor(A))
    s, s_ref = slq(op, 3, 20, rng=1, **kw), slq(dense, 3, 20, rng=1)
    np.testing.assert_allclose(s.nodes, s_ref.nodes, atol=1e-10)
    np.testing.assert_allclose(s.weights, s_ref.weights, atol=1e-10)
    h, h_ref = hutchinson_trace(op, 8, rng=2, **kw), hutchinson_trace(dense, 8, rng=2)
    np.testing.assert_allclose(h.samples, h_ref.samples, rtol=1e-12, atol=1e-12)
    hp = hutchpp_trace(op, 3 * N, rng=3, **kw)  # sketch spans everything: exact
    assert hp.estimate == pytest.approx(np.trace(A), abs=1e-9)


def test_output_on_request() -> None:
    assert isinstance(lanczos(A, 2, output="torch").eigenvectors, torch.Tensor)
    assert isinstance(lanczos(torch.as_tensor(A), 2, output="numpy").eigenvectors, np.ndarray)
    empty = lanczos(A, 2, vectors=False).eigenvectors
    assert isinstance(empty, np.ndarray) and empty.shape == (N, 0)
    with pytest.raises(InputError, match="output"):
        lanczos(A, 2, output="list")


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_matrix_is_converted_exactly(dtype: type) -> None:
    """Issue 19: an integer matrix was truncated or failed; now it is the same matrix in float64."""
    rng = np.random.default_rng(5)
    B = rng.integers(0, 2 if dtype is np.bool_ else 5, size=(30, 30))
    M = (B + B.T).astype(dtype)
    ref = np.linalg.eigh(M.astype(np.float64))[0]
    for op in (M, torch.as_tensor(M.astype(np.int64) if dtype is np.uint8 else M)):
        res = lanczos(op, 2, "BE", tol=1e-10)
        np.testing.assert_allclose(res.eigenvalues, [ref[0], ref[-1]], atol=1e-8)
        tr = hutchpp_trace(op, 90, rng=0)  # sketch of 30 spans R^30: exact
        assert tr.estimate == pytest.approx(np.trace(M.astype(np.float64)), abs=1e-9)
        s = slq(op, 2, 30, rng=0)  # 30 steps on R^30: moments exact per probe
        assert np.all(s.weights.sum(axis=1) == pytest.approx(1.0))


def test_half_precision_matrix_is_widened_and_operator_refused() -> None:
    M16 = torch.as_tensor(A).to(torch.float16)
    res = lanczos(M16, 1, tol=1e-6)
    ref = np.linalg.eigh(M16.double().numpy())[0][-1]  # the float16 matrix's own top eigenvalue
    assert res.eigenvalues[0] == pytest.approx(ref, abs=1e-5)

    class Half(CurvatureOperator):
        def _matmat(self, V: torch.Tensor) -> torch.Tensor:
            return V

    with pytest.raises(InputError, match="float32 or float64"):
        lanczos(Half(N, torch.float16, "cpu"), 1)


@pytest.mark.parametrize(
    ("bad", "kw", "match"),
    [
        ("not an operator", {}, "cannot use a str"),
        ([[1.0, 0.0], [0.0, 1.0]], {}, "cannot use a list"),
        (np.ones((3, 4)), {}, "square"),
        (np.eye(3, dtype=complex), {}, "complex"),
        (np.array([[object()]]), {}, "object"),
        (lambda v: v, {}, "size=P"),
        (lambda v: v, {"size": 0}, "positive"),
        (lambda v: v[:2], {"size": 4}, "returned shape"),
        (lambda v: 1 / 0, {"size": 4}, "ZeroDivisionError"),
        (np.eye(4), {"size": 5}, "does not match"),
    ],
)
def test_wrong_input_is_one_input_error(bad: object, kw: dict, match: str) -> None:
    for fn in (lambda: lanczos(bad, 1, **kw), lambda: hutchinson_trace(bad, 4, **kw)):
        with pytest.raises(InputError, match=match):
            fn()


def test_adapter_is_a_curvature_operator_and_counts_products() -> None:
    import hessrmt.curvature

    assert hessrmt.curvature.as_linear_operator is as_linear_operator
    op = as_linear_operator(scipy.sparse.linalg.aslinearoperator(A))
    assert isinstance(op, LinearOperatorAdapter) and op.shape == (N, N)
    res = lanczos(op, 2)
    assert op.num_matvecs == res.num_matvecs > 0
    assert res.meta.conventions["operator"].startswith("LinearOperatorAdapter")


def test_rng_forms_and_seed_alias() -> None:
    base = slq(A, 2, 10, rng=7)
    np.testing.assert_array_equal(slq(A, 2, 10, seed=7).nodes, base.nodes)  # alias
    np.testing.assert_array_equal(slq(A, 2, 10, rng=np.random.default_rng(7)).nodes, base.nodes)
    assert base.meta.seed == 7
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    t1, t2 = hutchinson_trace(A, 6, rng=g1), hutchinson_trace(A, 6, rng=g2)
    np.testing.assert_array_equal(t1.samples, t2.samples)  # same torch seed, same answer
    assert t1.meta.seed is not None and "torch.Generator" in t1.meta.conventions["rng"]
    # the recorded seed reproduces the run
    np.testing.assert_array_equal(hutchinson_trace(A, 6, rng=t1.meta.seed).samples, t1.samples)
    r1 = lanczos(A, 2, rng=torch.Generator().manual_seed(1))
    assert r1.meta.seed is not None
    with pytest.raises(InputError, match="not both"):
        lanczos(A, 2, rng=1, seed=2)
    with pytest.raises(InputError, match="not both"):
        lanczos(A, 2, maxiter=3, max_iter=4)
    with pytest.raises(InputError):
        slq(A, 2, 10, rng="seven")


def test_scipy_names_and_defaults() -> None:
    res = lanczos(A, maxiter=50)  # k = 6 as scipy's eigsh; which = "LA" (the Hessian's top)
    np.testing.assert_allclose(res.eigenvalues, np.linalg.eigh(A)[0][::-1][:6], atol=1e-7)
    assert res.which == "LA"


def test_every_dotted_name_means_one_thing() -> None:
    """``hessrmt.curvature.lanczos`` / ``.slq`` are functions; no module shadows or is shadowed."""
    import hessrmt.curvature as C

    assert callable(C.lanczos) and callable(C.slq)
    for name in ("lanczos", "slq", "trace", "lanczos_utils"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"hessrmt.curvature.{name}")
    import hessrmt.curvature.krylov.eigensolver as E
    import hessrmt.curvature.krylov.stochastic_quadrature as S

    assert E.lanczos is C.lanczos and S.slq is C.slq
    assert C.lanczos is importlib.import_module("hessrmt.curvature").lanczos  # still a function
