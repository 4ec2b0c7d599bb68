"""The softmax-regression closed form against autograd, and the dense fast path against the
generic operator path."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from hessrmt.curvature import (
    GGNOperator,
    HessianOperator,
    dense_matrix,
    softmax_regression_hessian,
)
from hessrmt.curvature.dense import dense_matrix_with_info
from hessrmt.errors import InputError
from tests.curvature.models import full_data, reference_hessian, softmax_regression


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def autograd_hessian(X, y, W, b, sample_weight) -> torch.Tensor:
    """Hessian of sum_i s_i CE(W x_i + b, y_i) by torch.func.hessian (independent of the form)."""
    C, d = W.shape

    def f(vec):
        Wv = vec[: C * d].reshape(C, d)
        logits = X @ Wv.T
        if b is not None:
            logits = logits + vec[C * d :]
        ce = nn.functional.cross_entropy(logits, y, reduction="none")
        return (sample_weight * ce).sum()

    theta = W.reshape(-1) if b is None else torch.cat([W.reshape(-1), b])
    return torch.func.hessian(f)(theta)


@pytest.mark.parametrize("bias", [True, False])
def test_closed_form_against_autograd(bias: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    n, d, C = 13, 4, 3
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randint(0, C, (n,), generator=gen)
    W = torch.randn(C, d, generator=gen, dtype=torch.float64)
    b = torch.randn(C, generator=gen, dtype=torch.float64) if bias else None
    s = torch.rand(n, generator=gen, dtype=torch.float64)
    ref = autograd_hessian(X, y, W, b, s)
    assert rel(softmax_regression_hessian(X, W, b, sample_weight=s, chunk_size=5), ref) < 1e-12
    ones = torch.ones(n, dtype=torch.float64)
    H_sum = softmax_regression_hessian(X, W, b, reduction="sum")
    assert rel(H_sum, autograd_hessian(X, y, W, b, ones)) < 1e-12
    H_mean = softmax_regression_hessian(X, W, b)
    assert rel(H_mean, H_sum / n) < 1e-14
    # structural facts: PSD, and the bias block of H is sum_i s_i (diag p_i - p_i p_i^T)
    assert float(torch.linalg.eigvalsh(H_mean).min()) > -1e-14
    if bias:
        p = torch.softmax(X @ W.T + b, 1)
        Sbb = sum(torch.diag(pi) - torch.outer(pi, pi) for pi in p) / n
        assert rel(H_mean[C * d :, C * d :], Sbb) < 1e-13
        # the bias direction of each class sums to zero against all classes: H_bb 1 = 0
        assert (
            float((H_mean[C * d :, C * d :] @ torch.ones(C, dtype=torch.float64)).abs().max())
            < 1e-15
        )


def random_problem(seed: int, n: int = 13, d: int = 4, C: int = 3, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64).to(dtype)
    W = torch.randn(C, d, generator=gen, dtype=torch.float64).to(dtype)
    b = torch.randn(C, generator=gen, dtype=torch.float64).to(dtype)
    s = torch.rand(n, generator=gen, dtype=torch.float64).to(dtype)
    return X, W, b, s


@pytest.mark.parametrize("bias", [True, False])
def test_closed_form_against_the_kronecker_formula(bias: bool) -> None:
    """The textbook form, written with torch.kron and no shared code: with S_i = diag p_i -
    p_i p_i^T, H_WW = sum_i s_i S_i (x) x_i x_i^T, H_Wb = sum_i s_i S_i (x) x_i,
    H_bb = sum_i s_i S_i, in the order [W.flatten() (row-major), b]."""
    X, W, b, s = random_problem(2, n=9, d=3, C=4)
    b = b if bias else None
    logits = X @ W.T + (b if bias else 0.0)
    C, d = W.shape
    P = C * d + (C if bias else 0)
    ref = torch.zeros(P, P, dtype=torch.float64)
    for x, p, si in zip(X, torch.softmax(logits, 1), s):
        S = torch.diag(p) - torch.outer(p, p)
        ref[: C * d, : C * d] += si * torch.kron(S, torch.outer(x, x))
        if bias:
            ref[: C * d, C * d :] += si * torch.kron(S, x[:, None])
            ref[C * d :, : C * d] += si * torch.kron(S, x[None, :])
            ref[C * d :, C * d :] += si * S
    H = softmax_regression_hessian(X, W, b, sample_weight=s)
    assert rel(H, ref) < 1e-13
    # symmetric to GEMM round-off (dense_matrix symmetrises it exactly on its fast path)
    assert float((H - H.T).abs().max()) < 1e-15 * float(H.abs().max()) * 10


def test_closed_form_null_space_rank_and_chunking() -> None:
    """Shifting every class's weights by the same v (and biases by the same c) leaves the
    softmax unchanged, so H (1_C (x) v, c 1_C) = 0: d + 1 null directions; H has rank at most
    n (C - 1) (each S_i has rank C - 1). The sample chunking does not change the result."""
    X, W, b, _ = random_problem(3, n=4, d=6, C=3)
    H = softmax_regression_hessian(X, W, b, chunk_size=3)
    C, d = W.shape
    gen = torch.Generator().manual_seed(4)
    v = torch.randn(d, generator=gen, dtype=torch.float64)
    null = torch.cat(
        [
            torch.ones(C, dtype=torch.float64).repeat_interleave(d) * v.repeat(C),
            2.5 * torch.ones(C, dtype=torch.float64),
        ]
    )
    assert float((H @ null).abs().max()) < 1e-14 * float(H.abs().max())
    other = torch.randn(C * d + C, generator=gen, dtype=torch.float64)
    assert float((H @ other).abs().max()) > 1e-3  # not the zero matrix
    w = torch.linalg.eigvalsh(H)
    assert int((w > 1e-12 * w.max()).sum()) == 4 * (C - 1)  # n (C - 1) = 8 < P - d - 1 = 17
    for chunk in (1, 2, 4, 2048):
        other = softmax_regression_hessian(X, W, b, chunk_size=chunk)
        assert float((other - H).abs().max()) <= 1e-15 * float(H.abs().max()) * 4


def test_closed_form_float32_to_float32_precision() -> None:
    X, W, b, s = random_problem(5)
    H64 = softmax_regression_hessian(X, W, b, sample_weight=s)
    X32, W32, b32, s32 = random_problem(5, dtype=torch.float32)
    H32 = softmax_regression_hessian(X32, W32, b32, sample_weight=s32)
    assert H32.dtype == torch.float32
    # inputs rounded to float32, then O(n) float32 sums: a few hundred eps32 at most
    err = rel(H32.double(), H64)
    assert 0 < err < 300 * torch.finfo(torch.float32).eps


def test_closed_form_errors() -> None:
    X = torch.zeros(3, 2, dtype=torch.float64)
    W = torch.zeros(4, 2, dtype=torch.float64)
    with pytest.raises(InputError, match="expected X of shape"):
        softmax_regression_hessian(X, torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(InputError, match="expected X of shape"):
        softmax_regression_hessian(torch.zeros(3, dtype=torch.float64), W)
    with pytest.raises(InputError, match=r"b must have shape \(4,\)"):
        softmax_regression_hessian(X, W, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(InputError, match="reduction must be"):
        softmax_regression_hessian(X, W, reduction="none")
    with pytest.raises(InputError, match="4 entries for 3 samples"):
        softmax_regression_hessian(X, W, sample_weight=torch.ones(4))
    with pytest.raises(InputError, match="no samples"):
        softmax_regression_hessian(torch.zeros(0, 2, dtype=torch.float64), W)
    with pytest.raises(InputError, match="chunk_size must be positive"):
        softmax_regression_hessian(X, W, chunk_size=0)


@pytest.mark.parametrize(
    "loss",
    [
        nn.CrossEntropyLoss(),
        nn.CrossEntropyLoss(reduction="sum"),
        nn.CrossEntropyLoss(weight=torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)),
        nn.CrossEntropyLoss(label_smoothing=0.2),
        nn.CrossEntropyLoss(
            weight=torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64), reduction="sum"
        ),
        nn.CrossEntropyLoss(
            weight=torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64), ignore_index=2
        ),
        nn.CrossEntropyLoss(label_smoothing=0.3, ignore_index=1),
    ],
    ids=[
        "mean",
        "sum",
        "class-weights",
        "label-smoothing",
        "weights-sum",
        "weights-ignore",
        "smoothing-ignore",
    ],
)
def test_fast_path_agrees_with_generic_path(loss: nn.Module) -> None:
    p = softmax_regression()
    op = HessianOperator(p.model, loss, p.batches)
    fast, info_fast = dense_matrix_with_info(op)
    slow, info_slow = dense_matrix_with_info(op, fast_path=False, chunk_size=10)
    assert info_fast.method == "closed-form softmax regression"
    assert torch.equal(fast, fast.T) and info_fast.asymmetry_max < 1e-14
    assert info_slow.method == "operator" and info_slow.num_chunks == 3
    assert rel(fast, slow) < 1e-12
    assert rel(fast, reference_hessian(p, loss_fn=loss)) < 1e-12
    # the model is linear, so the Gauss-Newton matrix is the Hessian (and takes the fast path)
    ggn, info_ggn = dense_matrix_with_info(GGNOperator(p.model, loss, p.batches))
    assert info_ggn.method == "closed-form softmax regression"
    assert rel(ggn, slow) < 1e-12


def test_fast_path_ignore_index_and_subsets() -> None:
    p = softmax_regression()
    X, y = full_data(p.batches)
    y = y.clone()
    y[[1, 8]] = 7
    p.batches = [(X[:7], y[:7]), (X[7:12], y[7:12]), (X[12:], y[12:])]
    loss = nn.CrossEntropyLoss(ignore_index=7)
    for params, names in ((None, None), ("bias", ["bias"]), (["weight"], ["weight"])):
        op = HessianOperator(p.model, loss, p.batches, select=params)
        fast, info = dense_matrix_with_info(op)
        assert info.method.startswith("closed-form")
        assert info.num_matvecs == 0 and info.chunk_size == 0
        assert rel(fast, dense_matrix(op, fast_path=False)) < 1e-12
        # the ignored samples drop out of the mean's denominator too (torch.func oracle)
        assert rel(fast, reference_hessian(p, names=names, loss_fn=loss)) < 1e-12
    with pytest.raises(InputError, match="not softmax regression"):
        q = softmax_regression()
        dense_matrix(HessianOperator(nn.Sequential(q.model), q.loss_fn, q.batches), fast_path=True)


def test_fast_path_not_taken_for_class_weights_with_label_smoothing() -> None:
    """Weighted label smoothing weights sample i by sum_c w_c q_ic, not w_{y_i}: the fast path
    must decline, and the generic path must still match torch.func."""
    p = softmax_regression()
    loss = nn.CrossEntropyLoss(
        weight=torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64), label_smoothing=0.3
    )
    M, info = dense_matrix_with_info(HessianOperator(p.model, loss, p.batches))
    assert info.method == "operator"
    assert rel(M, reference_hessian(p, loss_fn=loss)) < 1e-12


def test_fast_path_float32_operator() -> None:
    p = softmax_regression()
    op = HessianOperator(p.model, p.loss_fn, p.batches, dtype=torch.float32)
    fast, info = dense_matrix_with_info(op)
    slow = dense_matrix(op, fast_path=False)
    assert info.method.startswith("closed-form") and fast.dtype == torch.float32
    ref = reference_hessian(p)
    eps32 = torch.finfo(torch.float32).eps
    assert rel(fast.double(), ref) < 300 * eps32
    assert rel(slow.double(), ref) < 300 * eps32


def test_fast_path_honours_batch_size_fn() -> None:
    """Objective sum_b (c_b / C) L_b with user-given c_b (here 1 per batch: equal batch weights):
    oracle = sum_b c_b / C * torch.func Hessian of batch b alone."""
    p = softmax_regression()
    op = HessianOperator(p.model, p.loss_fn, p.batches, batch_size_fn=lambda b: 1.0)
    ref = sum(
        reference_hessian(dataclasses.replace(p, batches=[b])) / len(p.batches) for b in p.batches
    )
    assert rel(dense_matrix(op, fast_path=False), ref) < 1e-12  # the generic path is right
    assert rel(dense_matrix(op), ref) < 1e-12
