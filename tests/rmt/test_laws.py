"""Limiting-law oracles LD-1..LD-5 (``docs/reference/oracles.md`` §6) and the SpectralLaw
contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats

from hessrmt.errors import InputError
from hessrmt.rmt import ensembles as E
from hessrmt.rmt.laws import EmpiricalLaw, MarchenkoPastur, Semicircle, UniformLaw

LAWS = [
    Semicircle(),
    Semicircle(variance=2.0, center=0.5),
    MarchenkoPastur(0.3, scale=1.7),
    MarchenkoPastur(1.0),
    MarchenkoPastur(0.99),
    MarchenkoPastur(2.5, scale=0.6),
    UniformLaw(-1.0, 2.0),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _quad(f, a: float, b: float) -> float:
    return scipy.integrate.quad(f, a, b, limit=400, epsabs=1e-13, epsrel=1e-13)[0]


def _ac_interval(law) -> tuple[float, float]:
    if isinstance(law, MarchenkoPastur):
        return law.lower, law.upper
    return law.support()


def _atom_mass(law) -> float:
    return sum(m for _, m in law.atoms())


@pytest.mark.parametrize("law", LAWS, ids=repr)
def test_ld1_mass_cdf_derivative_and_stieltjes_quadrature(law) -> None:
    a, b = _ac_interval(law)
    assert _quad(law.density, a, b) + _atom_mass(law) == pytest.approx(1.0, abs=1e-10)
    lo, hi = law.support()
    assert law.cdf(lo - 1.0) == 0.0
    assert law.cdf(hi) == pytest.approx(1.0, abs=1e-12)
    x = np.linspace(a, b, 9)[1:-1]
    h = 1e-6
    assert np.allclose((law.cdf(x + h) - law.cdf(x - h)) / (2 * h), law.density(x), atol=1e-7)
    for xi in x:  # cdf equals the integral of the density (+ atoms)
        expect = _quad(law.density, a, xi) + sum(m for loc, m in law.atoms() if loc <= xi)
        assert law.cdf(xi) == pytest.approx(expect, abs=1e-10)
    z = 3.0 + 0.5j
    re = _quad(lambda t: (law.density(t) / (z - t)).real, a, b)
    im = _quad(lambda t: (law.density(t) / (z - t)).imag, a, b)
    g = re + 1j * im + sum(m / (z - loc) for loc, m in law.atoms())
    assert abs(law.stieltjes(z) - g) < 1e-10
    # G' against a finite difference; Im G < 0 in the upper half plane; G ~ 1/z
    dg = (law.stieltjes(z + 1e-6) - law.stieltjes(z - 1e-6)) / 2e-6
    assert abs(law.stieltjes_derivative(z) - dg) < 1e-8
    zs = np.array([0.3 + 1e-3j, -2 + 1j, 5 + 0.01j, 1e6 + 1j])
    assert np.all(law.stieltjes(zs).imag < 0)
    assert abs(law.stieltjes(1e6 + 0j) * 1e6 - 1) < 1e-5
    # boundary value on the real axis gives the density
    xr = x + 0j
    assert np.allclose(-law.stieltjes(xr).imag / np.pi, law.density(x), atol=1e-12)


@pytest.mark.parametrize("law", LAWS, ids=repr)
def test_ld2_moments_against_quadrature(law) -> None:
    a, b = _ac_interval(law)
    for k in range(1, 7):
        q = _quad(lambda t, k=k: t**k * law.density(t), a, b)
        q += sum(m * loc**k for loc, m in law.atoms())
        assert law.moment(k) == pytest.approx(q, rel=1e-10, abs=1e-12)


def test_ld2_catalan_and_narayana_closed_forms() -> None:
    s = Semicircle(variance=1.0)
    assert [s.moment(k) for k in range(1, 9)] == [0, 1, 0, 2, 0, 5, 0, 14]
    for lam in (0.25, 1.0, 3.0):
        m = MarchenkoPastur(lam)
        assert m.moment(1) == pytest.approx(1.0, rel=1e-12)
        assert m.moment(2) == pytest.approx(1 + lam, rel=1e-12)
        assert m.moment(3) == pytest.approx(1 + 3 * lam + lam**2, rel=1e-12)
        assert m.moment(4) == pytest.approx(1 + 6 * lam + 6 * lam**2 + lam**3, rel=1e-12)


@pytest.mark.parametrize("lam", [0.2, 1.0, 4.0])
def test_ld3_mp_edges_mean_variance_atom(lam: float) -> None:
    m = MarchenkoPastur(lam, scale=2.0)
    assert m.lower == pytest.approx(2 * (1 - math.sqrt(lam)) ** 2, rel=1e-14)
    assert m.upper == pytest.approx(2 * (1 + math.sqrt(lam)) ** 2, rel=1e-14)
    assert m.mean() == pytest.approx(2.0, rel=1e-12)
    assert m.variance() == pytest.approx(4 * lam, rel=1e-12)
    assert m.atom_mass == pytest.approx(max(0.0, 1 - 1 / lam), abs=1e-15)
    if lam > 1:
        assert m.cdf(0.0) == pytest.approx(1 - 1 / lam, abs=1e-12)
        assert m.cdf(-1e-12) == 0.0
        assert m.support()[0] == 0.0


def test_ld4_log_potential() -> None:
    s = Semicircle()
    xs = [0.0, 0.7, 1.9, 2.5, 4.0, -3.0]
    expected = [-0.5, -0.3775, 0.4025, 0.81814718, 1.35285628, 1.03537267]
    assert np.allclose(s.log_potential(xs), expected, atol=1e-8)
    law = Semicircle(variance=2.0, center=0.5)
    for x in (0.3, 2.7):  # against quadrature, with scale and centre
        q = _quad(lambda t, x=x: math.log(abs(x - t)) * law.density(t), *law.support())
        assert law.log_potential(x) == pytest.approx(q, abs=1e-7)


@pytest.mark.slow
def test_ld5_monte_carlo_histograms() -> None:
    """LD-5: GOE N = 2000 (tridiagonal beta = 1 and a dense N = 1000 check) and MP p = 1000,
    n = 2000, pooled over 5 spectra: KS distance to the limit law < 0.01."""
    ev = E.beta_hermite_eigenvalues(2000, 1.0, 5, rng=1).ravel()
    assert scipy.stats.kstest(ev, Semicircle().cdf).statistic < 0.01
    ev = np.linalg.eigvalsh(E.goe(600, 3, rng=2, variance=2.0)).ravel()
    assert scipy.stats.kstest(ev, Semicircle(variance=2.0).cdf).statistic < 0.01
    ev = E.beta_laguerre_eigenvalues(1000, 2000, 1.0, 5, rng=3).ravel()
    assert scipy.stats.kstest(ev, MarchenkoPastur(0.5).cdf).statistic < 0.01
    ev = np.linalg.eigvalsh(E.wishart(300, 150, 3, rng=4)).ravel()
    zero = np.abs(ev) < 1e-9
    assert zero.mean() == 0.5  # the atom 1 - 1/phi, exactly
    law = MarchenkoPastur(2.0)
    assert scipy.stats.kstest(ev[~zero], lambda t: 2 * (law.cdf(t) - 0.5)).statistic < 0.02


@pytest.mark.parametrize("law", [*LAWS, EmpiricalLaw([0.0, 1.0, 1.0, 3.0])], ids=repr)
def test_sampling_matches_cdf(law) -> None:
    x = law.sample(20000, rng=5)
    assert np.array_equal(x, law.sample(20000, rng=5))
    if law.atoms() and not isinstance(law, EmpiricalLaw):
        x = x[x != 0.0]
        mass = 1 - _atom_mass(law)
        d = scipy.stats.kstest(x, lambda t: (law.cdf(t) - _atom_mass(law)) / mass).statistic
    elif isinstance(law, EmpiricalLaw):
        for loc, m in law.atoms():
            assert abs(np.mean(x == loc) - m) < 4 * math.sqrt(m * (1 - m) / x.size)
        return
    else:
        d = scipy.stats.kstest(x, law.cdf).statistic
    assert d < 1.95 / math.sqrt(x.size)  # KS 0.1 % critical value


def test_quantile_inverts_cdf() -> None:
    for law in (Semicircle(3.0, 1.0), MarchenkoPastur(0.4)):
        u = np.linspace(0.01, 0.99, 17)
        assert np.allclose(law.cdf(law.quantile(u)), u, atol=1e-12)


def test_empirical_law() -> None:
    ev = np.array([3.0, -1.0, 2.0, 2.0, 0.5])
    law = EmpiricalLaw(ev)
    assert law.atoms() == [(-1.0, 0.2), (0.5, 0.2), (2.0, 0.4), (3.0, 0.2)]
    z = np.array([1 + 1j, -2 + 0.1j])
    assert np.allclose(law.stieltjes(z), (1 / (z[:, None] - ev)).mean(axis=1), rtol=1e-14)
    assert np.allclose(law.stieltjes_derivative(z), -(1 / (z[:, None] - ev) ** 2).mean(axis=1))
    assert law.cdf(2.0) == pytest.approx(0.8)
    assert law.cdf(1.999) == pytest.approx(0.4)
    assert law.moment(3) == pytest.approx(np.mean(ev**3))
    assert law.support() == (-1.0, 3.0)
    assert np.all(law.density([0.0, 2.0]) == 0)
    w = EmpiricalLaw([0.0, 1.0], weights=[1.0, 3.0])
    assert w.mean() == pytest.approx(0.75)
    kde = law.smoothed_density(np.linspace(-5, 7, 2001), 0.2)
    assert scipy.integrate.trapezoid(kde, np.linspace(-5, 7, 2001)) == pytest.approx(1, abs=1e-6)


def test_bad_input() -> None:
    with pytest.raises(InputError, match="variance"):
        Semicircle(variance=0.0)
    with pytest.raises(InputError, match="phi"):
        MarchenkoPastur(-1.0)
    with pytest.raises(InputError, match="finite"):
        EmpiricalLaw([1.0, np.nan])
    with pytest.raises(InputError, match="a < b"):
        UniformLaw(1.0, 0.0)


@pytest.mark.parametrize("phi", [0.1, 0.5, 0.9])
def test_marchenko_pastur_stieltjes_accurate_near_zero(phi) -> None:
    """G(z) -> -E[1/lambda] = -1/(s (1 - phi)) as z -> 0 (phi < 1, no atom): the textbook form
    (b - r) / (2 phi s z) cancels to 0/0 there; the conjugate form keeps full precision."""
    law = MarchenkoPastur(phi, scale=2.0)
    # G(z) = -E[1/l] - z E[1/l^2] + O(z^2), E[1/l] = 1/(s(1-phi)), E[1/l^2] = 1/(s^2 (1-phi)^3)
    g0 = -1.0 / (2.0 * (1 - phi))
    g1 = -1.0 / (4.0 * (1 - phi) ** 3)
    for z in (1e-15, 1e-12, 1e-12j, -1e-10 + 0j):
        assert abs(law.stieltjes(z) - (g0 + g1 * z)) < 1e-11 * abs(g0)
    # quadrature of the density at a small real z: G(z) = int rho(x) / (z - x) dx
    z = 1e-6
    quad, _err = scipy.integrate.quad(
        lambda x: float(law.density(x)) / (z - x), law.lower, law.upper, limit=400, epsabs=1e-12
    )
    assert abs(law.stieltjes(z) - quad) < 1e-9 * abs(quad)
