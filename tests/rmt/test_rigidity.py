"""Tests of the empirical Sigma^2(L) and Delta_3(L) (and Monte Carlo checks of the reference laws).

Monte Carlo spectra come from a small, self-contained sampler (Dumitriu-Edelman tridiagonal
beta-Hermite, analytic semicircle unfolding), independent of hessrmt.rmt.ensembles.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from scipy.linalg import eigvalsh_tridiagonal

from hessrmt.errors import InputError
from hessrmt.rmt import reference as ref
from hessrmt.rmt import rigidity as rig


@functools.lru_cache(maxsize=4)
def de_unfolded(beta: int, n: int, count: int, seed: int) -> np.ndarray:
    """(count, n) unfolded beta-Hermite spectra.

    H = (1/sqrt 2) tridiag(N(0, 2) diagonal; chi_{beta(n-1)}, ..., chi_beta off-diagonal) has
    semicircle radius R = sqrt(2 beta n); level x is unfolded to n F_sc(x / R) with
    F_sc(u) = 1/2 + (u sqrt(1 - u^2) + arcsin u)/pi.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((count, n))
    for i in range(count):
        diag = rng.normal(0.0, 1.0, n)  # N(0, 2)/sqrt(2)
        off = np.sqrt(rng.chisquare(beta * np.arange(n - 1, 0, -1))) / np.sqrt(2.0)
        lam = eigvalsh_tridiagonal(diag, off, lapack_driver="sterf")
        u = np.clip(lam / np.sqrt(2.0 * beta * n), -1.0, 1.0)
        out[i] = n * (0.5 + (u * np.sqrt(1.0 - u * u) + np.arcsin(u)) / np.pi)
    return out


def _bulk(beta: int) -> np.ndarray:
    """N = 2000, 40 spectra, central 60 % of the levels."""
    return de_unfolded(beta, 2000, 40, 20261123 + beta)[:, 400:1600]


def _grid_delta(levels: np.ndarray, a: float, ell: float, n: int = 200_001) -> float:
    """Brute force: least-squares line fit of the staircase on a fine grid of [a, a + L]."""
    y = np.linspace(a, a + ell, n)
    stair = np.searchsorted(levels, y, side="right").astype(float)
    design = np.vstack([np.ones_like(y), y]).T
    coef = np.linalg.lstsq(design, stair, rcond=None)[0]
    resid = stair - design @ coef
    w = np.full(n, 1.0)
    w[0] = w[-1] = 0.5  # trapezoid rule
    return float(np.sum(w * resid**2) / (n - 1))


# ---------------------------------------------------------------- exact small cases


def test_delta3_window_matches_brute_force(rng):
    levels = np.sort(rng.uniform(0, 60, 60))
    for a, ell in [(3.3, 5.0), (10.1, 12.0), (20.0, 0.7), (40.5, 19.0)]:
        assert rig.delta3_window(levels, a, ell) == pytest.approx(
            _grid_delta(levels, a, ell), abs=2e-5, rel=1e-4
        )


def test_picket_fence_closed_forms():
    """Levels at the integers: per window Delta = 1/12 - 3 B2(phi)^2 / L^2 (integer L), where
    phi = ceil(a) - a and B2(phi) = phi^2 - phi + 1/6; averaged over phi: 1/12 - 1/(60 L^2).
    Sigma^2 = p (1 - p) with p = frac(L)."""
    x = np.arange(0.0, 401.0)
    a = np.array([10.0, 10.25, 10.5, 33.9])
    for ell in (2.0, 7.0):
        phi = np.ceil(a) - a
        b2 = phi**2 - phi + 1 / 6
        np.testing.assert_allclose(
            rig.delta3_window(x, a, ell), 1 / 12 - 3 * b2**2 / ell**2, atol=1e-12
        )
        span = (0.0, 300.0 + ell)  # window starts cover exactly 300 periods
        assert rig.delta3(x, ell, span=span) == pytest.approx(1 / 12 - 1 / (60 * ell**2), abs=1e-12)
        assert rig.number_variance(x, ell, span=span) == pytest.approx(0.0, abs=1e-12)
    for ell in (1.5, 3.25):
        p = ell % 1.0
        span = (0.0, 300.0 + ell)
        assert rig.number_variance(x, ell, span=span) == pytest.approx(p * (1 - p), abs=1e-12)


def test_continuous_average_matches_dense_grid_of_window_starts(rng):
    levels = np.sort(rng.uniform(0, 80, 80))
    for ell in (1.0, 4.0, 15.0):
        starts = np.linspace(levels[0], levels[-1] - ell, 100_001)
        counts = np.searchsorted(levels, starts + ell) - np.searchsorted(levels, starts)
        assert rig.number_variance(levels, ell) == pytest.approx(counts.var(), rel=2e-3)
        grid_d3 = rig.delta3_window(levels, starts, ell).mean()
        assert rig.delta3(levels, ell) == pytest.approx(grid_d3, rel=1e-4)


# ---------------------------------------------------------------- Poisson (iid uniform levels)


def test_poisson_levels_give_L_and_L_over_15(rng):
    """40 spectra of 2000 iid uniform levels on [0, 2000] (density 1).

    With a fixed number of points the count in a window is binomial: Sigma^2 = L (1 - L/N).
    """
    n, count = 2000, 40
    levels = rng.uniform(0.0, n, (count, n))
    ell = np.array([1.0, 5.0, 20.0])
    nv = rig.number_variance(levels, ell, per_spectrum=True)
    d3 = rig.delta3(levels, ell, per_spectrum=True)
    se_nv = nv.std(axis=0, ddof=1) / np.sqrt(count)
    se_d3 = d3.std(axis=0, ddof=1) / np.sqrt(count)
    assert np.all(np.abs(nv.mean(axis=0) - ell * (1 - ell / n)) <= 4 * se_nv)
    assert np.all(np.abs(d3.mean(axis=0) - ell / 15) <= 4 * se_d3 + 2e-3 * ell / 15)
    # discriminating: GOE-like values are far away
    assert np.all(np.abs(d3.mean(axis=0) - ref.delta3_exact(ell, 1)) > 8 * se_d3)


# ---------------------------------------------------------------- NV-3 and GM-3 Monte Carlo


@pytest.mark.slow
@pytest.mark.parametrize("beta", [1, 4])
def test_nv3_mc_against_exact_N2000_40spectra_central60(beta):
    """DE tridiagonal, N = 2000, 40 spectra, central 60 % of levels, analytic unfolding."""
    levels = _bulk(beta)
    ell = np.array([2.0, 5.0, 10.0])
    nv = rig.number_variance(levels, ell, per_spectrum=True)
    d3 = rig.delta3(levels, ell, per_spectrum=True)
    se_nv = nv.std(axis=0, ddof=1) / np.sqrt(len(nv))
    se_d3 = d3.std(axis=0, ddof=1) / np.sqrt(len(d3))
    exact_nv = ref.number_variance_exact(ell, beta)
    exact_d3 = ref.delta3_exact(ell, beta)
    # docs/reference/oracles.md NV-3 tolerances (0.015 / 0.005), and 4 SE
    assert np.all(np.abs(nv.mean(axis=0) - exact_nv) <= np.minimum(0.015, 4 * se_nv + 0.002))
    assert np.all(np.abs(d3.mean(axis=0) - exact_d3) <= np.minimum(0.005, 4 * se_d3 + 5e-4))
    if beta == 1:  # the log asymptotics of GOE Delta_3 at L = 2 are rejected
        assert abs(d3.mean(axis=0)[0] - ref.delta3_asymptotic(2.0, 1)) > 20 * se_d3[0]


@pytest.mark.slow
@pytest.mark.parametrize("beta", [1, 4])
def test_gm3_mc_spacings_follow_exact_gaudin_law(beta):
    """Same spectra: unfolded bulk spacings against the exact law (KS and variance)."""
    levels = _bulk(beta)
    s = np.diff(levels, axis=1)
    ks = stats.kstest(s.ravel(), lambda v: ref.gaudin_cdf(v, beta))
    # nearest-neighbour spacings are (negatively) correlated; the iid KS bound is still a fair
    # yardstick at the 1e-3 level
    assert ks.pvalue > 1e-3
    variances = s.var(axis=1)
    se = variances.std(ddof=1) / np.sqrt(len(variances))
    assert abs(variances.mean() - ref.GAUDIN_VARIANCE[beta]) <= 4 * se
    if beta == 1:  # the surmise variance 0.27324 is more than 5 SE away
        assert abs(variances.mean() - ref.SURMISE_VARIANCE[1]) > 5 * se


@pytest.mark.slow
def test_goe_next_nearest_spacings_follow_gse_law():
    levels = _bulk(1)
    s2 = (levels[:, 2:] - levels[:, :-2]).ravel()
    assert stats.kstest(s2, lambda v: ref.nnn_spacing_cdf(v)).pvalue > 1e-3
    assert s2.mean() == pytest.approx(2.0, abs=0.01)


# ---------------------------------------------------------------- API


def test_batch_forms_agree(rng):
    a = np.sort(rng.uniform(0, 300, 300))
    b = np.sort(rng.uniform(0, 300, 300))
    ell = np.array([1.0, 3.0])
    both = rig.number_variance(np.vstack([a, b]), ell, per_spectrum=True)
    assert both.shape == (2, 2)
    np.testing.assert_allclose(both[0], rig.number_variance(a, ell))
    np.testing.assert_allclose(
        rig.delta3([a, b[:250]], ell),
        (rig.delta3(a, ell) + rig.delta3(b[:250], ell)) / 2,
    )
    assert np.ndim(rig.delta3(a, 2.0)) == 0
    assert rig.delta3(a[::-1], 2.0) == rig.delta3(a, 2.0)  # sorted internally


def test_errors():
    with pytest.raises(InputError, match="span"):
        rig.number_variance(np.arange(10.0), 20.0)
    with pytest.raises(InputError, match="NaN"):
        rig.delta3(np.array([0.0, np.nan, 2.0]), 1.0)
    with pytest.raises(InputError, match="3-D"):
        rig.delta3(np.zeros((2, 2, 3)), 1.0)
    with pytest.raises(InputError, match="L"):
        rig.delta3(np.arange(10.0), -1.0)
    with pytest.raises(InputError, match="complex"):
        rig.number_variance(np.arange(10.0) + 0j, 1.0)
    with pytest.raises(InputError, match="one 1-D spectrum"):
        rig.delta3_window(np.zeros((2, 5)), 0.0, 1.0)
    with pytest.raises(InputError, match="at least 2"):
        rig.number_variance([np.arange(10.0), np.array([1.0])], 1.0)


@given(
    st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=20, max_size=60),
    st.floats(min_value=-1e3, max_value=1e3),
    st.floats(min_value=0.5, max_value=5.0),
)
def test_property_nonnegative_and_shift_invariant(levels, shift, ell):
    x = np.asarray(levels)
    if x.max() - x.min() <= ell + 1e-6:
        return
    nv = rig.number_variance(x, ell)
    d3 = rig.delta3(x, ell)
    assert nv >= 0 and d3 >= 0
    assert rig.number_variance(x + shift, ell) == pytest.approx(nv, abs=1e-9)
    assert rig.delta3(x + shift, ell) == pytest.approx(d3, rel=1e-7, abs=1e-9)
