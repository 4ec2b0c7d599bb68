"""Free-convolution oracles FP-1..FP-4, FP-6 and PB-2 (``docs/reference/oracles.md`` §7, §13).

Every expected value is a closed form (semicircle, shifted/scaled laws, the Pennington-Bahri cubic,
the Fuss-Catalan cubic, free cumulants of MP), a tabulated reference value, or a Monte Carlo
comparison with matrices built independently of the solver.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from hessrmt.errors import InputError
from hessrmt.rmt import ensembles as E
from hessrmt.rmt.free import (
    free_additive_convolution,
    free_cumulants,
    free_multiplicative_convolution,
    moments_from_free_cumulants,
)
from hessrmt.rmt.laws import EmpiricalLaw, MarchenkoPastur, Semicircle, UniformLaw

pytestmark = pytest.mark.usefixtures("one_thread")


def test_fp1_semicircle_plus_semicircle_to_1e8() -> None:
    f = free_additive_convolution(Semicircle(1.0), Semicircle(2.0, center=0.5))
    ref = Semicircle(3.0, center=0.5)
    x = np.linspace(-4.0, 5.0, 401)
    assert np.max(np.abs(f.density(x) - ref.density(x))) < 1e-8
    lo, hi = f.support()
    assert lo == pytest.approx(ref.support()[0], abs=1e-6)
    assert hi == pytest.approx(ref.support()[1], abs=1e-6)
    assert np.max(np.abs(f.cdf(x) - ref.cdf(x))) < 1e-7
    assert f.total_mass() == pytest.approx(1.0, abs=1e-8)
    z = np.array([0.3 + 0.2j, -1 + 2j, 4 - 0.5j])
    assert np.allclose(f.stieltjes(z), ref.stieltjes(z), atol=1e-12)
    assert f.moment(4) == pytest.approx(ref.moment(4), rel=1e-12)


def test_semicircle_plus_point_mass_is_a_shift_and_mp_times_point_mass_a_scaling() -> None:
    x = np.linspace(-3, 3, 201)
    f = free_additive_convolution(Semicircle(0.7), EmpiricalLaw([1.3]))
    assert np.max(np.abs(f.density(x) - Semicircle(0.7, center=1.3).density(x))) < 1e-8
    g = free_multiplicative_convolution(MarchenkoPastur(0.4), EmpiricalLaw([2.5]))
    xs = np.linspace(0.01, 8.0, 201)
    assert np.max(np.abs(g.density(xs) - MarchenkoPastur(0.4, scale=2.5).density(xs))) < 1e-8


@pytest.mark.parametrize(("m", "edge"), [(1.0, 2.295587), (4.0, 4.646784)])
def test_fp3_semicircle_plus_uniform_edge(m: float, edge: float) -> None:
    f = free_additive_convolution(Semicircle(1.0), UniformLaw(-m, m))
    closed = math.asinh(m) / m + math.sqrt(1 + m * m)
    assert closed == pytest.approx(edge, abs=1e-6)
    lo, hi = f.support()
    assert hi == pytest.approx(closed, abs=1e-6)  # oracle tolerance 2e-3
    assert lo == pytest.approx(-closed, abs=1e-6)
    # Pastur's equation G = G_U(z - G) holds at the computed G
    x = np.linspace(-hi, hi, 101)
    g = f.stieltjes_upper(x)
    assert np.max(np.abs(g - UniformLaw(-m, m).stieltjes(x + 1j * f.eta - g))) < 1e-9


@pytest.mark.parametrize(
    ("phi", "alphas"),
    [
        (0.10, (0.00967, 0.08868, 0.20845)),
        (0.25, (0.05398, 0.12548, 0.22535)),
        (0.50, (0.11356, 0.17047, 0.24895)),
        (1.5, (0.25373,)),
    ],
)
def test_pb2_mp_plus_semicircle_index_and_cubic(phi: float, alphas: tuple[float, ...]) -> None:
    """FP-6 / PB-2: MP(phi) boxplus sc(2 eps): fraction of negative mass alpha(eps, phi) to 2e-5
    (table values shown to 1e-5), and the computed G solves the P&B cubic."""
    for eps, alpha in zip((0.1, 0.2, 0.5), alphas):
        f = free_additive_convolution(MarchenkoPastur(phi), Semicircle(2 * eps))
        assert f.cdf(0.0) == pytest.approx(alpha, abs=2e-5)
        x = np.linspace(*f.support(), 60)
        g = f.stieltjes_upper(x)
        z = x + 1j * f.eta
        cubic = 2 * eps * phi * g**3 - (2 * eps + z * phi) * g**2 + (z - 1 + phi) * g - 1
        assert np.max(np.abs(cubic)) < 1e-9


def test_fp2_fuss_catalan() -> None:
    f = free_multiplicative_convolution(MarchenkoPastur(1.0), MarchenkoPastur(1.0))
    assert [f.moment(k) for k in range(1, 5)] == pytest.approx([1, 3, 12, 55], abs=1e-8)
    assert f.support()[1] == pytest.approx(6.75, abs=1e-4)
    # B = y G(y) solves B^3 - y B + y = 0 (generating function of C(3k, k)/(2k + 1))
    y = np.linspace(0.05, 6.7, 80)
    b = y * f.stieltjes_upper(y)
    assert np.max(np.abs(b**3 - y * b + y)) < 1e-9
    assert f.total_mass() == pytest.approx(1.0, abs=1e-4)  # x^(-2/3) singularity at 0


def test_boxtimes_moments_of_two_mp_laws() -> None:
    """MP(a, s) boxtimes MP(b, t): mean s t, second moment s^2 t^2 (1 + a + b) (from the
    S-transform S(w) = 1/(s t (1 + a w)(1 + b w)), expanded by hand)."""
    f = free_multiplicative_convolution(MarchenkoPastur(0.5, 2.0), MarchenkoPastur(0.25, 0.7))
    assert f.moment(1) == pytest.approx(1.4, rel=1e-12)
    assert f.moment(2) == pytest.approx(1.4**2 * 1.75, rel=1e-12)
    assert f.total_mass() == pytest.approx(1.0, abs=1e-6)


def test_boxtimes_moment_series() -> None:
    """Power-series S-transform product: MP(1) boxtimes MP(1) has the Fuss-Catalan moments
    C(3k, k)/(2k + 1); a point mass c scales MP(a, s) to MP(a, s c) (moments c^k m_k)."""
    from hessrmt.rmt.free_series import boxtimes_moments

    m = boxtimes_moments(MarchenkoPastur(1.0), MarchenkoPastur(1.0), 5)
    fuss = [math.comb(3 * k, k) / (2 * k + 1) for k in range(6)]
    np.testing.assert_allclose(m, fuss, rtol=1e-12)  # 1, 1, 3, 12, 55, 273
    law = MarchenkoPastur(0.3, 1.5)
    m = boxtimes_moments(law, EmpiricalLaw([2.0]), 5)
    expected = [1.0] + [MarchenkoPastur(0.3, 3.0).moment(k) for k in range(1, 6)]
    np.testing.assert_allclose(m, expected, rtol=1e-12)
    with pytest.raises(InputError, match="nonzero mean"):
        boxtimes_moments(Semicircle(), law, 3)


def test_free_cumulants_closed_forms() -> None:
    lam = 0.3
    mp = MarchenkoPastur(lam)
    kappa = free_cumulants([mp.moment(k) for k in range(1, 8)])
    assert np.allclose(kappa[1:], lam ** np.arange(7), rtol=1e-12)  # free Poisson: lam^(k-1)
    sc = Semicircle(2.0)
    kappa = free_cumulants([sc.moment(k) for k in range(1, 8)])
    assert np.allclose(kappa[1:], [0, 2, 0, 0, 0, 0, 0], atol=1e-12)
    m = moments_from_free_cumulants(kappa)
    assert np.allclose(m[1:], [sc.moment(k) for k in range(1, 8)], rtol=1e-12)


@pytest.mark.slow
def test_fp4_monte_carlo_a_plus_qbq() -> None:
    """FP-4: A + Q B Q^T with Q Haar (A, B fixed diagonal, N = 400, below the oracle's 2000 for
    the time budget) matches the numerical mu_A boxplus mu_B of the two empirical laws
    (KS < 0.01)."""
    n = 400
    rng = np.random.default_rng(30)
    a = np.sort(rng.uniform(-1.0, 1.0, n))
    b = np.where(np.arange(n) < n // 3, 1.2, 0.0) + 0.3 * rng.standard_normal(n)
    law = free_additive_convolution(EmpiricalLaw(a), EmpiricalLaw(b))
    q = E.haar_orthogonal(n, rng=31)
    ev = np.linalg.eigvalsh(np.diag(a) + (q * b) @ q.T)
    assert scipy.stats.kstest(ev, law.cdf).statistic < 0.01
    assert law.total_mass() == pytest.approx(1.0, abs=1e-5)


def test_empirical_plus_semicircle_solves_pastur_equation() -> None:
    ev = E.beta_hermite_eigenvalues(150, 1.0, rng=32, variance=0.5) + 1.0
    nu = EmpiricalLaw(np.concatenate([ev, [4.0, 4.0]]))
    f = free_additive_convolution(Semicircle(0.3), nu)
    x = np.linspace(-1.5, 5.0, 120)
    g = f.stieltjes_upper(x)
    z = x + 1j * f.eta
    assert np.max(np.abs(g - nu.stieltjes(z - 0.3 * g))) < 1e-9
    assert np.all(-g.imag >= 0)


def test_product_wishart_monte_carlo_matches_boxtimes() -> None:
    """Square two-factor product (N = 400, 3 samples) vs MP(1) boxtimes MP(1); the KS tolerance
    is loose because the Fuss-Catalan density is singular at 0."""
    f = free_multiplicative_convolution(MarchenkoPastur(1.0), MarchenkoPastur(1.0))
    ev = np.linalg.eigvalsh(E.product_wishart((400, 400, 400), 3, rng=33)).ravel()
    assert scipy.stats.kstest(ev, f.cdf).statistic < 0.02


def test_convolution_atoms_sampling_and_errors() -> None:
    f = free_additive_convolution(EmpiricalLaw([0.0] * 3 + [1.0]), EmpiricalLaw([2.0] * 3 + [5.0]))
    assert f.atoms() == [(2.0, pytest.approx(0.5))]  # 3/4 + 3/4 - 1
    g = free_multiplicative_convolution(MarchenkoPastur(2.0), MarchenkoPastur(0.5))
    assert g.atoms() == [(0.0, pytest.approx(0.5))]
    s = free_additive_convolution(Semicircle(), MarchenkoPastur(0.5))
    x = s.sample(5000, rng=1)
    assert scipy.stats.kstest(x, s.cdf).statistic < 1.95 / math.sqrt(x.size)
    with pytest.raises(InputError, match="SpectralLaw"):
        free_additive_convolution(Semicircle(), 3.0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"\[0, inf\)"):
        free_multiplicative_convolution(Semicircle(), MarchenkoPastur(1.0))
