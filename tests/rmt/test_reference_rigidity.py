"""Oracle tests of the exact and asymptotic Sigma^2 / Delta_3 curves (docs/reference/oracles.md
§5)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from hessrmt.errors import InputError
from hessrmt.rmt import reference as ref

L_TABLE = np.array([1.0, 2.0, 5.0, 10.0, 20.0])
NV_EXACT = {  # docs/reference/oracles.md §5.3 (NV-1)
    1: ([0.4463, 0.5837, 0.7684, 0.9087, 1.0491], [0.0605, 0.1024, 0.1738, 0.2357, 0.3014]),
    2: ([0.3442, 0.4157, 0.5090, 0.5793, 0.6495], [0.0607, 0.0946, 0.1406, 0.1757, 0.2108]),
}
NV_ASYMPTOTIC = {  # docs/reference/oracles.md §5.3 (NV-2)
    1: ([0.4420, 0.5825, 0.7682, 0.9086, 1.0491], [-0.0070, 0.0633, 0.1561, 0.2263, 0.2966]),
    2: ([0.3460, 0.4163, 0.5091, 0.5793, 0.6496], [0.0590, 0.0941, 0.1406, 0.1757, 0.2108]),
}
GSE_ASYMPTOTIC = {
    2.0: (0.3057, 0.0959),
    5.0: (0.3522, 0.1191),
    10.0: (0.3873, 0.1366),
    20.0: (0.4224, 0.1542),
}


@pytest.mark.parametrize("beta", [1, 2])
def test_nv1_exact_table(beta):
    sigma2, d3 = NV_EXACT[beta]
    np.testing.assert_allclose(ref.number_variance_exact(L_TABLE, beta), sigma2, atol=1e-4)
    np.testing.assert_allclose(ref.delta3_exact(L_TABLE, beta), d3, atol=1e-4)


@pytest.mark.parametrize("beta", [1, 2])
def test_nv2_asymptotic_table(beta):
    sigma2, d3 = NV_ASYMPTOTIC[beta]
    np.testing.assert_allclose(ref.number_variance_asymptotic(L_TABLE, beta), sigma2, atol=1e-4)
    np.testing.assert_allclose(ref.delta3_asymptotic(L_TABLE, beta), d3, atol=1e-4)


def test_nv2_gse_asymptotic_table():
    for ell, (s2, d3) in GSE_ASYMPTOTIC.items():
        assert ref.number_variance_asymptotic(ell, 4) == pytest.approx(s2, abs=1e-4)
        assert ref.delta3_asymptotic(ell, 4) == pytest.approx(d3, abs=1e-4)


def test_poisson_exact():
    L = np.array([0.5, 3.0, 40.0])
    np.testing.assert_allclose(ref.number_variance_exact(L, 0), L)
    np.testing.assert_allclose(ref.delta3_exact(L, 0), L / 15)
    np.testing.assert_allclose(ref.number_variance_asymptotic(L, 0), L)
    np.testing.assert_allclose(ref.delta3_asymptotic(L, 0), L / 15)


def _sigma2_closed_form(L: np.ndarray, beta: int) -> np.ndarray:
    """Mehta (16.1.3)-(16.1.5): closed forms in the sine and cosine integrals."""

    def gue(x):
        si, ci = special.sici(2 * np.pi * x)
        log_part = np.log(2 * np.pi * x) + np.euler_gamma + 1 - np.cos(2 * np.pi * x) - ci
        return log_part / np.pi**2 + x * (1 - 2 / np.pi * si)

    if beta == 2:
        return gue(L)
    if beta == 1:
        si = special.sici(np.pi * L)[0] / np.pi
        return 2 * gue(L) + si**2 - si
    si = special.sici(2 * np.pi * L)[0] / np.pi
    return 0.5 * gue(2 * L) + si**2 / 4


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_sigma2_quadrature_matches_closed_form(beta):
    L = np.array([0.05, 0.3, 1.0, 2.7, 10.0, 55.5, 300.0])
    np.testing.assert_allclose(
        ref.number_variance_exact(L, beta), _sigma2_closed_form(L, beta), rtol=1e-11, atol=1e-12
    )


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_delta3_from_sigma2_pandey_identity(beta):
    """Delta_3(L) = (2/L^4) int_0^L (L^3 - 2 L^2 r + r^3) Sigma^2(r) dr, an independent route."""
    x, w = np.polynomial.legendre.leggauss(20)
    for ell in (0.7, 3.0, 12.0):
        edges = np.arange(0.0, ell, 0.5)
        widths = np.minimum(0.5, ell - edges)
        r = (edges[:, None] + widths[:, None] * (x + 1) / 2).ravel()
        wr = (widths[:, None] * w / 2).ravel()
        s2 = _sigma2_closed_form(r, beta)
        expected = 2 / ell**4 * np.sum(wr * (ell**3 - 2 * ell**2 * r + r**3) * s2)
        assert ref.delta3_exact(ell, beta) == pytest.approx(expected, abs=1e-11)


@pytest.mark.parametrize(("beta", "tail"), [(1, 2.0), (2, 1.0), (4, 0.5)])
def test_cluster_function_sum_rule(beta, tail):
    """int Y_2 = 1; on [-R, R] the deficit is tail/(pi^2 R) + O(R^-2) (mean of sin^2 is 1/2)."""
    x, w = np.polynomial.legendre.leggauss(20)
    R = 2000.0
    edges = np.arange(0.0, R, 0.5)
    r = (edges[:, None] + 0.25 * (x + 1)).ravel()
    total = 2 * np.sum(np.tile(0.25 * w, edges.size) * ref.cluster_function(r, beta))
    assert total + tail / (np.pi**2 * R) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_cluster_function_level_repulsion_exponent(beta):
    """1 - Y_2(r) ~ c r^beta at small r: the log-log slope is beta."""
    r = np.array([0.01, 0.02])
    one_minus = 1 - ref.cluster_function(r, beta)
    slope = np.log(one_minus[1] / one_minus[0]) / np.log(2)
    assert slope == pytest.approx(beta, abs=0.01)
    assert ref.cluster_function(0.0, beta) == pytest.approx(1.0, abs=1e-15)
    assert ref.cluster_function(-0.37, beta) == ref.cluster_function(0.37, beta)


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_exact_approaches_asymptotic_at_large_L(beta):
    L = np.array([100.0, 400.0])
    np.testing.assert_allclose(
        ref.number_variance_exact(L, beta), ref.number_variance_asymptotic(L, beta), atol=2e-3
    )
    np.testing.assert_allclose(ref.delta3_exact(L, beta), ref.delta3_asymptotic(L, beta), atol=2e-3)


def test_goe_delta3_asymptotic_is_bad_at_small_L():
    assert ref.delta3_exact(2.0, 1) - ref.delta3_asymptotic(2.0, 1) > 0.035


def test_shapes_and_errors():
    assert np.ndim(ref.number_variance_exact(2.0, 1)) == 0
    assert ref.delta3_exact(np.array([[1.0, 2.0]]), 2).shape == (1, 2)
    with pytest.raises(InputError, match="beta"):
        ref.number_variance_exact(1.0, 3)
    with pytest.raises(InputError, match="L"):
        ref.delta3_exact(0.0, 1)
    with pytest.raises(InputError, match="L"):
        ref.delta3_asymptotic(np.nan, 1)
