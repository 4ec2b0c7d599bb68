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


def test_batched_training_equals_separate_runs() -> None:
    """Run r of a batch of 3 equals a batch of 1 started from seed + r (runs do not interact),
    and the stacked training equals a plain per-run Adam loop."""
    together = train_runs("gelu", 3, 3, seed=7, n_samples=40, steps=40)
    for r in range(3):
        alone = train_runs("gelu", 3, 1, seed=7 + r, n_samples=40, steps=40)
        np.testing.assert_allclose(together.loss[r], alone.loss[0], rtol=1e-10)
        assert together.index[r] == alone.index[0]
    # reference: one run by an explicit per-run loop on the mean cross-entropy
    x, y = digits_4x4(40, seed=12345)
    gen = torch.Generator().manual_seed(7)
    shapes = [(3, 16), (3,), (3, 3), (3,), (10, 3), (10,)]
    fans = [16, 16, 3, 16, 3, 3]  # as train_runs draws them (its second bias uses fan 16)
    parts = [
        (torch.rand(s, generator=gen, dtype=torch.float64) * 2 - 1) / fan**0.5
        for s, fan in zip(shapes, fans, strict=True)
    ]
    params = [p.requires_grad_(True) for p in parts]
    opt = torch.optim.Adam(params, lr=0.01)
    act = activation_fn("gelu")
    for _ in range(40):
        opt.zero_grad()
        w1, b1, w2, b2, w3, b3 = params
        out = act(act(x @ w1.T + b1) @ w2.T + b2) @ w3.T + b3
        loss = torch.nn.functional.cross_entropy(out, y)
        loss.backward()
        opt.step()
    w1, b1, w2, b2, w3, b3 = params
    with torch.no_grad():
        out = act(act(x @ w1.T + b1) @ w2.T + b2) @ w3.T + b3
        final = float(torch.nn.functional.cross_entropy(out, y))
    assert together.loss[0] == pytest.approx(final, rel=1e-10)
