"""The structured per-layer HVP (:mod:`hessrmt.curvature.structured`) against torch.func."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hessrmt.curvature import functional as F
from hessrmt.curvature import structured as S


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
    plan = S.sequential_plan(model, loss, "eval")
    assert plan is not None and [n for n, _ in plan] == ["0", "1", "2"]
    V = torch.randn(sum(sizes), 3, generator=gen, dtype=torch.float64)
    Vd = F.unflatten_block(V, names, [params[n].shape for n in names])
    out = {n: torch.ones_like(v) for n, v in Vd.items()}
    res = S.sequential_hvp(plan, loss, params, Vd, x, y, out=out, alpha=0.5)
    HV = F.flatten_block(res, names).T
    assert torch.allclose(HV, 1.0 + 0.5 * (H @ V), rtol=1e-12, atol=1e-13)
    # only the last layer selected: its block of H
    last = {n: Vd[n] for n in ("2.weight", "2.bias")}
    res = S.sequential_hvp(plan, loss, params, last, x, y)
    k = sizes[0] + sizes[1]
    assert torch.allclose(F.flatten_block(res, list(last)).T, H[k:, k:] @ V[k:], atol=1e-12)


def test_sequential_plan_covers_only_plain_models_and_losses() -> None:
    ce = nn.CrossEntropyLoss()
    inner = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2))
    plan = S.sequential_plan(nn.Sequential(inner, nn.Flatten(), nn.Linear(2, 3)), ce, "eval")
    assert plan is not None and [n for n, _ in plan] == ["0.0", "0.1", "0.2", "1", "2"]
    assert S.sequential_plan(nn.Linear(2, 3), nn.MSELoss(), "train") is not None

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
        assert S.sequential_plan(model, loss, "train") is None, model
    assert S.sequential_plan(nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5)), ce, "eval")
    tied = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2))
    tied[2].weight = tied[0].weight
    assert S.sequential_plan(tied, ce, "eval") is None


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
    monkeypatch.setattr(S, "BATCHED_ROWS_MIN", batched_min)
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
    plan = S.sequential_plan(model, loss, "eval")
    assert plan is not None
    k = 4
    rows = torch.randn(k, sum(sizes), generator=gen, dtype=torch.float64)
    views, start = {}, 0
    for n, s in zip(names, shapes):
        views[n] = rows[:, start : start + s.numel()].view(k, *s)  # strided along k
        start += s.numel()
    assert not views["2.weight"].is_contiguous()
    block = F.flatten_block(S.sequential_hvp(plan, loss, params, views, x, y), names)
    assert torch.allclose(block.T, H @ rows.T, rtol=1e-10, atol=1e-12)
    for j in range(k):
        one = {n: v[j : j + 1].contiguous() for n, v in views.items()}
        col = F.flatten_block(S.sequential_hvp(plan, loss, params, one, x, y), names)[0]
        assert float((col - block[j]).norm() / block[j].norm()) < 1e-12
