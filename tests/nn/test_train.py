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
    # lr for t <= 0.5, linear to 0.01 lr at t = 0.9, constant afterwards (docs/reference/papers.md
    # 2.2)
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


def test_one_full_batch_epoch_is_one_sgd_step():
    """Oracle: with one batch holding the whole train split, one epoch is one SGD step from a
    zero momentum buffer, w1 = w0 - lr (grad L(w0) + wd w0), and the recorded loss is L(w0)."""
    d = load_dataset("iris", seed=2)
    m = build_model("mlp", input_shape=d.input_shape, n_outputs=3, seed=1)
    X, y = torch.as_tensor(d.X_train), torch.as_tensor(d.y_train)
    w0 = [p.detach().clone() for p in m.parameters()]
    loss0 = torch.nn.functional.cross_entropy(m(X), y)
    grads = torch.autograd.grad(loss0, list(m.parameters()))
    lr, wd = 0.05, 1e-3
    h = train(m, d, epochs=1, lr=lr, weight_decay=wd, batch_size=10_000, seed=0)
    assert h.loss[0] == pytest.approx(float(loss0.detach()), rel=1e-12)
    for p, p0, g in zip(m.parameters(), w0, grads):
        torch.testing.assert_close(p.detach(), p0 - lr * (g + wd * p0), rtol=1e-12, atol=1e-14)
    # recorded accuracy is the accuracy of the final weights on the train split
    with torch.no_grad():
        acc = float((m(X).argmax(dim=1) == y).double().mean())
    assert h.train_accuracy[0] == acc
    np.testing.assert_array_equal(h.lr, [lr])


def test_history_lr_follows_the_schedule_and_zero_epochs_is_a_no_op():
    d = load_dataset("iris")
    m = build_model("logreg", input_shape=d.input_shape, n_outputs=3, seed=0)
    h = train(m, d, epochs=10, lr=0.2)
    np.testing.assert_allclose(h.lr, [paper_schedule(e, 10, 0.2) for e in range(10)], rtol=1e-15)
    assert h.loss.shape == h.train_accuracy.shape == h.test_accuracy.shape == (10,)
    before = torch.nn.utils.parameters_to_vector(m.parameters()).clone()
    h0 = train(m, d, epochs=0)
    assert h0.loss.size == 0
    assert torch.equal(torch.nn.utils.parameters_to_vector(m.parameters()), before)
    with pytest.raises(InputError, match="epochs"):
        train(m, d, epochs=-1)


def test_divergence_is_an_input_error():
    d = load_dataset("synthetic-regression", n_samples=100)
    m = build_model("regression-mlp", input_shape=d.input_shape, n_outputs=1, seed=0)
    with pytest.raises(InputError, match="diverged"):
        train(m, d, epochs=20, loss="mse", lr=1e6, weight_decay=0.0)
