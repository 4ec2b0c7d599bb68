"""hessrmt.rmt.batch_noise: the batch-noise analysis on known-answer synthetic batch Hessians.

GOE noise added to a spiked A must agree with the free deformed model (outliers, overlaps), be
delocalised (IPR ratio 1, kurtosis 3) and have GOE spacing ratios; localised noise and noise with
outliers of its own must be flagged."""

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.batch_noise import GOE_MEAN_RATIO, POISSON_MEAN_RATIO, batch_noise_summary

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
