"""The softmax-regression closed form against autograd, and the dense fast path against the
generic operator path."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hessrmt.curvature import (
    GGNOperator,
    HessianOperator,
    dense_matrix,
    softmax_regression_hessian,
)
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


def test_closed_form_errors() -> None:
    X = torch.zeros(3, 2, dtype=torch.float64)
    W = torch.zeros(4, 2, dtype=torch.float64)
    with pytest.raises(InputError):
        softmax_regression_hessian(X, torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(InputError):
        softmax_regression_hessian(X, W, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(InputError):
        softmax_regression_hessian(X, W, reduction="none")
    with pytest.raises(InputError):
        softmax_regression_hessian(X, W, sample_weight=torch.ones(4))


@pytest.mark.parametrize(
    "loss",
    [
        nn.CrossEntropyLoss(),
        nn.CrossEntropyLoss(reduction="sum"),
        nn.CrossEntropyLoss(weight=torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)),
        nn.CrossEntropyLoss(label_smoothing=0.2),
    ],
    ids=["mean", "sum", "class-weights", "label-smoothing"],
)
def test_fast_path_agrees_with_generic_path(loss: nn.Module) -> None:
    p = softmax_regression()
    op = HessianOperator(p.model, loss, p.batches)
    fast, info_fast = dense_matrix(op, return_info=True)
    slow, info_slow = dense_matrix(op, fast_path=False, chunk_size=10, return_info=True)
    assert info_fast.method == "closed-form softmax regression"
    assert info_slow.method == "operator" and info_slow.num_chunks == 3
    assert rel(fast, slow) < 1e-12
    assert rel(fast, reference_hessian(p, loss_fn=loss)) < 1e-12
    # the model is linear, so the Gauss-Newton matrix is the Hessian (and takes the fast path)
    ggn, info_ggn = dense_matrix(GGNOperator(p.model, loss, p.batches), return_info=True)
    assert info_ggn.method == "closed-form softmax regression"
    assert rel(ggn, slow) < 1e-12


def test_fast_path_ignore_index_and_subsets() -> None:
    p = softmax_regression()
    X, y = full_data(p.batches)
    y = y.clone()
    y[[1, 8]] = 7
    p.batches = [(X[:7], y[:7]), (X[7:12], y[7:12]), (X[12:], y[12:])]
    loss = nn.CrossEntropyLoss(ignore_index=7)
    for params in (None, "bias", ["weight"]):
        op = HessianOperator(p.model, loss, p.batches, params=params)
        fast, info = dense_matrix(op, return_info=True)
        assert info.method.startswith("closed-form")
        assert rel(fast, dense_matrix(op, fast_path=False)) < 1e-12
    with pytest.raises(InputError, match="not softmax regression"):
        q = softmax_regression()
        dense_matrix(HessianOperator(nn.Sequential(q.model), q.loss_fn, q.batches), fast_path=True)
