"""Deformed model H = A + X (hessrmt.rmt.local_law) against closed forms and sampling."""

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.ensembles import goe
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle
from hessrmt.rmt.local_law import DeformedModel, point_mass, semicircle_effective_damping
from hessrmt.rmt.outliers import semicircle_outlier, semicircle_overlap, spiked_covariance_outlier


@pytest.fixture(scope="module")
def wigner():
    return DeformedModel(point_mass(), Semicircle(0.7))


def test_semicircle_closed_forms(wigner):
    """Spikes + zeros with semicircle noise: BBP outliers theta + s^2/theta, overlaps
    1 - s^2/theta^2, threshold s, effective damping (delta + sqrt(delta^2 - 4 s^2))/2."""
    s2 = 0.7
    thetas = [3.0, 1.5, 0.9, -2.0]
    got = wigner.outliers(thetas)
    for t, g in zip(thetas, got):
        want = semicircle_outlier(t, s2)
        assert (g is None) == (want is None)
        if want is not None:
            assert g == pytest.approx(want, rel=1e-9)
    assert wigner.overlaps([3.0, 1.5]) == pytest.approx(
        [semicircle_overlap(3.0, s2), semicircle_overlap(1.5, s2)], rel=1e-6
    )
    assert wigner.threshold() == pytest.approx(np.sqrt(s2), rel=1e-3)
    d = np.array([1.8, 2.5, 5.0])
    assert wigner.effective_damping(d) == pytest.approx(
        semicircle_effective_damping(d, s2), rel=1e-9
    )
    # effective damping is smaller than the damping set, and tends to it for large delta
    assert np.all(wigner.effective_damping(d) < d)


def test_wishart_noise_outlier_matches_additive_bbp():
    """MP noise (phi, mean 1), spike theta: rho = theta + R_MP(1/theta)
    = theta + 1/(1 - phi/theta)."""
    m = DeformedModel(point_mass(), MarchenkoPastur(0.5))
    for theta in (5.0, 3.0):
        assert m.outliers([theta])[0] == pytest.approx(theta + 1 / (1 - 0.5 / theta), rel=1e-9)
    # threshold sqrt(phi) + phi for the additive spike on MP(phi) (omega(edge+))
    assert m.threshold() == pytest.approx(np.sqrt(0.5) + 0.5, rel=1e-3)
    # not the multiplicative (spiked covariance) location: a different model
    assert m.outliers([3.0])[0] != pytest.approx(spiked_covariance_outlier(3.0, 0.5), rel=1e-3)


@pytest.mark.slow
def test_against_sampling():
    """Top eigenvalue, overlap and e^T (H + delta)^-1 e of GOE + spike vs the model, N = 1000."""
    rng = np.random.default_rng(1)
    m = DeformedModel(point_mass(), Semicircle(1.0))
    theta, delta = 3.0, 3.0
    tops, ovs, qs = [], [], []
    for _ in range(4):
        h = goe(1000, rng=rng)
        h[0, 0] += theta
        ev, vec = np.linalg.eigh(h)
        tops.append(ev[-1])
        ovs.append(vec[0, -1] ** 2)
        qs.append(((vec[0] ** 2) / (ev + delta)).sum())
    assert np.mean(tops) == pytest.approx(m.outliers([theta])[0], abs=0.05)
    assert np.mean(ovs) == pytest.approx(m.overlaps([theta])[0], abs=0.05)
    assert np.mean(qs) == pytest.approx(m.resolvent_overlap(theta, delta)[0], abs=0.01)
    # the naive 1/(theta + delta) is measurably wrong at this delta
    assert abs(np.mean(qs) - 1 / (theta + delta)) > 0.005


def test_bad_input(wigner):
    with pytest.raises(InputError, match="delta must exceed"):
        wigner.effective_damping([0.5])
    with pytest.raises(InputError, match="off the bulk"):
        wigner.omega([0.3])
    with pytest.raises(InputError, match="SpectralLaw"):
        DeformedModel([1, 2], Semicircle(1.0))
    with pytest.raises(InputError, match="side"):
        wigner.threshold("up")
