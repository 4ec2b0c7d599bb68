"""BBP oracles SP-1..SP-4 (``docs/reference/oracles.md`` §8)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg

from hessrmt.errors import InputError
from hessrmt.rmt import ensembles as E
from hessrmt.rmt.free import free_additive_convolution
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle
from hessrmt.rmt.outliers import (
    ScaledLaw,
    bbp_outlier,
    bbp_outlier_multiplicative,
    bbp_overlap,
    bbp_overlap_multiplicative,
    bbp_threshold,
    deformed_outliers,
    semicircle_outlier,
    semicircle_overlap,
    spiked_covariance_outlier,
    spiked_covariance_overlap,
    spiked_covariance_threshold,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sp1_closed_forms() -> None:
    assert semicircle_outlier(2.0) == 2.5
    assert semicircle_overlap(2.0) == 0.75
    assert semicircle_outlier(0.8) is None
    assert semicircle_overlap(0.8) == 0.0
    assert semicircle_outlier(3.0, variance=4.0) == pytest.approx(3 + 4 / 3, rel=1e-15)
    assert semicircle_outlier(-3.0) == pytest.approx(-3 - 1 / 3, rel=1e-15)
    assert spiked_covariance_outlier(3.0, 0.25) == pytest.approx(3.375, rel=1e-15)
    # Paul (2007): (1 - phi/(l - 1)^2) / (1 + phi/(l - 1)) = (15/16) / (9/8) = 5/6 exactly
    assert spiked_covariance_overlap(3.0, 0.25) == pytest.approx(5 / 6, rel=1e-14)
    assert spiked_covariance_outlier(1.4, 0.25) is None  # threshold 1.5
    # BBP threshold 1 + sqrt(phi); at the threshold the outlier formula meets the MP edge
    for phi in (0.09, 0.25, 2.0):
        t = spiked_covariance_threshold(phi)
        assert t == pytest.approx(1 + phi**0.5, rel=1e-15)
        at = spiked_covariance_outlier(t * (1 + 1e-9), phi)
        assert at == pytest.approx((1 + phi**0.5) ** 2, rel=1e-8)
        assert spiked_covariance_overlap(t * (1 + 1e-9), phi) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("variance", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("theta", [-4.0, -1.5, 1.2, 2.0, 5.0])
def test_sp1_general_solver_reproduces_semicircle(variance: float, theta: float) -> None:
    law = Semicircle(variance)
    rho = bbp_outlier(law, theta)
    expected = semicircle_outlier(theta, variance)
    if expected is None:
        assert rho is None
        assert bbp_overlap(law, theta) == 0.0
    else:
        assert rho == pytest.approx(expected, rel=1e-10)
        assert bbp_overlap(law, theta) == pytest.approx(1 - variance / theta**2, abs=1e-9)
    assert bbp_threshold(law) == pytest.approx(np.sqrt(variance), rel=1e-12)
    assert bbp_threshold(law, "left") == pytest.approx(-np.sqrt(variance), rel=1e-12)


@pytest.mark.parametrize(("phi", "ell"), [(0.25, 3.0), (0.5, 1.5), (0.5, 1.8), (2.0, 4.0)])
def test_sp1_general_multiplicative_solver_reproduces_spiked_covariance(
    phi: float, ell: float
) -> None:
    law = MarchenkoPastur(phi)
    rho = bbp_outlier_multiplicative(law, ell)
    expected = spiked_covariance_outlier(ell, phi)
    if expected is None:
        assert rho is None
    else:
        assert rho == pytest.approx(expected, rel=1e-10)
        assert bbp_overlap_multiplicative(law, ell) == pytest.approx(
            spiked_covariance_overlap(ell, phi), abs=1e-9
        )


def test_general_solver_on_a_numerical_free_convolution() -> None:
    """sc(1) boxplus sc(1) = sc(2): outlier theta + 2/theta, overlap 1 - 2/theta^2, through the
    numerical Stieltjes transform of the convolution."""
    law = free_additive_convolution(Semicircle(1.0), Semicircle(1.0))
    assert bbp_outlier(law, 3.0) == pytest.approx(3 + 2 / 3, rel=1e-8)
    assert bbp_overlap(law, 3.0) == pytest.approx(1 - 2 / 9, abs=1e-6)
    assert bbp_outlier(law, 1.2) is None


def test_deformed_outliers_closed_form_and_scaled_law() -> None:
    for s in (0.5, 1.0, 2.0):
        z = deformed_outliers([3.0, 5.0, 0.1], Semicircle(1.0), s=s)
        assert z[0] == pytest.approx(3 + s * s / 3, rel=1e-10)
        assert z[1] == pytest.approx(5 + s * s / 5, rel=1e-10)
        assert z[2] is None
    sl = ScaledLaw(MarchenkoPastur(0.5), 2.0)
    assert sl.moment(2) == pytest.approx(4 * 1.5)
    assert sl.support() == pytest.approx((2 * (1 - 0.5**0.5) ** 2, 2 * (1 + 0.5**0.5) ** 2))


def _top(h: np.ndarray) -> tuple[float, np.ndarray]:
    """Top eigenpair by Lanczos (separated outlier: fast), deterministic start vector."""
    v0 = np.random.default_rng(0).standard_normal(h.shape[0])
    w, v = scipy.sparse.linalg.eigsh(h, k=1, which="LA", v0=v0, tol=1e-12)
    return float(w[0]), v[:, 0]


@pytest.mark.slow
def test_sp2_monte_carlo_wigner_and_covariance() -> None:
    h, v = E.spiked_wigner(2000, 2.0, rng=40, return_vectors=True)
    lam, u = _top(h)
    assert lam == pytest.approx(2.5, rel=0.02)
    assert float(u @ v[:, 0]) ** 2 == pytest.approx(0.75, abs=0.03)
    w, v = E.spiked_covariance(1000, 4000, 3.0, rng=41, return_vectors=True)
    lam, u = _top(w)
    assert lam == pytest.approx(3.375, rel=0.02)
    assert float(u @ v[:, 0]) ** 2 == pytest.approx(0.8333, abs=0.03)


def test_sp3_below_threshold_sticks_to_edge() -> None:
    """theta = 0.8 sigma, N = 1000: no predicted outlier; the top eigenvalue is within 4 SE of
    the edge (TW1 scale N^(-2/3) sd 1.27, mean shift -1.21 N^(-2/3))."""
    assert bbp_outlier(Semicircle(), 0.8) is None
    n = 1000
    h = E.spiked_wigner(n, 0.8, rng=42)
    lam, _ = _top(h)
    se = 1.27 * n ** (-2 / 3)
    assert abs(lam - (2 - 1.21 * n ** (-2 / 3))) < 4 * se


@pytest.mark.slow
def test_sp4_deformed_model_monte_carlo() -> None:
    """X = s GOE (N = 800), A = diag(3, 5, 0, ...): top eigenvalues within 2 % of
    theta + s^2/theta."""
    n = 800
    for s in (0.5, 1.0, 2.0):
        h = s * E.goe(n, rng=int(10 * s))
        h[0, 0] += 3.0
        h[1, 1] += 5.0
        v0 = np.random.default_rng(1).standard_normal(n)
        top = np.sort(scipy.sparse.linalg.eigsh(h, k=2, which="LA", v0=v0, tol=1e-10)[0])
        pred = deformed_outliers([3.0, 5.0], Semicircle(), s=s)
        assert top[1] == pytest.approx(pred[1], rel=0.02)
        assert top[0] == pytest.approx(pred[0], rel=0.02)


def test_bad_input() -> None:
    with pytest.raises(InputError, match="theta"):
        bbp_outlier(Semicircle(), float("nan"))
    with pytest.raises(InputError, match="side"):
        bbp_threshold(Semicircle(), "up")
