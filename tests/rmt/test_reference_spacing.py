"""Oracle tests of the spacing reference laws (docs/reference/oracles.md §2-§3: WS-1..3,
GM-1..2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

from hessrmt.errors import InputError
from hessrmt.rmt import reference as ref
from hessrmt.rmt import reference_spacing as rs

SURMISE_TABLE = {  # docs/reference/oracles.md §3, surmise columns at s = 0.5, 1, 1.5, 2
    1: [0.6454, 0.7162, 0.4025, 0.1358],
    2: [0.5896, 0.9076, 0.4158, 0.0796],
    4: [0.4116, 1.2059, 0.3605, 0.0217],
}
EXACT_TABLE = {  # docs/reference/oracles.md §3, exact columns
    1: [0.6562, 0.7018, 0.3931, 0.1392],
    2: [0.5932, 0.9029, 0.4146, 0.0813],
    4: [0.4105, 1.2076, 0.3604, 0.0212],
}
S_TABLE = np.array([0.5, 1.0, 1.5, 2.0])


def _quad(f, a=0.0, b=np.inf) -> float:
    return integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-13, limit=200)[0]


# ---------------------------------------------------------------- Wigner surmise (WS-1..3)


@pytest.mark.parametrize("beta", [1, 2, 4, 0.5, 3.0])
def test_ws1_surmise_normalised_unit_mean(beta):
    assert _quad(lambda s: ref.wigner_surmise_pdf(s, beta)) == pytest.approx(1.0, abs=1e-10)
    assert _quad(lambda s: s * ref.wigner_surmise_pdf(s, beta)) == pytest.approx(1.0, abs=1e-10)
    var = _quad(lambda s: s * s * ref.wigner_surmise_pdf(s, beta)) - 1.0
    assert ref.wigner_surmise_variance(beta) == pytest.approx(var, abs=1e-10)


def test_ws1_surmise_variances_closed_form():
    expected = {1: 4 / math.pi - 1, 2: 3 * math.pi / 8 - 1, 4: 45 * math.pi / 128 - 1}
    for beta, v in expected.items():
        assert ref.wigner_surmise_variance(beta) == pytest.approx(v, rel=1e-12)
        assert ref.SURMISE_VARIANCE[beta] == pytest.approx(v, rel=1e-15)
    assert [round(expected[b], 6) for b in (1, 2, 4)] == [0.27324, 0.178097, 0.104466]


def test_ws1_surmise_explicit_forms():
    s = np.linspace(0.0, 4.0, 41)
    pi = math.pi
    goe = pi / 2 * s * np.exp(-pi * s**2 / 4)
    gue = 32 / pi**2 * s**2 * np.exp(-4 * s**2 / pi)
    gse = 2**18 / (3**6 * pi**3) * s**4 * np.exp(-64 * s**2 / (9 * pi))
    np.testing.assert_allclose(ref.wigner_surmise_pdf(s, 1), goe, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(ref.wigner_surmise_pdf(s, 2), gue, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(ref.wigner_surmise_pdf(s, 4), gse, rtol=1e-12, atol=1e-300)
    assert 2**18 / (3**6 * pi**3) == pytest.approx(11.597457, abs=1e-6)


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_ws2_surmise_table(beta):
    np.testing.assert_allclose(
        ref.wigner_surmise_pdf(S_TABLE, beta), SURMISE_TABLE[beta], atol=1e-4
    )


@pytest.mark.parametrize("beta", [1, 2, 4, 1.7])
def test_surmise_cdf_is_integral_of_pdf(beta):
    for x in (0.0, 0.3, 1.0, 2.2, 5.0):
        expected = _quad(lambda s: ref.wigner_surmise_pdf(s, beta), 0.0, x)
        assert ref.wigner_surmise_cdf(x, beta) == pytest.approx(expected, abs=1e-12)


def test_ws3_brody_limits():
    s = np.linspace(0.0, 6.0, 61)
    np.testing.assert_allclose(ref.brody_pdf(s, 0.0), np.exp(-s), rtol=1e-12)
    np.testing.assert_allclose(ref.brody_pdf(s, 1.0), ref.wigner_surmise_pdf(s, 1), rtol=1e-12)
    np.testing.assert_allclose(ref.brody_cdf(s, 0.0), 1 - np.exp(-s), rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(
        ref.brody_cdf(s, 1.0), ref.wigner_surmise_cdf(s, 1), rtol=1e-12, atol=1e-16
    )
    np.testing.assert_allclose(ref.poisson_spacing_pdf(s), np.exp(-s), rtol=1e-15)
    np.testing.assert_allclose(ref.poisson_spacing_cdf(s), -np.expm1(-s), rtol=1e-15)


@pytest.mark.parametrize("q", [0.25, 0.5, 2.0])
def test_brody_unit_mean_and_cdf(q):
    assert _quad(lambda s: ref.brody_pdf(s, q)) == pytest.approx(1.0, abs=1e-10)
    assert _quad(lambda s: s * ref.brody_pdf(s, q)) == pytest.approx(1.0, abs=1e-10)
    x = 1.3
    assert ref.brody_cdf(x, q) == pytest.approx(_quad(lambda s: ref.brody_pdf(s, q), 0, x))


def test_scalar_in_scalar_out_and_negative_support():
    assert np.ndim(ref.wigner_surmise_pdf(1.0, 1)) == 0
    assert ref.wigner_surmise_pdf(-1.0, 1) == 0.0
    assert ref.wigner_surmise_cdf(-1.0, 1) == 0.0
    assert ref.gaudin_pdf(-0.5, 2) == 0.0 and ref.gaudin_cdf(-0.5, 2) == 0.0
    assert ref.gaudin_pdf(50.0, 1) == 0.0 and ref.gaudin_cdf(50.0, 1) == 1.0
    assert ref.poisson_spacing_pdf(-1.0) == 0.0
    assert np.isnan(ref.gaudin_pdf(np.nan, 1))


# ---------------------------------------------------------------- exact Gaudin law (GM-1, GM-2)


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_gm1_gap_probability_at_zero(beta):
    assert ref.gap_probability(0.0, beta, method="direct") == pytest.approx(1.0, abs=1e-14)
    # cdf = 1 + E'(0) = 0  <=>  -E'(0) = 1 (unit mean density)
    assert ref.gaudin_cdf(0.0, beta, method="direct") == pytest.approx(0.0, abs=1e-12)
    assert ref.gaudin_pdf(0.0, beta, method="direct") == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_gm1_density_integrates_to_one_with_unit_mean(beta):
    x, w = np.polynomial.legendre.leggauss(120)
    s_max = ref.GAUDIN_S_MAX[beta]
    s = (x + 1) * s_max / 2
    w = w * s_max / 2
    p = ref.gaudin_pdf(s, beta, method="direct")
    assert np.sum(w * p) == pytest.approx(1.0, abs=1e-8)
    assert np.sum(w * s * p) == pytest.approx(1.0, abs=1e-8)
    # GM-2 variance from the density itself (independent of 2 int E - 1)
    assert np.sum(w * s * s * p) - 1.0 == pytest.approx(ref.GAUDIN_VARIANCE[beta], abs=1e-5)


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_gm2_table_and_variance(beta):
    np.testing.assert_allclose(ref.gaudin_pdf(S_TABLE, beta), EXACT_TABLE[beta], atol=1e-4)
    np.testing.assert_allclose(
        ref.gaudin_pdf(S_TABLE, beta, method="direct"), EXACT_TABLE[beta], atol=1e-4
    )
    assert ref.gaudin_variance(beta) == pytest.approx(
        {1: 0.28553, 2: 0.17999, 4: 0.10410}[beta], abs=1e-5
    )


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_analytic_derivatives_match_finite_differences(beta):
    """E' and E'' from the trace formulas agree with 4th-order differences of E itself."""
    s = np.array([0.4, 1.1, 2.3])
    h = 1e-3
    e = [np.asarray(ref.gap_probability(s + k * h, beta, method="direct")) for k in (-2, -1, 1, 2)]
    d1 = (e[0] - 8 * e[1] + 8 * e[2] - e[3]) / (12 * h)
    e0 = np.asarray(ref.gap_probability(s, beta, method="direct"))
    d2 = (-e[0] + 16 * e[1] - 30 * e0 + 16 * e[2] - e[3]) / (12 * h * h)
    np.testing.assert_allclose(ref.gaudin_cdf(s, beta, method="direct") - 1.0, d1, atol=1e-10)
    np.testing.assert_allclose(ref.gaudin_pdf(s, beta, method="direct"), d2, atol=1e-7)


def test_nystrom_converged():
    """m = 60 nodes and m = 100 nodes agree to round-off at the far end of each range."""
    for beta in (1, 2, 4):
        s = np.array([1.0, ref.GAUDIN_S_MAX[beta] - 0.5])
        a = np.array(rs._gap_direct(s, beta, 60))
        b = np.array(rs._gap_direct(s, beta, 100))
        np.testing.assert_allclose(a, b, atol=1e-14)


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_interpolant_matches_direct_evaluation(beta, rng):
    s = rng.uniform(0.0, ref.GAUDIN_S_MAX[beta], 150)
    for fun in (ref.gaudin_pdf, ref.gaudin_cdf, ref.gap_probability):
        np.testing.assert_allclose(fun(s, beta), fun(s, beta, method="direct"), atol=2e-13)


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_tail_beyond_cutoff_is_negligible(beta):
    e, e1, e2 = rs._gap_direct(np.array([ref.GAUDIN_S_MAX[beta]]), beta, 60)
    assert abs(e2[0]) < 1e-17  # density at the cut-off
    assert abs(e1[0]) < 1e-16  # 1 - cdf at the cut-off
    assert abs(e[0]) < 1e-17


def test_gaudin_differs_from_surmise_as_documented():
    s = np.linspace(0, 5, 2001)
    gap = np.max(np.abs(ref.gaudin_cdf(s, 1) - ref.wigner_surmise_cdf(s, 1)))
    assert 0.004 < gap < 0.01  # ~2 % pointwise in the density, see §3


def test_nnn_law_is_rescaled_gse():
    assert _quad(lambda s: ref.nnn_spacing_pdf(s), 0, 12) == pytest.approx(1.0, abs=1e-8)
    assert _quad(lambda s: s * ref.nnn_spacing_pdf(s), 0, 12) == pytest.approx(2.0, abs=1e-8)
    assert ref.nnn_spacing_cdf(2.0) == pytest.approx(ref.gaudin_cdf(1.0, 4), abs=1e-15)
    assert ref.nnn_spacing_pdf(2.0, exact=False) == pytest.approx(
        ref.wigner_surmise_pdf(1.0, 4) / 2, rel=1e-14
    )


def test_extreme_arguments_give_limits_without_warnings():
    s = np.array([1e4, 1e200, np.inf])
    for beta in (1, 4, 100.0):
        assert np.all(ref.wigner_surmise_pdf(s, beta) == 0.0)
        assert np.all(ref.wigner_surmise_cdf(s, beta) == 1.0)
    for q in (0.0, 0.5):
        assert np.all(ref.brody_pdf(s, q) == 0.0)
        assert np.all(ref.brody_cdf(s, q) == 1.0)
    assert ref.brody_pdf(0.0, 0.0) == 1.0 and ref.brody_pdf(0.0, 0.5) == 0.0
    for beta in (1, 2, 4):
        assert np.all(ref.gaudin_pdf(s, beta) == 0.0)
        assert np.all(ref.gaudin_cdf(s, beta) == 1.0)
    assert np.all(ref.poisson_spacing_pdf(s) == 0.0)


def test_bad_input_raises_input_error():
    with pytest.raises(InputError, match="beta"):
        ref.gaudin_pdf(1.0, 3)
    with pytest.raises(InputError, match="beta"):
        ref.wigner_surmise_pdf(1.0, -1.0)
    with pytest.raises(InputError, match="complex"):
        ref.gaudin_cdf(np.array([1.0 + 1j]), 1)
    with pytest.raises(InputError, match="method"):
        ref.gaudin_cdf(1.0, 1, method="spline")
    with pytest.raises(InputError, match="Brody"):
        ref.brody_pdf(1.0, -0.5)


# ---------------------------------------------------------------- properties

_s_arrays = st.lists(
    st.floats(min_value=-1.0, max_value=12.0, allow_nan=False), min_size=2, max_size=30
)


@given(_s_arrays, st.floats(min_value=0.1, max_value=6.0), st.floats(min_value=0.0, max_value=3.0))
def test_property_surmise_and_brody_valid(s, beta, q):
    s = np.sort(np.asarray(s))
    for pdf, cdf in (
        (ref.wigner_surmise_pdf(s, beta), ref.wigner_surmise_cdf(s, beta)),
        (ref.brody_pdf(s, q), ref.brody_cdf(s, q)),
    ):
        assert np.all(pdf >= 0) and np.all(np.isfinite(pdf))
        assert np.all((cdf >= 0) & (cdf <= 1))
        assert np.all(np.diff(cdf) >= -1e-15)


@given(_s_arrays, st.sampled_from([1, 2, 4]))
def test_property_gaudin_valid(s, beta):
    s = np.sort(np.asarray(s))
    pdf = ref.gaudin_pdf(s, beta)
    cdf = ref.gaudin_cdf(s, beta)
    assert np.all(pdf >= -1e-14)
    assert np.all((cdf >= 0) & (cdf <= 1))
    assert np.all(np.diff(cdf) >= -1e-14)
