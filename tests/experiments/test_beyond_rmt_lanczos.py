"""Single-probe Lanczos vs SLQ vs the exact spectrum (experiments/beyond_rmt/lanczos_compare).

Oracles: for a diagonal matrix with P Lanczos steps and Rademacher probes the Gauss rule is the
spectral measure itself (weights v_i^2 = 1/P), so every W1 is 0; for a rotated matrix one probe's
measure has random weights (v^T u_i)^2, so averaging probes (SLQ) is closer to the spectrum.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hessrmt.experiments.beyond_rmt.lanczos_compare import lanczos_comparison

pytestmark = pytest.mark.usefixtures("one_thread")


def test_diagonal_full_steps_is_exact() -> None:
    eigs = np.linspace(-1.0, 2.0, 40)
    res = lanczos_comparison(torch.diag(torch.tensor(eigs)), eigs, steps=40, probes=3, repeats=2)
    assert res["w1_slq_to_dense"] == pytest.approx(0.0, abs=1e-8)
    assert res["w1_single_to_dense"]["max"] == pytest.approx(0.0, abs=1e-8)
    assert res["steps"] == 40


def test_one_probe_is_farther_than_slq() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((100, 100))
    h = (a + a.T) / np.sqrt(200)
    eigs = np.linalg.eigvalsh(h)
    res = lanczos_comparison(torch.tensor(h), eigs, steps=60, probes=10, repeats=3, seed=1)
    single = res["w1_single_to_dense"]
    assert single["min"] <= single["mean"] <= single["max"]
    assert res["w1_slq_to_dense"] < single["mean"]
    # one probe's weights (v^T u_i)^2 with u_i Haar: W1 of order sqrt(2/P) times the spread
    assert 0.01 < single["mean"] < 0.5
