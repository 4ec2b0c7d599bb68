"""Stochastic Lanczos quadrature: Gauss-quadrature identities and densities vs exact spectra."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hessrmt.curvature.linop import DenseOperator
from hessrmt.curvature.slq import SLQResult, gaussian_density, slq
from hessrmt.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread")


def with_spectrum(eigs: np.ndarray, seed: int = 0) -> np.ndarray:
    n = len(eigs)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    A = (Q * eigs) @ Q.T
    return (A + A.T) / 2


def goe(n: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, n))
    return (X + X.T) / np.sqrt(2 * n)


@pytest.mark.parametrize("reorth", [True, False])
def test_quadrature_reproduces_moments_of_the_probe(reorth: bool) -> None:
    """Gauss quadrature with m nodes: sum_k w_k theta_k^j = v^T A^j v exactly for j < 2m."""
    n, m = 200, 8
    A = goe(n, seed=1)
    v = np.random.default_rng(2).standard_normal(n)
    res = slq(A, num_steps=m, probes=v, reorthogonalize=reorth)
    q = v / np.linalg.norm(v)
    nodes, weights = res.nodes[0], res.weights[0]
    assert weights.sum() == pytest.approx(1.0, abs=1e-13)
    assert np.all(weights >= 0)
    errors = []
    Ajq = q.copy()
    for j in range(2 * m + 1):
        exact = q @ Ajq
        quad = np.sum(weights * nodes**j)
        errors.append(abs(quad - exact) / 2.0**j)  # ||A|| ~ 2
        Ajq = A @ Ajq
    # without reorthogonalisation the recurrence still holds to rounding at these few steps
    assert max(errors[: 2 * m]) < 1e-12
    # degree 2m is beyond the rule's exactness: a wrong test setup would make this vanish too
    assert errors[2 * m] > 1e-6


def test_moments_in_expectation_match_trace() -> None:
    """Probe average of the quadrature moments estimates tr(A^j)/P (within 4 standard errors)."""
    A = with_spectrum(np.linspace(0.0, 2.0, 150), seed=3)
    res = slq(A, num_probes=40, num_steps=6, seed=4)
    for j in (1, 2, 3):
        per_probe = np.sum(res.weights * res.nodes**j, axis=1)
        se = per_probe.std(ddof=1) / np.sqrt(len(per_probe))
        exact = np.trace(np.linalg.matrix_power(A, j)) / 150
        assert res.moment(j) == pytest.approx(per_probe.mean())
        assert abs(res.moment(j) - exact) < 4 * se
    assert res.trace_estimate(lambda x: x) == pytest.approx(150 * res.moment(1))


def test_wasserstein_small_and_shrinking_with_steps() -> None:
    A = goe(400, seed=5)
    exact = np.linalg.eigvalsh(A)
    steps = (3, 6, 12, 24)
    dists = [slq(A, num_probes=10, num_steps=m, seed=6).wasserstein_to(exact) for m in steps]
    print("W1 by steps 3, 6, 12, 24:", dists)
    assert all(b < a for a, b in itertools.pairwise(dists))
    assert dists[-1] < 0.05 * (exact.max() - exact.min())  # spectrum width 4


def test_density_matches_smoothed_exact_spectrum() -> None:
    A = with_spectrum(np.r_[np.linspace(-1.0, 1.0, 300), [3.0] * 10], seed=7)
    exact = np.linalg.eigvalsh(A)
    res = slq(A, num_probes=20, num_steps=40, seed=8)
    assert np.trapezoid(res.density, res.grid) == pytest.approx(1.0, abs=1e-3)
    smoothed = gaussian_density(
        exact[None, :], np.full((1, exact.size), 1 / exact.size), res.grid, res.width
    )[0]
    l1 = np.trapezoid(np.abs(res.density - smoothed), res.grid)
    assert l1 < 0.1
    # the band is density -+ 2 SE and is informative (non-zero where the spectrum lives)
    np.testing.assert_allclose(res.band[0], res.density - 2 * res.density_stderr)
    np.testing.assert_allclose(res.band[1], res.density + 2 * res.density_stderr)
    assert res.density_stderr.max() > 0
    # outlier mass 10/310 near 3
    near = (res.grid > 2.5) & (res.grid < 3.5)
    assert np.trapezoid(res.density[near], res.grid[near]) == pytest.approx(10 / 310, abs=0.02)


def test_default_width_rule() -> None:
    A = goe(100, seed=9)
    res = slq(A, num_probes=3, num_steps=20, seed=0)
    live = res.nodes[res.weights > 0]
    expected = (live.max() - live.min()) / (19 * np.sqrt(8 * np.log(3.0)))
    assert res.width == pytest.approx(expected)
    assert res.meta.conventions["width"] == pytest.approx(expected)
    assert res.grid[0] == pytest.approx(live.min() - 5 * expected)
    assert len(res.grid) == 1024
    custom = slq(A, num_probes=3, num_steps=20, seed=0, width=0.1, grid=np.linspace(-3, 3, 50))
    assert custom.width == 0.1 and custom.grid.size == 50


def test_early_termination_on_invariant_subspace() -> None:
    """Rank-5 matrix: the Krylov space is exhausted after 6 steps (5 eigenvalues + 0)."""
    rng = np.random.default_rng(10)
    U, _ = np.linalg.qr(rng.standard_normal((120, 5)))
    A = U @ np.diag([1.0, 2.0, 3.0, 4.0, 5.0]) @ U.T
    op = DenseOperator(torch.tensor(A))
    V = rng.standard_normal((120, 4))
    res = slq(op, num_steps=30, probes=V)
    used = res.num_steps_used
    assert np.all((used >= 6) & (used <= 7))  # 7: rounding may split the zero node in two
    assert res.num_matvecs == op.num_matvecs == used.sum()
    for i in range(4):
        assert np.all(res.weights[i, used[i] :] == 0)
        np.testing.assert_allclose(np.sort(res.nodes[i, : used[i]])[-5:], [1, 2, 3, 4, 5])
        # the exhausted Krylov space makes the rule exact for every degree, here 20 > 2 * 7
        v = V[:, i] / np.linalg.norm(V[:, i])
        exact = v @ np.linalg.matrix_power(A, 20) @ v
        assert res.weights[i] @ res.nodes[i] ** 20 == pytest.approx(exact, rel=1e-9)


def test_identity_probes_give_the_exact_measure() -> None:
    """Probes e_i on a diagonal matrix stop at once: nodes = d_i, weights 1, W1 = 0."""
    d = np.linspace(-1.0, 2.0, 30)
    res = slq(np.diag(d), num_steps=10, probes=np.eye(30))
    assert res.num_probes == 30
    np.testing.assert_array_equal(res.num_steps_used, 1)
    np.testing.assert_allclose(res.nodes[:, 0], d, atol=1e-15)
    assert res.wasserstein_to(d) == pytest.approx(0.0, abs=1e-14)
    assert res.wasserstein_to(d + 0.25) == pytest.approx(0.25, abs=1e-12)


def test_one_matmat_per_step_for_all_probes() -> None:
    class Counting(DenseOperator):
        calls = 0

        def _matmat(self, V: torch.Tensor) -> torch.Tensor:
            Counting.calls += 1
            return super()._matmat(V)

    op = Counting(torch.tensor(goe(80, seed=12)))
    res = slq(op, num_probes=7, num_steps=15, seed=0)
    assert Counting.calls == 15
    assert res.num_matvecs == 7 * 15


def test_float32_operator() -> None:
    A = goe(150, seed=13)
    r64 = slq(A, num_probes=4, num_steps=12, seed=14)
    r32 = slq(torch.tensor(A, dtype=torch.float32), num_probes=4, num_steps=12, seed=14)
    assert r32.meta.dtype == "float32"
    assert r32.nodes.dtype == np.float64
    for j in range(1, 6):
        assert r32.moment(j) == pytest.approx(r64.moment(j), rel=1e-5, abs=1e-5)


def test_seed_reproducible_and_round_trip(tmp_path) -> None:
    A = goe(60, seed=15)
    a = slq(A, num_probes=3, num_steps=10, seed=16, probes="gaussian")
    b = slq(A, num_probes=3, num_steps=10, seed=16, probes="gaussian")
    c = slq(A, num_probes=3, num_steps=10, seed=17, probes="gaussian")
    np.testing.assert_array_equal(a.nodes, b.nodes)
    assert not np.array_equal(a.nodes, c.nodes)
    assert a.meta.seed == 16 and "gaussian" in a.meta.conventions["probe"]
    a.save(tmp_path / "slq")
    back = SLQResult.load(tmp_path / "slq")
    np.testing.assert_array_equal(back.density, a.density)
    np.testing.assert_array_equal(back.weights, a.weights)
    assert back.width == a.width and back.dimension == 60
    assert back.wasserstein_to(np.linalg.eigvalsh(A)) == a.wasserstein_to(np.linalg.eigvalsh(A))


def test_single_probe_has_no_band() -> None:
    res = slq(goe(40, seed=18), num_probes=1, num_steps=5)
    assert np.all(np.isnan(res.density_stderr))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_probes": 0},
        {"num_steps": 0},
        {"probes": "uniform"},
        {"width": -1.0},
        {"grid": 1},
        {"probes": np.ones(7)},
        {"probes": np.zeros(20)},
    ],
)
def test_bad_input(kwargs: dict) -> None:
    with pytest.raises(InputError):
        slq(np.eye(20), **kwargs)
    with pytest.raises(InputError):
        slq(np.eye(20), num_steps=3).wasserstein_to([])


@pytest.mark.slow
def test_real_model_hessian_density() -> None:
    models = pytest.importorskip("tests.curvature.models")
    from hessrmt.curvature import HessianOperator

    problem = models.mlp_tanh(seed=0)
    op = HessianOperator(problem.model, problem.loss_fn, problem.batches)
    P = op.shape[0]
    H = op.matmat(torch.eye(P, dtype=torch.float64))
    exact = torch.linalg.eigvalsh((H + H.T) / 2).numpy()
    coarse = slq(op, num_probes=6, num_steps=4, seed=0).wasserstein_to(exact)
    fine = slq(op, num_probes=6, num_steps=30, seed=0).wasserstein_to(exact)
    assert fine < coarse
    assert fine < 0.05 * (exact.max() - exact.min())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_operator_same_as_cpu() -> None:
    A = goe(100, seed=19)
    cpu = slq(A, num_probes=4, num_steps=15, seed=0)
    gpu = slq(DenseOperator(torch.tensor(A, device="cuda")), num_probes=4, num_steps=15, seed=0)
    np.testing.assert_allclose(gpu.nodes, cpu.nodes, atol=1e-10)
    np.testing.assert_allclose(gpu.weights, cpu.weights, atol=1e-10)
