"""Hutchinson and Hutch++ trace estimators: unbiasedness, calibrated standard errors, variance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.stats
import torch

from hessrmt.curvature.krylov.numerics import probe_block
from hessrmt.curvature.krylov.traces import TraceResult, hutchinson_trace, hutchpp_trace
from hessrmt.curvature.linop import CurvatureOperator, DenseOperator
from hessrmt.errors import InputError
from tests.curvature.models import NonFiniteOperator, Recording

pytestmark = pytest.mark.usefixtures("one_thread")


def sym(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, n))
    return (X + X.T) / 2 + shift * np.eye(n)


def low_rank_plus_noise(n: int = 150, rank: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, rank)))
    X = rng.standard_normal((n, n))
    return U @ np.diag(np.linspace(50.0, 100.0, rank)) @ U.T + 0.05 * (X + X.T) / np.sqrt(n)


class Rounded32(CurvatureOperator):
    """A float32 operator whose product is the float32 rounding of the exact float64 product."""

    def __init__(self, A: np.ndarray) -> None:
        super().__init__(A.shape[0], torch.float32, "cpu")
        self.A = torch.as_tensor(A, dtype=torch.float64)

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return (self.A @ V.to(torch.float64)).to(torch.float32)


def test_hutchinson_within_three_se_and_exact_variance() -> None:
    A = sym(120, seed=1, shift=2.0)
    res = hutchinson_trace(A, num_probes=200, seed=3)
    exact = np.trace(A)
    assert abs(res.estimate - exact) < 3 * res.stderr
    assert res.num_matvecs == 200 and res.samples.shape == (200,)
    # Rademacher: Var[z^T A z] = 2 (||A||_F^2 - sum_i A_ii^2); the SE must estimate its root
    var = 2 * (np.sum(A**2) - np.sum(np.diag(A) ** 2))
    assert res.stderr == pytest.approx(np.sqrt(var / 200), rel=0.25)


def test_hutchinson_se_calibrated_across_seeds() -> None:
    A = sym(60, seed=4, shift=1.0)
    exact = np.trace(A)
    z = np.array(
        [
            (r.estimate - exact) / r.stderr
            for r in (hutchinson_trace(A, num_probes=40, seed=s) for s in range(300))
        ]
    )
    # (est - tr) / SE ~ t(39): mean 0, sd ~ 1.03; allow Monte Carlo error of 300 draws
    assert abs(z.mean()) < 0.2
    assert 0.85 < z.std() < 1.2
    assert np.mean(np.abs(z) < 3) > 0.97
    # the whole z distribution, not only two moments (fixed seeds: a deterministic p-value)
    assert scipy.stats.kstest(z, scipy.stats.t(df=39).cdf).pvalue > 0.01


def test_gaussian_probes_and_exact_for_diagonal() -> None:
    # Rademacher probes estimate the trace of a diagonal matrix exactly (z_i^2 = 1), SE 0
    d = np.linspace(-1.0, 4.0, 50)
    res = hutchinson_trace(np.diag(d), num_probes=5, seed=0)
    assert res.estimate == pytest.approx(d.sum(), abs=1e-12)
    assert res.stderr == pytest.approx(0.0, abs=1e-12)
    # Gaussian probes do not: Var = 2 ||A||_F^2
    g = hutchinson_trace(np.diag(d), num_probes=400, seed=0, probes="gaussian")
    assert g.stderr == pytest.approx(np.sqrt(2 * np.sum(d**2) / 400), rel=0.2)
    assert abs(g.estimate - d.sum()) < 4 * g.stderr


def test_batched_application() -> None:
    class Counting(DenseOperator):
        calls = 0

        def _matmat(self, V: torch.Tensor) -> torch.Tensor:
            Counting.calls += 1
            return super()._matmat(V)

    op = Counting(torch.tensor(sym(30, seed=5)))
    a = hutchinson_trace(op, num_probes=70, seed=1, batch_size=32)
    assert Counting.calls == 3 and a.num_matvecs == 70
    b = hutchinson_trace(sym(30, seed=5), num_probes=70, seed=1, batch_size=7)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)  # same probes, other batching
    np.testing.assert_allclose(b.samples, a.samples, rtol=1e-13, atol=1e-13)
    # every sample is z^T A z for its own Rademacher probe (read off the applied blocks)
    rec = Recording(sym(30, seed=5))
    c = hutchinson_trace(rec, num_probes=70, seed=1, batch_size=16)
    Z = torch.cat(rec.blocks, dim=1).numpy()
    assert Z.shape == (30, 70) and np.all(np.abs(Z) == 1.0)
    assert np.linalg.matrix_rank(Z) == 30  # distinct probes, not one repeated
    np.testing.assert_allclose(c.samples, np.einsum("ik,ij,jk->k", Z, sym(30, seed=5), Z))
    # the reported estimate and SE are the sample mean and std(ddof=1) / sqrt(N) of them
    assert c.estimate == pytest.approx(c.samples.mean(), rel=1e-14)
    assert c.stderr == pytest.approx(c.samples.std(ddof=1) / np.sqrt(70), rel=1e-12)


def test_stopping_on_relative_standard_error() -> None:
    A = sym(50, seed=10, shift=20.0)  # trace ~ 1000, per-probe sd ~ 70
    full = hutchinson_trace(A, num_probes=400, seed=3, batch_size=8)
    early = hutchinson_trace(A, num_probes=400, seed=3, batch_size=8, rtol=0.01)
    assert 10 <= early.samples.size < 400 and early.samples.size % 8 == 0
    assert early.stderr <= 0.01 * abs(early.estimate)
    assert early.num_matvecs == early.samples.size
    # the early-stopped run is a prefix of the full one (per-probe streams)
    np.testing.assert_array_equal(early.samples, full.samples[: early.samples.size])
    assert early.meta.conventions["num_probes"] == early.samples.size
    # an unreachable target spends the whole budget
    assert hutchinson_trace(A, num_probes=40, seed=3, rtol=1e-9).samples.size == 40


def test_hutchpp_beats_hutchinson_on_low_rank_plus_noise() -> None:
    A = low_rank_plus_noise()
    exact = np.trace(A)
    budget = 48
    e_h = np.array([hutchinson_trace(A, budget, seed=s).estimate - exact for s in range(40)])
    runs = [hutchpp_trace(A, budget, seed=s) for s in range(40)]
    e_pp = np.array([r.estimate - exact for r in runs])
    rmse_h, rmse_pp = np.sqrt(np.mean(e_h**2)), np.sqrt(np.mean(e_pp**2))
    print(f"RMSE Hutchinson {rmse_h:.3g}, Hutch++ {rmse_pp:.3g} at {budget} matvecs")
    assert rmse_pp < rmse_h / 10
    assert all(r.num_matvecs <= budget for r in runs)
    # the Hutch++ SE (of its Hutchinson part) is calibrated too
    z = e_pp / np.array([r.stderr for r in runs])
    assert np.mean(np.abs(z) < 3) >= 0.9
    # and Hutch++ is unbiased: the mean error over 40 seeds is within 3 of its standard errors
    assert abs(e_pp.mean()) < 3 * e_pp.std(ddof=1) / np.sqrt(40)


def test_hutchpp_exact_for_low_rank_with_enough_sketch() -> None:
    """rank(A) = 5 <= s = num_matvecs // 3: Q spans range(A), the deflated operator is zero, and
    the estimate is tr A to round-off with SE ~ 0, although Q covers only 5 of 200 dimensions.
    The rank-deficient sketch (s = 6 > 5) is truncated to rank 5."""
    rng = np.random.default_rng(21)
    U, _ = np.linalg.qr(rng.standard_normal((200, 5)))
    A = U @ np.diag([1.0, -2.0, 3.0, 4.0, 10.0]) @ U.T
    A = (A + A.T) / 2
    for budget, sketch in ((15, 5), (18, 5)):
        res = hutchpp_trace(A, budget, seed=1)
        assert res.estimate == pytest.approx(np.trace(A), abs=1e-12)
        assert res.low_rank_part == pytest.approx(np.trace(A), abs=1e-12)
        assert res.stderr < 1e-12
        assert res.meta.conventions["sketch_size"] == sketch
        assert res.num_matvecs <= budget
    # one sketch vector short of the rank: no longer exact
    short = hutchpp_trace(A, 12, seed=1)
    assert abs(short.estimate - np.trace(A)) > 1e-6


def test_hutchpp_exact_when_sketch_spans_everything() -> None:
    A = sym(10, seed=6)
    res = hutchpp_trace(A, 40, seed=0)
    assert res.estimate == pytest.approx(np.trace(A), abs=1e-10)
    assert res.stderr == 0.0
    assert res.low_rank_part == pytest.approx(np.trace(A), abs=1e-10)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_hutchpp_exact_with_a_singular_rademacher_sketch(n: int) -> None:
    """num_matvecs >= 3P, full-rank A, and a Rademacher sketch that is singular (often, in few
    dimensions): the sketch is completed to a basis, so the estimate is still exact."""
    A = sym(n, seed=n) + 5 * n * np.eye(n)  # full rank
    singular = 0
    for seed in range(12):
        S = probe_block(n, n, np.random.default_rng(seed), "rademacher", torch.device("cpu"))
        singular += int(np.linalg.matrix_rank(S.numpy()) < n)
        res = hutchpp_trace(A, 3 * n, rng=np.random.default_rng(seed))
        assert res.estimate == pytest.approx(np.trace(A), abs=1e-10)
        assert res.stderr == 0.0 and res.num_matvecs <= 2 * n
        assert res.meta.conventions["sketch_size"] == n
    assert singular > 0  # the case occurred


def test_float32_operator_accumulates_in_float64() -> None:
    """Samples z^T (A z) with A z rounded to float32 but the dot product in float64: with an
    operator whose output is the float32 rounding of the exact product, the samples equal the
    NumPy float64 reduction of the same rounded products to ~1e-16 relative; a float32 reduction
    would be off by ~1e-7."""
    A = sym(80, seed=7, shift=3.0)
    rec = Recording(A)  # same seed -> same probes
    hutchinson_trace(rec, 20, seed=2)
    Z = torch.cat(rec.blocks, dim=1).numpy()
    AZ = (A @ Z).astype(np.float32).astype(np.float64)
    expected = np.einsum("ik,ik->k", Z, AZ)
    r32 = hutchinson_trace(Rounded32(A), 20, seed=2)
    assert r32.meta.dtype == "float32"
    assert isinstance(r32.estimate, float) and r32.samples.dtype == np.float64
    np.testing.assert_allclose(r32.samples, expected, rtol=1e-14)
    single = np.einsum("ik,ik->k", Z.astype(np.float32), AZ.astype(np.float32))
    assert np.abs(single - expected).max() > 1e3 * np.abs(r32.samples - expected).max()


def test_float32_and_float64_agree_to_float32_precision() -> None:
    A = sym(80, seed=7, shift=3.0)
    r64 = hutchinson_trace(A, 20, seed=2)
    r32 = hutchinson_trace(torch.tensor(A, dtype=torch.float32), 20, seed=2)
    assert r32.meta.dtype == "float32"
    # each sample: float32 rounding of A (and of A z) in a sum of P terms of size ~||A z||
    tol = 10 * np.finfo(np.float32).eps * np.sqrt(80) * np.abs(A).sum(1).max()
    diff = np.abs(r32.samples - r64.samples).max()
    assert 0 < diff < tol
    p32 = hutchpp_trace(torch.tensor(A, dtype=torch.float32), 30, seed=2)
    assert p32.estimate == pytest.approx(hutchpp_trace(A, 30, seed=2).estimate, rel=1e-5)


@pytest.fixture(scope="module")
def mlp_problem():
    """mlp_tanh (P = 83) with its float64 Hessian by torch.func.hessian (independent oracle)."""
    from tests.curvature.models import mlp_tanh, reference_hessian

    problem = mlp_tanh(seed=0)
    return problem, reference_hessian(problem).numpy()


def test_model_hessian_trace_against_torch_func(mlp_problem) -> None:
    """HessianOperator (uneven batches): Hutchinson within 4 SE of tr H of the torch.func Hessian
    with the SE matching the exact Rademacher variance 2 (||H||_F^2 - sum H_ii^2); Hutch++ with
    a sketch of all P columns spans range(H) and is exact."""
    from hessrmt.curvature import HessianOperator

    problem, H = mlp_problem
    P = H.shape[0]
    op = HessianOperator(problem.model, problem.loss_fn, problem.batches)
    res = hutchinson_trace(op, num_probes=100, seed=5)
    assert abs(res.estimate - np.trace(H)) < 4 * res.stderr
    var = 2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2))
    assert res.stderr == pytest.approx(np.sqrt(var / 100), rel=0.3)
    assert res.meta.conventions["curvature"] == "hessian"
    full = hutchpp_trace(op, 3 * P, seed=0)
    assert full.estimate == pytest.approx(np.trace(H), rel=1e-10)
    # (H is rank-deficient here: the sketch keeps rank(H) columns and the deflated rest is ~0)
    assert full.stderr < 1e-12 * abs(np.trace(H)) and full.num_matvecs <= 3 * P
    assert full.low_rank_part == pytest.approx(np.trace(H), rel=1e-10)


def test_round_trip_and_reproducible(tmp_path) -> None:
    A = sym(40, seed=8)
    r = hutchpp_trace(A, 30, seed=9)
    assert hutchpp_trace(A, 30, seed=9).estimate == r.estimate
    assert hutchpp_trace(A, 30, seed=10).estimate != r.estimate
    h = hutchinson_trace(A, 30, seed=9)
    np.testing.assert_array_equal(hutchinson_trace(A, 30, seed=9).samples, h.samples)
    assert not np.array_equal(hutchinson_trace(A, 30, seed=10).samples, h.samples)
    assert h.meta.seed == 9
    for name, res in (("pp", r), ("h", h)):
        res.save(tmp_path / name)
        back = TraceResult.load(tmp_path / name)
        for f in dataclasses.fields(TraceResult):
            x, y = getattr(res, f.name), getattr(back, f.name)
            if isinstance(x, np.ndarray):
                assert x.dtype == y.dtype
                np.testing.assert_array_equal(y, x, err_msg=f.name)
            else:
                assert y == x, f.name
    back = TraceResult.load(tmp_path / "pp")
    assert back.method == "hutch++" and back.meta.conventions["method"] == "hutch++"
    lo, hi = r.interval()
    assert lo == pytest.approx(r.estimate - 1.96 * r.stderr)
    assert hi == pytest.approx(r.estimate + 1.96 * r.stderr)
    assert r.interval(3.0)[1] - r.interval(3.0)[0] == pytest.approx(6 * r.stderr)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda A: hutchinson_trace(A, num_probes=1), "num_probes must be an integer >= 2"),
        (lambda A: hutchinson_trace(A, num_probes=10.0), "num_probes must be an integer >= 2"),
        (lambda A: hutchinson_trace(A, probes="cauchy"), "probes must be one of"),
        (lambda A: hutchinson_trace(A, batch_size=0), "batch_size must be a positive"),
        (lambda A: hutchinson_trace(A, batch_size=2.5), "batch_size must be a positive"),
        (lambda A: hutchinson_trace(A, rtol=-1.0), "rtol must be a positive"),
        (lambda A: hutchinson_trace(A, rtol=float("nan")), "rtol must be a positive"),
        (lambda A: hutchinson_trace(A, min_probes=1), "min_probes must be an integer >= 2"),
        (lambda A: hutchinson_trace(A, seed=-3), "non-negative"),
        (lambda A: hutchpp_trace(A, 3), "num_matvecs must be an integer >= 4"),
        (lambda A: hutchpp_trace(A, 12.0), "num_matvecs must be an integer >= 4"),
        (lambda A: hutchpp_trace(A, 12, probes="cauchy"), "probes must be one of"),
        (lambda A: hutchpp_trace(A, 12, batch_size=0), "batch_size must be a positive"),
        (lambda A: hutchinson_trace("not an operator"), "CurvatureOperator"),
        (lambda A: hutchinson_trace(np.triu(A + 1.0)), "not symmetric"),
        (lambda A: hutchpp_trace(np.ones((5, 4)), 12), "square"),
        (lambda A: hutchinson_trace(np.diag([1.0, np.inf, 0.0])), "non-finite"),
    ],
)
def test_bad_input(call, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call(np.eye(5))


@pytest.mark.parametrize("estimator", ["hutchinson", "hutch++"])
def test_non_finite_operator_products_raise_input_error(estimator: str) -> None:
    with pytest.raises(InputError, match="non-finite"):
        if estimator == "hutchinson":
            hutchinson_trace(NonFiniteOperator(10, float("nan")), 5, seed=0)
        else:
            hutchpp_trace(NonFiniteOperator(10, float("nan")), 9, seed=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_operator_same_as_cpu() -> None:
    A = low_rank_plus_noise(60)
    op = DenseOperator(torch.tensor(A, device="cuda"))
    assert hutchinson_trace(op, 20, seed=1).estimate == pytest.approx(
        hutchinson_trace(A, 20, seed=1).estimate, rel=1e-10
    )
    assert hutchpp_trace(op, 30, seed=1).estimate == pytest.approx(
        hutchpp_trace(A, 30, seed=1).estimate, rel=1e-8
    )
