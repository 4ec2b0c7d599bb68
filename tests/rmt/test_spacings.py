"""Spacings, ratios and degeneracy handling (hessrmt.rmt.spacings)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hessrmt.errors import InputError
from hessrmt.rmt.spacings import (
    reduced_ratios,
    remove_degeneracies,
    spacing_ratios,
    spacings,
)


def test_hand_example() -> None:
    levels = np.array([4.0, 0.0, 8.0, 1.0, 3.0])  # unsorted on purpose
    np.testing.assert_array_equal(spacings(levels), [1.0, 2.0, 1.0, 4.0])
    np.testing.assert_array_equal(spacing_ratios(levels), [2.0, 0.5, 4.0])
    np.testing.assert_array_equal(reduced_ratios(levels), [0.5, 0.5, 0.25])


def test_batch_rows_are_independent_spectra(rng: np.random.Generator) -> None:
    batch = rng.normal(size=(4, 30))
    r = reduced_ratios(batch)
    assert r.shape == (4, 28)
    for row, rr in zip(batch, r):
        np.testing.assert_array_equal(rr, reduced_ratios(row))
    assert spacings(batch).shape == (4, 29)
    assert spacing_ratios(batch).shape == (4, 28)


def test_reduced_is_min_of_r_and_inverse(rng: np.random.Generator) -> None:
    x = rng.normal(size=200)
    r = spacing_ratios(x)
    np.testing.assert_allclose(reduced_ratios(x), np.minimum(r, 1 / r), rtol=1e-14)


finite_levels = arrays(
    np.float64,
    st.integers(5, 60),
    elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    unique=True,
)


@given(finite_levels)
def test_reduced_ratios_lie_in_unit_interval(levels: np.ndarray) -> None:
    r = reduced_ratios(levels)
    r = r[np.isfinite(r)]
    assert np.all((r >= 0) & (r <= 1))


@given(finite_levels, st.floats(0.01, 100.0), st.floats(-50.0, 50.0))
def test_ratios_invariant_under_affine_maps(levels: np.ndarray, a: float, b: float) -> None:
    s = spacings(levels)
    if np.min(s) < 1e-6 * np.max(np.abs(levels)) + 1e-9:
        return  # near-coincident levels: rounding of the affine map dominates
    base = reduced_ratios(levels)
    np.testing.assert_allclose(reduced_ratios(a * levels + b), base, rtol=1e-6, atol=1e-9)
    # A negative scale reverses the order of the levels, hence of the ratios.
    np.testing.assert_allclose(reduced_ratios(-a * levels + b), base[::-1], rtol=1e-6, atol=1e-9)


def test_exact_degeneracy_behaviour_and_merge() -> None:
    levels = np.array([0.0, 1.0, 1.0, 2.5, 4.0, 4.0, 4.0, 7.0])
    r = reduced_ratios(levels)
    assert r[0] == 0.0  # spacings (1, 0)
    assert np.isnan(r).sum() == 1  # the triple 4, 4, 4 gives 0/0
    deg = remove_degeneracies(levels, rtol=0.0)
    np.testing.assert_array_equal(deg.eigenvalues, [0.0, 1.0, 2.5, 4.0, 7.0])
    assert deg.n_removed == 3
    assert np.all(np.isfinite(reduced_ratios(deg.eigenvalues)))


def test_near_degeneracy_uses_a_relative_tolerance() -> None:
    levels = np.array([-10.0, 1.0, 1.0 + 5e-10, 3.0, 3.0 + 2e-7, 6.0])
    # tol = 1e-9 * max|l| = 1e-8: the first pair merges (to its mean), the second does not.
    deg = remove_degeneracies(levels, rtol=1e-9)
    assert deg.n_removed == 1
    assert deg.tolerance == pytest.approx(1e-8)
    np.testing.assert_allclose(deg.eigenvalues, [-10.0, 1.0 + 2.5e-10, 3.0, 3.0 + 2e-7, 6.0])
    # The same spectrum scaled by 1e6 merges the same levels (relative, not absolute).
    scaled = remove_degeneracies(levels * 1e6, rtol=1e-9)
    assert scaled.n_removed == 1
    np.testing.assert_allclose(scaled.eigenvalues, deg.eigenvalues * 1e6)


def test_degeneracy_default_rtol_depends_on_dtype() -> None:
    levels = np.array([0.0, 1.0, 1.0 + 1e-7, 2.0, 3.5])
    assert remove_degeneracies(levels).n_removed == 0  # float64: 1e-9 relative
    assert remove_degeneracies(levels.astype(np.float32)).n_removed == 1  # float32: 1e-5


def test_degeneracies_batch_reports_per_spectrum() -> None:
    batch = np.array([[0.0, 1.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0]])
    deg = remove_degeneracies(batch, rtol=0.0)
    assert isinstance(deg.eigenvalues, list)
    np.testing.assert_array_equal(deg.n_removed, [1, 0])
    assert deg.total_removed == 1
    np.testing.assert_array_equal(deg.eigenvalues[0], [0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    "bad",
    [
        np.array([1.0, np.nan, 2.0, 3.0]),
        np.array([1.0, np.inf, 2.0, 3.0]),
        np.array([1.0 + 1j, 2.0, 3.0]),
        np.zeros((2, 2, 3)),
        np.float64(1.0),
        np.array(["a", "b", "c"]),
    ],
)
def test_bad_input_raises_input_error(bad: np.ndarray) -> None:
    with pytest.raises(InputError):
        reduced_ratios(bad)


def test_too_few_levels_for_ratios() -> None:
    with pytest.raises(InputError, match="at least 3"):
        reduced_ratios([1.0, 2.0])
    with pytest.raises(InputError):
        remove_degeneracies([1.0, 2.0], rtol=-1.0)
