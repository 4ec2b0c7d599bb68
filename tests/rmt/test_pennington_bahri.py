"""Pennington-Bahri H0 + H1 theory: oracles PB-1..PB-5 (docs/reference/oracles.md section 13),
identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from hessrmt.errors import InputError
from hessrmt.rmt import pennington_bahri as pb

# docs/reference/oracles.md section 13 reference table: phi -> (eps_c, alpha0, {eps: alpha})
TABLE = {
    0.10: (0.083435, 0.129748, {0.1: 0.00967, 0.2: 0.08868, 0.5: 0.20845}),
    0.25: (0.043510, 0.074833, {0.1: 0.05398, 0.2: 0.12548, 0.5: 0.22535}),
    0.50: (0.011271, 0.033501, {0.1: 0.11356, 0.2: 0.17047, 0.5: 0.24895}),
    0.75: (0.001266, 0.012677, {0.1: 0.15907, 0.2: 0.20485, 0.5: 0.26875}),
    0.90: (0.000077, 0.004428, {0.1: 0.18204, 0.2: 0.22236, 0.5: 0.27932}),
    1.5: (0.0, None, {0.1: 0.25373, 0.01: 0.19974}),
    2.0: (0.0, None, {0.1: 0.29650, 0.01: 0.26576}),
}


def _z(g, phi, eps):
    return 1.0 / (1.0 - phi * g) + 2.0 * eps * g + 1.0 / g


def _mp_g(z, phi):
    """Closed-form MP Stieltjes transform (docs/reference/oracles.md 6.2), branch G ~ 1/z in
    C+."""
    lo, hi = (1 - math.sqrt(phi)) ** 2, (1 + math.sqrt(phi)) ** 2
    return (z - (1 - phi) - np.sqrt(z - lo) * np.sqrt(z - hi)) / (2 * phi * z)


# ---------------------------------------------------------------------------------------------
# PB-1: critical energy
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phi", [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99])
def test_pb1_closed_form_equals_edge_touching_eps(phi):
    assert pb.critical_energy(phi) == pytest.approx(pb.critical_energy_numeric(phi), abs=1e-8)


@pytest.mark.parametrize("phi", [0.0, 0.1, 0.3, 0.6, 0.95, 1.0])
def test_pb1_expanded_formula_and_edge_conditions(phi):
    expanded = (1 - 20 * phi - 8 * phi**2 + (1 + 8 * phi) ** 1.5) / 16
    eps_c = pb.critical_energy(phi)
    assert eps_c == pytest.approx(expanded, rel=1e-12, abs=1e-15)
    if 0 < phi < 1:
        # G_c = -8/((3 - s)(1 + s)) solves z(G) = 0 and z'(G) = 0 at eps_c
        s = math.sqrt(1 + 8 * phi)
        gc = -8 / ((3 - s) * (1 + s))
        assert _z(gc, phi, eps_c) == pytest.approx(0.0, abs=1e-12)
        dz = phi / (1 - phi * gc) ** 2 + 2 * eps_c - 1 / gc**2
        assert dz == pytest.approx(0.0, abs=1e-12)


def test_pb1_limits():
    assert pb.critical_energy(0.0) == pytest.approx(1 / 8, rel=1e-15)
    assert pb.critical_energy(1.0) == 0.0
    assert pb.critical_energy(1.7) == 0.0
    assert pb.critical_energy_numeric(1.7) == 0.0
    assert pb.alpha0(0.0) == pytest.approx(2 / (3 * math.pi), rel=1e-14)
    assert pb.alpha0(0.0) == pytest.approx(0.212207, abs=1e-6)
    assert pb.alpha0(2.0) is None


# ---------------------------------------------------------------------------------------------
# PB-2: reference table
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phi", sorted(TABLE))
def test_pb2_reference_table(phi):
    eps_c, a0, alphas = TABLE[phi]
    assert pb.critical_energy(phi) == pytest.approx(eps_c, abs=1e-6)
    if a0 is None:
        assert pb.alpha0(phi) is None
    else:
        assert pb.alpha0(phi) == pytest.approx(a0, abs=1e-6)
    for eps, alpha in alphas.items():
        assert pb.index(eps, phi) == pytest.approx(alpha, abs=2e-5), (phi, eps)


def test_index_is_zero_below_critical_energy_and_positive_above():
    phi = 0.25
    eps_c = pb.critical_energy(phi)
    assert pb.index(0.9 * eps_c, phi) == 0.0
    assert pb.index(0.0, phi) == 0.0
    assert pb.index(1.1 * eps_c, phi) > 0.0


# ---------------------------------------------------------------------------------------------
# PB-3: 3/2 law
# ---------------------------------------------------------------------------------------------


def test_pb3_three_halves_law_slope_and_prefactor():
    phi = 0.25
    eps_c = pb.critical_energy(phi)
    deltas = np.geomspace(1e-3, 1e-2, 5)
    alphas = np.array([pb.index(eps_c * (1 + d), phi) for d in deltas])
    slope = np.polyfit(np.log(deltas), np.log(alphas), 1)[0]
    assert abs(slope - 1.5) < 0.05
    a0 = pb.alpha0(phi)
    assert alphas[-1] / 1e-2**1.5 == pytest.approx(a0, rel=0.02)
    # section 13 asymptote check values (numerical alpha at eps/eps_c = 1.01 and 1.05)
    assert alphas[-1] == pytest.approx(7.424e-5, abs=1e-8)
    assert pb.index(1.05 * eps_c, phi) == pytest.approx(8.05e-4, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# PB-4: Monte Carlo, n = 1500, 3 samples
# ---------------------------------------------------------------------------------------------


MC_TABLE = [(0.25, 0.1, 0.0542, 0.0540), (0.5, 0.05, 0.0640, 0.0636), (0.5, 0.2, 0.1704, 0.1705),
            (1.5, 0.05, 0.2331, 0.2332)]  # fmt: skip


@pytest.mark.parametrize(("phi", "eps", "mc_table", "theory_table"), MC_TABLE)
def test_pb4_theory_column(phi, eps, mc_table, theory_table):
    assert pb.index(eps, phi) == pytest.approx(theory_table, abs=1e-4)
    assert pb.index(eps, phi) == pytest.approx(mc_table, abs=1e-3)


def _negative_count(H):
    """Number of negative eigenvalues by Sylvester's inertia of a Bunch-Kaufman LDL^T."""
    _, d, _ = scipy.linalg.ldl(H, lower=True)
    count, i, n = 0, 0, d.shape[0]
    while i < n:
        if i + 1 < n and d[i + 1, i] != 0.0:
            count += int(np.sum(np.linalg.eigvalsh(d[i : i + 2, i : i + 2]) < 0))
            i += 2
        else:
            count += int(d[i, i] < 0)
            i += 1
    return count


@pytest.mark.slow
@pytest.mark.parametrize(("phi", "eps"), [(0.25, 0.1), (1.5, 0.05)])
def test_pb4_monte_carlo_n1500_3samples(phi, eps):
    """MC at n = 1500, 3 samples (both regimes phi < 1 and phi > 1; the other two rows of the
    section 13 table are checked against its theory column above, to keep the suite fast)."""
    theory = pb.index(eps, phi)
    # Sampled here with NumPy, independently of pb.sample_model_eigenvalues:
    # H = X X^T / m + sqrt(2 eps) (A + A^T) / sqrt(2 n), X of size n x m, m = n / phi.
    n = 1500
    m = round(n / phi)
    gen = np.random.default_rng(1500 + round(1000 * phi) + round(1000 * eps))
    fractions = []
    for _ in range(3):
        X = gen.standard_normal((n, m))
        A = gen.standard_normal((n, n))
        H = X @ X.T / m + math.sqrt(2 * eps) * (A + A.T) / math.sqrt(2 * n)
        fractions.append(_negative_count(H) / n)
    assert abs(np.mean(fractions) - theory) <= 1e-3


def test_negative_count_helper_agrees_with_eigvalsh(rng):
    A = rng.standard_normal((60, 60))
    H = A + A.T + 0.5 * np.eye(60)
    assert _negative_count(H) == int(np.sum(np.linalg.eigvalsh(H) < 0))


def test_sampler_matches_theory_and_is_seeded():
    a = pb.sample_model_eigenvalues(200, 0.5, 0.2, size=2, rng=7)
    b = pb.sample_model_eigenvalues(200, 0.5, 0.2, size=2, rng=7)
    assert a.shape == (2, 200)
    np.testing.assert_array_equal(a, b)
    assert np.all(np.diff(a, axis=1) >= 0)
    # mean 1 and second moment 1 + phi + 2 eps (up to O(1/sqrt(n^2)) fluctuations)
    assert np.mean(a) == pytest.approx(1.0, abs=0.02)
    assert np.mean(a**2) == pytest.approx(1 + 0.5 + 0.4, abs=0.05)
    assert abs(np.mean(a < 0) - pb.index(0.2, 0.5)) < 0.02


# ---------------------------------------------------------------------------------------------
# PB-5: phi >= 1
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phi", [1.5, 2.0])
def test_pb5_index_tends_to_half_the_atom(phi):
    limit = (1 - 1 / phi) / 2
    gaps = [pb.index(eps, phi) - limit for eps in (1e-4, 1e-6, 1e-8)]
    # alpha approaches (1 - 1/phi)/2 from above, the gap shrinking like sqrt(eps)
    assert all(g > 0 for g in gaps)
    assert gaps[1] / gaps[0] == pytest.approx(0.1, rel=0.01)
    assert gaps[2] / gaps[1] == pytest.approx(0.1, rel=0.01)
    assert gaps[2] < 5e-5
    assert pb.index(1e-3, phi) > 0


def test_phi_above_one_atom_at_eps_zero_and_two_intervals_at_small_eps():
    law0 = pb.PenningtonBahriLaw(1.5, 0.0)
    assert law0.atoms() == [(0.0, pytest.approx(1 / 3, rel=1e-14))]
    assert law0.total_mass() == pytest.approx(1.0, abs=1e-8)
    law = pb.PenningtonBahriLaw(2.0, 1e-3)
    ivs = law.support_intervals()
    assert len(ivs) == 2  # the spread atom around 0 and the bulk
    a, b = ivs[0]
    assert a < 0 < b
    mass0 = law._integrate(a, b, True, True)
    assert mass0 == pytest.approx(0.5, abs=1e-6)  # the whole atom 1 - 1/phi moved into it
    assert law.atoms() == []


# ---------------------------------------------------------------------------------------------
# Density, Stieltjes transform, root selection
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("phi", "eps"), [(0.25, 0.1), (0.75, 0.01), (1.5, 0.05), (2.0, 0.3)])
def test_mass_and_moments(phi, eps):
    law = pb.PenningtonBahriLaw(phi, eps)
    assert law.total_mass() == pytest.approx(1.0, abs=1e-8)
    # closed forms from the free cumulants kappa_j = phi^(j-1) (+ 2 eps at j = 2)
    assert law.moment(1) == pytest.approx(1.0, rel=1e-14)
    assert law.moment(2) == pytest.approx(1 + phi + 2 * eps, rel=1e-14)
    assert law.moment(3) == pytest.approx(phi**2 + 3 * (phi + 2 * eps) + 1, rel=1e-14)
    # moments of the density by quadrature, independent of the cumulant recursion
    x, w = [], []
    t, wt = np.polynomial.legendre.leggauss(256)
    for a, b in law.support_intervals():
        th = 0.5 * math.pi * (t + 1)
        x.append(0.5 * (a + b) - 0.5 * (b - a) * np.cos(th))
        w.append(wt * 0.25 * math.pi * (b - a) * np.sin(th))
    x, w = np.concatenate(x), np.concatenate(w)
    rho = law.density(x)
    for k in (2, 3, 4):
        assert np.sum(w * rho * x**k) == pytest.approx(law.moment(k), rel=1e-7)


@pytest.mark.parametrize(("phi", "eps"), [(0.25, 0.1), (0.5, 0.011), (1.5, 0.05)])
def test_stieltjes_identities(phi, eps):
    law = pb.PenningtonBahriLaw(phi, eps)
    z = np.array([3 + 0.5j, 0.1 + 0.05j, -1 + 2j, 1.2 + 1e-3j])
    g = law.stieltjes(z)
    assert np.all(g.imag < 0)
    # Pastur's subordination equation with the closed-form MP transform: G = G_MP(z - 2 eps G)
    np.testing.assert_allclose(g, _mp_g(z - 2 * eps * g, phi), rtol=1e-10)
    # quadrature of rho / (z - l) at a point well off the support
    x, w = [], []
    t, wt = np.polynomial.legendre.leggauss(256)
    for a, b in law.support_intervals():
        th = 0.5 * math.pi * (t + 1)
        x.append(0.5 * (a + b) - 0.5 * (b - a) * np.cos(th))
        w.append(wt * 0.25 * math.pi * (b - a) * np.sin(th))
    x, w = np.concatenate(x), np.concatenate(w)
    gq = np.sum(w * law.density(x) / (z[0] - x))
    assert g[0] == pytest.approx(gq, abs=1e-10)
    # conjugate symmetry
    assert law.stieltjes(np.conj(z[0])) == pytest.approx(np.conj(g[0]), abs=1e-14)


def test_root_selection_by_continuation_is_stable_and_consistent():
    phi, eps = 0.5, 0.05
    fine = pb.PenningtonBahriLaw(phi, eps, ladder_steps=300)
    coarse = pb.PenningtonBahriLaw(phi, eps, ladder_steps=40)
    a, b = fine.support_intervals()[0]
    x = np.linspace(a - 0.5, b + 0.5, 301)
    rho = fine.density(x)
    np.testing.assert_allclose(coarse.density(x), rho, atol=1e-10)
    inside = (x > a) & (x < b)
    assert np.all(rho[inside] > 0)
    assert np.all(rho[(x < a) | (x > b)] == 0)
    # in the bulk the physical root is the one of the complex-conjugate pair with Im < 0
    roots = np.roots  # independent per-point root finder
    for xi, ri in zip(x[inside][::25], rho[inside][::25]):
        r = roots(pb.cubic_coefficients(xi, phi, eps).real)
        assert ri == pytest.approx(np.max(np.abs(r.imag)) / math.pi, rel=1e-8)


def test_small_phi_tends_to_shifted_semicircle():
    eps = 0.1
    law = pb.PenningtonBahriLaw(1e-8, eps)
    var = 2 * eps
    x = np.linspace(1 - 1.8 * math.sqrt(var), 1 + 1.8 * math.sqrt(var), 11)
    sc = np.sqrt(4 * var - (x - 1) ** 2) / (2 * math.pi * var)
    np.testing.assert_allclose(law.density(x), sc, rtol=1e-3)


def test_eps_zero_is_marchenko_pastur():
    phi = 0.5
    law = pb.PenningtonBahriLaw(phi, 0.0)
    lo, hi = (1 - math.sqrt(phi)) ** 2, (1 + math.sqrt(phi)) ** 2
    x = np.linspace(lo + 0.01, hi - 0.01, 7)
    mp = np.sqrt((hi - x) * (x - lo)) / (2 * math.pi * phi * x)
    np.testing.assert_allclose(law.density(x), mp, rtol=1e-12)
    # and a tiny eps is close to it in the bulk (continuity of the cubic solution)
    np.testing.assert_allclose(pb.PenningtonBahriLaw(phi, 1e-9).density(x), mp, rtol=1e-3)


def test_cdf_monotone_and_matches_index():
    law = pb.PenningtonBahriLaw(0.25, 0.2)
    x = np.linspace(-1.5, 4.0, 23)
    F = law.cdf(x)
    assert np.all(np.diff(F) >= -1e-12)
    assert F[0] == 0.0
    assert F[-1] == pytest.approx(1.0, abs=1e-8)
    assert law.cdf(0.0) == pytest.approx(law.index(), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Cross-check against the generic numerical free convolution (engineer RMT-A's module)
# ---------------------------------------------------------------------------------------------


def test_matches_generic_free_additive_convolution():
    # both modules have landed: a broken import must fail this cross-check, not skip it
    from hessrmt.rmt import free, laws

    for phi, eps in [(0.5, 0.1), (1.5, 0.05)]:
        conv = free.free_additive_convolution(laws.MarchenkoPastur(phi), laws.Semicircle(2 * eps))
        law = pb.PenningtonBahriLaw(phi, eps)
        a, b = law.support_intervals()[0]
        x = np.linspace(a + 0.05 * (b - a), b - 0.05 * (b - a), 15)
        np.testing.assert_allclose(conv.density(x), law.density(x), rtol=1e-8, atol=1e-10)
        # the index from the generic density, integrated independently (sqrt edge at a)
        t, w = np.polynomial.legendre.leggauss(64)
        u = 0.5 * (t + 1)
        alpha = np.sum(w * (-a) * u * conv.density(a - a * u**2))
        assert alpha == pytest.approx(law.index(), abs=1e-8)


# ---------------------------------------------------------------------------------------------
# Inputs and results
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("phi", "eps"), [(0.0, 0.1), (-1.0, 0.1), (0.5, -0.01), (np.nan, 0.1),
                                          (0.5, np.inf), ("x", 0.1)])  # fmt: skip
def test_bad_parameters_raise_input_error(phi, eps):
    with pytest.raises(InputError):
        pb.index(eps, phi)
    with pytest.raises(InputError):
        pb.PenningtonBahriLaw(phi, eps)


def test_evaluate_result_roundtrip(tmp_path):
    res = pb.evaluate(0.25, 0.1, grid_points=101)
    assert res.index == pytest.approx(0.05398, abs=2e-5)
    assert res.epsilon_c == pytest.approx(0.043510, abs=1e-6)
    assert res.total_mass == pytest.approx(1.0, abs=1e-8)
    assert res.meta.conventions["H1"].startswith("semicircle of variance 2 epsilon")
    res.save(tmp_path / "pb")
    back = pb.PenningtonBahriTheory.load(tmp_path / "pb")
    assert back.index == res.index
    assert back.support == res.support
    np.testing.assert_array_equal(back.density, res.density)
    d = res.to_summary_dict()
    for key in ("phi", "epsilon", "epsilon_c", "index", "alpha0", "support", "atoms"):
        assert key in d


def test_index_free_sum_matches_the_model_and_a_closed_form():
    # with H0 a Marchenko-Pastur sample and var(H1) = 2 eps it is the model's index (PB-2)
    rng = np.random.default_rng(5)
    n, phi, eps = 300, 0.5, 0.2
    X = rng.standard_normal((n, round(n / phi)))
    h0 = np.linalg.eigvalsh(X @ X.T / X.shape[1])
    a, se = pb.index_free_sum(h0, 2 * eps, samples=4, rng=rng)
    assert a == pytest.approx(pb.index(eps, phi), abs=max(4 * se, 0.01))
    # H0 = c I: the fraction of a semicircle of variance v (radius 2 sqrt v) below -c
    c, v = 0.5, 0.25
    r = 2 * math.sqrt(v)
    t = -c / r
    semicircle_cdf = 0.5 + (t * math.sqrt(1 - t * t) + math.asin(t)) / math.pi
    a, se = pb.index_free_sum(np.full(400, c), v, samples=3, rng=1)
    assert a == pytest.approx(semicircle_cdf, abs=0.015)
    # the mean of H1 shifts the spectrum: a large positive mean leaves nothing negative
    assert pb.index_free_sum(np.full(50, c), v, h1_mean=5.0, rng=0)[0] == 0.0
    with pytest.raises(InputError):
        pb.index_free_sum([1.0], 0.1)
    with pytest.raises(InputError):
        pb.index_free_sum(np.ones(5), -1.0)
