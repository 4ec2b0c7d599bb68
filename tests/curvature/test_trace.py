"""Hutchinson and Hutch++ trace estimators: unbiasedness, calibrated standard errors, variance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hessrmt.curvature.linop import DenseOperator
from hessrmt.curvature.trace import TraceResult, hutchinson_trace, hutchpp_trace
from hessrmt.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread")


def sym(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, n))
    return (X + X.T) / 2 + shift * np.eye(n)


def low_rank_plus_noise(n: int = 150, rank: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, rank)))
    X = rng.standard_normal((n, n))
    return U @ np.diag(np.linspace(50.0, 100.0, rank)) @ U.T + 0.05 * (X + X.T) / np.sqrt(n)


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


def test_hutchpp_exact_when_sketch_spans_everything() -> None:
    A = sym(10, seed=6)
    res = hutchpp_trace(A, 40, seed=0)
    assert res.estimate == pytest.approx(np.trace(A), abs=1e-10)
    assert res.stderr == 0.0
    assert res.low_rank_part == pytest.approx(np.trace(A), abs=1e-10)


def test_float32_operator_accumulates_in_float64() -> None:
    A = sym(80, seed=7, shift=3.0)
    r64 = hutchinson_trace(A, 20, seed=2)
    r32 = hutchinson_trace(torch.tensor(A, dtype=torch.float32), 20, seed=2)
    assert r32.meta.dtype == "float32"
    assert r32.estimate == pytest.approx(r64.estimate, rel=1e-5)


def test_round_trip_and_reproducible(tmp_path) -> None:
    A = sym(40, seed=8)
    r = hutchpp_trace(A, 30, seed=9)
    assert hutchpp_trace(A, 30, seed=9).estimate == r.estimate
    r.save(tmp_path / "tr")
    back = TraceResult.load(tmp_path / "tr")
    assert back.estimate == r.estimate and back.stderr == r.stderr and back.method == "hutch++"
    np.testing.assert_array_equal(back.samples, r.samples)
    assert back.meta.seed == 9 and back.meta.conventions["method"] == "hutch++"
    lo, hi = r.interval()
    assert lo < r.estimate < hi


@pytest.mark.parametrize(
    "call",
    [
        lambda A: hutchinson_trace(A, num_probes=1),
        lambda A: hutchinson_trace(A, probes="cauchy"),
        lambda A: hutchinson_trace(A, batch_size=0),
        lambda A: hutchinson_trace(A, rtol=-1.0),
        lambda A: hutchinson_trace(A, min_probes=1),
        lambda A: hutchpp_trace(A, 3),
        lambda A: hutchinson_trace("not an operator"),
    ],
)
def test_bad_input(call) -> None:
    with pytest.raises(InputError):
        call(np.eye(5))


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
