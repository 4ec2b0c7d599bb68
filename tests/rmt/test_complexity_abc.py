"""ABC complexity: reference table (docs/reference/oracles.md §12, KR-1..KR-4), identities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.complexity import abc

# docs/reference/oracles.md §12 (and papers.md §8): p -> (E_inf, E_0..E_5, Theta_k(-E_inf))
TABLE = {
    3: (1.63299, [1.65700, 1.65287, 1.65025, 1.64840, 1.64700, 1.64589], 0.01324),
    4: (1.73205, [1.79409, 1.78330, 1.77648, 1.77166, 1.76803, 1.76517], 0.04931),
    5: (1.78885, [1.88799, 1.87058, 1.85960, 1.85187, 1.84605, 1.84147], 0.09315),
    10: (1.89737, [2.13536, 2.09214, 2.06522, 2.04641, 2.03233, 2.02129], 0.29861),
}


@pytest.mark.parametrize("p", sorted(TABLE))
def test_reference_table(p: int) -> None:
    e_inf, es, theta_edge = TABLE[p]
    assert abc.e_inf(p) == pytest.approx(e_inf, abs=1e-5)
    np.testing.assert_allclose(abc.thresholds(p, 5), es, atol=1e-5, rtol=0)
    for k in range(6):
        assert float(abc.theta_k(-abc.e_inf(p), p, k)) == pytest.approx(theta_edge, abs=1e-5)


@pytest.mark.parametrize("p", [3, 4, 5, 10, 17])
def test_roots_continuity_and_order(p: int) -> None:
    e = abc.e_inf(p)
    es = abc.thresholds(p, 8)
    for k, ek in enumerate(es):
        assert abs(float(abc.theta_k(-ek, p, k))) < 1e-10
    assert np.all(np.diff(es) < 0) and es[-1] > e  # KR-4
    eps = 1e-9
    for k in range(4):
        left = float(abc.theta_k(-e - eps, p, k))
        right = float(abc.theta_k(-e + eps, p, k))
        assert left == pytest.approx(right, abs=1e-8)
        assert right == pytest.approx(0.5 * math.log(p - 1) - (p - 2) / p, abs=1e-13)
    # total complexity: continuity at -E_inf and at 0, Theta_p(0) = 1/2 ln(p-1)  (KR-2)
    assert float(abc.theta_total(-e - eps, p)) == pytest.approx(
        float(abc.theta_total(-e + eps, p)), abs=1e-8
    )
    assert float(abc.theta_total(0.0, p)) == pytest.approx(0.5 * math.log(p - 1), abs=1e-15)
    assert float(abc.theta_total(3.0, p)) == pytest.approx(0.5 * math.log(p - 1), abs=1e-15)
    # index 0 dominates the total below the threshold
    u = np.linspace(-2.5, -e, 7)
    np.testing.assert_allclose(abc.theta_total(u, p), abc.theta_k(u, p, 0), atol=1e-14)


def test_i1_closed_form_derivative_and_zero() -> None:  # KR-3
    p = 4
    e = abc.e_inf(p)
    assert float(abc.i1(-e, p)) == 0.0
    u = np.array([-1.8, -2.0, -2.5, -4.0])
    h = 1e-6
    fd = (abc.i1(u + h, p) - abc.i1(u - h, p)) / (2 * h)
    np.testing.assert_allclose(fd, abc.i1_derivative(u, p), atol=1e-7)
    # integral form: I_1(u) = (2/E^2) int_u^{-E} sqrt(t^2 - E^2) dt
    from scipy.integrate import quad

    for v in u:
        ref = quad(lambda t: 2 / e**2 * math.sqrt(t * t - e * e), v, -e)[0]
        assert float(abc.i1(v, p)) == pytest.approx(ref, abs=1e-10)


def test_p2_is_trivial() -> None:
    assert abc.threshold(2, 3) == abc.e_inf(2)


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, float("nan"), True, "3"])
def test_bad_p(bad: object) -> None:
    with pytest.raises(InputError, match="p must be"):
        abc.e_inf(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 1.5, None])
def test_bad_k(bad: object) -> None:
    with pytest.raises(InputError, match="k"):
        abc.threshold(3, bad)  # type: ignore[arg-type]


def test_nonfinite_u() -> None:
    with pytest.raises(InputError, match="finite"):
        abc.theta_k(float("inf"), 3, 0)
