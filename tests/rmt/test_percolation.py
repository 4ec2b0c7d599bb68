"""Sparse percolated Wigner: the Bordenave-Lelarge-Salez atom and the cavity density against
closed forms (Bauer-Golinelli, e^{-c} bound, docs/reference/oracles.md §11.2 table) and
sampled matrices (zero fraction within sampling error, KS with simulated null)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special

from hessrmt.errors import InputError
from hessrmt.rmt import ensembles as E
from hessrmt.rmt.goodness import ks_pvalue_simulated, zero_fraction
from hessrmt.rmt.laws import Semicircle
from hessrmt.rmt.percolation import PercolatedWigner, percolated_wigner_atom

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    ("c", "table"), [(0.5, 0.654368), (1.0, 0.455938), (2.0, 0.216074), (math.e, 0.103638)]
)
def test_atom_equals_bauer_golinelli_for_c_below_e(c: float, table: float) -> None:
    w = float(scipy.special.lambertw(c).real)
    assert percolated_wigner_atom(c) == pytest.approx((2 * w + w * w) / c - 1, abs=1e-12)
    assert percolated_wigner_atom(c) == pytest.approx(table, abs=1e-6)


@pytest.mark.parametrize("c", [0.3, 1.0, 2.0, 4.0, 8.0, 20.0])
def test_atom_is_at_least_the_isolated_vertex_fraction(c: float) -> None:
    assert math.exp(-c) <= percolated_wigner_atom(c) < 1.0


def test_atom_matches_sampled_zero_fraction_c2() -> None:
    n, c = 1000, 2.0
    fr = [zero_fraction(np.linalg.eigvalsh(E.percolated_wigner(n, c / n, rng=s))) for s in (1, 2)]
    se = math.sqrt(0.22 * 0.78 / n)  # binomial-like; the count is an average of local events
    assert np.mean(fr) == pytest.approx(percolated_wigner_atom(c), abs=4 * se + 0.005)


def test_cavity_density_mass_and_fourth_moment() -> None:
    law = PercolatedWigner(4.0, 2.0, population=800, sweeps=16, grid=121, rng=0)
    grid, rho, _ = law._tabulate()
    assert law.mass_before == pytest.approx(1 - law.atom_mass, abs=0.01)
    # the moment closed forms vs the tabulated (Cauchy-smoothed, eta = 0.02 sqrt(v)) density
    assert np.trapezoid(rho * grid**2, grid) == pytest.approx(law.moment(2), rel=0.06)
    assert law.moment(4) == pytest.approx(4.0 * (2 + 3 / 4.0))
    assert law.cdf(np.array([-1e-12, 0.0]))[1] - law.cdf(np.array([-1e-12]))[0] == pytest.approx(
        law.atom_mass
    )


def test_large_c_approaches_semicircle() -> None:
    law = PercolatedWigner(60.0, population=600, sweeps=12, grid=81, rng=1)
    x = np.linspace(-1.5, 1.5, 7)
    assert np.max(np.abs(law.density(x) - Semicircle(1.0).density(x))) < 0.03


def _check_against_sample(c: float, n: int, seeds: tuple[int, ...]) -> None:
    law = PercolatedWigner(c, rng=10)
    eigs = [np.linalg.eigvalsh(E.percolated_wigner(n, c / n, rng=s)) for s in seeds]
    fr = np.array([zero_fraction(e) for e in eigs])
    mu0 = law.atom_mass
    se = max(fr.std(ddof=1) / math.sqrt(fr.size), math.sqrt(max(mu0, 1e-4) / n / fr.size))
    assert abs(fr.mean() - mu0) <= max(4 * se, 0.01)
    _, p = ks_pvalue_simulated(eigs[0], law, n_sim=60, rng=3)
    assert p > 0.05
    # power: the semicircle of the same variance (no atom, wrong shape) is rejected at c = 2, 4
    if c <= 4:
        _, p_wrong = ks_pvalue_simulated(eigs[0], Semicircle(1.0), n_sim=60, rng=3)
        assert p_wrong < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("c", [2.0, 4.0, 8.0])
def test_cavity_law_and_atom_vs_sampled_n4000(c: float) -> None:
    _check_against_sample(c, 4000, (11, 12))


def test_bad_input() -> None:
    with pytest.raises(InputError):
        percolated_wigner_atom(0.0)
    with pytest.raises(InputError):
        PercolatedWigner(-1.0)
