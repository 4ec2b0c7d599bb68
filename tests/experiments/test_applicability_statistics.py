"""Statistics of the applicability reproduction: binned-figure oracles (docs/reference/papers.md
§2.5(b)),
degeneracy counting, softmax Hessian closed form and rank (AT-3, §11.1), ratio means."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.experiments.applicability import statistics as st


@pytest.mark.parametrize("kind,mean_r,mean_rt", [("goe", 1.460, 0.540), ("poisson", 1.644, 0.424)])
def test_binned_surmise_oracles(kind: str, mean_r: float, mean_rt: float) -> None:
    out = st.binned_ratio_stats(None, masses=st.binned_surmise(kind))
    assert abs(out["mean_r_lt10"] - mean_r) <= 1e-3
    assert abs(out["mean_rt_binned"] - mean_rt) <= 1e-3
    assert out["tv_goe" if kind == "goe" else "tv_poisson"] == pytest.approx(0.0, abs=1e-12)


def test_binned_stats_of_poisson_samples() -> None:
    rng = np.random.default_rng(0)
    levels = np.sort(rng.uniform(size=(200, 300)), axis=1)
    r = st.paper_ratios(levels, cut=0.0)
    out = st.binned_ratio_stats(r)
    assert out["tv_poisson"] < 0.03 < 0.15 < out["tv_goe"]
    assert abs(out["mean_r_lt10"] - 1.644) < 0.02


def test_degeneracy_curve_counts() -> None:
    spec = np.array(
        [[0.0, 1e-50, 1e-25, 1e-9, 1e-5, 1.0, 2.0, 3.0], [0.0, 0.0, 1e-3, 1, 2, 3, 4, 5.0]]
    )
    out = st.degeneracy_curve(spec, rtol=1e-9)
    f = dict(zip(out["eps"], out["fraction"]))
    assert f[1e-100] == 3 / 16  # exact zeros only
    assert f[1e-40] == 4 / 16
    assert f[1e-20] == 5 / 16
    assert f[1e-8] == 6 / 16
    assert f[1e-4] == 7 / 16
    assert out["exact_zero_fraction"] == 3 / 16
    # relative cut 1e-9 * 3 = 3e-9 in row 0 catches 0, 1e-50, 1e-25, 1e-9; row 1: the two zeros
    assert out["relative_zero_fraction"] == 6 / 16
    with pytest.raises(InputError, match="NaN"):
        st.degeneracy_curve(np.array([1.0, np.nan]))


def test_softmax_hessian_matches_autograd() -> None:
    import torch

    rng = np.random.default_rng(3)
    n, d, C = 7, 5, 3
    X, W, b = rng.standard_normal((n, d)), rng.standard_normal((C, d)), rng.standard_normal(C)
    y = torch.as_tensor(rng.integers(0, C, n))
    Xt = torch.as_tensor(X)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        Wt, bt = theta[: C * d].reshape(C, d), theta[C * d :]
        return torch.nn.functional.cross_entropy(Xt @ Wt.T + bt, y, reduction="sum")

    theta = torch.as_tensor(np.concatenate([W.ravel(), b]))
    H_torch = torch.autograd.functional.hessian(loss, theta).numpy()
    # permutation: ours is class-major (W_c, b_c); torch is (W row-major, b)
    order = []
    for c in range(C):
        order += [c * d + j for j in range(d)] + [C * d + c]
    H = st.softmax_batch_hessian(X, W, b)
    np.testing.assert_allclose(H, H_torch[np.ix_(order, order)], rtol=1e-10, atol=1e-12)
    assert st.softmax_rank_bound(X, C) == (C - 1) * min(n, d + 1)


def test_rank_check_small_at3_analogue() -> None:
    """AT-3 set-up scaled down (d = 60, C = 5, b = 16, P = 305): float64 has exactly
    min(P, (C - 1) b) = 64 non-zero eigenvalues; float32 round-off passes the paper's 1e-10 cut.
    (The full AT-3 numbers, 576 of 2010, are checked on the quick reproduction's summary.)"""
    out = st.rank_check_synthetic(d=60, n_classes=5, batch=16, seed=0)
    assert out["n_params"] == 305 and out["expected_rank"] == 64
    assert out["float64_above_1e-10"] == 64
    assert out["float64_above_rel_1e-9"] == 64
    assert out["float32_above_1e-10"] >= 300


def test_mean_reduced_ratio_goe_vs_poisson() -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((30, 200, 200))
    goe = np.linalg.eigvalsh((a + np.swapaxes(a, 1, 2)) / 2)
    out = st.mean_reduced_ratio(goe, rtol=None)
    # all levels including edges: DE N=2000 gives 0.5316; allow finite-N edge bias 0.005
    assert abs(out["mean_ratio"] - st.GOE_MEAN_RATIO) < 4 * out["mean_ratio_se"] + 0.005
    single = st.mean_reduced_ratio(goe[0], rtol=None)
    assert single["n_spectra"] == 1 and np.isfinite(single["mean_ratio_se"])
    withzeros = np.concatenate([goe[:, :150], np.zeros((30, 50))], axis=1)
    out0 = st.mean_reduced_ratio(withzeros, rtol=1e-9)
    assert out0["n_levels_kept"] == 30 * 150


def test_unfolded_spacings_goe() -> None:
    """Paper's split pooled unfolding, 60 GOE spectra (N = 150, central 100 levels): spacing
    variance against the exact Gaudin GOE value 0.28553 (docs/reference/oracles.md §3).
    Replicate SDs (20
    seeds): variance 0.012, mean 0.0013, TV to Gaudin 0.009 (mean 0.056), TV to Poisson 0.011
    (mean 0.284)."""
    from hessrmt.rmt.reference import GAUDIN_VARIANCE

    rng = np.random.default_rng(7)
    a = rng.standard_normal((60, 150, 150))
    goe = np.linalg.eigvalsh((a + np.swapaxes(a, 1, 2)) / 2)
    s = st.unfolded_spacings(goe[:, 25:-25], cut=None)
    out = st.spacing_stats(s)
    assert out["n"] == 20 * 99  # split scheme: the first third of the spectra is unfolded
    assert abs(out["mean"] - 1.0) < 0.01
    assert abs(out["var"] - GAUDIN_VARIANCE[1]) < 4 * 0.012
    # the reference module is installed: the TV distances must be there, not silently skipped
    assert {"tv_wigner", "tv_gaudin", "tv_poisson"} <= set(out)
    assert out["tv_gaudin"] < 0.056 + 4 * 0.009 < out["tv_poisson"] - 4 * 0.011


def test_spacing_stats_tv_by_direct_histogram(rng: np.random.Generator) -> None:
    """TV to the Poisson law recomputed from its definition (35 bins on [0, max(4, q99)], both
    distributions conditioned on that range)."""
    s = rng.exponential(size=5000)
    out = st.spacing_stats(s)
    edges = np.linspace(0.0, max(4.0, float(np.quantile(s, 0.99))), 36)
    h = np.histogram(s, bins=edges)[0]
    p = h / h.sum()  # both sides conditioned on the histogram range
    q = np.diff(1 - np.exp(-edges))
    expected = 0.5 * np.abs(p - q / q.sum()).sum()
    assert out["tv_poisson"] == pytest.approx(expected, rel=1e-12)
    assert out["var"] == pytest.approx(np.var(s), rel=1e-12)
    # multinomial noise of 35 bins with n = 5000: TV ~ 0.03; the GOE law is far off
    assert out["tv_poisson"] < 0.05 < 0.2 < out["tv_gaudin"]


def test_paper_values_transcription_and_rank_identity() -> None:
    """docs/reference/papers.md §2.5 spot values, and an independent check of the transcription:
    the paper's
    1e-4 zero fractions of the logistic models equal the rank bound 1 - (C - 1) b / P
    (rank <= 9 * 64 = 576; P = 7850 for MNIST, 5130 for CIFAR-10 features) to 3 decimals."""
    from hessrmt.experiments.applicability import paper_values as pv

    deg = pv.PAPER_DEGENERACY
    assert pv.PAPER_EPS[-1] == 1e-4 and len(pv.PAPER_EPS) == 8
    assert deg["MNIST logistic, test"][-1] == round(1 - 576 / 7850, 3) == 0.927
    assert deg["CIFAR-10 ResNet-34-features logistic, test"][-1] == round(1 - 576 / 5130, 3)
    assert deg["LeNet, test"] == (0.017, 0.042, 0.048, 0.111, 0.300, 0.538, 0.584, 0.589)
    for row in deg.values():  # cumulative fractions: non-decreasing in eps, within [0, 1]
        assert all(0 <= a <= b <= 1 for a, b in itertools.pairwise(row))
    assert pv.PAPER_RATIOS["MNIST logistic, test, batches"] == (1.476, 0.534, 0.010, 0.192)
    assert pv.PAPER_RATIOS["MNIST logistic, train, batches"] == (1.542, 0.525, 0.029, 0.178)
    # the figures are GOE-like: every row is closer (TV) to the GOE than to Poisson
    assert all(r[2] < r[3] for r in pv.PAPER_RATIOS.values())
    row = pv.paper_row_for("MNIST logistic", "trained", "hessian", "batch", "train")
    assert row is not None and row["row"] == "MNIST logistic, train, batches"
    assert row["mean_r_lt10"] == 1.542
    assert pv.paper_row_for(None, "trained", "hessian", "batch") is None


def test_nonzero_count_by_gap_keeps_a_tiny_genuine_eigenvalue():
    from hessrmt.experiments.applicability.statistics import count_nonzero, count_nonzero_by_gap

    rng = np.random.default_rng(3)
    genuine = np.concatenate([rng.uniform(1e-4, 1.0, 574), [2.4e-12, 8.5e-13]])
    zeros = rng.uniform(1e-17, 2e-15, 7000) * rng.choice([-1, 1], 7000)
    deep = np.concatenate([np.geomspace(1e-20, 1e-40, 30), np.full(20, 1e-50)])  # the floor's tail
    eigs = rng.permutation(np.concatenate([genuine, zeros, deep, np.zeros(5)]))
    # the measured MNIST case: the 1e-12 cut loses the 8.5e-13 level, the gap count does not
    assert count_nonzero(eigs, rtol=1e-12) == 575
    assert count_nonzero_by_gap(eigs) == 576
    # no small values at all: every eigenvalue counts; all zero: none
    assert count_nonzero_by_gap(rng.uniform(0.1, 1.0, 50)) == 50
    assert count_nonzero_by_gap(np.zeros(10)) == 0
    # a spectrum whose smallest genuine levels sit just above the search cut is not cut inside
    # its continuous part: the gap to the round-off floor is the largest
    cont = np.concatenate([np.geomspace(1.0, 1e-10, 300), rng.uniform(1e-18, 1e-16, 100)])
    assert count_nonzero_by_gap(cont) == 300
