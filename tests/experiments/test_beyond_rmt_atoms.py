"""Network atoms (experiments.beyond_rmt.network_atoms): exact float64 Gauss-Newton and Hessian
zero fractions against the derived rank bounds; the Gauss-Newton matrix against an independent
torch.func reference (Hessian of the loss of the linearised network)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hessrmt.errors import InputError
from hessrmt.experiments.beyond_rmt.network_atoms import (
    MLPCase,
    _problem,
    _unpack,
    gauss_newton_and_hessian,
    network_atom_row,
    rank_bounds,
)


def test_gauss_newton_equals_hessian_of_linearised_loss() -> None:
    case = MLPCase(4, 5, 3, 6, seed=2)
    x, y, theta = _problem(case)

    def logits(t: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2 = _unpack(t, case)
        return torch.relu(x @ w1.T + b1) @ w2.T + b2

    def linearised_loss(t: torch.Tensor) -> torch.Tensor:
        f0, df = torch.func.jvp(logits, (theta,), (t - theta,))
        return torch.nn.functional.cross_entropy(f0 + df, y)

    ref = torch.func.hessian(linearised_loss)(theta.clone()).numpy()
    got = gauss_newton_and_hessian(case)
    assert np.allclose(got["gauss_newton"], ref, atol=1e-12, rtol=1e-10)
    # and H itself against a plain double-backward Hessian
    t = theta.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(logits(t), y)
    (g,) = torch.autograd.grad(loss, t, create_graph=True)
    rows = [torch.autograd.grad(g[i], t, retain_graph=True)[0] for i in range(t.numel())]
    assert np.allclose(got["hessian"], torch.stack(rows).numpy(), atol=1e-12)


@pytest.mark.parametrize(
    "case",
    [MLPCase(10, 8, 3, 4), MLPCase(10, 8, 3, 60), MLPCase(5, 30, 4, 16), MLPCase(6, 6, 2, 20)],
)
def test_zero_fractions_against_rank_bounds(case: MLPCase) -> None:
    row = network_atom_row(case)
    p = case.n_params
    # the Gauss-Newton bound is attained exactly (generic inputs), counted in eigenvalues
    assert round(row["gauss_newton_zero_fraction"] * p) == round(row["gauss_newton_bound"] * p)
    assert row["hessian_zero_fraction"] >= row["hessian_bound"] - 1e-12


def test_bounds_closed_form() -> None:
    case = MLPCase(10, 8, 3, 4)
    assert case.n_params == 8 * 11 + 3 * 9
    assert rank_bounds(case) == {"gauss_newton": 8, "hessian": 8 + 2 * 8 * 2}
    assert rank_bounds(MLPCase(10, 8, 3, 40))["gauss_newton"] == 40 * 2
    assert rank_bounds(MLPCase(10, 8, 3, 60))["gauss_newton"] == 115 - 2 * 8 - 1


def test_bad_case() -> None:
    with pytest.raises(InputError):
        gauss_newton_and_hessian(MLPCase(3, 2, 1, 4))
