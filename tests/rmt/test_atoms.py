"""Atom grids (hessrmt.rmt.atoms): exact rank counts for products, BLS vs sampled percolation."""

from __future__ import annotations

import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.atoms import percolated_atom_grid, product_atom, product_atom_grid

pytestmark = pytest.mark.usefixtures("one_thread")


def test_product_atom_closed_form() -> None:
    # docs/reference/oracles.md §11.1: N = 600, (300, 900) -> 0.5, (900, 450) -> 0.25
    assert product_atom((600, 300, 900)) == 0.5
    assert product_atom((600, 900, 450)) == 0.25
    assert product_atom((600, 900, 1200)) == 0.0
    with pytest.raises(InputError):
        product_atom((5,))


def test_product_grid_matches_rank_exactly() -> None:
    inner = [(100, 300), (300, 100), (150, 250, 50), (250, 400), (200, 200)]
    rows = product_atom_grid(200, inner, rng=0)
    assert all(r["exact_match"] for r in rows), rows
    assert [r["predicted_zero_count"] for r in rows] == [100, 100, 150, 0, 0]


def test_percolated_grid_within_sampling_error() -> None:
    rows = percolated_atom_grid(600, [1.0, 2.0], samples=2, rng=1)
    for r in rows:
        assert abs(r["z_score"]) < 4, r
        assert r["zero_fraction"] >= r["lower_bound_exp_minus_c"] - 4 * r["se"]


def test_percolated_wishart_zero_fractions_match_the_matching_formula() -> None:
    from hessrmt.rmt.atoms import percolated_wishart_atom_grid

    rows = percolated_wishart_atom_grid(
        400, [(0.5, 2.0), (2.0, 3.0)], samples=2, large_p=50_000, rng=4
    )
    for r in rows:
        assert abs(r["z_score"]) < 4
        assert r["threshold_zero_fraction"] >= r["zero_fraction"] - 1e-12  # counts tiny ones too
        assert abs(r["large_matching_zero_fraction"] - r["predicted"]) < 0.01
