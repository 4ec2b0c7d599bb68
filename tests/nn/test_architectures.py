"""Small CNN architectures (hessrmt.nn.architectures): the project's dense Hessian equals a float64
torch.func.hessian of the functional loss, with BatchNorm in train and in eval mode."""

from __future__ import annotations

import copy

import pytest
import torch

from hessrmt.curvature.dense import dense_matrix
from hessrmt.curvature.operators import HessianOperator
from hessrmt.errors import InputError
from hessrmt.nn.architectures import ARCHITECTURES, batchnorm_mode, build_architecture
from hessrmt.nn.zoo import ZOO, build_model

#: resnet20 and transformer are checked against autograd in tests/nn/test_resnet_transformer.py
SMALL = ("vgg-small", "vgg-small-bn", "preresnet-small")


def _reference(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mode: str):
    """eval mode: torch.func.hessian of the functional loss. train mode: a plain double-backward
    Hessian (torch.autograd, row by row) on a copy of the model: torch.func's transforms of
    training-mode batch_norm gave an asymmetric "Hessian" here (entries off by ~1 on a matrix of
    norm ~5, forward-over-reverse and reverse-over-reverse alike), so they cannot be the oracle."""
    model = copy.deepcopy(model)
    model.train(mode == "train")
    params = [p for _, p in model.named_parameters()]
    if mode == "train":
        loss = torch.nn.functional.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        g = torch.cat([a.reshape(-1) for a in grads])
        rows = [
            torch.cat([r.reshape(-1) for r in torch.autograd.grad(g[i], params, retain_graph=True)])
            for i in range(g.numel())
        ]
        return torch.stack(rows).detach()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in params]
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of(theta: torch.Tensor) -> torch.Tensor:
        parts, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            parts[n] = theta[i : i + s.numel()].reshape(s)
            i += s.numel()
        out = torch.func.functional_call(model, {**parts, **buffers}, (x,))
        return torch.nn.functional.cross_entropy(out, y)

    return torch.func.hessian(loss_of)(flat)


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_dense_hessian_equals_torch_func_hessian(name: str, mode: str) -> None:
    torch.manual_seed(0)
    model = build_architecture(name, (1, 4, 4), 3, width=1).double()
    # non-trivial running statistics for eval mode
    with torch.no_grad():
        model.train()
        model(torch.randn(16, 1, 4, 4, dtype=torch.float64))
    x = torch.randn(6, 1, 4, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), [(x, y)], mode=mode)
    got = dense_matrix(op)
    ref = _reference(model, x, y, mode)
    assert got.shape == ref.shape
    assert torch.allclose(got, 0.5 * (ref + ref.T), atol=1e-10, rtol=1e-8)


def test_zoo_builds_them_and_modes_are_recorded() -> None:
    assert set(SMALL) <= set(ARCHITECTURES) <= set(ZOO)
    for name in SMALL:
        model = build_model(name, input_shape=(1, 8, 8), n_outputs=10)
        meta = batchnorm_mode(model, "train")
        assert meta["batchnorm"] == (name != "vgg-small")
        assert meta["batchnorm_mode"] == ("none" if name == "vgg-small" else "train")
    with pytest.raises(InputError):
        build_architecture("vgg-small", (64,), 10)
    with pytest.raises(InputError):
        batchnorm_mode(model, "frozen")
