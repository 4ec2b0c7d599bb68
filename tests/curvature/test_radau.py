"""Gauss-Radau rules of SLQ: exactness, the prescribed node, null masses, breakdowns, W1."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.linalg

from hessrmt.curvature.krylov.quadrature import radau_jacobi_entry, radau_rules
from hessrmt.curvature.krylov.stochastic_quadrature import SLQResult, slq
from hessrmt.errors import InputError
from tests.curvature.test_slq import goe, with_spectrum
from tests.curvature.test_slq import quadrature_moment_errors as moment_errors

pytestmark = pytest.mark.usefixtures("one_thread")


def orthonormal_polys_at(a: np.ndarray, b: np.ndarray, x: float) -> np.ndarray:
    """p_0..p_n(x) of the Jacobi matrix (a[:n], b[:n]) (b[n-1] normalises p_n)."""
    n = len(a)
    p = np.zeros(n + 1)
    p[0] = 1.0
    for k in range(1, n + 1):
        prev = b[k - 2] * p[k - 2] if k >= 2 else 0.0
        p[k] = ((x - a[k - 1]) * p[k - 1] - prev) / b[k - 1]
    return p


@pytest.mark.parametrize("x0", [0.0, 0.37, -3.0, 5.0])
def test_radau_rule_is_exact_to_degree_2m_with_a_node_at_x0(x0: float) -> None:
    """m steps: the Radau rule reproduces v^T A^j v for j <= 2m (Gauss only for j < 2m), has a
    node at x0 (inside the spectrum, or outside it), and non-negative weights summing to 1."""
    n, m = 200, 7
    A = goe(n, seed=3)
    v = np.random.default_rng(4).standard_normal(n)
    q = v / np.linalg.norm(v)
    gauss = slq(A, num_steps=m, probes=v)
    radau = slq(A, num_steps=m, probes=v, quadrature="radau", radau_node=x0)
    assert radau.nodes.shape == (1, m + 1) and radau.num_matvecs == gauss.num_matvecs == m
    nodes, weights = radau.nodes[0], radau.weights[0]
    assert np.all(weights >= 0) and weights.sum() == pytest.approx(1.0, abs=1e-13)
    assert np.count_nonzero(nodes == x0) == 1
    err_r = moment_errors(A, q, nodes, weights, 2 * m + 2)
    err_g = moment_errors(A, q, gauss.nodes[0], gauss.weights[0], 2 * m + 2)
    assert err_r[: 2 * m + 1].max() < 1e-12
    assert err_g[2 * m] > 1e-6  # Gauss stops one degree earlier
    assert err_r[2 * m + 1] > 1e-6  # and Radau is not exact beyond 2m (the test can fail)


def test_radau_entry_matches_the_orthonormal_polynomial_formula() -> None:
    """alpha' = x0 + beta_m^2 / d_m (pivots) equals x0 - beta_m p_{m-1}(x0) / p_m(x0), and the
    weight at x0 is the Christoffel function 1 / sum_{j<=m} p_j(x0)^2 (Golub & Meurant 2010)."""
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(9), rng.uniform(0.2, 1.0, 9)
    for x0 in (0.0, 0.4, -1.3):
        p = orthonormal_polys_at(a, b, x0)
        expected = x0 - b[-1] * p[-2] / p[-1]
        assert radau_jacobi_entry(a, b[:-1], b[-1], x0) == pytest.approx(expected, rel=1e-12)
        # and the extended matrix has x0 as an eigenvalue
        ev = scipy.linalg.eigh_tridiagonal(np.append(a, radau_jacobi_entry(a, b[:-1], b[-1], x0)),
                                           b)[0]  # fmt: skip
        assert np.abs(ev - x0).min() < 1e-12
        # its weight there is the Christoffel function 1 / sum_{j<=m} p_j(x0)^2
        r_nodes, r_weights = radau_rules(a[None], b[None, :-1], b[-1:], np.array([9]), x0)
        at = r_weights[0][r_nodes[0] == x0].sum()
        assert at == pytest.approx(1.0 / np.sum(p**2), rel=1e-10)


def test_node_mass_estimates_a_null_fraction_and_is_small_without_one() -> None:
    """90% of the eigenvalues at 0: the Radau weight at 0 estimates 0.9 (mean over probes, within
    4 SE and 0.03). A GOE spectrum (no atom) gets the Christoffel function of its semicircle at
    0 after m = 12 steps: 1 / sum_{j<=12} U_j(0)^2 = 1/7, not an atom."""
    rng = np.random.default_rng(6)
    n = 600
    eigs = np.concatenate([np.zeros(540), rng.uniform(0.5, 2.0, 60)])
    A = with_spectrum(eigs, seed=7)
    res = slq(A, num_probes=12, num_steps=12, rng=8, quadrature="radau")
    mass, se = res.node_mass()
    assert abs(mass - 0.9) < max(4 * se, 1e-3) and abs(mass - 0.9) < 0.03
    no_atom, _ = slq(goe(n, seed=9), num_probes=12, num_steps=12, rng=8,
                     quadrature="radau").node_mass()  # fmt: skip
    assert no_atom == pytest.approx(1 / 7, abs=0.01)
    with pytest.raises(InputError, match="quadrature='radau'"):
        slq(A, num_probes=2, num_steps=4).node_mass()


def test_radau_weight_at_0_bounds_each_probes_null_mass_from_above() -> None:
    """The weight at the prescribed node is the Christoffel function there, the largest mass
    any measure with the probe's first 2m moments can put at 0: never below the probe's exact
    null mass ||P_0 q||^2, and close to it when the rest of the spectrum is away from 0."""
    rng = np.random.default_rng(17)
    n, r = 400, 50
    U, _ = np.linalg.qr(rng.standard_normal((n, r)))
    A = (U * rng.uniform(0.3, 2.0, r)) @ U.T
    V = rng.standard_normal((n, 5))
    res = slq(A, num_steps=10, probes=V, quadrature="radau")
    assert np.all(res.last_betas > 0)  # no breakdown: the Radau construction itself
    Q = V / np.linalg.norm(V, axis=0)
    null = 1.0 - np.sum((U.T @ Q) ** 2, axis=0)
    at0 = np.where(res.nodes == 0.0, res.weights, 0.0).sum(axis=1)
    assert np.all(at0 >= null - 1e-12)
    np.testing.assert_allclose(at0, null, atol=0.02)
    gauss = slq(A, num_steps=10, probes=V)
    assert not np.any(gauss.nodes == 0.0)  # the Gauss rule has no node there


def test_breakdown_gives_the_exact_gauss_rule_and_finds_the_null_mass() -> None:
    """Rank 5: the Krylov space is invariant after 6 steps; the Radau rule is then the exact
    Gauss rule (every degree), and its node at 0 carries the probe's null mass."""
    rng = np.random.default_rng(10)
    U, _ = np.linalg.qr(rng.standard_normal((120, 5)))
    A = U @ np.diag([1.0, 2.0, 3.0, 4.0, 5.0]) @ U.T
    V = rng.standard_normal((120, 3))
    res = slq(A, num_steps=30, probes=V, quadrature="radau")
    assert np.all(res.last_betas == 0)
    for i in range(3):
        v = V[:, i] / np.linalg.norm(V[:, i])
        exact = v @ np.linalg.matrix_power(A, 20) @ v
        assert res.weights[i] @ res.nodes[i] ** 20 == pytest.approx(exact, rel=1e-9)
    null = 1.0 - np.sum((U.T @ (V / np.linalg.norm(V, axis=0))) ** 2, axis=0)
    mass, _ = res.node_mass()
    assert mass == pytest.approx(null.mean(), abs=1e-8)


def test_rules_from_stored_tridiagonals_equal_slq_radau() -> None:
    """radau_rules on a Gauss result's (alphas, betas, last_betas) is slq(quadrature='radau')."""
    A = goe(150, seed=11)
    g = slq(A, num_probes=3, num_steps=9, rng=12)
    r = slq(A, num_probes=3, num_steps=9, rng=12, quadrature="radau", radau_node=0.1)
    nodes, weights = radau_rules(g.alphas, g.betas, g.last_betas, g.num_steps_used, 0.1)
    np.testing.assert_array_equal(nodes, r.nodes)
    np.testing.assert_array_equal(weights, r.weights)
    np.testing.assert_array_equal(g.alphas, r.alphas)
    assert r.meta.conventions["quadrature"].startswith("gauss-radau")
    assert g.meta.conventions["quadrature"].startswith("gauss (")


def test_radau_beats_gauss_in_w1_on_a_near_null_bulk() -> None:
    """The case it is for: 97% of the eigenvalues in a narrow bulk around 0 (width 1e-3), the
    rest spread over [-1, 1]. Against the exact spectrum, the Radau rule's W1 is never more than
    5% above the Gauss rule's at m = 10..20 and less than 0.6 of it at some m (Gauss's node
    nearest 0 depends on the parity of m); on a spectrum without such a mass (shifted
    Marchenko-Pastur) both agree within 5%."""
    rng = np.random.default_rng(13)
    n = 3000
    k = int(0.97 * n)
    bulk = np.concatenate([rng.normal(0, 1e-3, k), rng.uniform(-1, 1, n - k)])
    X = rng.standard_normal((n, 2 * n)) / np.sqrt(2 * n)
    mp = np.linalg.eigvalsh(X @ X.T) + 0.5
    ratios = {}
    for name, eigs in (("bulk", bulk), ("mp", mp)):
        D = np.diag(eigs)
        for m in (10, 11, 15, 20):
            g = slq(D, num_probes=8, num_steps=m, rng=14)
            r = slq(D, num_probes=8, num_steps=m, rng=14, quadrature="radau")
            ratios[name, m] = r.wasserstein_to(eigs) / g.wasserstein_to(eigs)
    assert max(ratios[k] for k in ratios if k[0] == "bulk") < 1.05
    assert min(ratios[k] for k in ratios if k[0] == "bulk") < 0.6
    assert all(abs(ratios[k] - 1) < 0.05 for k in ratios if k[0] == "mp")


def test_radau_result_round_trip_and_old_results_without_last_betas(tmp_path) -> None:
    A = goe(50, seed=15)
    a = slq(A, num_probes=2, num_steps=6, rng=16, quadrature="radau")
    a.save(tmp_path / "r")
    back = SLQResult.load(tmp_path / "r")
    for f in dataclasses.fields(SLQResult):
        x, y = getattr(a, f.name), getattr(back, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(y, x, err_msg=f.name)
        else:
            assert y == x, f.name
    assert back.node_mass() == a.node_mass()
    # a result saved before last_betas existed still loads (as a Gauss result)
    import json

    doc = json.loads((tmp_path / "r.json").read_text())
    for k in ("last_betas", "quadrature", "radau_node"):
        doc["data"].pop(k)
    (tmp_path / "r.json").write_text(json.dumps(doc))
    old = SLQResult.load(tmp_path / "r")
    assert old.last_betas is None and old.quadrature == "gauss"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quadrature": "lobatto"}, "quadrature must be one of"),
        ({"quadrature": "radau", "radau_node": float("nan")}, "radau_node must be a finite"),
        ({"quadrature": "radau", "radau_node": "0"}, "radau_node must be a finite"),
    ],
)
def test_bad_quadrature_input(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        slq(np.eye(20), **kwargs)
    with pytest.raises(InputError, match="Gauss-Radau node must be finite"):
        radau_rules(np.ones((1, 2)), np.ones((1, 1)), np.ones(1), np.array([2]), float("inf"))


def test_radau_density_uses_the_gauss_grid_and_width() -> None:
    """The broadened Radau density lives on the Gauss rule's default grid with its width (a
    Radau node outside the Gauss range must not stretch it), extended to a prescribed node
    beyond it; it integrates to 1 over a grid that holds every node."""
    A = goe(300, seed=18)
    g = slq(A, num_probes=4, num_steps=12, rng=19)
    r = slq(A, num_probes=4, num_steps=12, rng=19, quadrature="radau")
    np.testing.assert_array_equal(r.grid, g.grid)
    assert r.width == g.width
    far = slq(A, num_probes=4, num_steps=12, rng=19, quadrature="radau", radau_node=6.0)
    assert far.grid[-1] == pytest.approx(6.0 + 5 * g.width) and far.grid.size == g.grid.size
    assert np.trapezoid(far.density, far.grid) == pytest.approx(1.0, abs=1e-3)
    given = np.linspace(-3, 3, 500)
    np.testing.assert_array_equal(slq(A, 2, 8, rng=1, quadrature="radau", grid=given).grid, given)
