"""Wishart-product and Wigner x Wishart laws (hessrmt.rmt.products) against closed forms,
brute-force free-probability moments, the generic numerical boxtimes, and sampled matrices.

Oracles: Fuss-Catalan numbers (square products), the non-crossing/Kreweras moment formula with MP
free cumulants kappa_n = phi^(n-1) and semicircle kappa_2 = v (tests/rmt/noncrossing.py), the rank
formula 1 - min(N_i)/N (``docs/reference/oracles.md`` §11.1), and KS tests of sampled spectra
with a simulated null (power shown on a wrong law).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate

from hessrmt.errors import InputError
from hessrmt.rmt import ensembles as E
from hessrmt.rmt.free import free_multiplicative_convolution
from hessrmt.rmt.goodness import ks_pvalue_simulated, zero_fraction
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle
from hessrmt.rmt.products import (
    WignerWishartProduct,
    WishartProduct,
    fuss_catalan,
    wishart_product_from_dims,
)
from tests.rmt.noncrossing import product_moment

pytestmark = pytest.mark.usefixtures("one_thread")


def _mp_moment(phi: float, k: int) -> float:
    if k == 0:
        return 1.0
    return sum(phi**j / (j + 1) * math.comb(k, j) * math.comb(k - 1, j) for j in range(k))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_square_products_have_fuss_catalan_moments(k: int) -> None:
    law = WishartProduct([1.0] * k)
    assert [fuss_catalan(k, n) for n in range(5)][:4] == [1, 1, k + 1, (k + 1) * (3 * k + 2) // 2]
    for n in range(1, 5):
        assert law.moment(n) == pytest.approx(fuss_catalan(k, n), rel=1e-12)
    assert law.atoms() == []


@pytest.mark.parametrize("ratios", [(2.0, 0.5), (0.3, 1.7), (1.0, 4.0)])
def test_rectangular_product_moments_equal_noncrossing_formula(ratios: tuple[float, float]) -> None:
    r1, r2 = ratios
    law = WishartProduct(ratios, scale=1.5)
    for n in range(1, 5):
        ref = product_moment(n, lambda j: r1 ** (j - 1), lambda j: _mp_moment(r2, j))
        assert law.moment(n) == pytest.approx(1.5**n * ref, rel=1e-10)


@pytest.mark.parametrize(("phi", "v"), [(0.5, 1.0), (3.0, 2.0), (1.0, 0.7)])
def test_wigner_wishart_moments_equal_noncrossing_formula(phi: float, v: float) -> None:
    law = WignerWishartProduct(phi, v)
    for n in range(1, 7):
        ref = product_moment(n, lambda j: v if j == 2 else 0.0, lambda j: _mp_moment(phi, j))
        assert law.moment(n) == pytest.approx(ref, rel=1e-10, abs=1e-12)
    # hand-derived: m2 = v nu1^2, m4 = 2 v^2 nu1^2 nu2 (nu1 = 1, nu2 = 1 + phi)
    assert law.moment(2) == pytest.approx(v)
    assert law.moment(4) == pytest.approx(2 * v * v * (1 + phi))


def test_numerical_moments_and_mass_of_the_density() -> None:
    """Moments of the solved density (quadrature on a fine grid, atom added) match the exact ones,
    and the density integrates to 1 - atom."""
    for law in (WishartProduct([2.0, 0.5]), WignerWishartProduct(3.0, 2.0)):
        a, b = law.support()
        lo = 1e-9 if a == 0.0 else a
        x = np.linspace(lo, b, 20001)
        rho = law.density(x)
        atom = sum(m for _, m in law.atoms())
        assert scipy.integrate.simpson(rho, x=x) + atom == pytest.approx(1.0, abs=2e-4)
        for n in (1, 2, 3, 4):
            num = scipy.integrate.simpson(rho * x**n, x=x)
            assert num == pytest.approx(law.moment(n), rel=2e-3, abs=2e-3)
        assert law.total_mass() == pytest.approx(1.0, abs=1e-3)


def test_two_factor_density_equals_generic_boxtimes() -> None:
    law = WishartProduct([2.0, 0.5])
    ref = free_multiplicative_convolution(MarchenkoPastur(2.0), MarchenkoPastur(0.5))
    x = np.linspace(0.05, 7.4, 60)
    assert np.max(np.abs(law.density(x) - ref.density(x))) < 1e-8
    assert law.atoms()[0][1] == pytest.approx(ref.atoms()[0][1], abs=1e-15)


def test_single_factor_is_marchenko_pastur() -> None:
    law, ref = WishartProduct([0.4], scale=2.0), MarchenkoPastur(0.4, 2.0)
    x = np.linspace(0.1, 6.0, 50)
    assert np.max(np.abs(law.density(x) - ref.density(x))) < 1e-9
    z = np.array([1 + 1j, -2 + 0.1j, 9.0 + 0j])
    assert np.allclose(law.stieltjes(z), ref.stieltjes(z), atol=1e-10)


def test_wigner_wishart_with_identity_like_wishart_tends_to_semicircle() -> None:
    """phi -> 0: C -> identity, so the law tends to the semicircle of the same variance."""
    law, ref = WignerWishartProduct(1e-6, 2.0), Semicircle(2.0)
    x = np.linspace(-2.7, 2.7, 41)
    assert np.max(np.abs(law.density(x) - ref.density(x))) < 1e-3


@pytest.mark.parametrize(("dims", "atom"), [((600, 300, 900), 0.5), ((600, 900, 450), 0.25)])
def test_product_atom_equals_rank_formula(dims: tuple[int, ...], atom: float) -> None:
    law = wishart_product_from_dims(dims)
    assert sum(m for _, m in law.atoms()) == pytest.approx(atom, abs=1e-15)
    eigs = np.linalg.eigvalsh(E.product_wishart(dims, rng=0))
    assert zero_fraction(eigs) == pytest.approx(atom, abs=1e-15)
    assert law.cdf(np.array([0.0]))[0] == pytest.approx(atom, abs=1e-6)


def _ks_check(eigs: np.ndarray, law, wrong, seed: int) -> None:
    _, p = ks_pvalue_simulated(eigs, law, n_sim=100, rng=seed)
    assert p > 0.05
    _, p_wrong = ks_pvalue_simulated(eigs, wrong, n_sim=100, rng=seed)
    assert p_wrong < 0.02


def test_sampled_wishart_product_is_consistent_by_ks() -> None:
    eigs = np.linalg.eigvalsh(E.product_wishart((1000, 500, 1500), rng=1))
    law = wishart_product_from_dims((1000, 500, 1500))
    _ks_check(eigs, law, MarchenkoPastur(2.0), seed=2)  # same atom, not a product


def test_sampled_wigner_wishart_is_consistent_by_ks() -> None:
    eigs = np.linalg.eigvalsh(E.wigner_wishart_product(1000, 500, rng=3))
    _ks_check(eigs, WignerWishartProduct(2.0), WignerWishartProduct(1.5), seed=4)
    _ks_check(eigs, WignerWishartProduct(2.0), Semicircle(1.0), seed=4)


@pytest.mark.slow
def test_sampled_laws_at_n_2000() -> None:
    eigs = np.linalg.eigvalsh(E.product_wishart((2000, 2000, 2000, 4000), rng=5))
    _ks_check(eigs, WishartProduct([1.0, 1.0, 0.5]), WishartProduct([1.0, 0.5]), seed=6)
    eigs = np.linalg.eigvalsh(E.wigner_wishart_product(2000, 1500, rng=7, variance=0.5))
    law = WignerWishartProduct(2000 / 1500, 0.5)
    _ks_check(eigs, law, Semicircle(0.5), seed=8)


def test_bad_parameters_raise_input_error() -> None:
    with pytest.raises(InputError):
        WishartProduct([])
    with pytest.raises(InputError):
        WishartProduct([1.0, -2.0])
    with pytest.raises(InputError):
        WignerWishartProduct(0.0)
    with pytest.raises(InputError):
        wishart_product_from_dims((10,))
