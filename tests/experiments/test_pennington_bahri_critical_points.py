"""The critical-point finder on functions whose critical points are known in closed form."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hessrmt.errors import InputError
from hessrmt.experiments.pennington_bahri.critical_points import (
    find_critical_point,
    find_minimum,
)


def double_well(v: torch.Tensor) -> torch.Tensor:
    """f(x, y) = (x^2 - 1)^2 + (y^2 - 1)^2: 9 critical points, coordinates in {-1, 0, 1};
    index = number of zero coordinates (f'' = 12 c^2 - 4 is -4 at 0 and 8 at +-1);
    value = number of zero coordinates."""
    return (v[0] ** 2 - 1) ** 2 + (v[1] ** 2 - 1) ** 2


KNOWN = {(a, b): (int(a == 0) + int(b == 0)) for a in (-1, 0, 1) for b in (-1, 0, 1)}


def test_finds_all_nine_critical_points_with_their_index_and_value():
    found = set()
    for x0 in itertools.product(np.linspace(-1.7, 1.7, 7), repeat=2):
        res = find_critical_point(double_well, np.array(x0), gtol=1e-12)
        assert res.converged, (x0, res.reason)
        key = tuple(int(np.rint(c)) for c in res.x)
        assert key in KNOWN
        np.testing.assert_allclose(res.x, key, atol=1e-10)
        assert res.index == KNOWN[key]  # index = number of zero coordinates
        assert res.value == pytest.approx(KNOWN[key], abs=1e-12)
        assert res.grad_norm <= 1e-12
        assert res.index_fraction == res.index / 2
        found.add(key)
    assert found == set(KNOWN)


def test_maximum_and_saddle_found_from_nearby_starts():
    res = find_critical_point(double_well, np.array([0.2, -0.15]))
    np.testing.assert_allclose(res.x, [0, 0], atol=1e-10)
    assert res.index == 2
    np.testing.assert_allclose(res.hessian_eigenvalues, [-4, -4], atol=1e-8)
    res = find_critical_point(double_well, np.array([0.9, 0.2]))
    np.testing.assert_allclose(res.x, [1, 0], atol=1e-10)
    assert res.index == 1


def test_indefinite_quadratic_in_30_dimensions(rng):
    """f = x^T A x / 2 + b^T x: the one critical point is -A^{-1} b, index = #negative eigs."""
    Q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    eigs = np.concatenate([-np.linspace(1, 3, 11), np.linspace(0.5, 4, 19)])
    A = torch.from_numpy(Q @ np.diag(eigs) @ Q.T)
    b = torch.from_numpy(rng.standard_normal(30))
    res = find_critical_point(lambda x: 0.5 * x @ A @ x + b @ x, rng.standard_normal(30))
    assert res.converged
    np.testing.assert_allclose(res.x, -np.linalg.solve(A.numpy(), b.numpy()), atol=1e-10)
    assert res.index == 11
    assert res.iterations <= 5  # Newton: one step up to damping


def test_find_minimum_goes_downhill_from_a_saddle():
    res = find_minimum(double_well, np.array([0.05, 1e-3]))
    assert res.converged
    assert res.index == 0
    assert res.value == pytest.approx(0.0, abs=1e-12)
    assert set(np.round(np.abs(res.x))) == {1.0}


def test_no_critical_point_is_not_reported_as_converged():
    """f(x, y) = exp(x) + y^2 has no critical point: the gradient only vanishes as x -> -inf."""
    res = find_critical_point(
        lambda v: torch.exp(v[0]) + v[1] ** 2, np.array([0.0, 1.0]), max_iter=300
    )
    assert not res.converged
    assert res.grad_norm > 1e-10
    assert res.reason != "gradient norm below gtol"


def test_bad_inputs():
    with pytest.raises(InputError):
        find_critical_point(double_well, np.zeros((2, 2)))
    with pytest.raises(InputError):
        find_critical_point(double_well, np.array([np.nan, 0.0]))
    with pytest.raises(InputError):
        find_critical_point(double_well, np.zeros(2), gtol=0.0)
    with pytest.raises(InputError):
        find_minimum(double_well, np.zeros(2), max_iter=0)
