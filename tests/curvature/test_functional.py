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


def test_sequential_hvp_matches_func_hessian_and_accumulates() -> None:
    """One batch of Sequential(Linear, Tanh, Linear) with sum-MSE, against torch.func.hessian;
    ``out`` is added to (times ``alpha``), not overwritten."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    loss = nn.MSELoss(reduction="sum")
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    params = {n: p.detach() for n, p in model.named_parameters()}
    names = list(params)
    sizes = [params[n].numel() for n in names]

    def f(vec: torch.Tensor) -> torch.Tensor:
        d = dict(zip(names, [c.view_as(params[n]) for n, c in zip(names, vec.split(sizes))]))
        return loss(torch.func.functional_call(model, d, (x,)), y)

    H = torch.func.hessian(f)(torch.cat([params[n].reshape(-1) for n in names]))
    plan = F.sequential_plan(model, loss, "eval")
    assert plan is not None and [n for n, _ in plan] == ["0", "1", "2"]
    V = torch.randn(sum(sizes), 3, generator=gen, dtype=torch.float64)
    Vd = F.unflatten_block(V, names, [params[n].shape for n in names])
    out = {n: torch.ones_like(v) for n, v in Vd.items()}
    res = F.sequential_hvp(plan, loss, params, Vd, x, y, out=out, alpha=0.5)
    HV = F.flatten_block(res, names).T
    assert torch.allclose(HV, 1.0 + 0.5 * (H @ V), rtol=1e-12, atol=1e-13)
    # only the last layer selected: its block of H
    last = {n: Vd[n] for n in ("2.weight", "2.bias")}
    res = F.sequential_hvp(plan, loss, params, last, x, y)
    k = sizes[0] + sizes[1]
    assert torch.allclose(F.flatten_block(res, list(last)).T, H[k:, k:] @ V[k:], atol=1e-12)


def test_sequential_plan_covers_only_plain_models_and_losses() -> None:
    ce = nn.CrossEntropyLoss()
    inner = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2))
    plan = F.sequential_plan(nn.Sequential(inner, nn.Flatten(), nn.Linear(2, 3)), ce, "eval")
    assert plan is not None and [n for n, _ in plan] == ["0.0", "0.1", "0.2", "1", "2"]
    assert F.sequential_plan(nn.Linear(2, 3), nn.MSELoss(), "train") is not None

    class MyLinear(nn.Linear):  # may override forward
        pass

    lin = nn.Linear(2, 2)
    unsupported = [
        (nn.Sequential(MyLinear(2, 3)), ce),
        (nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)), ce),
        (nn.Sequential(nn.Conv2d(1, 2, 3, padding="same")), ce),
        (nn.Sequential(nn.Flatten(0)), ce),
        (nn.Sequential(nn.Linear(2, 3)), nn.CrossEntropyLoss(label_smoothing=0.1)),
        (nn.Sequential(nn.Linear(2, 3)), nn.L1Loss()),
        (nn.Sequential(lin, nn.Tanh(), lin), ce),  # one module used twice
        (nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5)), ce),  # in train mode below
    ]
    for model, loss in unsupported:
        assert F.sequential_plan(model, loss, "train") is None, model
    assert F.sequential_plan(nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5)), ce, "eval")
    tied = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2))
    tied[2].weight = tied[0].weight
    assert F.sequential_plan(tied, ce, "eval") is None


@pytest.mark.parametrize("batched_min", [0, 1 << 30])
@pytest.mark.parametrize("batch", [2, 16])
def test_sequential_hvp_on_strided_rows_in_every_product_branch(
    monkeypatch: pytest.MonkeyPatch, batched_min: int, batch: int
) -> None:
    """Directions given as per-parameter views of (k, P) rows (strided, as the operator passes
    them), with the weight tangents multiplied one matrix at a time or as one 2-D product
    (``BATCHED_ROWS_MIN``), and the middle layer's (HV)_W as one [dg, g]^T [a, da] product
    (batch 2: 400 > 2 * 2 * 40 entries) or two (batch 16): against torch.func.hessian, and
    equal to the products one column at a time (1e-12)."""
    monkeypatch.setattr(F, "BATCHED_ROWS_MIN", batched_min)
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 20), nn.Tanh(), nn.Linear(20, 3)
    ).double()
    loss = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(batch, 6, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (batch,), generator=gen)
    params = {n: p.detach() for n, p in model.named_parameters()}
    names = list(params)
    shapes = [params[n].shape for n in names]
    sizes = [s.numel() for s in shapes]

    def f(vec: torch.Tensor) -> torch.Tensor:
        d = dict(zip(names, [c.view_as(params[n]) for n, c in zip(names, vec.split(sizes))]))
        return loss(torch.func.functional_call(model, d, (x,)), y)

    H = torch.func.hessian(f)(torch.cat([params[n].reshape(-1) for n in names]))
    plan = F.sequential_plan(model, loss, "eval")
    assert plan is not None
    k = 4
    rows = torch.randn(k, sum(sizes), generator=gen, dtype=torch.float64)
    views, start = {}, 0
    for n, s in zip(names, shapes):
        views[n] = rows[:, start : start + s.numel()].view(k, *s)  # strided along k
        start += s.numel()
    assert not views["2.weight"].is_contiguous()
    block = F.flatten_block(F.sequential_hvp(plan, loss, params, views, x, y), names)
    assert torch.allclose(block.T, H @ rows.T, rtol=1e-10, atol=1e-12)
    for j in range(k):
        one = {n: v[j : j + 1].contiguous() for n, v in views.items()}
        col = F.flatten_block(F.sequential_hvp(plan, loss, params, one, x, y), names)[0]
        assert float((col - block[j]).norm() / block[j].norm()) < 1e-12
