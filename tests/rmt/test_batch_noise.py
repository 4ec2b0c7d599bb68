"""hessrmt.rmt.batch_noise: the batch-noise analysis on known-answer synthetic batch Hessians.

GOE noise added to a spiked A must agree with the free deformed model (outliers, overlaps), be
delocalised (IPR ratio 1, kurtosis 3) and have GOE spacing ratios; localised noise and noise with
outliers of its own must be flagged."""

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.batch_noise import (
    GOE_MEAN_RATIO,
    POISSON_MEAN_RATIO,
    batch_noise_summary,
    cluster_ipr_ratio,
    ipr_ratio,
)

P = 200
THETAS = (6.0, 4.0)


def _spiked_a(rng):
    bulk = rng.uniform(-0.2, 0.2, P - len(THETAS))
    q, _ = np.linalg.qr(rng.standard_normal((P, P)))
    return (q * np.r_[THETAS, bulk]) @ q.T


def _goe(rng, n=P):
    g = rng.standard_normal((n, n))
    return (g + g.T) / np.sqrt(2 * n)  # semicircle of variance 1


def test_goe_noise_agrees_with_the_local_law():
    rng = np.random.default_rng(0)
    A = _spiked_a(rng)
    s = 0.7
    hs = [A + s * _goe(rng) for _ in range(8)]
    out = batch_noise_summary(A, hs, n_spikes=2, batch_size=32)
    lo, hi = out["noise_scale"]["s_interval"]
    assert lo < s * np.sqrt(1 + 1 / P) * 1.01 and hi > s * 0.99  # E||X||_F^2/P = s^2 (1 + 1/P)
    assert out["noise_scale"]["s"] == pytest.approx(s, rel=0.01)
    assert out["localisation"]["ipr_over_goe"] == pytest.approx(1.0, abs=0.05)
    assert out["localisation"]["kurtosis"] == pytest.approx(3.0, abs=0.05)
    sr = out["spacing_ratio"]
    assert abs(sr["z_goe"]) < 3 and sr["z_poisson"] > 5
    assert sr["mean_ratio"] == pytest.approx(GOE_MEAN_RATIO, abs=0.02)
    o = out["outliers"]
    assert all(o["agree"]), o
    # the bulk is narrow: the prediction is close to the semicircle BBP value theta + s^2/theta
    for pred, theta in zip(o["predicted"], THETAS):
        assert pred == pytest.approx(theta + s**2 / theta, rel=0.01)
    ov = out["overlaps"]
    assert np.allclose(ov["measured"], ov["predicted"], atol=0.05)


def test_localised_noise_and_noise_outliers_are_flagged():
    rng = np.random.default_rng(1)
    A = _spiked_a(rng)
    # localised: diagonal noise in the standard basis (Poisson statistics, IPR of e_i)
    hs = [A + np.diag(0.7 * rng.standard_normal(P)) for _ in range(6)]
    out = batch_noise_summary(A, hs, n_spikes=2, batch_size=16)
    assert out["localisation"]["ipr_over_goe"] > 20
    assert out["spacing_ratio"]["z_goe"] < -5
    assert out["spacing_ratio"]["mean_ratio"] == pytest.approx(POISSON_MEAN_RATIO, abs=0.04)
    # GOE noise plus a spike of its own (a direction the batch over-weights): the measured top
    # eigenvalue is the noise's outlier, the free model misses it
    hs = []
    for _ in range(6):
        w = rng.standard_normal(P)
        w /= np.linalg.norm(w)
        hs.append(A + 0.7 * _goe(rng) + 9.0 * np.outer(w, w))
    out = batch_noise_summary(A, hs, n_spikes=2, batch_size=16)
    assert not out["outliers"]["agree"][0]
    assert out["outliers"]["relative_error"][0] > 0.3


def test_bad_input():
    A = np.eye(10)
    with pytest.raises(InputError, match="at least two"):
        batch_noise_summary(A, [A], n_spikes=1, batch_size=4)
    with pytest.raises(InputError, match="same size"):
        batch_noise_summary(A, [A, np.eye(9)], n_spikes=1, batch_size=4)
    with pytest.raises(InputError, match="n_spikes"):
        batch_noise_summary(A, [A, A], n_spikes=7, batch_size=4)


def _rotate_within(vectors: np.ndarray, a: int, b: int, rng) -> np.ndarray:
    """Another orthonormal basis of the span of columns a:b (an equally valid eigh answer)."""
    q, _ = np.linalg.qr(rng.standard_normal((b - a, b - a)))
    out = vectors.copy()
    out[:, a:b] = vectors[:, a:b] @ q
    return out


def test_cluster_ipr_is_basis_independent_and_plain_ipr_on_simple_levels():
    rng = np.random.default_rng(5)
    n, m = 120, 40
    values = np.r_[np.linspace(-2, -1, 40), np.zeros(m), np.linspace(1, 2, n - 40 - m)]
    # a localised null space, span(e_1 ... e_m), in a skewed basis; the other eigenvectors
    # Haar-random in the remaining n - m coordinates
    null = np.zeros((n, m))
    null[:m] = np.linalg.qr(rng.standard_normal((m, m)))[0]
    rest = np.zeros((n, n - m))
    rest[m:] = np.linalg.qr(rng.standard_normal((n - m, n - m)))[0]
    V = np.hstack([rest[:, :40], null, rest[:, 40:]])
    got = cluster_ipr_ratio(values, V)
    rotated = cluster_ipr_ratio(values, _rotate_within(V, 40, 80, rng))
    np.testing.assert_allclose(rotated, got, rtol=1e-12)
    # the plain IPR of the null vectors depends on the basis LAPACK happened to choose
    plain = ipr_ratio(V[:, 40:80]).mean()
    assert abs(ipr_ratio(_rotate_within(V, 40, 80, rng)[:, 40:80]).mean() - plain) > 1e-3
    # the null space is localised on m of n coordinates: Pi_ii = 1 there, so the ratio is
    # (m / m) / ((m + 2) / (n + 2)) = (n + 2) / (m + 2)
    assert got[40:80] == pytest.approx(np.full(m, (n + 2) / (m + 2)), rel=1e-12)
    # simple levels: exactly the plain IPR
    np.testing.assert_allclose(got[:40], ipr_ratio(V[:, :40]), rtol=1e-12)


def test_cluster_ipr_of_a_haar_subspace_is_about_one():
    rng = np.random.default_rng(6)
    n, m = 300, 100
    haar, _ = np.linalg.qr(rng.standard_normal((n, n)))
    values = np.r_[np.zeros(m), np.linspace(1, 2, n - m)]
    ratios = cluster_ipr_ratio(values, haar)
    assert ratios[:m].mean() == pytest.approx(1.0, abs=0.05)
    assert ratios[m:].mean() == pytest.approx(1.0, abs=0.05)


def test_low_rank_noise_gives_the_same_localisation_in_any_null_basis(monkeypatch):
    """X_b of rank r < P (a batch Hessian's typical noise) has a null space in the central half,
    here holding the coordinate vectors e_1 ... e_k. The summary must not depend on the basis
    eigh picks in it (it did, through the BLAS threads): LAPACK's basis and one made of
    e_1 ... e_k and the rest give the same localisation, which the plain IPR does not."""
    rng = np.random.default_rng(7)
    A = _spiked_a(rng)
    r, k = 60, 20
    hs = []
    for _ in range(4):
        g = rng.standard_normal((P, r)) / np.sqrt(P)
        g[:k] = 0.0  # e_1 ... e_k lie in the null space of X = g D g^T
        hs.append(A + g @ np.diag(rng.standard_normal(r)) @ g.T)
    eigh = np.linalg.eigh
    plain: list[float] = []

    def localised_null_basis(M):
        e, v = eigh(M)
        null = np.abs(e) <= 1e-9 * np.abs(e).max()
        if null.sum() > k:
            cols = np.flatnonzero(null)
            w = v[:, cols].copy()
            w[:k] = 0.0  # the null space without e_1 ... e_k (which it contains)
            u = np.linalg.svd(w, full_matrices=False)[0][:, : cols.size - k]
            basis = np.hstack([np.eye(P)[:, :k], u])
            v = v.copy()
            v[:, cols] = basis
            plain.append(float(ipr_ratio(v[:, P // 4 : P - P // 4]).mean()))
        return e, v

    out = batch_noise_summary(A, hs, n_spikes=2, batch_size=16)
    lapack = [float(ipr_ratio(eigh(h - A)[1][:, P // 4 : P - P // 4]).mean()) for h in hs]
    monkeypatch.setattr(np.linalg, "eigh", localised_null_basis)
    again = batch_noise_summary(A, hs, n_spikes=2, batch_size=16)
    assert len(plain) == 4  # the plain IPR moves with the basis:
    assert all(abs(a - b) > 1 for a, b in zip(plain, lapack)), (plain, lapack)
    for key in ("ipr_over_goe", "kurtosis"):
        assert again["localisation"][key] == pytest.approx(out["localisation"][key], rel=1e-10)
    loc = out["localisation"]
    assert loc["kurtosis"] == pytest.approx(3.0 * P / (P + 2) * loc["ipr_over_goe"], rel=1e-12)
