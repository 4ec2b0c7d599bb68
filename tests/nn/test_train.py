"""Training set-up, batches and losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hessrmt.data import load_dataset
from hessrmt.errors import InputError
from hessrmt.nn.data import to_batches
from hessrmt.nn.losses import make_loss
from hessrmt.nn.train import paper_schedule, train
from hessrmt.nn.zoo import build_model


def test_schedule_matches_paper_definition():
    # lr for t <= 0.5, linear to 0.01 lr at t = 0.9, constant afterwards (papers.md 2.2)
    assert paper_schedule(0, 100, 1.0) == 1.0
    assert paper_schedule(50, 100, 1.0) == 1.0
    assert paper_schedule(70, 100, 1.0) == pytest.approx(1.0 - 0.99 * 0.5)
    assert paper_schedule(90, 100, 1.0) == pytest.approx(0.01)
    assert paper_schedule(99, 100, 1.0) == pytest.approx(0.01)


def test_training_reduces_loss_and_is_reproducible():
    d = load_dataset("digits", n_samples=400)
    runs = []
    for _ in range(2):
        m = build_model("logreg", input_shape=d.input_shape, n_outputs=10, seed=0)
        h = train(m, d, epochs=25, lr=0.1, seed=3)
        runs.append((h, torch.nn.utils.parameters_to_vector(m.parameters())))
    h, w = runs[0]
    assert h.loss[-1] < 0.5 * h.loss[0]
    assert h.test_accuracy[-1] > 0.8
    assert torch.equal(w, runs[1][1])
    assert h.settings["momentum"] == 0.9 and h.meta.seed == 3


def test_regression_needs_mse():
    d = load_dataset("synthetic-regression", n_samples=100)
    m = build_model("regression-mlp", input_shape=d.input_shape, n_outputs=1)
    with pytest.raises(InputError, match="regression"):
        train(m, d, epochs=1)
    h = train(m, d, epochs=2, loss="mse", lr=0.01)
    assert np.isnan(h.train_accuracy).all() and np.isfinite(h.loss).all()


def test_batches_uneven_and_shuffled():
    d = load_dataset("iris")
    batches = to_batches(d, 64)
    assert [b[0].shape[0] for b in batches] == [64, 56]
    assert batches[0][1].dtype == torch.int64 and batches[0][0].dtype == torch.float64
    shuffled = to_batches(d, 64, shuffle=True, seed=1)
    assert not torch.equal(shuffled[0][0], batches[0][0])
    torch.testing.assert_close(
        torch.cat([b[0] for b in shuffled]).sum(0), torch.cat([b[0] for b in batches]).sum(0)
    )
    assert len(to_batches(d, 64, drop_last=True)) == 1
    with pytest.raises(InputError):
        to_batches(d, 0)


def test_losses():
    assert make_loss("cross-entropy", "sum").reduction == "sum"
    with pytest.raises(InputError):
        make_loss("hinge")
    with pytest.raises(InputError):
        make_loss("mse", "none")
