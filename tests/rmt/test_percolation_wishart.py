"""Sparse percolated Wishart: the maximum-matching atom and the bipartite cavity law against
exact ranks (maximum matchings, float64 ranks), closed-form moments (walks on the bipartite tree),
the dense Marchenko-Pastur limit, and sampled spectra (zero fraction, KS with simulated null)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_bipartite_matching

from hessrmt.errors import InputError
from hessrmt.rmt import ensembles as E
from hessrmt.rmt.goodness import ks_pvalue_simulated, zero_fraction
from hessrmt.rmt.laws import MarchenkoPastur
from hessrmt.rmt.percolation import percolated_wigner_atom
from hessrmt.rmt.percolation_wishart import (
    PercolatedWishart,
    _fixed_points,
    percolated_wishart_atom,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _matching_deficiency(p: int, n: int, c: float, gen: np.random.Generator) -> float:
    """1 - (maximum matching) / p of a bipartite graph with Bernoulli(c / n) edges."""
    k = gen.binomial(p * n, c / n)
    flat = np.unique(gen.integers(0, p * n, size=k))  # duplicates: O(c^2 / n) of the edges
    a = sp.csr_matrix((np.ones(flat.size), (flat // n, flat % n)), shape=(p, n))
    return 1.0 - float(np.sum(maximum_bipartite_matching(a, perm_type="column") >= 0)) / p


@pytest.mark.parametrize(
    ("phi", "c"), [(0.5, 1.0), (0.5, 3.0), (1.0, 2.0), (1.0, 5.0), (2.0, 2.0), (2.0, 5.0)]
)
def test_atom_equals_exact_maximum_matching_of_large_graphs(phi: float, c: float) -> None:
    # (1, 5) and (2, 5) have three fixed points: the maximum over them is the one that holds
    gen = np.random.default_rng(7)
    n = 40000
    fr = [_matching_deficiency(int(phi * n), n, c, gen) for _ in range(2)]
    se = max(np.std(fr, ddof=1) / math.sqrt(2), math.sqrt(0.25 / (phi * n)))
    assert abs(np.mean(fr) - percolated_wishart_atom(c, phi)) < 4 * se + 1e-3


def test_other_fixed_points_would_be_wrong() -> None:
    # at phi = 1, c = 5 the minimum over the fixed points is far from the matching deficiency
    phi, c = 1.0, 5.0
    vals = []
    for a in _fixed_points(c, phi):
        b = math.exp(-c * phi * a)
        vals.append(a + b / phi + c * a * b - 1 / phi)
    assert len(vals) == 3
    fr = _matching_deficiency(40000, 40000, c, np.random.default_rng(3))
    assert abs(min(vals) - fr) > 0.02 > abs(max(vals) - fr)


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0, 5.0])
def test_square_case_equals_erdos_renyi_formula(c: float) -> None:
    assert percolated_wishart_atom(c, 1.0) == pytest.approx(percolated_wigner_atom(c), abs=1e-12)


@pytest.mark.parametrize("phi", [0.3, 1.0, 3.0])
def test_atom_bounds_and_dense_limit(phi: float) -> None:
    for c in (0.5, 2.0, 8.0):
        assert max(0.0, 1 - 1 / phi, math.exp(-c)) <= percolated_wishart_atom(c, phi) < 1.0
    assert percolated_wishart_atom(60.0, phi) == pytest.approx(max(0.0, 1 - 1 / phi), abs=1e-9)


def test_float64_rank_is_the_maximum_matching() -> None:
    # generic weights: rank X = maximum matching of its pattern (float64 SVD rank of X). W's own
    # zero count by the 1e-9 eigenvalue threshold can only be larger: sparse W has genuinely
    # tiny nonzero eigenvalues (down to ~1e-12 at p = 1000, c = 4), which it counts as zeros
    gen = np.random.default_rng(5)
    for p, n, c in ((300, 400, 2.0), (400, 300, 3.0)):
        x = gen.standard_normal((p, n)) * (gen.random((p, n)) < c / n) * math.sqrt(n / c)
        matching = int(
            np.sum(maximum_bipartite_matching(sp.csr_matrix(x != 0), perm_type="column") >= 0)
        )
        assert np.linalg.matrix_rank(x) == matching
        w = x @ x.T / n
        assert round(zero_fraction(np.linalg.eigvalsh(w)) * p) >= p - matching


def test_moments_closed_forms_reduce_to_marchenko_pastur() -> None:
    law, mp = PercolatedWishart(0.4, 1e7, 2.0), MarchenkoPastur(0.4, 2.0)
    for k in (1, 2, 3):
        assert law.moment(k) == pytest.approx(mp.moment(k), rel=1e-5)


@pytest.mark.parametrize(("phi", "c"), [(0.5, 2.0), (2.0, 3.0)])
def test_moments_against_sampled_matrices(phi: float, c: float) -> None:
    law = PercolatedWishart(phi, c, 1.5)
    n = 400
    p = int(phi * n)
    vals = []
    for s in range(40):
        w = E.percolated_wishart(p, n, c / n, rng=100 + s, variance=1.5)
        w2 = w @ w
        vals.append([np.trace(w) / p, np.trace(w2) / p, np.sum(w2 * w) / p])
    vals = np.array(vals)
    mean, se = vals.mean(axis=0), vals.std(axis=0, ddof=1) / math.sqrt(len(vals))
    for k in (1, 2, 3):
        # finite n: Binomial(n, c/n) degrees instead of Poisson(c), an O(1/n) shift
        assert abs(mean[k - 1] - law.moment(k)) < 4 * se[k - 1] + 0.01 * law.moment(k)


def test_cavity_table_mass_first_moment_and_atom() -> None:
    law = PercolatedWishart(1.0, 4.0, population=800, sweeps=16, rng=0)
    s, rho, _ = law._tabulate()
    assert law.mass_before == pytest.approx(1 - law.atom_mass, abs=0.02)
    # m1 = 2 int s^2 rho_A(s) ds from the (Cauchy-smoothed) table vs the exact v = 1
    assert 2 * np.trapezoid(rho * s**2, s) == pytest.approx(1.0, rel=0.05)
    cdf = law.cdf(np.array([-1e-12, 0.0, law.radius]))
    assert cdf[1] - cdf[0] == pytest.approx(law.atom_mass)
    assert cdf[2] == pytest.approx(1.0)
    # density integrates to the continuous mass
    x = law.radius * np.linspace(0, 1, 4001) ** 2
    assert np.trapezoid(law.density(x), x) == pytest.approx(1 - law.atom_mass, abs=0.02)


def test_stieltjes_matches_the_table_and_dense_limit() -> None:
    law = PercolatedWishart(0.5, 3.0, population=800, sweeps=16, rng=1)
    z = np.array([4.0 + 1.5j, -1.0 + 0.5j])
    s, rho, _ = law._tabulate()
    lam = s**2
    quad = law.atom_mass / z + np.array(
        [np.trapezoid(2 * rho / (zz - lam), s) for zz in z]
    )  # G = a / z + int dF(l) / (z - l), dF = 2 rho_A ds
    assert np.allclose(law.stieltjes(z), quad, atol=0.01)
    assert np.allclose(law.stieltjes(np.conj(z)), np.conj(law.stieltjes(z)), atol=0.01)
    dense = PercolatedWishart(0.5, 400.0, population=400, sweeps=8, rng=2)
    assert np.allclose(dense.stieltjes(z), MarchenkoPastur(0.5).stieltjes(z), atol=0.01)


def _check_against_sample(phi: float, c: float, n: int, seeds: tuple[int, ...]) -> None:
    law = PercolatedWishart(phi, c, rng=10)
    p = int(phi * n)
    eigs = [np.linalg.eigvalsh(E.percolated_wishart(p, n, c / n, rng=s)) for s in seeds]
    fr = np.array([zero_fraction(e) for e in eigs])
    mu0 = law.atom_mass
    se = max(fr.std(ddof=1) / math.sqrt(fr.size), math.sqrt(max(mu0, 1e-4) / p / fr.size))
    assert abs(fr.mean() - mu0) <= max(4 * se, 0.01)
    _, pv = ks_pvalue_simulated(eigs[0], law, n_sim=60, rng=3)
    assert pv > 0.05
    # power: the dense limit MP(phi, 1) (its atom max(0, 1 - 1/phi) only) is rejected
    _, p_wrong = ks_pvalue_simulated(eigs[0], MarchenkoPastur(phi), n_sim=60, rng=3)
    assert p_wrong < 0.05


@pytest.mark.parametrize(("phi", "c"), [(0.5, 2.0), (1.0, 4.0)])
def test_law_and_atom_vs_sampled_spectra(phi: float, c: float) -> None:
    _check_against_sample(phi, c, round(1000 / phi), (21, 22))  # W is 1000 x 1000


@pytest.mark.slow
def test_law_and_atom_vs_sampled_spectra_p2000_phi2() -> None:
    _check_against_sample(2.0, 3.0, 1000, (31, 32))  # W is 2000 x 2000 (N = 4000: docs)


def test_bad_input() -> None:
    with pytest.raises(InputError):
        percolated_wishart_atom(0.0, 1.0)
    with pytest.raises(InputError):
        percolated_wishart_atom(1.0, -1.0)
    with pytest.raises(InputError):
        PercolatedWishart(0.5, -1.0)
    from hessrmt.rmt.cavity import bipartite_population_dynamics

    def sq(g: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return np.ones(shape)

    with pytest.raises(InputError, match="Im z > 0"):
        bipartite_population_dynamics(np.array([1.0 + 0j]), 2.0, 1.0, sq)
    with pytest.raises(InputError, match="mean degrees"):
        bipartite_population_dynamics(np.array([1.0 + 1j]), 2.0, 0.0, sq)
