"""Stochastic Lanczos quadrature: Gauss-quadrature identities and densities vs exact spectra."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import scipy.stats
import torch

from hessrmt.curvature.krylov.density import gaussian_density
from hessrmt.curvature.krylov.stochastic_quadrature import SLQResult, slq
from hessrmt.curvature.linop import CurvatureOperator, DenseOperator
from hessrmt.errors import InputError
from tests.curvature.models import NonFiniteOperator, Recording

pytestmark = pytest.mark.usefixtures("one_thread")


def with_spectrum(eigs: np.ndarray, seed: int = 0) -> np.ndarray:
    n = len(eigs)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    A = (Q * eigs) @ Q.T
    return (A + A.T) / 2


def goe(n: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, n))
    return (X + X.T) / np.sqrt(2 * n)


class Rounded32(CurvatureOperator):
    """A float32 operator whose product is the float32 rounding of the exact float64 product, so
    a float64 recurrence around it can be reproduced exactly by an independent NumPy loop."""

    def __init__(self, A: np.ndarray) -> None:
        super().__init__(A.shape[0], torch.float32, "cpu")
        self.A = torch.as_tensor(A, dtype=torch.float64)

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return (self.A @ V.to(torch.float64)).to(torch.float32)


def quadrature_moment_errors(
    A: np.ndarray, q: np.ndarray, nodes: np.ndarray, weights: np.ndarray, degrees: int
) -> np.ndarray:
    """|sum_k w_k theta_k^j - q^T A^j q| / ||A||^j for j = 0..degrees-1 (q of unit length)."""
    scale = np.abs(np.linalg.eigvalsh(A)).max()
    out, Ajq = [], q.copy()
    for j in range(degrees):
        out.append(abs(np.sum(weights * nodes**j) - q @ Ajq) / scale**j)
        Ajq = A @ Ajq
    return np.array(out)


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
    """W1 to the exact spectrum shrinks with m, under a bound that follows from Gauss exactness.

    Oracle: with m = P steps (reorthogonalised) each probe's rule IS its spectral measure
    sum_i (u_i^T q)^2 delta(lambda_i), so W1(m = P) is the pure probe-sampling error. A rule
    exact to degree 2m - 1 integrates every 1-Lipschitz f on [a, b] to within twice its best
    polynomial approximation error, and Jackson's theorem bounds that by pi (b - a) / (8 m):
    W1(m) <= W1(m = P) + pi (b - a) / (4 m) (triangle inequality; all nodes lie in [a, b]).
    """
    n = 200
    A = goe(n, seed=5)
    exact = np.linalg.eigvalsh(A)
    span = exact.max() - exact.min()
    sampling = slq(A, num_probes=10, num_steps=n, seed=6).wasserstein_to(exact)
    steps = (3, 6, 12, 24, 48)
    dists = [slq(A, num_probes=10, num_steps=m, seed=6).wasserstein_to(exact) for m in steps]
    print("W1 by steps 3, 6, 12, 24, 48:", dists, "probe-sampling floor:", sampling)
    assert all(b < a for a, b in itertools.pairwise(dists))
    for m, d in zip(steps, dists):
        assert d <= sampling + math.pi * span / (4 * m)
    # the quadrature part decays like 1/m: doubling m at least roughly halves it
    quad = np.array(dists) - sampling
    assert np.all(quad[1:] / quad[:-1] < 0.7)
    assert dists[-1] < 0.02 * span  # spectrum width 4


def test_full_krylov_rule_is_the_probe_spectral_measure() -> None:
    """m = P (reorthogonalised): nodes = eigenvalues, weights = (u_k^T q)^2 for every probe.

    This pins the weights to the squared FIRST components of the tridiagonal eigenvectors
    (PyHessian's broken fix squared the whole eigenvector matrix), with q read off the first
    block the operator sees.
    """
    n = 30
    lam = np.linspace(-2.0, 3.0, n)
    A = with_spectrum(lam, seed=1)
    _, U = np.linalg.eigh(A)
    op = Recording(A)
    res = slq(op, num_probes=3, num_steps=n, seed=2)
    Q0 = op.blocks[0].numpy()
    assert Q0.shape == (n, 3)
    # seeded probes are Rademacher: unit-length q_i = z_i / sqrt(P) with z_i in {-1, +1}^P
    np.testing.assert_allclose(np.abs(Q0) * np.sqrt(n), 1.0, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(res.num_steps_used, n)
    for i in range(3):
        order = np.argsort(res.nodes[i])
        np.testing.assert_allclose(res.nodes[i][order], lam, rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.weights[i][order], (U.T @ Q0[:, i]) ** 2, atol=1e-12)


def test_seeded_probes_satisfy_the_moment_identity_per_probe() -> None:
    """Batched seeded run (all probes in one matmat per step): each probe's rule is exact to
    degree 2m - 1 for its own start vector (recorded from the operator's first block)."""
    n, m = 120, 7
    A = goe(n, seed=4)
    op = Recording(A)
    res = slq(op, num_probes=5, num_steps=m, seed=11)
    Q0 = op.blocks[0].numpy()
    for i in range(5):
        err = quadrature_moment_errors(A, Q0[:, i], res.nodes[i], res.weights[i], 2 * m + 1)
        assert err[: 2 * m].max() < 1e-12, (i, err)
        assert err[2 * m] > 1e-8  # degree 2m is beyond exactness: the check is not vacuous


@pytest.mark.parametrize("reorth", [False, True])
def test_probes_ending_at_different_steps(reorth: bool) -> None:
    """Probes that hit an invariant subspace after 1 and 2 steps leave the block while a generic
    probe continues: the shrinking active set must keep every probe's recurrence intact
    (without reorthogonalisation the three-term recurrence alone must be right: CGS2 would
    hide a wrong beta_{j-1} q_{j-1} term)."""
    d = np.arange(1.0, 21.0)
    A = np.diag(d)
    V = np.zeros((20, 3))
    V[0, 0] = 1.0  # eigenvector: 1 step
    V[[1, 2], 1] = 1.0  # two eigenvectors: 2 steps
    V[:, 2] = np.random.default_rng(0).standard_normal(20)  # generic: all 10 steps
    op = DenseOperator(torch.tensor(A))
    res = slq(op, num_steps=10, probes=V, reorthogonalize=reorth)
    np.testing.assert_array_equal(res.num_steps_used, [1, 2, 10])
    assert res.num_matvecs == op.num_matvecs == 13
    np.testing.assert_allclose(res.nodes[0, :1], [1.0], atol=1e-15)
    np.testing.assert_allclose(np.sort(res.nodes[1, :2]), [2.0, 3.0], atol=1e-14)
    np.testing.assert_allclose(res.weights[1, :2], [0.5, 0.5], atol=1e-14)
    assert np.all(res.weights[0, 1:] == 0) and np.all(res.weights[1, 2:] == 0)
    assert np.all(res.alphas[1, 2:] == 0) and np.all(res.betas[1, 1:] == 0)
    for i in range(3):
        q = V[:, i] / np.linalg.norm(V[:, i])
        err = quadrature_moment_errors(A, q, res.nodes[i], res.weights[i], 20)
        # the two exhausted probes are exact for every degree; the generic one below 2m = 20
        assert err.max() < 1e-12, (i, err)


def test_reorthogonalisation_removes_ghost_nodes() -> None:
    """Paige: without reorthogonalisation, converged Ritz values reappear as ghost copies; with
    it, the nodes of one probe are distinct. Moments are right either way."""
    A = with_spectrum(np.r_[np.linspace(0.0, 1.0, 97), [5.0, 10.0, 20.0]], seed=3)
    with_reorth = slq(A, num_probes=2, num_steps=60, seed=0, reorthogonalize=True)
    without = slq(A, num_probes=2, num_steps=60, seed=0, reorthogonalize=False)
    for i in range(2):
        assert np.sum(np.abs(with_reorth.nodes[i] - 20.0) < 1e-8) == 1
        assert np.sum(np.abs(without.nodes[i] - 20.0) < 1e-8) >= 2
    assert with_reorth.meta.conventions["reorthogonalisation"].startswith("full")
    assert without.meta.conventions["reorthogonalisation"] == "none"
    exact3 = np.trace(A @ A @ A) / 100
    assert with_reorth.moment(3) == pytest.approx(without.moment(3), rel=1e-10)
    assert with_reorth.moment(3) != pytest.approx(exact3, rel=1e-3)  # probe noise is real...
    assert abs(with_reorth.moment(3) - exact3) < 0.5 * exact3  # ...but bounded


def test_default_turns_reorthogonalisation_off_with_a_warning_over_budget() -> None:
    A = goe(50, seed=3)
    with pytest.warns(RuntimeWarning, match="reorthogonalisation off"):
        res = slq(A, num_probes=2, num_steps=5, memory_budget=100)
    assert res.meta.conventions["reorthogonalisation"] == "none"
    with_budget = slq(A, num_probes=2, num_steps=5)
    assert with_budget.meta.conventions["reorthogonalisation"].startswith("full")


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
    # density and SE recomputed from the nodes/weights with scipy's normal pdf (not the
    # module's kernel): mean over probes, std(ddof=1) / sqrt(num_probes)
    per_probe = np.array(
        [
            scipy.stats.norm.pdf(res.grid[:, None], res.nodes[i], res.width) @ res.weights[i]
            for i in range(res.num_probes)
        ]
    )
    np.testing.assert_allclose(res.density, per_probe.mean(0), rtol=1e-12, atol=1e-14)
    se = per_probe.std(0, ddof=1) / np.sqrt(20)
    np.testing.assert_allclose(res.density_stderr, se, rtol=1e-10, atol=1e-14)
    # the band is density -+ 2 SE and is informative (non-zero where the spectrum lives)
    np.testing.assert_allclose(res.band[0], res.density - 2 * se, atol=1e-13)
    np.testing.assert_allclose(res.band[1], res.density + 2 * se, atol=1e-13)
    assert res.density_stderr.max() > 0
    # outlier mass 10/310 near 3
    near = (res.grid > 2.5) & (res.grid < 3.5)
    assert np.trapezoid(res.density[near], res.grid[near]) == pytest.approx(10 / 310, abs=0.02)


def test_band_covers_the_smoothed_spectrum_at_its_nominal_rate() -> None:
    """With m = P every probe's rule is its exact spectral measure, so the mean broadened
    density is unbiased for the broadened exact spectrum and the band density -+ 2 SE over 10
    probes covers it with probability P(|t_9| <= 2) = 0.92 pointwise. Over 25 seeds x 41 grid
    points (correlated) the observed rate must lie in [0.82, 0.98]; a band built from the
    standard deviation instead of the SE (sqrt(10) wider) would cover ~100 %, one built without
    ddof=1 or with 1 SE would fall below."""
    n = 40
    A = with_spectrum(np.r_[np.linspace(-1.0, 1.0, 36), [2.5] * 4], seed=1)
    lam = np.linalg.eigvalsh(A)
    grid = np.linspace(-1.2, 2.8, 41)
    width = 0.15
    truth = scipy.stats.norm.pdf(grid[:, None], lam[None, :], width).mean(1)
    inside = []
    for seed in range(25):
        res = slq(A, num_probes=10, num_steps=n, seed=seed, grid=grid, width=width)
        inside.append((res.band[0] <= truth) & (truth <= res.band[1]))
    rate = float(np.mean(inside))
    print(f"band coverage {rate:.3f} (nominal 0.92)")
    assert 0.82 <= rate <= 0.98


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


def test_float32_operator_recurrence_runs_in_float64() -> None:
    """Only the product carries float32 rounding: with an operator whose output is the float32
    rounding of the exact product, an independent float64 NumPy Lanczos (full reorth, CGS2)
    around the same rounded products reproduces alphas and betas to float64 round-off
    (~1e-16). A float32 recurrence would differ at ~1e-8 (half of eps32 x ||A||)."""
    n, m = 150, 12
    A = goe(n, seed=13)
    op = Rounded32(A)
    rec = Recording(np.zeros((n, n)))  # same seed -> same probes; read them off
    slq(rec, num_probes=3, num_steps=1, seed=14)
    Q0 = rec.blocks[0].numpy()
    res = slq(op, num_probes=3, num_steps=m, seed=14)
    assert res.meta.dtype == "float32" and res.nodes.dtype == np.float64

    def rounded(v: np.ndarray) -> np.ndarray:
        return (A @ v.astype(np.float32).astype(np.float64)).astype(np.float32).astype(np.float64)

    for i in range(3):
        basis = np.zeros((n, m))
        basis[:, 0] = Q0[:, i]
        alphas, betas, beta, q_prev = np.zeros(m), np.zeros(m - 1), 0.0, np.zeros(n)
        for j in range(m):
            q = basis[:, j]
            w = rounded(q)
            alphas[j] = q @ w
            w = w - alphas[j] * q - beta * q_prev
            for _ in range(2):
                w = w - basis[:, : j + 1] @ (basis[:, : j + 1].T @ w)
            if j == m - 1:
                break
            beta = np.linalg.norm(w)
            betas[j], q_prev, basis[:, j + 1] = beta, q, w / beta
        np.testing.assert_allclose(res.alphas[i], alphas, rtol=0, atol=1e-14)
        np.testing.assert_allclose(res.betas[i], betas, rtol=0, atol=1e-14)


def test_float32_and_float64_agree_to_float32_precision() -> None:
    """The same matrix as float32 and float64 operators: Ritz values agree to a small multiple of
    eps32 ||A|| (observed ~5e-8 against eps32 ||A|| ~ 2.3e-7), and they do differ (the float32
    path really runs in float32)."""
    A = goe(150, seed=13)
    r64 = slq(A, num_probes=4, num_steps=12, seed=14)
    r32 = slq(torch.tensor(A, dtype=torch.float32), num_probes=4, num_steps=12, seed=14)
    assert r32.meta.dtype == "float32" and r64.meta.dtype == "float64"
    assert r32.nodes.dtype == np.float64
    tol = 10 * np.finfo(np.float32).eps * np.abs(np.linalg.eigvalsh(A)).max()
    diff = np.abs(r32.nodes - r64.nodes).max()
    assert 0 < diff < tol
    np.testing.assert_allclose(r32.weights, r64.weights, atol=10 * np.finfo(np.float32).eps)
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
    np.testing.assert_array_equal(a.density, b.density)
    a.save(tmp_path / "slq")
    back = SLQResult.load(tmp_path / "slq")
    for f in dataclasses.fields(SLQResult):
        x, y = getattr(a, f.name), getattr(back, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            np.testing.assert_array_equal(y, x, err_msg=f.name)  # NaN == NaN here
        else:
            assert y == x, f.name
    assert back.width == a.width and back.dimension == 60
    # a single-probe result (NaN standard errors) survives the round trip too
    one = slq(A, num_probes=1, num_steps=4, seed=1)
    one.save(tmp_path / "one")
    back1 = SLQResult.load(tmp_path / "one")
    assert np.all(np.isnan(back1.density_stderr)) and np.all(np.isnan(back1.band))
    np.testing.assert_array_equal(back1.nodes, one.nodes)
    assert back.wasserstein_to(np.linalg.eigvalsh(A)) == a.wasserstein_to(np.linalg.eigvalsh(A))


def test_single_probe_has_no_band() -> None:
    res = slq(goe(40, seed=18), num_probes=1, num_steps=5)
    assert np.all(np.isnan(res.density_stderr))


def _probes_with(value: float) -> np.ndarray:
    V = np.ones((20, 3))
    V[4, 1] = value
    return V


def _zero_column() -> np.ndarray:
    V = np.ones((20, 3))
    V[:, 2] = 0.0
    return V


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_probes": 0}, "num_probes must be a positive integer"),
        ({"num_probes": 2.5}, "num_probes must be a positive integer"),
        ({"num_steps": 0}, "num_steps must be a positive integer"),
        ({"probes": "uniform"}, "probes must be one of"),
        ({"width": -1.0}, "width must be a positive finite"),
        ({"width": 0.0}, "width must be a positive finite"),
        ({"width": float("nan")}, "width must be a positive finite"),
        ({"grid": 1}, "at least 2 points"),
        ({"grid": np.array([0.0])}, "at least 2 points"),
        ({"grid": np.array([0.0, np.nan, 1.0])}, "finite"),
        ({"probes": np.ones(7)}, r"shape \(20,\) or \(20, num_probes\)"),
        ({"probes": np.ones((19, 3))}, r"shape \(20,\)"),
        ({"probes": np.ones((20, 3, 1))}, r"shape \(20,\)"),
        ({"probes": np.zeros(20)}, "finite and non-zero"),
        ({"probes": _zero_column()}, "finite and non-zero"),
        ({"probes": _probes_with(np.nan)}, "finite and non-zero"),
        ({"probes": _probes_with(np.inf)}, "finite and non-zero"),
        ({"seed": -1}, "non-negative"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        slq(np.eye(20), **kwargs)


def test_bad_operator_and_spectrum_inputs() -> None:
    res = slq(np.eye(20), num_steps=3)
    for eigs in ([], [1.0, np.nan], [np.inf]):
        with pytest.raises(InputError, match="non-empty array of finite"):
            res.wasserstein_to(eigs)
    with pytest.raises(InputError, match="not symmetric"):
        slq(np.triu(np.ones((6, 6))))
    with pytest.raises(InputError, match="square"):
        slq(np.ones((6, 5)))
    with pytest.raises(InputError, match="non-finite"):
        slq(np.diag([1.0, np.nan, 2.0]))
    with pytest.raises(InputError, match="CurvatureOperator"):
        slq([[1.0, 0.0], [0.0, 1.0]])


def test_num_steps_capped_at_the_dimension() -> None:
    d = np.linspace(1.0, 2.0, 12)
    res = slq(np.diag(d), num_probes=2, num_steps=50, seed=0)
    assert res.nodes.shape == (2, 12) and res.meta.conventions["num_steps"] == 12
    # 12 steps on a 12 x 12 matrix with distinct eigenvalues: the rule is exact, nodes = d
    for i in range(2):
        np.testing.assert_allclose(np.sort(res.nodes[i]), d, atol=1e-13)


def test_non_finite_operator_products_raise_input_error() -> None:
    with pytest.raises(InputError, match="non-finite"):
        slq(NonFiniteOperator(10, float("inf")), num_probes=2, num_steps=3)


@pytest.fixture(scope="module")
def mlp_problem():
    """mlp_tanh (P = 83) with its float64 Hessian by torch.func.hessian (independent oracle;
    computed once: torch.func's first call costs ~2 s of one-time set-up)."""
    from tests.curvature.models import mlp_tanh, reference_hessian

    problem = mlp_tanh(seed=0)
    return problem, reference_hessian(problem).numpy()


def test_real_model_hessian_density(mlp_problem) -> None:
    from hessrmt.curvature import HessianOperator

    problem, H = mlp_problem
    op = HessianOperator(problem.model, problem.loss_fn, problem.batches)
    exact = np.linalg.eigvalsh(H)
    coarse = slq(op, num_probes=6, num_steps=4, seed=0).wasserstein_to(exact)
    fine = slq(op, num_probes=6, num_steps=30, seed=0).wasserstein_to(exact)
    assert fine < coarse
    assert fine < 0.05 * (exact.max() - exact.min())


def test_real_model_hessian_moment_identity_per_probe(mlp_problem) -> None:
    """SLQ on the HessianOperator (uneven batches, float64) against the torch.func Hessian:
    sum_k w_k theta_k^j = q^T H^j q for j < 2m for every probe; tr(H)/P by the probe mean
    within 4 SE."""
    from hessrmt.curvature import HessianOperator

    problem, H = mlp_problem
    P, m = H.shape[0], 8
    inner = HessianOperator(problem.model, problem.loss_fn, problem.batches)

    class Spy(CurvatureOperator):
        def __init__(self) -> None:
            super().__init__(P, torch.float64, "cpu")
            self.first: torch.Tensor | None = None

        def _matmat(self, V: torch.Tensor) -> torch.Tensor:
            if self.first is None:
                self.first = V.clone()
            return inner.matmat(V)

    op = Spy()
    res = slq(op, num_probes=6, num_steps=m, seed=3)
    Q0 = op.first.numpy()
    for i in range(6):
        err = quadrature_moment_errors(H, Q0[:, i], res.nodes[i], res.weights[i], 2 * m)
        assert err.max() < 1e-10, (i, err)
    per_probe = np.sum(res.weights * res.nodes, axis=1)
    se = per_probe.std(ddof=1) / np.sqrt(6)
    assert abs(res.moment(1) - np.trace(H) / P) < 4 * se


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_operator_same_as_cpu() -> None:
    A = goe(100, seed=19)
    cpu = slq(A, num_probes=4, num_steps=15, seed=0)
    gpu = slq(DenseOperator(torch.tensor(A, device="cuda")), num_probes=4, num_steps=15, seed=0)
    np.testing.assert_allclose(gpu.nodes, cpu.nodes, atol=1e-10)
    np.testing.assert_allclose(gpu.weights, cpu.weights, atol=1e-10)
