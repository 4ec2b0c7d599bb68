"""Unfolding (hessrmt.rmt.unfolding): identities, independent brute-force checks, mean 1."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.linalg import eigvalsh_tridiagonal

from hessrmt.errors import InputError
from hessrmt.rmt.reference import GAUDIN_VARIANCE
from hessrmt.rmt.unfolding import (
    unfold_by_cdf,
    unfold_gaussian_kernel,
    unfold_polynomial,
    unfold_pooled,
)


def semicircle_cdf(x: np.ndarray) -> np.ndarray:
    """Closed-form cdf of the semicircle of radius 2 (variance 1)."""
    x = np.clip(x, -2.0, 2.0)
    return 0.5 + x * np.sqrt(4 - x**2) / (4 * np.pi) + np.arcsin(x / 2) / np.pi


def goe_levels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Dumitriu-Edelman GOE (radius sqrt(2n)) scaled to the radius-2 semicircle."""
    d = rng.normal(size=n)
    e = np.sqrt(rng.chisquare(np.arange(n - 1, 0, -1.0)) / 2)
    return eigvalsh_tridiagonal(d, e) / np.sqrt(n / 2)


def test_cdf_unfolding_is_n_times_cdf(rng: np.random.Generator) -> None:
    x = rng.random(50)
    np.testing.assert_allclose(unfold_by_cdf(x, lambda t: t), 50 * np.sort(x), rtol=1e-15)

    class Law:  # anything with a .cdf method (a SpectralLaw) is accepted
        def cdf(self, t: np.ndarray) -> np.ndarray:
            return t**2

    np.testing.assert_allclose(unfold_by_cdf(x, Law(), n_levels=200), 200 * np.sort(x) ** 2)


def test_cdf_unfolding_of_goe_has_unit_mean_spacing(rng: np.random.Generator) -> None:
    xi = unfold_by_cdf(goe_levels(1000, rng), semicircle_cdf)
    s = np.diff(xi)
    assert abs(s.mean() - 1) < 0.01
    # bulk spacings of the GOE: variance near the exact Gaudin value 0.28553
    # (docs/reference/oracles.md §3);
    # SD of this variance over 40 independent spectra: 0.016, so 0.06 is ~3.7 SD (GUE 0.180 and
    # Poisson 1 are excluded)
    central = s[200:800]
    assert abs(central.mean() - 1) < 0.05
    assert abs(central.var() - GAUDIN_VARIANCE[1]) < 0.06


def test_cdf_unfolding_accepts_a_spectral_law(rng: np.random.Generator) -> None:
    from hessrmt.rmt.laws import Semicircle

    x = goe_levels(300, rng)
    np.testing.assert_allclose(
        unfold_by_cdf(x, Semicircle()), unfold_by_cdf(x, semicircle_cdf), rtol=1e-10, atol=1e-10
    )


def test_polynomial_unfolding_recovers_a_polynomial_staircase() -> None:
    # Levels placed so that the counting function is exactly G(x) = x^3 + 40 x + 5 at each level:
    # G(lambda_i) = i + 1/2; a degree-3 fit must reproduce the staircase to round-off.
    n = 300
    target = np.arange(n) + 0.5
    levels = np.array([np.roots([1.0, 0.0, 40.0, 5.0 - t])[-1].real for t in target])
    np.testing.assert_allclose(np.polyval([1, 0, 40, 5], levels), target, rtol=1e-10)
    np.testing.assert_allclose(unfold_polynomial(levels, 3), target, atol=1e-7)


def test_kernel_unfolding_matches_a_direct_sum(rng: np.random.Generator) -> None:
    x = np.sort(rng.normal(size=60))
    h = 0.3
    direct = [sum(0.5 * (1 + math.erf((xi - xj) / (h * math.sqrt(2)))) for xj in x) for xi in x]
    np.testing.assert_allclose(unfold_gaussian_kernel(x, h, method="exact"), direct, rtol=1e-12)


def test_binned_kernel_agrees_with_exact(rng: np.random.Generator) -> None:
    x = rng.normal(size=3000)
    exact = unfold_gaussian_kernel(x, method="exact")
    binned = unfold_gaussian_kernel(x, method="binned")
    assert np.max(np.abs(exact - binned)) < 5e-3  # in units of the mean spacing


def test_kernel_unfolding_of_goe_has_unit_mean_bulk_spacing(rng: np.random.Generator) -> None:
    xi = unfold_gaussian_kernel(goe_levels(1500, rng))
    s = np.diff(xi)[300:-300]
    assert abs(s.mean() - 1) < 0.03
    # the mean is nearly built in; the variance is the check with power: Gaudin GOE 0.28553,
    # replicate SD 0.015 (40 spectra) for the default Silverman bandwidth
    assert abs(s.var() - GAUDIN_VARIANCE[1]) < 4 * 0.015


def _pooled_brute_force(rows: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for i, row in enumerate(rows):
        others = [r for j, r in enumerate(rows) if j != i]
        vals = [sum(int(np.sum(o < x)) for o in others) / len(others) for x in np.sort(row)]
        out.append(np.array(vals))
    return out


def test_pooled_leave_one_out_matches_brute_force(rng: np.random.Generator) -> None:
    rows = [rng.integers(0, 20, size=n).astype(float) for n in (7, 9, 8, 7)]  # ties on purpose
    got = unfold_pooled(rows)
    assert isinstance(got, list)
    for g, e in zip(got, _pooled_brute_force(rows)):
        np.testing.assert_array_equal(g, e)


def test_pooled_interpolated_matches_brute_force(rng: np.random.Generator) -> None:
    rows = [rng.normal(size=n) for n in (30, 25, 40)]
    got = unfold_pooled(rows, interpolate=True)
    for i, (g, row) in enumerate(zip(got, rows)):
        pool = np.sort(np.concatenate([r for j, r in enumerate(rows) if j != i]))
        expected = []
        for x in np.sort(row):
            k = int(np.sum(pool < x))
            frac = (x - pool[k - 1]) / (pool[k] - pool[k - 1]) if 0 < k < pool.size else 0.0
            expected.append((k + frac) / 2)
        np.testing.assert_allclose(g, expected, rtol=1e-13, atol=1e-15)
    # the interpolated N_bar lies between the step counts of the same pool
    step = unfold_pooled(rows)
    for g, st_ in zip(got, step):
        assert np.all(g >= st_ - 1e-15) and np.all(g <= st_ + 1 / 2 + 1e-15)
    split = unfold_pooled(np.array([r[:25] for r in rows] * 2), method="split", interpolate=True)
    assert split.shape == (2, 25)


def test_pooled_split_is_the_papers_scheme(rng: np.random.Generator) -> None:
    batch = rng.normal(size=(9, 20))
    got = unfold_pooled(batch, method="split")
    assert got.shape == (3, 20)  # int(9 / 3) spectra unfolded
    pooled = np.sort(batch[3:].ravel())
    for g, row in zip(got, batch[:3]):
        expected = [np.sum(pooled < x) / 6 for x in np.sort(row)]
        np.testing.assert_array_equal(g, expected)


def test_pooled_unfolding_of_goe_batch_has_unit_mean_spacing(rng: np.random.Generator) -> None:
    batch = np.array([goe_levels(200, rng) for _ in range(30)])
    xi = unfold_pooled(batch)
    assert xi.shape == batch.shape
    s = np.diff(xi, axis=1)[:, 20:-20]
    assert abs(s.mean() - 1) < 0.02


@given(st.integers(20, 400), st.integers(0, 2**32 - 1))
def test_unfolded_spacings_have_mean_one(n: int, seed: int) -> None:
    gen = np.random.default_rng(seed)
    x = gen.exponential(size=n)
    cdf = lambda t: 1 - np.exp(-t)  # noqa: E731 - the true law of the sample
    s = np.diff(unfold_by_cdf(x, cdf))
    # n (F(max) - F(min)) / (n - 1): within a few / n of 1 with overwhelming probability
    assert abs(s.mean() - 1) < 12 / n
    for xi in (
        unfold_by_cdf(x, cdf, rescale=True),
        unfold_polynomial(x, 5, rescale=True),
        unfold_gaussian_kernel(x, rescale=True),
    ):
        assert np.mean(np.diff(xi)) == pytest.approx(1.0, rel=1e-12)


def test_batch_unfolding_is_row_by_row(rng: np.random.Generator) -> None:
    batch = rng.normal(size=(3, 100))
    got = unfold_gaussian_kernel(batch, 0.4)
    for g, row in zip(got, batch):
        np.testing.assert_array_equal(g, unfold_gaussian_kernel(row, 0.4))
    assert unfold_polynomial(batch, 4).shape == (3, 100)


def test_unfolding_errors() -> None:
    with pytest.raises(InputError):
        unfold_polynomial(np.arange(5.0), 10)
    with pytest.raises(InputError):
        unfold_gaussian_kernel(np.arange(5.0), -1.0)
    with pytest.raises(InputError):
        unfold_gaussian_kernel(np.arange(5.0), method="fft")
    with pytest.raises(InputError):
        unfold_pooled(np.arange(5.0))
    with pytest.raises(InputError):
        unfold_pooled([np.arange(5.0)])
    with pytest.raises(InputError):
        unfold_by_cdf(np.arange(5.0), "not a law")
    with pytest.raises(InputError):
        unfold_by_cdf(np.arange(5.0), lambda t: np.full(3, 0.5))
