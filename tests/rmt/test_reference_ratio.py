"""Oracle tests of the spacing-ratio reference laws (docs/reference/oracles.md §4:
SR-1..SR-3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

from hessrmt.errors import InputError
from hessrmt.rmt import reference as ref

SQ3 = math.sqrt(3.0)
PI = math.pi


def _quad(f, a=0.0, b=np.inf) -> float:
    return integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-13, limit=400)[0]


def _pdf(beta, corrected=False):
    return lambda r: float(ref.ratio_pdf(r, beta, reduced=False, corrected=corrected))


# ---------------------------------------------------------------- SR-1


def test_sr1_normalisation_constants():
    assert ref.atas_z(1) == pytest.approx(8 / 27, rel=1e-12)
    assert ref.atas_z(2) == pytest.approx(4 * PI / (81 * SQ3), rel=1e-12)
    assert ref.atas_z(4) == pytest.approx(4 * PI / (729 * SQ3), rel=1e-12)


@pytest.mark.parametrize("beta", [0, 1, 2, 4, 1.5])
def test_sr1_surmise_integrates_to_one(beta):
    # split at 1: the integrand has a heavy r^(-2-beta) tail
    total = _quad(_pdf(beta), 0, 1) + _quad(_pdf(beta), 1, np.inf)
    assert total == pytest.approx(1.0, abs=1e-10)
    assert _quad(lambda r: float(ref.ratio_pdf(r, beta)), 0, 1) == pytest.approx(1.0, abs=1e-10)


def test_goe_surmise_explicit_form_and_symmetry():
    r = np.linspace(0.0, 20.0, 201)
    goe = 27 / 8 * (r + r * r) / (1 + r + r * r) ** 2.5
    np.testing.assert_allclose(ref.ratio_pdf(r, 1, reduced=False), goe, rtol=1e-12)
    r = np.linspace(0.05, 20.0, 100)
    for beta in (0, 1, 2, 4):
        for corrected in (False, True) if beta else (False,):
            p = ref.ratio_pdf(r, beta, reduced=False, corrected=corrected)
            p_inv = ref.ratio_pdf(1 / r, beta, reduced=False, corrected=corrected)
            np.testing.assert_allclose(p, p_inv / r**2, rtol=1e-12)
    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(ref.ratio_pdf(x, 0), 2 / (1 + x) ** 2, rtol=1e-14)
    assert ref.ratio_pdf(1.5, 1) == 0.0  # reduced ratio lives on [0, 1]


def test_sr1_surmise_means_closed_forms():
    assert ref.mean_reduced_ratio_surmise(0) == pytest.approx(2 * math.log(2) - 1, rel=1e-12)
    assert ref.mean_reduced_ratio_surmise(1) == pytest.approx(4 - 2 * SQ3, rel=1e-10)
    assert ref.mean_reduced_ratio_surmise(2) == pytest.approx(2 * SQ3 / PI - 0.5, rel=1e-10)
    assert ref.mean_reduced_ratio_surmise(4) == pytest.approx(32 * SQ3 / (15 * PI) - 0.5, rel=1e-10)
    assert ref.mean_ratio_surmise(1) == pytest.approx(7 / 4, rel=1e-10)
    assert ref.mean_ratio_surmise(2) == pytest.approx(27 * SQ3 / (8 * PI) - 0.5, rel=1e-10)
    assert ref.mean_ratio_surmise(4) == pytest.approx(243 * SQ3 / (80 * PI) - 0.5, rel=1e-10)
    assert ref.mean_ratio_surmise(0) == math.inf


def test_surmise_mean_by_independent_quadrature():
    for beta in (1.5, 3.0):
        pdf = _pdf(beta)
        expected = 2 * _quad(lambda r, pdf=pdf: r * pdf(r), 0, 1)
        assert ref.mean_reduced_ratio_surmise(beta) == pytest.approx(expected, abs=1e-11)


# ---------------------------------------------------------------- SR-2


def test_sr2_conditional_means():
    expected = {0: 1.637685, 1: 1.460340, 2: 1.316627, 4: 1.172924}
    for beta, value in expected.items():
        assert ref.conditional_mean_ratio(beta, 10.0) == pytest.approx(value, abs=1e-6)
    assert (math.log(11) + 1 / 11 - 1) * 11 / 10 == pytest.approx(1.637685, abs=1e-6)


# ---------------------------------------------------------------- SR-3


def test_sr3_correction_constants():
    for beta, c in {1: 2.659792, 2: 2.409940, 4: 2.228991}.items():
        assert ref.atas_c_small(beta) == pytest.approx(c, abs=1e-6)


@pytest.mark.parametrize("beta", [1, 2, 4])
def test_sr3_correction_integrates_to_zero(beta):
    total = _quad(_pdf(beta, True), 0, 1) + _quad(_pdf(beta, True), 1, np.inf)
    assert total == pytest.approx(1.0, abs=1e-9)


def test_sr3_corrected_means_match_large_n():
    expected = {1: 0.530745, 2: 0.599692, 4: 0.674452}
    large_n = {1: "goe", 2: "gue", 4: "gse"}
    for beta, value in expected.items():
        got = ref.mean_reduced_ratio(beta, corrected=True)
        assert got == pytest.approx(value, abs=1e-6)
        assert got == pytest.approx(ref.MEAN_REDUCED_RATIO[large_n[beta]], abs=1e-4)
        # and the plain surmise is ~1 % off (the reason to use the correction)
        assert abs(ref.mean_reduced_ratio_surmise(beta) - got) > 1.5e-3


def test_mean_tables():
    assert ref.MEAN_REDUCED_RATIO == {
        "poisson": pytest.approx(0.386294, abs=1e-6),
        "goe": 0.5307,
        "gue": 0.5996,
        "gse": 0.6744,
    }
    assert ref.MEAN_RATIO["goe"] == 1.7781
    assert ref.ATAS_C == {1: 0.233378, 2: 0.578846, 4: 3.60123}


# ---------------------------------------------------------------- cdfs


@pytest.mark.parametrize(("beta", "corrected"), [(0, False), (1, False), (2, True), (4, True)])
def test_cdf_is_integral_of_pdf(beta, corrected):
    for x in (0.0, 0.2, 0.7, 1.0):
        expected = _quad(lambda r: float(ref.ratio_pdf(r, beta, corrected=corrected)), 0, x)
        assert ref.ratio_cdf(x, beta, corrected=corrected) == pytest.approx(expected, abs=1e-12)
    for x in (0.5, 1.0, 3.0, 40.0):
        expected = _quad(_pdf(beta, corrected), 0, min(x, 1.0))
        if x > 1:
            expected += _quad(_pdf(beta, corrected), 1.0, x)
        got = ref.ratio_cdf(x, beta, reduced=False, corrected=corrected)
        assert got == pytest.approx(expected, abs=1e-11)


def test_cdf_general_beta_and_poisson_closed_forms():
    x = np.linspace(0, 1, 7)
    np.testing.assert_allclose(ref.ratio_cdf(x, 0), 2 * x / (1 + x), rtol=1e-14)
    r = np.array([0.0, 0.5, 2.0, 9.0])
    np.testing.assert_allclose(ref.ratio_cdf(r, 0, reduced=False), r / (1 + r), rtol=1e-14)
    expected = _quad(lambda t: float(ref.ratio_pdf(t, 2.5)), 0, 0.6)
    assert ref.ratio_cdf(0.6, 2.5) == pytest.approx(expected, abs=1e-10)
    assert ref.ratio_cdf(1.0, 1) == pytest.approx(1.0, abs=1e-13)
    assert ref.ratio_cdf(-0.1, 1) == 0.0 and ref.ratio_cdf(2.0, 1) == 1.0


@pytest.mark.parametrize("beta", [0, 1, 2, 4])
def test_interpolant_matches_quadrature(beta, rng):
    x = rng.uniform(0, 1, 300)
    for corrected in (False, True) if beta else (False,):
        np.testing.assert_allclose(
            ref.ratio_cdf(x, beta, corrected=corrected),
            ref.ratio_cdf(x, beta, corrected=corrected, method="direct"),
            atol=1e-13,
        )


def test_corrected_density_nonnegative():
    r = np.linspace(0, 1, 2001)
    for beta in (1, 2, 4):
        assert np.all(ref.ratio_pdf(r, beta, corrected=True) >= 0)


def test_extreme_arguments_give_limits_without_warnings():
    r = np.array([0.0, 1e80, 1e300, np.inf])
    for beta in (0, 1, 4):
        for corrected in (False, True) if beta else (False,):
            pdf = ref.ratio_pdf(r, beta, reduced=False, corrected=corrected)
            cdf = ref.ratio_cdf(r, beta, reduced=False, corrected=corrected)
            assert np.all(np.isfinite(pdf)) and np.all(pdf[2:] == 0.0)
            np.testing.assert_array_equal(cdf, [0.0, 1.0, 1.0, 1.0])


def test_bad_input():
    with pytest.raises(InputError, match="correction"):
        ref.ratio_pdf(0.5, 1.5, corrected=True)
    with pytest.raises(InputError, match="beta"):
        ref.ratio_cdf(0.5, -1)
    with pytest.raises(InputError, match="r_max"):
        ref.conditional_mean_ratio(1, 0.0)
    with pytest.raises(InputError, match="complex"):
        ref.ratio_pdf(np.array([0.5j]), 1)


# ---------------------------------------------------------------- properties


@given(
    st.lists(st.floats(min_value=-0.5, max_value=30.0, allow_nan=False), min_size=2, max_size=30),
    st.sampled_from([0, 1, 2, 4]),
    st.booleans(),
    st.booleans(),
)
def test_property_ratio_laws_valid(r, beta, reduced, corrected):
    corrected = corrected and beta > 0
    r = np.sort(np.asarray(r))
    pdf = ref.ratio_pdf(r, beta, reduced=reduced, corrected=corrected)
    cdf = ref.ratio_cdf(r, beta, reduced=reduced, corrected=corrected)
    assert np.all(pdf >= 0) and np.all(np.isfinite(pdf))
    assert np.all((cdf >= 0) & (cdf <= 1))
    assert np.all(np.diff(cdf) >= -1e-14)
