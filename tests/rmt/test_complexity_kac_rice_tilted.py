"""Importance-sampled finite-N Kac-Rice inside the band (rmt.complexity.kac_rice_tilted):
exact integrals of the GOE eigenvalue density at N = 2 and 3, agreement with plain sampling
where that has hits, convergence to ABC's Theta_{1,p} where plain sampling gives -inf
(docs/reference/spin-glass.md section 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from hessrmt.errors import InputError
from hessrmt.rmt.complexity import abc
from hessrmt.rmt.complexity.kac_rice import finite_n_complexity, goe_spectra
from hessrmt.rmt.complexity.kac_rice_tilted import log_mehta_z, tilted_expectation

C3 = 1.0 / 6.0  # c = (p - 2)/(2p) at p = 3


def test_mehta_constant() -> None:
    # int int |x - y| exp(-(x^2 + y^2)/2) = 2 pi E|X - Y| = 4 sqrt(pi); and the N-scaling
    assert math.exp(log_mehta_z(2, 1)) == pytest.approx(4 * math.sqrt(math.pi), rel=1e-12)
    val, _ = integrate.dblquad(
        lambda y, x: abs(x - y) * math.exp(-2.5 * (x * x + y * y)), -6, 6, -6, 6, epsabs=1e-12
    )
    assert math.log(val) == pytest.approx(log_mehta_z(2, 5), abs=1e-6)  # quad of a kink


def _exact_n3(k: int, a: float) -> float:
    """ln E[exp(-3 c lambda_k^2) 1{lambda_k <= a}] at N = 3 by direct integration of the
    ordered joint density 3! |Delta| exp(-(3/2) sum l^2) / Z_3."""

    def f(l0: float, l1: float, l2: float) -> float:
        lam = (l0, l1, l2)
        dens = abs((l1 - l0) * (l2 - l0) * (l2 - l1)) * math.exp(
            -1.5 * (l0 * l0 + l1 * l1 + l2 * l2)
        )
        return dens * math.exp(-3 * C3 * lam[k] ** 2)

    big = 8.0
    opts = {"epsabs": 1e-13}
    if k == 0:
        lims = [lambda l1, l0: (l1, big), lambda l0: (l0, big), (-big, a)]
        val = integrate.nquad(lambda l2, l1, l0: f(l0, l1, l2), lims, opts=opts)[0]
    elif k == 1:
        lims = [lambda l2, l1: (-big, l1), lambda l1: (l1, big), (-big, a)]
        val = integrate.nquad(lambda l0, l2, l1: f(l0, l1, l2), lims, opts=opts)[0]
    else:
        lims = [lambda l1, l2: (-big, l1), lambda l2: (-big, l2), (-big, a)]
        val = integrate.nquad(lambda l0, l1, l2: f(l0, l1, l2), lims, opts=opts)[0]
    return math.log(6 * val) - log_mehta_z(3, 3)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_tilted_equals_the_exact_integral_at_n3(k: int) -> None:
    levels = np.array([-1.6, -0.5])
    est, se, hits = tilted_expectation(3, k, levels, C3, samples=20000, rng=11 + k)
    for a, e, s, h in zip(levels, est, se, hits, strict=True):
        exact = _exact_n3(k, float(a))
        assert h > 10000
        assert abs(e - exact) < 4 * s + 2e-3, (k, a, e, exact, s)


def test_tilted_equals_the_exact_integral_at_n2_with_no_bulk() -> None:
    # N = 2, k = 1: both eigenvalues proposed (no bulk); E[exp(-2c l_max^2) 1{l_max <= a}]
    a = -1.2
    val, _ = integrate.dblquad(
        lambda l0, l1: (l1 - l0) * math.exp(-(l0 * l0 + l1 * l1) - 2 * C3 * l1 * l1),
        -9, a, -9, lambda l1: l1, epsabs=1e-14,
    )  # fmt: skip
    exact = math.log(2 * val) - log_mehta_z(2, 2)
    est, se, _ = tilted_expectation(2, 1, a, C3, samples=40000, rng=3)
    assert abs(est[0] - exact) < 4 * se[0] + 1e-3


def test_tilted_agrees_with_plain_sampling_where_that_has_hits() -> None:
    n, k, a = 10, 1, -1.3
    lam = goe_spectra(n, 30000, kmax=k, rng=2)[:, k]
    vals = np.exp(-n * C3 * lam**2) * (lam <= a)
    plain = math.log(vals.mean())
    plain_se = vals.std(ddof=1) / math.sqrt(vals.size) / vals.mean()
    est, se, _ = tilted_expectation(n, k, a, C3, samples=8000, rng=4)
    assert abs(est[0] - plain) < 4 * math.hypot(se[0], plain_se)


def test_finite_n_curve_for_k1_exists_inside_the_band_and_approaches_abc() -> None:
    """p = 3, k = 1 at u = -(E_0 + E_inf)/2: plain sampling of 1,000 spectra gives -inf (no hit)
    at N >= 50, the tilted estimate is finite with a small interval, and its gap to
    Theta_{1,3}(u) shrinks like ~1/N (docs/reproductions/spin-glass.md)."""
    p, k = 3, 1
    u = np.array([-(abc.threshold(p, 0) + abc.e_inf(p)) / 2])
    ns = [25, 50, 100]
    gaps = []
    for i, n in enumerate(ns):
        plain = finite_n_complexity(n, p, u, k=k, samples=1000, rng=20 + i, method="plain")
        tilted = finite_n_complexity(n, p, u, k=k, samples=1000, rng=20 + i)
        assert tilted.tilted.all()
        if n >= 50:
            assert plain.hits[0] == 0 and plain.theta[0] == -math.inf
        assert np.isfinite(tilted.theta[0]) and tilted.stderr[0] < 0.01
        gaps.append(float(abc.theta_k(u, p, k)[0] - tilted.theta[0]))
    gaps = np.array(gaps)
    assert np.all(gaps > 0) and np.all(np.diff(gaps) < 0), gaps
    slope = np.polyfit(np.log(ns), np.log(gaps), 1)[0]
    assert -1.3 < slope < -0.7, (gaps, slope)


def test_auto_method_and_bad_input() -> None:
    u = np.array([-1.7, -1.64, -1.0])  # s u = -1.47, -1.42 (band), -0.87 (bulk) at p = 3
    r = finite_n_complexity(20, 3, u, k=1, samples=200, rng=0)
    np.testing.assert_array_equal(r.tilted, [True, True, False])
    r0 = finite_n_complexity(20, 3, u, k=0, samples=200, rng=0)
    assert not r0.tilted.any()
    # just above the band's edge plain sampling can still miss the event: auto switches there
    uu = np.array([-1.7, -1.6, -1.55, -1.0])
    plain = finite_n_complexity(100, 3, uu, k=1, samples=300, rng=5, method="plain")
    auto = finite_n_complexity(100, 3, uu, k=1, samples=300, rng=5)
    expect = (math.sqrt(0.75) * uu < -math.sqrt(2)) | (plain.hits < min(30, 0.05 * 300))
    np.testing.assert_array_equal(auto.tilted, expect)
    assert np.all(np.isfinite(auto.theta))
    with pytest.raises(InputError, match="method"):
        finite_n_complexity(20, 3, u, k=1, samples=200, rng=0, method="magic")
    with pytest.raises(InputError, match="index k"):
        finite_n_complexity(20, 3, u, k=None, samples=200, rng=0, method="tilted")
    with pytest.raises(InputError):
        tilted_expectation(5, 5, -1.5, C3)
