"""Untrained softmax regression: its Hessian is a Kronecker product (issue 11 §3).

At equal logits H = (I/C - 1 1^T / C^2) (x) X~^T X~ (summed loss), so the spectrum is C - 1
copies of eig(X~^T X~) / C plus zeros: not GOE by construction. Checked in float64 against the
closed form and against the Hessian that autograd computes for the torch model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hessrmt.curvature import HessianOperator, dense_matrix
from hessrmt.experiments.applicability.statistics import (
    kronecker_deviation,
    softmax_batch_hessian,
    softmax_rank_bound,
    untrained_softmax_kronecker,
)


def _batch(n: int = 12, d: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def test_equal_logits_spectrum_is_the_kronecker_prediction_closed_form() -> None:
    X, C = _batch(), 4
    H = softmax_batch_hessian(X, np.zeros((C, 7)), np.zeros(C))
    assert kronecker_deviation(np.linalg.eigvalsh(H), X, C) < 1e-13
    # any equal logits do (p = 1/C whatever the common value): W = 0, b = const
    H2 = softmax_batch_hessian(X, np.zeros((C, 7)), np.full(C, 3.7))
    assert kronecker_deviation(np.linalg.eigvalsh(H2), X, C) < 1e-13


def test_equal_logits_spectrum_matches_autograd_hessian_of_the_torch_model() -> None:
    X, C = _batch(10, 5, 1), 3
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(5, C)).double()
    torch.nn.init.zeros_(model[1].weight)
    torch.nn.init.zeros_(model[1].bias)
    xb = torch.from_numpy(X)
    yb = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    loss = torch.nn.CrossEntropyLoss(reduction="sum")
    H = dense_matrix(HessianOperator(model, loss, [(xb, yb)], dtype=torch.float64))
    eigs = torch.linalg.eigvalsh(H).numpy()
    assert kronecker_deviation(eigs, X, C) < 1e-12


def test_kronecker_structure_degeneracy_and_rank() -> None:
    X, C = _batch(6, 9, 2), 5
    k = untrained_softmax_kronecker(X, C)
    nz = k[k > 1e-10 * k.max()]
    # C - 1 copies of each non-zero Gram eigenvalue / C: rank (C - 1) rank([X, 1])
    assert nz.size == softmax_rank_bound(X, C) == (C - 1) * 6
    _, counts = np.unique(np.round(nz / nz.max(), 10), return_counts=True)
    assert np.all(counts == C - 1)
    gram = np.linalg.eigvalsh(np.hstack([X, np.ones((6, 1))]).T @ np.hstack([X, np.ones((6, 1))]))
    np.testing.assert_allclose(np.sort(nz)[:: C - 1] * C, np.sort(gram[gram > 1e-9]), rtol=1e-10)


def test_random_initialisation_only_splits_the_copies_slightly() -> None:
    """PyTorch-like init (logits ~ 1/sqrt(d)): the spectrum stays close to the prediction, the
    (C - 1)-fold levels split a little: why <r~> is far from GOE for untrained softmax."""
    rng = np.random.default_rng(3)
    X, C, d = rng.standard_normal((40, 30)), 10, 30
    W = rng.uniform(-1, 1, (C, d)) / np.sqrt(d)
    b = rng.uniform(-1, 1, C) / np.sqrt(d)
    dev = kronecker_deviation(np.linalg.eigvalsh(softmax_batch_hessian(X, W, b)), X, C)
    assert 1e-3 < dev < 0.5
    with pytest.raises(Exception, match="eigenvalues given"):
        kronecker_deviation(np.ones(5), X, C)


def test_pipeline_reports_rank_and_kronecker_on_real_mnist(tmp_path) -> None:
    """The quick logistic model on real MNIST (mnist5k): exact non-zero count = (C - 1) rank
    bound per batch, the Kronecker deviation measured at the seeded initialisation, a sentence
    computed from it, and a save/load round trip of the spectra."""
    pytest.importorskip("mlxtend")
    from dataclasses import replace

    from hessrmt.experiments.applicability.networks import ModelSpectra, compute_model_spectra
    from hessrmt.experiments.applicability.pipeline import model_statistics
    from hessrmt.experiments.applicability.specs import QUICK_MODELS

    spec = replace(
        QUICK_MODELS[0], states=("untrained",), max_batches=2, full_data=False, n_samples=400
    )
    assert spec.key == "logreg" and spec.dataset == "mnist5k"
    m = compute_model_spectra(spec, seed=0, precisions=("float64",))
    assert m.n_params == 820 and m.dataset["name"] == "mnist5k"
    bounds = m.rank_bounds["untrained/hessian/batch"]
    # (C - 1) rank([X, 1]) <= 9 x 64 = 576 (pooled features of a batch can be rank-deficient)
    assert bounds.shape == (2,) and np.all(bounds <= 576) and np.all(bounds % 9 == 0)
    dev = m.kronecker["untrained/hessian/batch"]
    assert dev.shape == (2,) and np.all((dev > 1e-6) & (dev < 1))
    m.save(tmp_path / "m")
    loaded = ModelSpectra.load(tmp_path / "m")
    assert np.array_equal(loaded.kronecker["untrained/hessian/batch"], dev)
    stats = model_statistics(m, n_null=0, n_boot=0)
    rc = stats["rank_check"]["untrained/hessian/batch"]
    assert rc["bound_per_batch"] == bounds.tolist() and "= 576" in rc["statement"]
    # exact rank in float64: round-off zeros sit near 1e-50 here, genuine levels above 1e-12
    # max|lambda| (the report's 1e-9 cut can miss a few genuine tiny ones)
    e = m.spectra["untrained/hessian/batch/float64"]
    nz = [int((np.abs(r) > 1e-12 * np.abs(r).max()).sum()) for r in e]
    assert nz == bounds.tolist()
    rec = stats["kronecker"]["untrained/hessian/batch"]
    assert rec["degeneracy_at_equal_logits"] == 9
    assert f"{np.median(dev):.3g} of max|lambda|" in rec["statement"]
