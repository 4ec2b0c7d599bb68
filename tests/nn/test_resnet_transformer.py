"""Zoo ``resnet20`` and ``transformer`` (issue 18 item 1): sizes counted by hand, data sets, and
the project's Hessian products in float64 against a plain double-backward autograd Hessian
(row by row on a copy of the model) and central finite differences of the gradient.

NOT torch.func.hessian: in torch 2.13 it is wrong on TransformerEncoderLayer models and on
BatchNorm in train mode (tests/curvature/test_attention.py, tests/nn/test_architectures.py)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from hessrmt.curvature.dense import dense_matrix
from hessrmt.curvature.operators import HessianOperator
from hessrmt.data import load_dataset
from hessrmt.errors import InputError
from hessrmt.nn.architectures import batchnorm_mode, build_architecture
from hessrmt.nn.zoo import ZOO, build_model, count_parameters

pytestmark = pytest.mark.usefixtures("one_thread")


def _loss(model: torch.nn.Module, params, x, y) -> torch.Tensor:
    out = torch.func.functional_call(model, params, (x,))
    return torch.nn.functional.cross_entropy(out, y)


def _prepared(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    model = copy.deepcopy(model)
    model.train(mode == "train")
    for m in model.modules():  # train mode must not move the running statistics
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = m.track_running_stats and mode == "eval"
    return model


def autograd_hessian(model: torch.nn.Module, x, y, mode: str) -> torch.Tensor:
    """d^2 L / d theta^2 by plain double backward, one row per parameter (math attention)."""
    model = _prepared(model, mode)
    params = [p for p in model.parameters()]
    with sdpa_kernel([SDPBackend.MATH]):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        g = torch.cat([a.reshape(-1) for a in torch.autograd.grad(loss, params, create_graph=True)])
        rows = [
            torch.cat([r.reshape(-1) for r in torch.autograd.grad(g[i], params, retain_graph=True)])
            for i in range(g.numel())
        ]
    return torch.stack(rows).detach()


def autograd_hvp(model: torch.nn.Module, x, y, mode: str, v: torch.Tensor) -> torch.Tensor:
    """H v by plain double backward (one column)."""
    model = _prepared(model, mode)
    params = [p for p in model.parameters()]
    with sdpa_kernel([SDPBackend.MATH]):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        g = torch.cat([a.reshape(-1) for a in grads])
        hv = torch.autograd.grad(g @ v, params)
    return torch.cat([h.reshape(-1) for h in hv])


def finite_difference_hvp(model, x, y, mode: str, v: torch.Tensor, eps: float = 1e-7):
    """(grad L(theta + eps v) - grad L(theta - eps v)) / (2 eps): error O(eps^2) plus round-off
    ~1e-16 / eps. The step must not cross a ReLU kink (the gradient jumps there: on the tiny
    ResNet-20 the error grows as 1 / eps from eps = 1e-3 to 1e-6, a kink ~1e-6 away), hence the
    small eps."""
    model = _prepared(model, mode)
    names = [n for n, _ in model.named_parameters()]
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()

    def grad_at(t: torch.Tensor) -> torch.Tensor:
        t = t.clone().requires_grad_(True)
        parts, i = {}, 0
        for n, p in model.named_parameters():
            parts[n] = t[i : i + p.numel()].view_as(p)
            i += p.numel()
        with sdpa_kernel([SDPBackend.MATH]):
            (g,) = torch.autograd.grad(_loss(model, parts, x, y), t)
        return g

    assert len(names) == len(set(names))
    return (grad_at(theta + eps * v) - grad_at(theta - eps * v)) / (2 * eps)


def _with_running_stats(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    with torch.no_grad():  # non-trivial running statistics for eval mode
        model.train()
        model(x)
        model.eval()
    return model


def tiny_resnet(blocks: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_architecture("resnet20", (3, 8, 8), 3, width=1, depth=blocks).double()
    model = _with_running_stats(model, torch.randn(16, 3, 8, 8, generator=g, dtype=torch.float64))
    x = torch.randn(6, 3, 8, 8, generator=g, dtype=torch.float64)
    return model, x, torch.tensor([0, 1, 2, 0, 1, 2])


def tiny_transformer() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_architecture("transformer", (4, 3), 3, width=4, depth=1).double()
    x = torch.randn(5, 4, 3, generator=g, dtype=torch.float64)
    return model, x, torch.tensor([0, 1, 2, 0, 1])


def test_parameter_counts_by_hand() -> None:
    # ResNet-20, option B, 32x32x3, 10 classes: stem conv 3*16*9 + BN 2*16; stage 1: 3 blocks of
    # 2 convs 16*16*9 + 2 BNs; stage 2: convs 16*32*9, 32*32*9 (x5), BN 2*32 (x6) + projection
    # 16*32 + 2*32; stage 3 alike with 32 -> 64; head 64*10 + 10
    stem = 3 * 16 * 9 + 32
    s1 = 3 * (2 * 16 * 16 * 9 + 2 * 32)
    s2 = 16 * 32 * 9 + 5 * 32 * 32 * 9 + 6 * 64 + 16 * 32 + 64
    s3 = 32 * 64 * 9 + 5 * 64 * 64 * 9 + 6 * 128 + 32 * 64 + 128
    expected = stem + s1 + s2 + s3 + 64 * 10 + 10
    assert expected == 272474  # the paper's "0.27M"
    model = build_model("resnet20", input_shape=(3, 32, 32), n_outputs=10, dtype=torch.float32)
    assert count_parameters(model) == expected
    # transformer d = 32, 2 layers, 8 tokens of 8 features, 10 classes
    layer = (3 * 32 * 32 + 96) + (32 * 32 + 32) + 4 * 32 + (32 * 64 + 64) + (64 * 32 + 32)
    expected = (8 * 32 + 32) + 8 * 32 + 2 * layer + 2 * 32 + (32 * 10 + 10)
    model = build_model("transformer", input_shape=(8, 8), n_outputs=10)
    assert count_parameters(model) == expected == 18026
    assert "resnet20" in ZOO and "transformer" in ZOO


def test_shapes_and_bad_inputs() -> None:
    with pytest.raises(InputError, match="sequence inputs"):
        build_model("transformer", input_shape=(1, 8, 8), n_outputs=10)
    with pytest.raises(InputError, match="image inputs"):
        build_model("resnet20", input_shape=(64,), n_outputs=10)
    with pytest.raises(InputError, match="fixed depth"):
        build_architecture("vgg-small", (1, 8, 8), 10, depth=2)
    with pytest.raises(InputError, match="depth must be positive"):
        build_architecture("resnet20", (3, 8, 8), 10, depth=0)
    m = build_model("resnet20", input_shape=(3, 32, 32), n_outputs=10, dtype=torch.float32)
    assert batchnorm_mode(m, "eval")["batchnorm_mode"] == "eval"
    t = build_model("transformer", input_shape=(8, 8), n_outputs=10)
    assert batchnorm_mode(t, "train")["batchnorm_mode"] == "none"


def test_data_sets() -> None:
    rows = load_dataset("digits-rows", seed=3)
    img = load_dataset("digits", seed=3)
    assert rows.input_shape == (8, 8) and img.input_shape == (1, 8, 8)
    assert (rows.X_train == img.X_train[:, 0]).all() and (rows.y_train == img.y_train).all()
    a = load_dataset("cifar10-synthetic", seed=1, n_samples=200)
    b = load_dataset("cifar10-synthetic", seed=1, n_samples=200)
    c = load_dataset("cifar10-synthetic", seed=2, n_samples=200)
    assert a.input_shape == (3, 32, 32) and a.n_classes == 10
    assert (a.X_train == b.X_train).all() and not (a.X_train == c.X_train[: a.n_train]).all()
    assert a.X_train.min() >= 0 and a.X_train.max() <= 1
    # labelled: the class means differ far more than the noise of a mean over ~16 images
    X, y = a.split("all")
    means = [X[y == k].mean(axis=0) for k in range(10)]
    assert min(abs(means[0] - m).mean() for m in means[1:]) > 0.05


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_resnet_dense_hessian_equals_autograd(mode: str) -> None:
    model, x, y = tiny_resnet(blocks=1)  # ResNet-8 at width 1: every kind of layer, P = 238
    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), [(x, y)], mode=mode)
    got = dense_matrix(op)
    ref = autograd_hessian(model, x, y, mode)
    assert got.shape == ref.shape == (count_parameters(model),) * 2
    assert torch.allclose(got, 0.5 * (ref + ref.T), atol=1e-11, rtol=1e-9)
    assert op.conventions()["mode"] == mode


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_resnet20_products_equal_autograd_and_finite_differences(mode: str) -> None:
    model, x, y = tiny_resnet(blocks=3)  # full-depth ResNet-20 at width 1
    # train mode: one batch (batch statistics make the loss depend on how the data is cut)
    batches = [(x, y)] if mode == "train" else [(x[:2], y[:2]), (x[2:], y[2:])]
    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), batches, mode=mode)
    g = torch.Generator().manual_seed(5)
    V = torch.randn(op.shape[0], 3, generator=g, dtype=torch.float64)
    got = op @ V
    for j in range(3):
        ref = autograd_hvp(model, x, y, mode, V[:, j])
        assert torch.allclose(got[:, j], ref, atol=1e-11, rtol=1e-9)
    fd = finite_difference_hvp(model, x, y, mode, V[:, 0])
    assert float((fd - got[:, 0]).norm() / got[:, 0].norm()) < 1e-6


def test_transformer_dense_hessian_equals_autograd() -> None:
    model, x, y = tiny_transformer()
    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), [(x, y)])
    got = dense_matrix(op)
    ref = autograd_hessian(model, x, y, "eval")
    assert got.shape == ref.shape == (count_parameters(model),) * 2
    assert torch.allclose(got, 0.5 * (ref + ref.T), atol=1e-11, rtol=1e-9)
    v = torch.randn(op.shape[0], generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    fd = finite_difference_hvp(model, x, y, "eval", v)
    assert float((fd - got @ v).norm() / (got @ v).norm()) < 1e-6
