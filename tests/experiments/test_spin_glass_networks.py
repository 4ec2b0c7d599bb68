"""Piecewise-linear torch activations and the network training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hessrmt.errors import InputError
from hessrmt.experiments.spin_glass.networks import activation_fn, digits_4x4, train_runs
from hessrmt.rmt.complexity.activations import piecewise_linear


@pytest.mark.parametrize("name", ["gelu", "tanh", "sigmoid"])
def test_pwl_activation_matches_interpolant(name: str) -> None:
    f = activation_fn(f"pwl-{name}-4")
    knots, slopes, intercepts = piecewise_linear(name, 4)
    z = np.linspace(-5, 5, 201)
    piece = np.searchsorted(knots, z, side="left")
    ref = slopes[piece] * z + intercepts[piece]
    np.testing.assert_allclose(f(torch.tensor(z)).numpy(), ref, atol=1e-12)
    # ReLU's 2-piece interpolant is ReLU
    r = activation_fn("pwl-relu-2")(torch.tensor(z)).numpy()
    np.testing.assert_allclose(r, np.maximum(z, 0), atol=1e-15)


def test_training_runs_are_seeded_and_hessian_index_is_counted() -> None:
    torch.set_num_threads(1)
    a = train_runs("tanh", 2, 2, seed=3, n_samples=40, steps=30)
    b = train_runs("tanh", 2, 2, seed=3, n_samples=40, steps=30)
    np.testing.assert_array_equal(a.loss, b.loss)
    assert a.n_params == 16 * 2 + 2 + 2 * 2 + 2 + 10 * 2 + 10
    assert np.all((a.index >= 0) & (a.index <= a.n_params))
    np.testing.assert_allclose(a.index_fraction, a.index / a.n_params)
    x, y = digits_4x4(40, seed=12345)
    assert x.shape == (40, 16) and abs(float(x.mean())) < 1e-10 and y.max() <= 9


def test_bad_activation() -> None:
    with pytest.raises(InputError, match="unknown activation"):
        activation_fn("swish")
    with pytest.raises(InputError, match="n_samples"):
        digits_4x4(5, seed=0)
