"""The pure building blocks: parameter selection, layouts, reductions, HVP and GGN products."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hessrmt.curvature import functional as F
from hessrmt.errors import InputError

NAMES = ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_select_parameters() -> None:
    assert F.select_parameters(NAMES, None) == NAMES
    assert F.select_parameters(NAMES, "bias$") == ["0.bias", "2.bias"]
    assert F.select_parameters(NAMES, ["2.bias", "0.weight"]) == ["0.weight", "2.bias"]
    with pytest.raises(InputError, match="no trainable"):
        F.select_parameters([], None)
    with pytest.raises(InputError, match="matches no"):
        F.select_parameters(NAMES, "^fc")
    with pytest.raises(InputError, match="regular expression"):
        F.select_parameters(NAMES, "(")
    with pytest.raises(InputError, match="twice"):
        F.select_parameters(NAMES, ["0.bias", "0.bias"])
    with pytest.raises(InputError, match="unknown"):
        F.select_parameters(NAMES, ["1.weight"])
    with pytest.raises(InputError, match="empty"):
        F.select_parameters(NAMES, [])


def test_flatten_unflatten_roundtrip_matches_parameters_to_vector() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    vec = nn.utils.parameters_to_vector(model.parameters()).detach()
    V = torch.stack([vec, 2 * vec], dim=1)  # (P, 2)
    block = F.unflatten_block(V, names, shapes)
    for (n, p), s in zip(model.named_parameters(), shapes):
        assert block[n].shape == (2, *s)
        assert torch.equal(block[n][0], p.detach())
        assert torch.equal(block[n][1], 2 * p.detach())
    assert torch.equal(F.flatten_block(block, names), V.T)


def test_detect_reduction() -> None:
    assert F.detect_reduction(nn.MSELoss(reduction="sum"), None) == "sum"
    assert F.detect_reduction(nn.KLDivLoss(reduction="batchmean"), None) == "batchmean"
    assert F.detect_reduction(lambda a, b: a, None) == "mean"
    assert F.detect_reduction(lambda a, b: a, "sum") == "sum"
    assert F.detect_reduction(nn.MSELoss(), "mean") == "mean"
    with pytest.raises(InputError, match="contradicts"):
        F.detect_reduction(nn.MSELoss(), "sum")
    with pytest.raises(InputError):
        F.detect_reduction(nn.MSELoss(reduction="none"), None)
    with pytest.raises(InputError):
        F.detect_reduction(lambda a, b: a, "max")


def test_num_loss_terms() -> None:
    out = torch.zeros(5, 3)
    y = torch.tensor([0, 1, 2, -100, 1])
    assert F.num_loss_terms(nn.CrossEntropyLoss(), "mean", out, y, 5) == 4.0
    w = torch.tensor([1.0, 2.0, 4.0])
    assert F.num_loss_terms(nn.CrossEntropyLoss(weight=w), "mean", out, y, 5) == 9.0
    assert F.num_loss_terms(nn.CrossEntropyLoss(), "sum", out, y, 5) == 1.0
    assert F.num_loss_terms(nn.CrossEntropyLoss(), "mean", out, torch.rand(5, 3), 5) == 5.0
    assert F.num_loss_terms(nn.MSELoss(), "mean", out, torch.zeros(5, 3), 5) == 15.0
    assert F.num_loss_terms(nn.KLDivLoss(reduction="batchmean"), "batchmean", out, out, 5) == 5.0
    assert F.num_loss_terms(lambda a, b: a, "mean", out, y, 5) == 5.0


def cubic_problem():
    """f(a, b) = 1/2 a^T A a + (c.a)^3 + a.B b + sum b^2: H known in closed form."""
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    A = A + A.T
    B = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    c = torch.randn(4, generator=gen, dtype=torch.float64)
    theta = {
        "a": torch.randn(4, generator=gen, dtype=torch.float64),
        "b": torch.randn(3, generator=gen, dtype=torch.float64),
    }

    def f(t):
        a, b = t["a"], t["b"]
        return 0.5 * a @ A @ a + (c @ a) ** 3 + a @ B @ b + (b**2).sum()

    a = theta["a"]
    Haa = A + 6 * (c @ a) * torch.outer(c, c)
    H = torch.cat(
        [torch.cat([Haa, B], 1), torch.cat([B.T, 2 * torch.eye(3, dtype=torch.float64)], 1)], 0
    )
    return f, theta, H


@pytest.mark.parametrize("strategy", F.HVP_STRATEGIES)
def test_hvp_strategies_closed_form(strategy: str) -> None:
    f, theta, H = cubic_problem()
    V = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    Vd = F.unflatten_block(V, ["a", "b"], [torch.Size([4]), torch.Size([3])])
    if strategy == "double-backward":
        out = F.hvp_double_backward(f, theta, Vd)
    else:
        out = F.hvp_forward_over_reverse(f, theta, Vd)
    HV = F.flatten_block(out, ["a", "b"]).T
    assert torch.allclose(HV, H @ V, rtol=1e-13, atol=1e-13)


def test_double_backward_with_parameter_of_constant_gradient() -> None:
    """A parameter entering linearly (constant gradient) has zero Hessian rows, not an error."""

    def f(t):
        return (t["x"] ** 2).sum() + 3.0 * t["y"].sum()

    theta = {"x": torch.ones(2, dtype=torch.float64), "y": torch.ones(2, dtype=torch.float64)}
    V = {"x": torch.ones(3, 2, dtype=torch.float64), "y": torch.ones(3, 2, dtype=torch.float64)}
    out = F.hvp_double_backward(f, theta, V)
    assert torch.equal(out["x"], 2 * torch.ones(3, 2, dtype=torch.float64))
    assert torch.equal(out["y"], torch.zeros(3, 2, dtype=torch.float64))


def test_ggn_product_and_residual_objective_closed_form() -> None:
    """Model f(w) = tanh(X w) (scalar outputs), loss l = 1/2 ||f - y||^2.

    GGN = J^T J with J = diag(1 - f^2) X; residual = sum_i (f_i - y_i) d^2 f_i/dw^2
    = X^T diag((f - y) * (-2 f (1 - f^2))) X.
    """
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(6, generator=gen, dtype=torch.float64)
    theta = {"w": torch.randn(3, generator=gen, dtype=torch.float64)}

    def output_of(t):
        return torch.tanh(X @ t["w"])

    def loss_of_output(f):
        return 0.5 * ((f - y) ** 2).sum()

    f0 = output_of(theta)
    J = (1 - f0**2)[:, None] * X
    G = J.T @ J
    R = X.T @ (((f0 - y) * (-2 * f0 * (1 - f0**2)))[:, None] * X)
    V = torch.eye(3, dtype=torch.float64)
    Vd = {"w": V}
    GV = F.ggn_product(output_of, loss_of_output, theta, Vd)["w"]
    assert torch.allclose(GV, G, rtol=1e-13, atol=1e-14)
    s = F.residual_objective(output_of, loss_of_output, theta)
    for strategy in F.HVP_STRATEGIES:
        fn = F.hvp_double_backward if strategy == "double-backward" else F.hvp_forward_over_reverse
        RV = fn(s, theta, Vd)["w"]
        assert torch.allclose(RV, R, rtol=1e-13, atol=1e-14)


def test_double_backward_products_unused_leaf_is_none() -> None:
    a = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)  # not used by the loss
    value = (a**3).sum()
    hv = F.double_backward_products(value, [a, b], [torch.ones(2, dtype=torch.float64), b], 1)
    assert torch.equal(hv[0], 6 * a.detach()) and hv[1] is None
