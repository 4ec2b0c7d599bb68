"""Vectorised GAN law (hessrmt.rmt.gan.batch) against the scalar solver and against oracles:
closed-form support edges (Biane's criterion), density, mass and exact moments, log-det, and
the shared Coulomb-gas interval integral against the semicircle log-potential
(docs/reference/oracles.md sections 6.1 and 14; docs/reference/gan-spin-glass.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.complexity.coulomb import interval_log_potential, theta_rule
from hessrmt.rmt.gan import batch as gb
from hessrmt.rmt.gan import coulomb as cg
from hessrmt.rmt.gan import density as gd
from hessrmt.rmt.gan.model import GanHessianModel

CASES = [
    (0.9, 1.0, 0.5, 1.5),  # touching: narrow gap
    (0.9, 1.0, 0.5, 1.1),  # merged
    (0.9, 1.0, 0.5, 4.0),  # separate
    (0.5, 1.0, 1.0, 0.0),
    (0.3, 1.2, 0.8, -3.0),  # block to the right of 0
    (0.9, 1.0, 0.5, -2.0),
    (0.9, 0.01, 4.2, 12.0),  # tiny b: the complexity grids at small sigma_z
]


def _params(cases: list[tuple[float, ...]]) -> gb.Params:
    return gb.Params(*np.array(cases).T)


def test_support_edges_match_the_scalar_bisection() -> None:
    edges = gb.support_edges(_params(CASES))
    for row, case in zip(edges, CASES, strict=True):
        model = GanHessianModel(*case)
        ref = np.array(gd.support(model)).ravel()
        got = row[~np.isnan(row)]
        assert got.size == ref.size, (case, got, ref)
        scale = model.spectrum_bounds()[1] - model.spectrum_bounds()[0]
        np.testing.assert_allclose(got, ref, atol=1e-8 * scale)


def test_edges_bound_the_density() -> None:
    """The density vanishes just outside every closed-form edge and is positive just inside."""
    edges = gb.support_edges(_params(CASES[:6]))
    for row, case in zip(edges, CASES[:6], strict=True):
        model = GanHessianModel(*case)
        e = row[~np.isnan(row)]
        out = np.concatenate([[e[0] - 1e-7], e[1:-1:2] + 1e-7, [e[-1] + 1e-7]])
        inn = np.concatenate([e[0::2] + 1e-4, e[1::2] - 1e-4])
        assert np.all(gd.density(model, out) < 1e-5), case
        assert np.all(gd.density(model, inn) > 1e-3), case


def test_batched_density_equals_the_scalar_solver() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-6, 5, size=(len(CASES) - 1, 40))
    p = _params(CASES[:-1])
    got = gb.density(gb.Params(*(a[:, None] for a in (p.kappa, p.b, p.b1, p.x1))), x)
    for row, case, xr in zip(got, CASES[:-1], x, strict=True):
        np.testing.assert_allclose(row, gd.density(GanHessianModel(*case), xr), atol=1e-10)


@pytest.mark.parametrize("case", CASES[:6])
def test_batched_law_has_mass_one_and_exact_moments(case: tuple[float, ...]) -> None:
    """GAN-1 through the batched path: mass 1 and the free-cumulant moments to 1e-8."""
    p = _params([case])
    edges = gb.support_edges(p)[0]
    theta, w = theta_rule(400)
    moments = np.zeros(5)
    for a, c in zip(edges[0::2], edges[1::2], strict=True):
        if np.isnan(a):
            continue
        nodes = 0.5 * (a + c) - 0.5 * (c - a) * np.cos(theta)
        rho = gb.density(p, nodes)
        wts = w * 0.5 * (c - a) * np.sin(theta) * rho
        moments += [np.sum(wts * nodes**k) for k in range(5)]
    assert moments[0] == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(moments[1:], GanHessianModel(*case).moments(), rtol=1e-8, atol=1e-9)


def test_batched_quadrature_log_determinant_equals_the_scalar_one() -> None:
    """Across the merge of the two components (x1 from 1.0 to 1.6) and for far-away x."""
    x1 = np.linspace(1.0, 1.6, 7)
    x = np.concatenate([np.linspace(-4, 1.5, 12), [-50.0, 30.0]])
    got = gb.log_determinant_quadrature(gb.Params(0.9, 1.0, 0.5, x1), x)
    for row, v in zip(got, x1, strict=True):
        ref = cg.log_determinant(GanHessianModel(0.9, 1.0, 0.5, float(v)), x, method="quadrature")
        np.testing.assert_allclose(row, ref, atol=1e-10)


def test_closed_form_log_potential_equals_the_quadrature() -> None:
    """The subordination closed form against the scalar quadrature (n = 800 nodes, whose own
    error inside the support is ~1e-6) in the paper's cases, inside and outside the support."""
    x = np.concatenate([np.linspace(-6, 5, 45), [-100.0, 50.0]])
    got = gb.log_determinant(_params(CASES[:6]), x)
    for row, case in zip(got, CASES[:6], strict=True):
        ref = cg.log_determinant(GanHessianModel(*case), x, n=800, method="quadrature")
        np.testing.assert_allclose(row, ref, atol=1e-5)


def test_closed_form_log_potential_semicircle_and_far_field() -> None:
    """Oracles the quadrature cannot pass: (1) near kappa -> 0 the law is the semicircle of
    variance v (oracles.md 6.1); (2) far from the support L(x) = log|x| - sum_k m_k/(k x^k)
    with the exact moments, also for tiny b with the block straddling 0, where the (1 - kappa)
    mass sits in a spike of width ~sqrt(v) inside the block's support."""
    b = 1.3
    x = np.array([-5.0, -1.0, 0.3, 1.7, 4.0])
    var = b * b / 2
    s = math.sqrt(var)
    ax = np.abs(x)
    root = np.sqrt(np.maximum(x * x - 4 * var, 0.0))
    exact = x * x / (4 * var) - 0.5 + math.log(s)
    exact -= np.where(
        ax > 2 * s, ax * root / (4 * var) - np.log(np.maximum(ax + root, 2 * s) / (2 * s)), 0
    )
    near = gb.log_determinant(gb.Params(np.array([1e-9]), b, 0.7, 0.4), x)[0]
    np.testing.assert_allclose(near, exact, atol=1e-7)
    for case in ((0.9, 3e-3, 4.24, 1.7), (0.9, 3e-3, 4.24, -5.5), (0.4, 1.0, 0.5, 1.5)):
        model = GanHessianModel(*case)
        far = np.array([-1e3, -300.0, 250.0, 1e3])
        m = model.moments()
        series = np.log(np.abs(far)) - sum(m[k - 1] / (k * far**k) for k in range(1, 5))
        got = gb.log_determinant(_params([case]), far)[0]
        np.testing.assert_allclose(got, series, atol=1e-9)
    # the quadrature misses the spike's mass (1 - kappa) log|x| there: the reason for the form
    spike = _params([(0.9, 3e-3, 4.24, 1.7)])
    quad = gb.log_determinant_quadrature(spike, np.array([-1e3]))[0, 0]
    assert abs(quad - math.log(1e3)) > 0.05


def test_interval_log_potential_against_the_semicircle() -> None:
    """oracles.md 6.1: a semicircle of variance s^2 on [c - 2s, c + 2s] (two rows at once)."""
    theta, w = theta_rule(400)
    x = np.linspace(-5.0, 5.0, 41)
    rows = []
    for centre, var in ((0.0, 1.0), (0.7, 0.3)):
        r = 2 * math.sqrt(var)
        nodes = centre - r * np.cos(theta)
        rows.append(np.sqrt(np.maximum(r * r - (nodes - centre) ** 2, 0)) / (2 * math.pi * var))
    a = np.array([-2.0, 0.7 - 2 * math.sqrt(0.3)])
    c = np.array([2.0, 0.7 + 2 * math.sqrt(0.3)])
    got = interval_log_potential(np.stack([x, x]), a, c, np.array(rows), theta, w)
    for row, (centre, var) in zip(got, ((0.0, 1.0), (0.7, 0.3)), strict=True):
        y, s = x - centre, math.sqrt(var)
        ay = np.abs(y)
        root = np.sqrt(np.maximum(y * y - 4 * var, 0.0))
        exact = y * y / (4 * var) - 0.5 + math.log(s)
        exact = exact - np.where(
            ay > 2 * s, ay * root / (4 * var) - np.log(np.maximum(ay + root, 2 * s) / (2 * s)), 0.0
        )
        np.testing.assert_allclose(row, exact, atol=1e-10)


def test_closed_form_limits_are_refused() -> None:
    for bad in ((0.0, 1.0, 1.0, 0.0), (1.0, 1.0, 1.0, 0.0), (0.5, 0.0, 1.0, 0.0),
                (0.5, 1.0, 0.0, 0.0), (0.5, 1.0, 1.0, math.nan)):  # fmt: skip
        with pytest.raises(InputError):
            gb.Params(*bad)
