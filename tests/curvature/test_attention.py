"""Curvature of attention models (issue 18, item 5): PyTorch's fused scaled-dot-product
attention kernels have no double backward, so products run through the math kernel
(:func:`hessrmt.curvature.engines.curvature_kernels`). Oracle: ``torch.func.hessian`` of the
full-data loss in float64 (computed under the math kernel too, which it needs as well)."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from hessrmt.curvature import GGNOperator, HessianOperator, ResidualOperator, dense_matrix, engines
from tests.curvature.models import (
    full_data,
    multihead_attention,
    reference_hessian,
    transformer_encoder,
)

TOL = 1e-10
BUILDERS = {"transformer_encoder": transformer_encoder, "multihead_attention": multihead_attention}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def oracle(p) -> torch.Tensor:
    with sdpa_kernel([SDPBackend.MATH]):
        return reference_hessian(p)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_attention_hessian_matches_func_hessian(name: str) -> None:
    p = BUILDERS[name]()
    H = oracle(p)
    gen = torch.Generator().manual_seed(3)
    V = torch.randn(p.num_params, 3, generator=gen, dtype=torch.float64)
    for hvp in ("auto", "forward-over-reverse"):
        op = HessianOperator(p.model, p.loss_fn, p.batches, dtype=torch.float64, hvp=hvp)
        assert "math" in op.conventions()["attention"]
        assert rel(op @ V, H @ V) < TOL, hvp
        assert rel(op @ V[:, 0], H @ V[:, 0]) < TOL, hvp
    # the dense Hessian (default path: double backward on CPU) and the loss at the point
    op = HessianOperator(p.model, p.loss_fn, p.batches, dtype=torch.float64)
    assert op.hvp_strategy == "double-backward"
    assert rel(dense_matrix(op), H) < TOL
    X, y = full_data(p.batches)
    assert op.loss() == pytest.approx(float(p.loss_fn(p.model(X), y)), rel=1e-12)


def test_attention_gauss_newton_plus_residual_is_the_hessian() -> None:
    p = transformer_encoder()
    H = oracle(p)
    gen = torch.Generator().manual_seed(4)
    V = torch.randn(p.num_params, 2, generator=gen, dtype=torch.float64)
    G = GGNOperator(p.model, p.loss_fn, p.batches, dtype=torch.float64)
    R = ResidualOperator(p.model, p.loss_fn, p.batches, dtype=torch.float64)
    assert rel((G + R) @ V, H @ V) < TOL


def test_without_the_math_kernel_the_fused_kernel_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The known-answer failure the routing exists for (if a future torch gains the double
    backward, this test says so and the routing can go)."""
    p = transformer_encoder()
    monkeypatch.setattr(engines, "curvature_kernels", contextlib.nullcontext)
    op = HessianOperator(p.model, p.loss_fn, p.batches, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="not implemented"):
        op @ torch.ones(op.shape[0], dtype=torch.float64)


def test_the_math_kernel_is_scoped() -> None:
    """The kernel choice holds during products only and is restored after."""
    before = (
        torch.backends.cuda.flash_sdp_enabled(),
        torch.backends.cuda.mem_efficient_sdp_enabled(),
        torch.backends.cuda.math_sdp_enabled(),
    )
    with engines.curvature_kernels():
        assert not torch.backends.cuda.flash_sdp_enabled()
        assert torch.backends.cuda.math_sdp_enabled()
    after = (
        torch.backends.cuda.flash_sdp_enabled(),
        torch.backends.cuda.mem_efficient_sdp_enabled(),
        torch.backends.cuda.math_sdp_enabled(),
    )
    assert before == after
