"""GAN spin glass: Coulomb-gas log-determinant (closed-form limits, Monte-Carlo finite-N trend),
complexity constants, Theta map and thresholds against brute force, index penalty
(docs/reference/papers.md section 6.1; docs/reference/oracles.md sections 6.1, 12, 14)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.gan import complexity as cx
from hessrmt.rmt.gan import coulomb as cg
from hessrmt.rmt.gan.model import GanHessianModel


def semicircle_log_potential(x: np.ndarray, var: float) -> np.ndarray:
    """docs/reference/oracles.md section 6.1: x^2/(4 s^2) - 1/2 + log s inside [-2s, 2s];
    outside minus
    |x| sqrt(x^2 - 4 s^2)/(4 s^2) - log((|x| + sqrt(x^2 - 4 s^2)) / (2 s))."""
    s = math.sqrt(var)
    ax = np.abs(x)
    r = np.sqrt(np.maximum(x * x - 4 * var, 0.0))
    out = x * x / (4 * var) - 0.5 + math.log(s)
    outside = ax * r / (4 * var) - np.log(np.maximum(ax + r, 2 * s) / (2 * s))
    return out - np.where(ax > 2 * s, outside, 0.0)


def test_log_determinant_of_the_semicircle_limits() -> None:
    """kappa = 0 and b1 = x1 = 0: L(x) is the semicircle log-potential of variance b^2/2;
    kappa = 1: that of variance (b^2 + b1^2)/2 at x + x1 (inside and outside the support). Near
    the limits the general solver approaches them: the block adds a component of mass ~kappa
    whose density joins the bulk with a kink, so the error falls with kappa (not to round-off).
    """
    x = np.array([-3.0, -1.6, -1.0, 0.0, 0.37, 1.5, 2.5])
    b, b1, x1 = 1.2, 0.8, 0.6
    exact0 = semicircle_log_potential(x, b * b / 2)
    exact1 = semicircle_log_potential(x + x1, (b * b + b1 * b1) / 2)
    np.testing.assert_allclose(cg.log_determinant(GanHessianModel(0.0, b, b1, x1), x), exact0,
                               atol=1e-10)  # fmt: skip
    np.testing.assert_allclose(cg.log_determinant(GanHessianModel(1.0, b, b1, x1), x), exact1,
                               atol=1e-10)  # fmt: skip
    np.testing.assert_allclose(cg.log_determinant(GanHessianModel(0.4, b, 0.0, 0.0), x), exact0,
                               atol=1e-8)  # fmt: skip
    errors = []
    for k in (1e-2, 1e-5):
        e0 = np.abs(cg.log_determinant(GanHessianModel(k, b, b1, x1), x) - exact0).max()
        e1 = np.abs(cg.log_determinant(GanHessianModel(1 - k, b, b1, x1), x) - exact1).max()
        errors.append((e0, e1))
    errors = np.array(errors)
    assert np.all(np.diff(errors, axis=0) < 0), errors
    assert np.all(errors[-1] < 2e-4), errors


def test_log_determinant_converges_in_the_node_count() -> None:
    model = GanHessianModel(0.9, 1.0, 0.5, 1.5)
    x = np.linspace(-3.5, 1.5, 11)
    np.testing.assert_allclose(cg.log_determinant(model, x, n=200, method="quadrature"),
                               cg.log_determinant(model, x, n=800, method="quadrature"),
                               atol=1e-5)  # fmt: skip


def test_monte_carlo_log_determinant_small() -> None:
    """Quenched MC (1/N) E log|det(H - x)| at N = 40 and 80 approaches the Coulomb gas: the gap
    is within 4 SE + 2/N and shrinks from N = 40 to 80 on average over x."""
    model = GanHessianModel(0.9, 1.0, 0.5, 1.5)
    x = [-4.0, -1.0, 1.5]
    trend = cg.finite_n_trend(model, x, sizes=(40, 80), n_samples=40, rng=3)
    for n, gaps, ses in zip(trend.sizes, trend.quenched, trend.quenched_se, strict=True):
        assert np.all(np.abs(gaps) <= 4 * np.asarray(ses) + 2.0 / n), (n, gaps, ses)
    assert np.mean(np.abs(trend.annealed[1])) < np.mean(np.abs(trend.annealed[0])) + 1e-3


@pytest.mark.slow
def test_monte_carlo_log_determinant_full() -> None:
    """Issue 15: N = 50..400, 100 samples: the fitted gap a + c/N has |a| <= 0.01 at every x and
    the N = 400 quenched gap is within 4 SE + 1/N (the finite-N trend of docs/reproductions)."""
    model = GanHessianModel(0.9, 1.0, 0.5, 1.5)
    x = [-4.0, -2.0, -1.0, 0.0, 1.5]
    trend = cg.finite_n_trend(model, x, sizes=(50, 100, 200, 400), n_samples=100, rng=5)
    assert np.all(np.abs(trend.intercept_quenched) <= 0.01), trend
    assert np.all(np.abs(trend.quenched[-1]) <= 4 * np.asarray(trend.quenched_se[-1]) + 1 / 400)


def test_constants_match_the_published_formulas() -> None:
    """b, b1, s^2, s1^2 and C for p = q = 5, sigma_z = 1, kappa = 0.9, by hand arithmetic."""
    c = cx.GanConstants.of(5, 5, 1.0, 0.9)
    assert c.b == pytest.approx(math.sqrt(10 * 9 * 1024))
    assert c.b1 == pytest.approx(math.sqrt(18.0))
    assert c.s_sq == pytest.approx(100 * 2.0**30 / 2)
    assert c.s1_sq == pytest.approx(12.5)
    expected = (6.5 * math.log(2) + 5 * math.log(math.pi) - 0.45 * math.log(5 + 10240)
                - 0.05 * math.log(10240) - 0.45 * math.log(0.9) - 0.05 * math.log(0.1))  # fmt: skip
    assert c.log_constant == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((5, 5, 1.0, 1.0), "kappa"),
        ((5, 5, 1.0, 0.0), "kappa"),
        ((5, 5, 0.0, 0.5), "sigma_z"),
        ((5, 5, -1.0, 0.5), "sigma_z"),
        ((1, 5, 1.0, 0.5), "p must"),
        ((5, 1, 1.0, 0.5), "q must"),
        ((5, 5, float("nan"), 0.5), "sigma_z"),
    ],
)
def test_bad_parameters(args: tuple, match: str) -> None:
    with pytest.raises(InputError, match=match):
        cx.GanConstants.of(*args)


@pytest.fixture(scope="module")
def small_grid() -> cx.ExponentGrid:
    c = cx.GanConstants.of(3, 3, 1e-3, 0.7)
    return cx.exponent_grid(c, np.linspace(-40.0, 5.0, 60), np.linspace(-6.0, 8.0, 7))


def test_theta_map_and_thresholds_match_brute_force(small_grid: cx.ExponentGrid) -> None:
    """The running-maximum Theta map equals the authors' double loop over (u_D, u_G) (max of f
    over {x < P, x1 > R x + Q}); thresholds equal the least u with Theta > 0 on a fine grid."""
    grid = small_grid
    f = grid.values
    c = grid.constants
    tmap = cx.theta_map(grid, points=25)
    xx, yy = np.broadcast_arrays(grid.x[None, :], grid.x1[:, None])
    p_fac = (c.p + c.q) * 2.0 ** (c.p + c.q)
    r = -c.p / (2.0 ** (c.p + c.q) * (c.p + c.q))
    for i, ug in enumerate(tmap.u_g):
        for j, ud in enumerate(tmap.u_d):
            inside = (xx < p_fac * ug) & (yy > r * xx - c.p * ud)
            want = f[inside].max() if inside.any() else -np.inf
            assert tmap.theta[i, j] == want
    theta_d, theta_g = cx.thresholds(grid)
    assert np.isfinite(theta_d) and np.isfinite(theta_g)
    # brute force on a fine u grid: least u with some Theta > 0 (within one grid step)
    fine = cx.theta_map(grid, points=400)
    pos = fine.theta > 0
    assert fine.u_d[np.argmax(pos.any(axis=0))] == pytest.approx(
        theta_d, abs=2 * np.diff(fine.u_d)[0]
    )
    assert fine.u_g[np.argmax(pos.any(axis=1))] == pytest.approx(
        theta_g, abs=2 * np.diff(fine.u_g)[0]
    )


def test_index_penalty_rate() -> None:
    """I(u; E): zero at |u| = E, +inf inside, derivative -(2/E^2) sqrt(u^2 - E^2) for u < -E
    (docs/reference/oracles.md section 12, KR-3), even in u (as coded)."""
    e = 2 * math.sqrt(2 / 3)
    assert cx.goe_ldp_rate(np.array(-e), e) == pytest.approx(0.0, abs=1e-14)
    assert np.isinf(cx.goe_ldp_rate(np.array(0.5), e))
    u, h = -2.3, 1e-6
    fd = (cx.goe_ldp_rate(np.array(u + h), e) - cx.goe_ldp_rate(np.array(u - h), e)) / (2 * h)
    assert fd == pytest.approx(-(2 / e**2) * math.sqrt(u * u - e * e), rel=1e-7)
    assert cx.goe_ldp_rate(np.array(2.3), e) == cx.goe_ldp_rate(np.array(-2.3), e)


def test_index_constraint_lowers_the_exponent_and_raises_thresholds(
    small_grid: cx.ExponentGrid,
) -> None:
    """Penalties are >= 0, so f_k <= f and the thresholds of (k_D, k_G) = (1, 1) are no lower."""
    grid = small_grid
    f = grid.values
    fk = grid.index_values(k_d=1, k_g=1)
    assert np.all(fk <= f)
    t0 = cx.thresholds(grid)
    tk = cx.thresholds(grid, fk)
    for a, b in zip(t0, tk, strict=True):
        assert not (np.isfinite(b) and b < a)


def test_scalar_log_determinant_sees_the_narrow_component_at_small_b() -> None:
    """b -> 0 (small sigma_z) with |x1| < 2 sqrt(v1): mu -> kappa semicircle(-x1, v1) +
    (1 - kappa) delta_0 spread over a width ~b, so away from both components
    L(x) -> kappa L_sc(x + x1; v1) + (1 - kappa) log|x| + O(b^2). The default (closed form)
    reaches it; the node quadrature misses the narrow component (kept as method="quadrature")."""
    kappa, b, b1, x1 = 0.9, 1e-4, 0.5, 0.3
    model = GanHessianModel(kappa, b, b1, x1)
    x = np.array([-2.0, -1.3, 0.5, 1.0, 2.0])
    limit = kappa * semicircle_log_potential(x + x1, b1 * b1 / 2) + (1 - kappa) * np.log(np.abs(x))
    np.testing.assert_allclose(cg.log_determinant(model, x), limit, atol=1e-6)
    quad = cg.log_determinant(model, x, method="quadrature")
    assert np.abs(quad - limit).max() > 1e-2  # the blind spot the default avoids
    # both methods agree where the density has no narrow structure (the paper's case)
    wide = GanHessianModel(0.9, 1.0, 0.5, 1.5)
    xs = np.linspace(-3.5, 1.5, 11)
    np.testing.assert_allclose(
        cg.log_determinant(wide, xs),
        cg.log_determinant(wide, xs, method="quadrature", n=800),
        atol=1e-6,
    )
    with pytest.raises(InputError, match="method"):
        cg.log_determinant(wide, xs, method="simpson")


def test_nodes_is_deprecated_and_ignored():
    c = cx.GanConstants.of(5, 5, 1.0, 0.9)
    x, x1 = np.linspace(-20.0, 5.0, 12), np.linspace(-3.0, 3.0, 3)
    plain = cx.exponent_grid(c, x, x1)
    with pytest.warns(DeprecationWarning, match="nodes is ignored"):
        old = cx.exponent_grid(c, x, x1, nodes=100)
    np.testing.assert_array_equal(old.values, plain.values)
    with pytest.warns(DeprecationWarning, match="nodes is ignored"):
        cx.threshold_sweep(5, 5, kappa=0.9, sigma_z=np.array([1.0, 2.0]), x=x, x1=x1, nodes=50)
