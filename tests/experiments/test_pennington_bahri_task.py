"""The memorisation task: sizes, phi convention, loss normalisation, curvature consistency."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import grad, hessian, jacrev

from hessrmt.errors import InputError
from hessrmt.experiments.pennington_bahri import task as T
from hessrmt.experiments.pennington_bahri.critical_points import find_minimum


def test_sizes_and_phi_convention():
    t = T.make_task(0.25, width=16, seed=3)
    assert t.n_params == 2 * 16 * 16 == 512
    assert t.n_data == round(512 / (0.25 * 16)) == 128
    assert t.phi == pytest.approx(512 / (128 * 16))
    assert t.X.shape == (128, 16) and t.Y.shape == (128, 16)
    assert t.X.dtype == torch.float64
    t2 = T.make_task(0.75, width=16, seed=3)
    assert t2.n_data == 43  # 512 / 12 = 42.67 rounds to 43; the actual phi is recorded
    assert t2.phi == pytest.approx(512 / (43 * 16))
    tb = T.make_task(0.5, width=4, n_in=3, n_out=2, bias=True)
    assert tb.n_params == 4 * 3 + 4 + 2 * 4 + 2
    assert tb.conventions()["phi"] == tb.phi


def test_seeded_and_bad_arguments():
    a, b = T.make_task(0.5, width=4, seed=1), T.make_task(0.5, width=4, seed=1)
    assert torch.equal(a.X, b.X) and torch.equal(a.Y, b.Y)
    assert not torch.equal(a.X, T.make_task(0.5, width=4, seed=2).X)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(InputError):
            T.make_task(bad)
    with pytest.raises(InputError):
        T.make_task(0.5, activation="relu")


def test_loss_normalisation_and_flat_loss_matches_module():
    t = T.make_task(0.5, width=4, seed=0)
    fun = T.flat_loss(t)
    # zero network: L = sum y^2 / (2 m n_out)
    zero = torch.zeros(t.n_params, dtype=torch.float64)
    expected = float((t.Y**2).sum()) / (2 * t.n_data * t.n_out)
    assert float(fun(zero)) == pytest.approx(expected, rel=1e-14)
    theta = T.initial_parameters(t, np.random.default_rng(0))
    model = T.set_parameters(T.build_model(t), theta)
    W1, W2 = theta[:16].view(4, 4), theta[16:].view(4, 4)
    by_hand = 0.5 * float(((torch.tanh(t.X @ W1.T) @ W2.T - t.Y) ** 2).mean())
    assert float(fun(theta)) == pytest.approx(by_hand, rel=1e-14)
    assert float(T.loss_fn(model(t.X), t.Y).detach()) == pytest.approx(by_hand, rel=1e-14)


def test_expected_linear_minimum_energy_is_half_one_minus_phi():
    """E L_min = (1 - n_in/m)/2 for least squares (derivation in the task module), 30 data sets."""
    vals = []
    for seed in range(30):
        t = T.make_task(0.5, width=8, seed=seed, activation="linear")  # n_in = 8, m = 32
        vals.append(T.least_squares_energy(t))
    phi_lin = 8 / 32
    se = np.std(vals, ddof=1) / math.sqrt(len(vals))
    assert abs(np.mean(vals) - (1 - phi_lin) / 2) < 4 * se
    # discriminating: (1 - phi_lin)^2 / 2 = 0.28 is many SE away from 0.375
    assert abs(np.mean(vals) - (1 - phi_lin) ** 2 / 2) > 8 * se


def test_deep_linear_network_minimum_is_least_squares():
    t = T.make_task(0.5, width=4, seed=5, activation="linear")
    res = find_minimum(T.flat_loss(t), T.initial_parameters(t, np.random.default_rng(1)))
    assert res.converged and res.index == 0
    assert res.value == pytest.approx(T.least_squares_energy(t), abs=1e-10)


def test_curvature_operators_agree_with_torch_func_and_closed_gauss_newton():
    from hessrmt.curvature import GGNOperator, HessianOperator, ResidualOperator, dense_matrix

    t = T.make_task(0.5, width=3, seed=0)
    theta = T.initial_parameters(t, np.random.default_rng(4))
    model = T.set_parameters(T.build_model(t), theta)
    H = dense_matrix(HessianOperator(model, T.loss_fn, t.batches()))
    H0 = dense_matrix(GGNOperator(model, T.loss_fn, t.batches()))
    H1 = dense_matrix(ResidualOperator(model, T.loss_fn, t.batches()))
    torch.testing.assert_close(H, hessian(T.flat_loss(t))(theta), rtol=0, atol=1e-12)
    torch.testing.assert_close(H0 + H1, H, rtol=0, atol=1e-12)

    # H0 = J^T J / (m n_out) with J the Jacobian of all m n_out outputs (independent formula)
    def outputs(th):
        W1, W2 = th[:9].view(3, 3), th[9:].view(3, 3)
        return (torch.tanh(t.X @ W1.T) @ W2.T).reshape(-1)

    J = jacrev(outputs)(theta)
    torch.testing.assert_close(H0, J.T @ J / (t.n_data * t.n_out), rtol=0, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "linear"])
@pytest.mark.parametrize("sizes", [(5, None, None), (4, 3, 2)])
def test_closed_form_derivatives_match_torch_func(activation, sizes):
    """The closed-form gradient and Hessian used by the searches against torch.func (oracle)."""
    width, n_in, n_out = sizes
    t = T.make_task(0.5, width=width, n_in=n_in, n_out=n_out, seed=2, activation=activation)
    fun = T.flat_loss(t)
    g_fn, h_fn = T.flat_derivatives(t)
    for seed in range(3):
        theta = T.initial_parameters(t, np.random.default_rng(seed), scale=2.0)
        torch.testing.assert_close(g_fn(theta), grad(fun)(theta), rtol=0, atol=1e-14)
        torch.testing.assert_close(h_fn(theta), hessian(fun)(theta), rtol=0, atol=1e-13)


def test_closed_form_derivatives_refuse_biases():
    with pytest.raises(InputError):
        T.flat_derivatives(T.make_task(0.5, width=3, bias=True))


def test_weight_decay_adds_the_penalty_and_its_derivatives():
    t = T.make_task(0.5, width=3, seed=2)
    fun = T.flat_loss(t)
    g, h = T.flat_derivatives(t)
    f2, g2, h2 = T.with_weight_decay(fun, g, h, 0.1)
    theta = T.initial_parameters(t, np.random.default_rng(0))
    pen = lambda th: fun(th) + 0.05 * (th @ th)  # noqa: E731
    assert float(f2(theta)) == pytest.approx(float(pen(theta)), rel=1e-14)
    assert torch.allclose(g2(theta), grad(pen)(theta), rtol=1e-12, atol=1e-14)
    assert torch.allclose(h2(theta), hessian(pen)(theta), rtol=1e-12, atol=1e-14)
    assert T.with_weight_decay(fun, g, h, 0.0) == (fun, g, h)
    with pytest.raises(InputError):
        T.with_weight_decay(fun, g, h, -1.0)


def test_saturated_fraction_counts_large_preactivations():
    t = T.make_task(0.5, width=3, seed=2)
    theta = T.initial_parameters(t, np.random.default_rng(0))
    A = t.X @ theta[: 3 * 3].view(3, 3).T
    assert T.saturated_fraction(t, theta.numpy()) == pytest.approx(
        float((A.abs() > 3).double().mean())
    )
    assert T.saturated_fraction(t, 1e3 * theta.numpy()) > 0.95
