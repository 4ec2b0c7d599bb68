"""p-spin energy, gradient, Hessian and Riemannian Hessian against torch.autograd (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hessrmt.errors import InputError
from hessrmt.experiments.spin_glass.descent import descent_section, fraction_with_se
from hessrmt.experiments.spin_glass.pspin import PSpin, gradient_descent


def _torch_energy(model: PSpin):
    j = torch.tensor(model.j)

    def h(s: torch.Tensor) -> torch.Tensor:  # H_N (not per site)
        out = j
        for _ in range(model.p):
            out = out @ s
        return model.scale * out

    return h


@pytest.mark.parametrize("p", [2, 3, 4])
def test_energy_gradient_hessian_against_autograd(p: int) -> None:
    model = PSpin(7, p, rng=3)
    gen = np.random.default_rng(4)
    s = gen.standard_normal(7)
    s *= math.sqrt(7) / np.linalg.norm(s)
    h = _torch_energy(model)
    st = torch.tensor(s)
    assert float(model.energy(s)[0]) == pytest.approx(float(h(st)) / 7, abs=1e-12)
    np.testing.assert_allclose(model.gradient(s)[0], torch.func.grad(h)(st).numpy(), atol=1e-12)
    np.testing.assert_allclose(model.hessian(s), torch.func.hessian(h)(st).numpy(), atol=1e-12)
    # homogeneity: sigma . grad H = p H
    assert float(model.gradient(s)[0] @ s) == pytest.approx(p * float(h(st)), abs=1e-10)


def test_symmetrisation_keeps_the_function() -> None:
    gen = np.random.default_rng(11)
    j = gen.standard_normal((5, 5, 5))
    model = PSpin(5, 3, rng=np.random.default_rng(11))
    s = np.random.default_rng(1).standard_normal(5)
    direct = np.einsum("ijk,i,j,k->", j, s, s, s) / 5  # N^{-(p-1)/2} = 1/5
    assert float(model.energy(s)[0]) * 5 == pytest.approx(direct, abs=1e-12)


def test_riemannian_hessian_at_a_critical_point_equals_chart_hessian() -> None:
    # at a critical point the Riemannian Hessian is the Hessian of H(R(t)), R(t) = sqrt(N)
    # (sigma + B t)/|sigma + B t| with B an orthonormal basis of the tangent space
    n = 8
    model = PSpin(n, 3, rng=0)
    r = gradient_descent(model, 1, rng=1, lr=0.05, max_steps=20000, gtol=1e-11)
    assert r.grad_norm[0] <= 1e-11
    gen = np.random.default_rng(1)
    s = gen.standard_normal((1, n))
    s *= math.sqrt(n) / np.linalg.norm(s)
    # rerun the same descent to get its end point
    s_end = s.copy()
    for _ in range(r.steps):
        g = model.gradient(s_end)
        g -= (g @ s_end[0] / n)[:, None] * s_end
        s_end = s_end - 0.05 * g
        s_end *= math.sqrt(n) / np.linalg.norm(s_end)
    sigma = s_end[0]
    q, _ = np.linalg.qr(np.column_stack([sigma, np.eye(n)[:, : n - 1]]))
    b = torch.tensor(q[:, 1:])
    h = _torch_energy(model)
    st = torch.tensor(sigma)

    def chart(t: torch.Tensor) -> torch.Tensor:
        x = st + b @ t
        return h(math.sqrt(n) * x / torch.linalg.norm(x))

    ref = torch.linalg.eigvalsh(torch.func.hessian(chart)(torch.zeros(n - 1, dtype=torch.float64)))
    np.testing.assert_allclose(model.riemannian_hessian_eigenvalues(sigma), ref.numpy(), atol=1e-8)
    assert r.index[0] == int(np.sum(ref.numpy() < -1e-6))


def test_descent_section_fractions_and_reproducibility() -> None:
    kw = dict(lr=0.1, max_steps=300, gtol=1e-6, band=0.05, seed=7)
    a1, i1 = descent_section(3, (12,), 2, 3, **kw)
    a2, _ = descent_section(3, (12,), 2, 3, **kw)
    np.testing.assert_array_equal(a1["energy_N12"], a2["energy_N12"])
    row = i1["per_N"][0]
    e = a1["energy_N12"]
    assert row["runs"] == 6
    assert row["below_minus_E0"]["fraction"] == pytest.approx(np.mean(e < -i1["E_0"]))
    f = fraction_with_se(np.array([True, False, False, True]))
    assert f["fraction"] == 0.5 and f["stderr"] == pytest.approx(0.25)


def test_bad_pspin_input() -> None:
    with pytest.raises(InputError, match="N must be"):
        PSpin(2, 3)
    with pytest.raises(InputError, match="do not fit"):
        PSpin(5000, 3)


@pytest.mark.slow
def test_abc_finite_n_identity_against_a_direct_count() -> None:
    # N = 3, p = 3: all critical points of random cubic forms on the sphere, found by solving
    # grad H = lambda sigma, |sigma|^2 = N from many starts, against ABC's finite-N identity
    # (hessrmt.rmt.complexity.kac_rice): total count and number of minima
    from scipy.optimize import root

    from hessrmt.rmt.complexity.kac_rice import finite_n_complexity

    n, p, samples = 3, 3, 80
    gen = np.random.default_rng(0)
    totals, minima = [], []
    for _ in range(samples):
        m = PSpin(n, p, rng=gen)

        def f(z, m=m):
            x, lam = z[:n], z[n]
            return np.concatenate([m.gradient(x)[0] - lam * x, [x @ x - n]])

        sols: list[np.ndarray] = []
        for _ in range(40):
            x0 = gen.standard_normal(n)
            x0 *= math.sqrt(n) / np.linalg.norm(x0)
            r = root(f, np.append(x0, m.gradient(x0)[0] @ x0 / n), tol=1e-12)
            if r.success and np.abs(f(r.x)).max() < 1e-9:
                if not any(np.linalg.norm(r.x[:n] - y) < 1e-6 for y in sols):
                    sols.append(r.x[:n])
        assert len(sols) <= 14  # Bezout-type bound 2 sum_{i<N} (p-1)^i
        totals.append(len(sols))
        minima.append(sum(m.riemannian_hessian_eigenvalues(x)[0] > 0 for x in sols))
    for counts, k in ((np.array(totals), None), (np.array(minima), 0)):
        r = finite_n_complexity(n, p, [50.0], k=k, samples=100_000, rng=1)
        formula = math.exp(n * r.theta[0])
        se = counts.std(ddof=1) / math.sqrt(samples)
        assert abs(counts.mean() - formula) < 4 * se + 0.02 * formula
