"""SLQ-versus-exact distance (independent oracle: scipy.stats.wasserstein_distance)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from hessrmt.analysis.spectra import slq_wasserstein, torch_dtype
from hessrmt.errors import InputError


def test_slq_wasserstein_matches_scipy(rng: np.random.Generator) -> None:
    nodes = rng.normal(size=(4, 7))
    weights = rng.random((4, 7))
    weights /= weights.sum(axis=1, keepdims=True)
    eigs = rng.normal(0.3, 1.2, size=50)
    expected = wasserstein_distance(nodes.ravel(), eigs, u_weights=weights.ravel() / 4)
    assert slq_wasserstein(nodes, weights, eigs) == pytest.approx(expected, rel=1e-12)


def test_slq_wasserstein_zero_for_identical_measures() -> None:
    eigs = np.array([-1.0, 0.0, 2.0, 5.0])
    assert slq_wasserstein(eigs[None, :], np.full((1, 4), 0.25), eigs) == pytest.approx(
        0, abs=1e-15
    )


def test_torch_dtype() -> None:
    import torch

    assert torch_dtype("float64") is torch.float64
    with pytest.raises(InputError):
        torch_dtype("int8")
