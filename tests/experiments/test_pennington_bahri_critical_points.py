"""The critical-point finder on functions whose critical points are known in closed form."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hessrmt.errors import InputError
from hessrmt.experiments.pennington_bahri.critical_points import (
    eigenvector_following_step,
    find_critical_point,
    find_critical_point_of_index,
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
    """f(x, y) = exp(x) + y^2 has no critical point: the gradient only vanishes as x -> -inf.
    Newton steps of length 1 drive |grad f| = e^x below any gtol, so the gradient norm alone
    would accept a point; the Newton-step test (distance to the critical point ~ 1) does not."""
    for gtol in (1e-6, 1e-10):
        res = find_critical_point(
            lambda v: torch.exp(v[0]) + v[1] ** 2, np.array([0.0, 1.0]), gtol=gtol, max_iter=300
        )
        assert not res.converged
        # the Newton step for e^x is exactly 1 (shortened only where e^x < 1e-10 max|l|)
        assert res.newton_step > 1e-3
        assert res.reason != "gradient norm below gtol"


def test_gradient_flat_point_is_not_a_critical_point():
    """f(x, y) = x^3/3 + x + y^2: df/dx = x^2 + 1 >= 1 never vanishes, and |grad f|^2 has a
    minimum at (0, 0) where d2f/dx2 = 0: a gradient-flat point (H g = 0, g != 0). The search must
    end there unconverged."""
    res = find_critical_point(
        lambda v: v[0] ** 3 / 3 + v[0] + v[1] ** 2, np.array([0.7, 0.3]), max_iter=200
    )
    assert not res.converged
    assert res.grad_norm == pytest.approx(1.0, abs=1e-3)
    assert abs(res.x[0]) < 1e-2
    assert res.gradient_flatness < 1e-2


def rotated_quartic(c: np.ndarray, R: np.ndarray):
    """f(x) = sum_i (c_i z_i^2 / 2 + z_i^4 / 4), z = R^T x (R orthogonal). Critical points:
    z_i in {0, +-sqrt(-c_i)} where c_i < 0 and z_i = 0 otherwise; f''(z_i) = c_i + 3 z_i^2 is c_i
    at 0 and -2 c_i > 0 at +-sqrt(-c_i), so the index is the number of z_i = 0 with c_i < 0 and
    the value is -sum_{z_i != 0} c_i^2 / 4."""
    Rt = torch.from_numpy(R)
    ct = torch.from_numpy(c)

    def f(x: torch.Tensor) -> torch.Tensor:
        z = Rt.T @ x
        return (ct * z**2 / 2 + z**4 / 4).sum()

    return f


def test_quadratic_plus_quartic_in_6_dimensions_all_finds_are_known_points(rng):
    c = np.array([-1.0, -2.0, -0.5, 1.0, 3.0, 0.7])
    R, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    f = rotated_quartic(c, R)
    neg = c < 0
    found, n_conv = set(), 0
    for _ in range(40):
        x0 = R @ (rng.uniform(-1.6, 1.6, 6) * np.sqrt(np.abs(c)))
        res = find_critical_point(f, x0, gtol=1e-12)
        if not res.converged:
            continue
        n_conv += 1
        z = R.T @ res.x
        target = np.where(
            neg, np.sign(z) * np.sqrt(np.abs(c)) * (np.abs(z) > 0.5 * np.sqrt(np.abs(c))), 0.0
        )
        np.testing.assert_allclose(z, target, atol=1e-9)
        zero = np.abs(target) == 0
        assert res.index == int(np.sum(zero & neg))
        assert res.value == pytest.approx(-np.sum(c[~zero] ** 2) / 4, abs=1e-12)
        assert res.grad_norm <= 1e-12 and res.newton_step < 1e-9
        found.add(tuple(np.sign(target).astype(int)))
    assert n_conv >= 36  # nondegenerate critical points everywhere: (almost) every search lands
    assert len(found) >= 10  # many of the 27 critical points, with
    assert {sum(1 for s, n in zip(k, neg) if n and s == 0) for k in found} == {0, 1, 2, 3}


def test_quadratic_convergence_near_a_saddle():
    """Near the non-degenerate saddle (1, 0) of the double well the gradient norm is squared
    (up to a constant) at each step: Newton's rate, i.e. the damping has vanished."""
    res = find_critical_point(double_well, np.array([0.97, 0.04]), gtol=1e-14)
    h = res.grad_norm_history
    assert res.converged and len(h) <= 8
    big = h[:-1] > 1e-7  # before round-off
    assert np.all(h[1:][big] <= 10 * h[:-1][big] ** 2)


def test_bad_inputs():
    with pytest.raises(InputError):
        find_critical_point(double_well, np.zeros((2, 2)))
    with pytest.raises(InputError):
        find_critical_point(double_well, np.array([np.nan, 0.0]))
    with pytest.raises(InputError):
        find_critical_point(double_well, np.zeros(2), gtol=0.0)
    with pytest.raises(InputError):
        find_minimum(double_well, np.zeros(2), max_iter=0)
    with pytest.raises(InputError):
        find_critical_point(double_well, np.zeros(2), stall_window=0)
    with pytest.raises(InputError):
        find_critical_point(double_well, np.zeros(2), xtol=-1.0)


# ------------------------------------------------------------------------------------------
# eigenvector following towards a critical point of a chosen index


def test_eigenvector_following_step_is_newton_near_a_saddle_of_that_index():
    """With exactly ``index`` negative eigenvalues and |g_i| << |l_i| the step is -g_i / l_i
    (Newton) up to O(g^2 / l^2); with the wrong index the sign flips on the mismatched modes."""
    evals = torch.tensor([-2.0, -0.5, 1.0, 3.0], dtype=torch.float64)
    gt = torch.tensor([1e-6, -2e-6, 3e-6, -1e-6], dtype=torch.float64)
    step = eigenvector_following_step(evals, gt, 2, radius=1.0)
    np.testing.assert_allclose(step.numpy(), (-gt / evals).numpy(), rtol=1e-9)
    wrong = eigenvector_following_step(evals, gt, 1, radius=1.0)  # mode 1 is now walked down
    np.testing.assert_allclose(wrong[1].item(), gt[1].item() / 0.5 * -1.0, rtol=1e-9)
    big = eigenvector_following_step(evals, 1e6 * torch.ones(4, dtype=torch.float64), 0, 0.3)
    assert float(big.norm()) == pytest.approx(0.3)  # capped at the radius


def test_quartic_every_index_reached_at_known_points(rng):
    """The rotated quartic's critical points are known exactly (see :func:`rotated_quartic`);
    from random starts, eigenvector following aimed at index k ends at one of them, and often
    at one of index k, for k = 0, 1, 2 (c has three negative entries). It is a local method:
    when the lowest modes at the start are not those of a nearby index-k saddle the walk can
    end elsewhere (the polish still lands on an exact critical point). The one index-3 point,
    the origin, is reached from starts where every negative-c mode already curves down."""
    c = np.array([-1.0, -2.0, -0.5, 1.0, 3.0, 0.7])
    R, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    f = rotated_quartic(c, R)
    neg = c < 0
    for k in range(4):
        n_conv = n_k = 0
        for _ in range(8):
            # index 3: |z_i| < sqrt(-c_i / 3), where c_i + 3 z_i^2 < 0
            half = 0.5 / np.sqrt(3) if k == 3 else 1.6
            x0 = R @ (rng.uniform(-half, half, 6) * np.sqrt(np.abs(c)))
            res = find_critical_point_of_index(f, x0, k, radius=0.5, max_iter=60, gtol=1e-12)
            if not res.converged:
                continue
            n_conv += 1
            z = R.T @ res.x
            big = np.abs(z) > 0.5 * np.sqrt(np.abs(c))
            target = np.where(neg & big, np.sign(z) * np.sqrt(np.abs(c)), 0.0)
            np.testing.assert_allclose(z, target, atol=1e-9)
            zero = target == 0
            assert res.index == int(np.sum(zero & neg))
            assert res.value == pytest.approx(-np.sum(c[~zero] ** 2) / 4, abs=1e-12)
            assert res.grad_norm <= 1e-12
            n_k += res.index == k
        assert n_conv >= 7 and n_k >= (8 if k == 3 else 2), (k, n_conv, n_k)


def test_indefinite_quadratic_reached_by_newton_steps(rng):
    Q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    eigs = np.concatenate([-np.linspace(1, 3, 11), np.linspace(0.5, 4, 19)])
    A = torch.from_numpy(Q @ np.diag(eigs) @ Q.T)
    b = torch.from_numpy(rng.standard_normal(30))
    res = find_critical_point_of_index(
        lambda x: 0.5 * x @ A @ x + b @ x, rng.standard_normal(30), 11, radius=100.0
    )
    assert res.converged and res.index == 11
    np.testing.assert_allclose(res.x, -np.linalg.solve(A.numpy(), b.numpy()), atol=1e-10)
    # the step is -g_i / l_i (1 + O(g_i^2 / l_i^2)): Newton once |g_i| << |l_i|
    assert res.iterations <= 10


def gradient_flat_cubic(v: torch.Tensor) -> torch.Tensor:
    """f(x, y) = x^4/4 - 3 x^2/2 + 3 x + y^2: f_x = x^3 - 3x + 3 has one real root x* ~ -2.10
    (a minimum, f_xx = 3 x*^2 - 3 > 0) and |grad f|^2 has a local minimum at (1, 0), where
    f_xx = 0 and f_x = 1: a gradient-flat point, not a critical point."""
    return v[0] ** 4 / 4 - 1.5 * v[0] ** 2 + 3 * v[0] + v[1] ** 2


def test_leaves_the_gradient_flat_point_where_the_grad_norm_search_stalls():
    lm = find_critical_point(gradient_flat_cubic, np.array([1.3, 0.4]), max_iter=200)
    assert not lm.converged and abs(lm.x[0] - 1.0) < 1e-2 and lm.grad_norm > 0.5
    res = find_critical_point_of_index(gradient_flat_cubic, lm.x, 0, radius=0.5, max_growth=3.0)
    root = min(np.roots([1.0, 0.0, -3.0, 3.0]), key=lambda z: abs(z.imag)).real
    assert res.converged and res.index == 0 and res.grad_norm <= 1e-10
    np.testing.assert_allclose(res.x, [root, 0.0], atol=1e-10)


def test_runaway_to_infinity_is_not_converged():
    """exp(x) + y^2 has no critical point: the walk is abandoned once |x| has grown."""
    res = find_critical_point_of_index(
        lambda v: torch.exp(v[0]) + v[1] ** 2, np.array([0.0, 1.0]), 0, max_iter=500
    )
    assert not res.converged
    assert "infinity" in res.reason


@pytest.mark.slow
def test_quick_network_rescued_points_verified_by_autograd():
    """The quick task at phi = 50/65 (width 5, P = 50), where most |grad L|^2 searches stall:
    the first search (in seed order) that eigenvector following rescues is a critical point
    by autograd in float64 (|grad L| <= 1e-10, independent of the closed-form derivatives the
    finder used), with the index of the autograd Hessian, and it passes the acceptance test."""
    from torch.func import grad, hessian

    from hessrmt.experiments.pennington_bahri import config as C
    from hessrmt.experiments.pennington_bahri import task as T
    from hessrmt.experiments.pennington_bahri.search import run_search

    cfg = C.quick_config(0)
    task = T.make_task(0.75, width=cfg.width, seed=cfg.seed)
    loss = T.flat_loss(task)
    for seed in range(80):
        rec = run_search(task, cfg, "critical", seed)
        if rec.finder == "lm+ef":
            break
    else:
        pytest.fail("no search in 80 was rescued by eigenvector following")
    assert rec.accepted and "eigenvector following" in rec.reason
    x = torch.from_numpy(rec.theta)
    assert float(grad(loss)(x).norm()) <= 1e-10
    assert rec.grad_norm <= cfg.accept_gtol and rec.newton_step <= cfg.accept_xtol
    evals = torch.linalg.eigvalsh(hessian(loss)(x))
    assert int((evals < -1e-10 * evals.abs().max()).sum()) == rec.index_count
    assert rec.zero_modes == 0


def test_index_finder_bad_inputs():
    for kw in ({"radius": 0.0}, {"max_growth": 1.0}, {"switch_gtol": -1.0}):
        with pytest.raises(InputError):
            find_critical_point_of_index(double_well, np.zeros(2), 0, **kw)
    with pytest.raises(InputError):
        find_critical_point_of_index(double_well, np.zeros(2), 3)
    with pytest.raises(InputError):
        find_critical_point_of_index(double_well, np.zeros(2), -1)
