"""Spiked GOE rate, index costs and bands; activation -> perturbation map."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from hessrmt.errors import InputError
from hessrmt.rmt.complexity import abc
from hessrmt.rmt.complexity.activations import ACTIVATIONS, linearise, piecewise_linear
from hessrmt.rmt.complexity.coulomb import edge_rate
from hessrmt.rmt.complexity.spiked import (
    bbp_location,
    index_cost,
    spiked_bands,
    spiked_rate,
    spiked_theta_k,
)


@pytest.mark.parametrize("theta", [0.0, 0.5, 1.0, 1.3, 2.0, 3.5])
def test_rate_zero_at_bbp_location_and_continuous(theta: float) -> None:
    x = np.linspace(2.0, 7.0, 50001)
    r = spiked_rate(x, theta)
    assert np.all(r >= 0) and np.all(np.isfinite(r))
    assert x[np.argmin(r)] == pytest.approx(bbp_location(theta), abs=2e-4)
    assert r.min() < 1e-8
    assert np.abs(np.diff(r)).max() < 1e-3  # continuous (no jump at theta = G(x))
    assert np.isinf(spiked_rate(1.9, theta))


def test_rate_subcritical_equals_goe_and_derivative() -> None:
    # theta <= G(x): the weak spike does not change the rate; far out both grow like x^2/4
    x = np.array([2.05, 2.2])
    np.testing.assert_allclose(spiked_rate(x, 0.5), edge_rate(x, 2.0), atol=1e-15)
    # theta > G(x): dI/dx = (x - theta)/2 - G(x)/2 (finite differences)
    theta, xs, h = 2.0, np.array([2.2, 3.0, 4.5]), 1e-6
    fd = (spiked_rate(xs + h, theta) - spiked_rate(xs - h, theta)) / (2 * h)
    g = (xs - np.sqrt(xs**2 - 4)) / 2
    np.testing.assert_allclose(fd, (xs - theta) / 2 - g / 2, atol=1e-7)


def test_no_spike_is_abc_and_leading_complexity_unchanged() -> None:
    bands = spiked_bands(3, 4, [])
    np.testing.assert_allclose(bands.e, abc.thresholds(3, 4), atol=1e-10)
    np.testing.assert_allclose(index_cost(3, [2.1, 2.5], []), 3 * edge_rate([2.1, 2.5], 2.0))
    # subcritical spikes keep E_0 (no outlier to pull back) but make far outliers cheaper
    # (I_theta < I_0 beyond theta + 1/theta), so index-k bands reach lower: E_k >= ABC's E_k
    weak = spiked_bands(3, 3, [0.6, 0.9])
    ref = abc.thresholds(3, 3)
    assert weak.e[0] == pytest.approx(ref[0], abs=1e-10)
    assert np.all(np.array(weak.e[1:]) > ref[1:])
    assert np.all(np.diff(weak.e) < 0)
    # supercritical: minima cost more; for k >= 1 the band is ABC's E_{k-1} (one free outlier)
    strong = spiked_bands(3, 3, [2.5])
    assert math.isnan(strong.e[0]) and strong.theta_at_threshold[0] < 0
    np.testing.assert_allclose(strong.e[1:], abc.thresholds(3, 2), atol=1e-10)
    # the total (minimum over k of the cost) is 0 wherever some index is free: ABC's total
    for y in (2.05, 2.4, 3.0):
        assert min(float(index_cost(k, y, [2.5])) for k in range(4)) == pytest.approx(0, abs=1e-12)
    u = -1.7
    assert spiked_theta_k(u, 3, 1, [2.5]) == pytest.approx(float(abc.theta_k(u, 3, 0)), abs=1e-10)


def test_weakly_supercritical_spike_lowers_e0() -> None:
    e0 = spiked_bands(3, 0, [1.2]).e[0]
    assert e0 < abc.threshold(3, 0) and e0 > abc.e_inf(3)


def test_bad_spike() -> None:
    with pytest.raises(InputError, match="spike"):
        spiked_rate(2.5, -1.0)


# ----------------------------------------------------------------------------- activations
def _smooth_reference(name: str) -> tuple[float, float]:
    f = ACTIVATIONS[name]
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    h = 1e-6
    df = lambda z: float((f(np.array(z + h)) - f(np.array(z - h))) / (2 * h))  # noqa: E731
    s = quad(lambda z: df(z) * phi(z), -12, 12, points=[0.0], limit=200)[0]
    c = quad(lambda z: (float(f(np.array(z))) - z * df(z)) * phi(z), -12, 12, points=[0.0],
             limit=200)[0]  # fmt: skip
    return s, c


def test_relu_and_odd_activations_give_abc() -> None:
    for pieces in (2, 4, 8):
        assert linearise("relu", pieces).theta == 0.0
        assert linearise("leaky_relu", pieces).theta == 0.0
        assert linearise("tanh", pieces).theta == pytest.approx(0.0, abs=1e-15)
    assert linearise("relu", 2).s_bar == 0.5


@pytest.mark.parametrize("name", ["sigmoid", "gelu", "tanh"])
def test_piecewise_converges_to_smooth_gaussian_averages(name: str) -> None:
    s_ref, c_ref = _smooth_reference(name)
    smooth = linearise(name)
    assert smooth.s_bar == pytest.approx(s_ref, abs=1e-6)
    assert smooth.c_bar == pytest.approx(c_ref, abs=1e-6)
    errs = [abs(linearise(name, L).s_bar - s_ref) + abs(linearise(name, L).c_bar - c_ref)
            for L in (4, 16, 64)]  # fmt: skip
    assert errs[2] < errs[1] < errs[0] and errs[2] < 2e-3


def test_closed_forms() -> None:
    # sigmoid: c_bar = 1/2 exactly (sigma(z) - 1/2 is odd, z sigma'(z) is odd)
    assert linearise("sigmoid").c_bar == pytest.approx(0.5, abs=1e-9)
    # GELU: s_bar = E[Phi + z phi] = 1/2, c_bar = -E[z^2 phi(z)] = -int z^2 phi^2 = -1/(4 sqrt(pi))
    g = linearise("gelu")
    assert g.s_bar == pytest.approx(0.5, abs=1e-9)
    assert g.c_bar == pytest.approx(-1 / (4 * math.sqrt(math.pi)), abs=1e-9)
    knots, slopes, intercepts = piecewise_linear("relu", 2)
    assert list(knots) == [0.0] and list(slopes) == [0.0, 1.0] and list(intercepts) == [0.0, 0.0]


def test_bad_activation() -> None:
    with pytest.raises(InputError, match="unknown activation"):
        linearise("swish")
    with pytest.raises(InputError, match="at least 2 pieces"):
        piecewise_linear("relu", 1)
