"""Complexity with a general limiting law: Coulomb integral and the ABC special case."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from hessrmt.errors import InputError
from hessrmt.rmt.complexity import abc
from hessrmt.rmt.complexity.coulomb import CoulombGas, edge_rate, log_potential_grid
from hessrmt.rmt.complexity.general import law_bands, law_theta_k, law_theta_total
from hessrmt.rmt.laws import EmpiricalLaw, MarchenkoPastur, Semicircle, UniformLaw

# LD-4 (docs/reference/oracles.md §6.1): Omega of the variance-1 semicircle
LD4 = {0.0: -0.5, 0.7: -0.3775, 1.9: 0.4025, 2.5: 0.81814718, 4.0: 1.35285628, -3.0: 1.03537267}


def test_log_potential_semicircle_oracle() -> None:
    gas = CoulombGas(Semicircle(1.0))
    x = np.array(sorted(LD4))
    np.testing.assert_allclose(gas.omega(x), [LD4[v] for v in x], atol=5e-9)
    np.testing.assert_allclose(gas.omega(x), Semicircle(1.0).log_potential(x), atol=1e-12)


def test_log_potential_standardisation_and_mp_quadrature() -> None:
    # standardising: Omega_std(y) = Omega(mean + std y) - ln std, checked against plain quad
    law = MarchenkoPastur(0.3)
    gas = CoulombGas(law)
    m, s = law.mean(), math.sqrt(law.variance())
    lo, hi = law.support()
    for y in (-2.0, 0.1, 1.5, 3.5):
        x = m + s * y
        pts = [x] if lo < x < hi else None
        ref = quad(lambda t, x=x: law.density(t) * math.log(abs(x - t)), lo, hi, points=pts,
                   limit=200)[0] - math.log(s)  # fmt: skip
        assert float(gas.omega(y)) == pytest.approx(ref, abs=1e-7)


def test_log_potential_grid_matches_closed_form() -> None:
    g = np.linspace(-2, 2, 4001)
    rho = Semicircle(1.0).density(g)
    x = np.array([-3.0, 0.0, 0.7, 1.9, 2.5])
    np.testing.assert_allclose(
        log_potential_grid(x, g, rho), Semicircle(1.0).log_potential(x), atol=2e-5
    )


def test_edge_rate_is_goe_rate() -> None:
    # J at radius 2 equals ABC's I_1 under u = E_inf y / 2, for every p
    y = np.array([2.0, 2.1, 2.5, 4.0])
    for p in (3, 5):
        e = abc.e_inf(p)
        np.testing.assert_allclose(edge_rate(y, 2.0), abc.i1(-e * y / 2, p), atol=1e-14)
    # scale invariance
    np.testing.assert_allclose(edge_rate(3 * y, 6.0), edge_rate(y, 2.0), atol=1e-14)


@pytest.mark.parametrize("p", [3, 4, 10])
def test_semicircle_reproduces_abc(p: int) -> None:
    gas = CoulombGas(Semicircle(1.0))
    bands = law_bands(p, 5, gas)
    np.testing.assert_allclose(bands.e, abc.thresholds(p, 5), atol=1e-10, rtol=0)
    assert bands.e_inf == pytest.approx(abc.e_inf(p), abs=1e-14)
    for u in (-2.2, -1.7, -1.0, 0.0, 0.4):
        assert law_theta_k(u, p, 2, gas) == pytest.approx(float(abc.theta_k(u, p, 2)), abs=1e-10)
        assert law_theta_total(u, p, gas) == pytest.approx(float(abc.theta_total(u, p)), abs=1e-10)
    # any variance of the semicircle is the same law once standardised
    other = law_bands(p, 2, CoulombGas(Semicircle(4.0, center=1.0)))
    np.testing.assert_allclose(other.e, bands.e[:3], atol=1e-10)


def test_other_laws_bands() -> None:
    # the uniform law (right edge sqrt 3 < 2) keeps the layers; MP(0.5) (edge 2.707) loses them
    uni = law_bands(3, 3, CoulombGas(UniformLaw(-1.0, 1.0)))
    assert all(uni.survives) and np.all(np.diff(uni.e) < 0) and uni.e[-1] > uni.e_inf
    for k, ek in enumerate(uni.e):
        assert law_theta_k(-ek, 3, k, CoulombGas(UniformLaw(-1.0, 1.0))) == pytest.approx(
            0.0, abs=1e-10
        )
    mp = law_bands(3, 2, CoulombGas(MarchenkoPastur(0.5)))
    assert not any(mp.survives) and all(math.isnan(e) for e in mp.e)


def test_law_without_right_edge_and_bad_u() -> None:
    with pytest.raises(InputError, match="no right edge"):
        CoulombGas(EmpiricalLaw([0.0, 1.0, 2.0]))
    with pytest.raises(InputError, match="beyond"):
        law_theta_k(1e6, 3, 0, CoulombGas(Semicircle(1.0)))


def test_total_normalisation() -> None:
    # semicircle: both normalisations are ABC; other laws: the total count is ABC's at u = +inf
    sc = CoulombGas(Semicircle(1.0))
    np.testing.assert_allclose(
        law_bands(3, 2, sc, normalise="total").e, abc.thresholds(3, 2), atol=1e-10
    )
    uni = CoulombGas(UniformLaw(-1.0, 1.0))
    assert law_theta_total(5.0, 4, uni, normalise="total") == pytest.approx(
        0.5 * math.log(3), abs=1e-10
    )
    assert law_theta_total(5.0, 4, uni) != pytest.approx(0.5 * math.log(3), abs=1e-3)
    with pytest.raises(InputError, match="normalise"):
        law_bands(3, 1, uni, normalise="other")
