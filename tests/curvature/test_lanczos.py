"""Thick-restart Lanczos against dense eigensolvers, ARPACK and power iteration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import eigsh

from hessrmt.curvature.krylov.eigensolver import LanczosResult, lanczos
from hessrmt.curvature.linop import DenseOperator
from hessrmt.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread")


def with_spectrum(eigs: np.ndarray, seed: int = 0) -> np.ndarray:
    """Q diag(eigs) Q^T with a random orthogonal Q (float64, exactly symmetric)."""
    n = len(eigs)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    A = (Q * eigs) @ Q.T
    return (A + A.T) / 2


N = 240
SPECTRA = {
    # evenly spaced, indefinite
    "indefinite": np.linspace(-1.0, 3.0, N),
    # clusters: tight groups at both ends (gaps 1e-3 inside a cluster, 0.5 between)
    "clustered": np.r_[
        -2.0 + 1e-3 * np.arange(12), np.linspace(0.0, 1.0, N - 24), 1.5 + 1e-3 * np.arange(12)
    ],
    # semicircle-like random spectrum
    "semicircle": np.sort(np.random.default_rng(5).standard_normal(N)),
    # Marchenko-Pastur-like PSD spectrum with many exact zeros (rank N/2)
    "rank_deficient": np.r_[
        np.zeros(N // 2), np.sort(np.random.default_rng(6).chisquare(3, N // 2))
    ],
}


def expected(eigs: np.ndarray, k: int, which: str) -> np.ndarray:
    asc = np.sort(eigs)
    if which == "LA":
        return asc[::-1][:k]
    if which == "SA":
        return asc[:k]
    if which == "LM":
        return asc[np.argsort(-np.abs(asc), kind="stable")][:k]
    return np.sort(np.r_[asc[: k // 2], asc[len(asc) - (k - k // 2) :]])


@pytest.mark.parametrize("name", sorted(SPECTRA))
@pytest.mark.parametrize("which", ["LA", "SA", "BE"])
def test_known_spectra_against_eigh(name: str, which: str) -> None:
    A = with_spectrum(SPECTRA[name], seed=1)
    ref_all = np.linalg.eigh(A)[0]  # independent dense float64 reference
    k = 10
    # rank_deficient: the bottom 10 lie in a 120-fold zero eigenspace, which a single-vector
    # Krylov space cannot resolve: the multiplicity check must catch it and re-run with blocks
    res = lanczos(A, k, which, tol=1e-10)
    scale = np.abs(ref_all).max()
    np.testing.assert_allclose(
        res.eigenvalues, expected(ref_all, k, which), rtol=0, atol=1e-8 * scale
    )
    assert res.all_converged
    # the reported residuals are the true ones: recompute ||A x - theta x|| densely
    X = res.eigenvectors
    true = np.linalg.norm(A @ X - X * res.eigenvalues, axis=0)
    np.testing.assert_allclose(res.residuals, true, rtol=1e-6, atol=1e-13 * scale)
    assert np.all(true <= 1e-9 * scale)
    np.testing.assert_allclose(X.T @ X, np.eye(k), atol=1e-11)
    assert res.num_matvecs > 0 and res.meta.conventions["which"] == which
    check = res.meta.conventions["multiplicity_check"]
    assert check == "passed" or (name == "rank_deficient" and "re-run" in check)


def test_ordering_and_largest_magnitude() -> None:
    eigs = np.r_[-5.0, -4.0, np.linspace(-1, 1, 100), 3.0, 4.5]
    A = with_spectrum(eigs, seed=2)
    res = lanczos(A, 4, "LM", tol=1e-10)
    np.testing.assert_allclose(res.eigenvalues, [-5.0, 4.5, -4.0, 3.0], atol=1e-9)
    assert np.all(np.diff(lanczos(A, 3, "LA").eigenvalues) < 0)
    assert np.all(np.diff(lanczos(A, 3, "SA").eigenvalues) > 0)
    be = lanczos(A, 3, "BE", tol=1e-10)  # ceil(3/2) = 2 from the top, 1 from the bottom
    np.testing.assert_allclose(be.eigenvalues, [-5.0, 3.0, 4.5], atol=1e-9)


@pytest.mark.parametrize("k", [3, 5])
def test_degenerate_top_eigenvalue(k: int) -> None:
    """A triple top eigenvalue: the multiplicity check, or a block of 3, finds all copies."""
    eigs = np.r_[[5.0] * 3, [4.0] * 2, np.linspace(-2, 2, 150)]
    A = with_spectrum(eigs, seed=3)
    want = [5, 5, 5, 4, 4][:k]
    for res in (lanczos(A, k, "LA", tol=1e-10), lanczos(A, k, "LA", tol=1e-10, block_size=3)):
        np.testing.assert_allclose(res.eigenvalues, want, atol=1e-9)
        np.testing.assert_allclose(res.eigenvectors.T @ res.eigenvectors, np.eye(k), atol=1e-12)
        assert res.all_converged


def test_single_vector_lanczos_misses_copies_without_the_check() -> None:
    """Why the check exists: plain single-vector Lanczos returns [5, 5, 4] for a triple 5."""
    eigs = np.r_[[5.0] * 3, [4.0] * 2, np.linspace(-2, 2, 150)]
    A = with_spectrum(eigs, seed=3)
    plain = lanczos(A, 3, "LA", tol=1e-8, verify=False)
    checked = lanczos(A, 3, "LA", tol=1e-8)
    assert plain.all_converged and plain.eigenvalues[-1] == pytest.approx(4.0)
    assert plain.meta.conventions["multiplicity_check"] == "disabled"
    np.testing.assert_allclose(checked.eigenvalues, [5, 5, 5], atol=1e-8)
    assert "re-run" in checked.meta.conventions["multiplicity_check"]
    assert checked.num_matvecs > plain.num_matvecs


def test_float32_operator_float64_accumulation() -> None:
    eigs = np.linspace(0.1, 3.0, 300)
    A = with_spectrum(eigs, seed=4)
    op = DenseOperator(torch.tensor(A, dtype=torch.float32))
    res = lanczos(op, 10, "LA", tol=1e-8)
    ref = np.linalg.eigh(op.matrix.double().numpy())[0][::-1][:10]  # the float32 matrix, exactly
    # Ritz values of a float32 operator: error ~ residual^2 / gap + eps32 ||A|| (far below 1e-6)
    np.testing.assert_allclose(res.eigenvalues, ref, rtol=1e-6)
    # the basis lives in float64: Ritz vectors orthonormal to float64 precision, not float32
    np.testing.assert_allclose(res.eigenvectors.T @ res.eigenvectors, np.eye(10), atol=1e-12)
    # a torch operator gives torch eigenvectors (float64, on its device); NumPy on request
    assert isinstance(res.eigenvectors, torch.Tensor) and res.eigenvectors.dtype == torch.float64
    as_np = lanczos(op, 10, "LA", tol=1e-8, output="numpy").eigenvectors
    assert isinstance(as_np, np.ndarray) and as_np.dtype == np.float64
    np.testing.assert_array_equal(as_np, res.eigenvectors.numpy())
    assert res.meta.dtype == "float32"
    assert res.tol_used == pytest.approx(10 * np.finfo(np.float32).eps)
    assert res.all_converged
    assert np.all(res.residuals <= 2e-5 * 3.0)


def test_invariant_subspace_start_vector() -> None:
    """v0 = e_1 of a diagonal matrix spans an invariant subspace at once: breakdown handling."""
    d = np.linspace(1.0, 2.0, 60)
    res = lanczos(np.diag(d), 5, "LA", tol=1e-10, v0=np.eye(60)[0])
    np.testing.assert_allclose(res.eigenvalues, d[::-1][:5], atol=1e-10)
    assert res.all_converged


def test_small_operator_is_exact() -> None:
    A = with_spectrum(np.array([3.0, -1.0, 0.5, 2.0, 0.0]), seed=7)
    res = lanczos(A, 5, "SA")
    np.testing.assert_allclose(res.eigenvalues, [-1.0, 0.0, 0.5, 2.0, 3.0], atol=1e-12)
    assert res.num_matvecs == 5


@pytest.mark.parametrize("n, k, b", [(7, 5, 3), (9, 2, 4), (12, 6, 5)])
def test_blocks_near_the_full_space(n: int, k: int, b: int) -> None:
    eigs = np.r_[np.arange(n - 3), [n, n, n]].astype(float)
    A = with_spectrum(eigs, seed=n)
    res = lanczos(A, k, "LA", tol=1e-12, block_size=b)
    np.testing.assert_allclose(res.eigenvalues, np.sort(eigs)[::-1][:k], atol=1e-10)
    np.testing.assert_allclose(res.eigenvectors.T @ res.eigenvectors, np.eye(k), atol=1e-12)


def _arpack_count(
    op: DenseOperator, eigs: np.ndarray, k: int, which: str, tol: float, v0: np.ndarray
) -> tuple[np.ndarray, int]:
    """scipy's eigsh (ARPACK, default ncv) on ``op`` (spectrum ``eigs``), no stricter than ours.

    ARPACK stops when ``||r_i|| <= tol_a |theta_i|`` for each pair; with
    ``tol_a = tol ||A|| / min_i |lambda_i|`` (the wanted eigenvalues) every pair's ARPACK bound
    is >= ``tol ||A||``, the bound of :func:`lanczos`: hessrmt works to an equal or stricter
    tolerance (the conversion of bench/hessbench/tasks.py).
    """
    tol_a = tol * np.abs(eigs).max() / np.abs(expected(eigs, k, which)).min()
    start = op.num_matvecs
    vals = eigsh(op.to_scipy(), k=k, which=which, tol=tol_a, v0=v0)[0]
    return vals, op.num_matvecs - start


def _comparison_spectra() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    n = 300
    mp = np.linalg.eigvalsh(np.cov(rng.standard_normal((n, 2 * n))))
    return {
        "linspace": np.linspace(-1, 3, n),
        "gaussian": np.sort(rng.standard_normal(n)),
        "marchenko_pastur": mp,
        "clustered": np.r_[
            -2.0 + 1e-3 * np.arange(12), np.linspace(0.0, 1.0, n - 24), 1.5 + 1e-3 * np.arange(12)
        ],
        "outliers": np.r_[0.1 * np.sort(rng.standard_normal(n - 5)), [3.0, 2.5, 2.0, 1.5, 1.2]],
    }


@pytest.mark.parametrize("k", [1, 3, 10])
def test_matvecs_no_more_than_arpack(k: int) -> None:
    """Top/bottom k at relative residual 1e-6, same start vector, tolerance at least as strict as
    ARPACK's (scipy eigsh, default ncv): never more products, on every spectrum and end."""
    ours, arpack = [], []
    for i, (name, eigs) in enumerate(_comparison_spectra().items()):
        A = with_spectrum(eigs, seed=i)
        op = DenseOperator(torch.tensor(A))
        for which in ("LA", "SA"):
            v0 = np.random.default_rng(100 + i).standard_normal(A.shape[0])
            ref, count = _arpack_count(op, eigs, k, which, 1e-6, v0)
            res = lanczos(A, k, which, tol=1e-6, v0=v0, verify=False)  # ARPACK has no check
            assert res.all_converged
            np.testing.assert_allclose(np.sort(res.eigenvalues), np.sort(ref), atol=1e-8)
            # the residual bound really holds (dense recomputation)
            X = res.eigenvectors
            assert np.linalg.norm(A @ X - X * res.eigenvalues, axis=0).max() <= 1e-6 * np.abs(
                eigs
            ).max() * (1 + 1e-6)
            assert res.num_matvecs <= count, (name, which, res.num_matvecs, count)
            ours.append(res.num_matvecs)
            arpack.append(count)
    print(f"k={k} lanczos matvecs", ours, "ARPACK", arpack)
    # the larger basis and the keep rule save products overall, not just tie
    assert np.sum(ours) <= 0.95 * np.sum(arpack)


def test_multiplicity_check_costs_verify_steps() -> None:
    """The default check adds exactly ``verify_steps`` products when it passes (its price)."""
    A = with_spectrum(_comparison_spectra()["gaussian"], seed=4)
    for which in ("LA", "SA"):
        plain = lanczos(A, 10, which, tol=1e-6, verify=False)
        for steps in (5, 10):
            checked = lanczos(A, 10, which, tol=1e-6, verify_steps=steps)
            assert checked.meta.conventions["multiplicity_check"] == "passed"
            assert checked.num_matvecs == plain.num_matvecs + steps
            np.testing.assert_array_equal(checked.eigenvalues, plain.eigenvalues)


@pytest.mark.parametrize("mult", [2, 3])
def test_default_check_finds_a_copy_at_every_top_position(mult: int) -> None:
    """A doubled or tripled eigenvalue at each of the top-10 positions (well separated from a
    Gaussian bulk): the default check (6 steps on the complement of the whole Krylov basis)
    exposes every copy single-vector Lanczos skips, so the answer is the true top 10. With 1 step
    it does not (the test can fail): the check's steps are what finds them."""
    weak = 0
    for pos in range(10):
        rng = np.random.default_rng(10 * mult + pos)
        top = np.sort(rng.uniform(1.0, 3.0, 10))[::-1]
        eigs = np.r_[top, [top[pos]] * (mult - 1), 0.3 * rng.standard_normal(290 - mult + 1)]
        A = with_spectrum(eigs, seed=pos)
        want = np.sort(eigs)[::-1][:10]
        res = lanczos(A, 10, "LA", tol=1e-8, seed=pos)
        np.testing.assert_allclose(res.eigenvalues, want, atol=1e-6)
        one = lanczos(A, 10, "LA", tol=1e-8, seed=pos, verify_steps=1, warn=False)
        weak += not np.allclose(one.eigenvalues, want, atol=1e-6)
    assert weak >= 1


def test_check_deflates_the_krylov_basis() -> None:
    """The check's start vector and its Lanczos vectors are orthogonal to the whole final basis,
    not only to the returned vectors: a stand-in operator records what it is applied to."""
    eigs = np.r_[[5.0, 4.0, 3.5], np.linspace(-1, 1, 200)]
    A = with_spectrum(eigs, seed=7)
    At = torch.tensor(A)
    seen: list[np.ndarray] = []

    def matvec(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.double().numpy().ravel().copy())
        return At @ x.double()

    res = lanczos(matvec, 3, "LA", tol=1e-10, size=A.shape[0], verify_steps=4)
    assert res.meta.conventions["multiplicity_check"] == "passed"
    plain = lanczos(A, 3, "LA", tol=1e-10, verify=False)
    main, check = np.array(seen[: plain.num_matvecs]), np.array(seen[plain.num_matvecs :])
    assert len(check) == 4
    Q, _ = np.linalg.qr(main.T)  # the main run's vectors span its final basis
    assert np.abs(Q.T @ (check / np.linalg.norm(check, axis=1)[:, None]).T).max() < 1e-8


def test_default_basis_size_rule() -> None:
    """ncv = 2k + 20 by default (capped at P), recorded in the metadata."""
    A = with_spectrum(np.linspace(0.0, 1.0, 100), seed=5)
    assert lanczos(A, 10, "LA").meta.conventions["ncv"] == 40
    assert lanczos(A, 1, "LA").meta.conventions["ncv"] == 22
    assert lanczos(A, 45, "LA").meta.conventions["ncv"] == 100
    assert lanczos(A, 10, "LA", block_size=8).meta.conventions["ncv"] == 56


@pytest.mark.slow
def test_matvecs_no_more_than_arpack_on_a_network_hessian() -> None:
    """The benchmark's case: a digits MLP Hessian (2,760 parameters), LA and SA, vs eigsh."""
    from hessrmt.curvature import HessianOperator
    from hessrmt.data import load_dataset
    from hessrmt.nn.data import to_batches
    from hessrmt.nn.zoo import build_model

    data = load_dataset("digits", seed=0)
    model = build_model("mlp", input_shape=data.input_shape, n_outputs=10, seed=0).double()
    batches = to_batches(data, 128)[:2]
    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), batches, dtype=torch.float64)
    n = op.shape[0]
    v0 = np.random.default_rng(0).standard_normal(n)
    for which in ("LA", "SA"):
        res = lanczos(op, 10, which, tol=1e-6, v0=v0, verify=False)
        assert res.all_converged
        anorm = res.norm_estimate
        tol_a = 1e-6 * anorm / np.abs(res.eigenvalues).min()
        start = op.num_matvecs
        ref = eigsh(op.to_scipy(), k=10, which=which, tol=tol_a, v0=v0)[0]
        count = op.num_matvecs - start
        np.testing.assert_allclose(np.sort(res.eigenvalues), np.sort(ref), atol=1e-9 * anorm)
        assert res.num_matvecs <= count, (which, res.num_matvecs, count)
        # the default call, multiplicity check included, also stays within ARPACK's count
        checked = lanczos(op, 10, which, tol=1e-6, v0=v0)
        assert checked.meta.conventions["multiplicity_check"] == "passed"
        assert checked.num_matvecs <= count, (which, checked.num_matvecs, count)


def _power_iteration_converged(A: np.ndarray, k: int, tol: float, budget: int) -> int:
    """PyHessian-style power iteration with deflation; eigenpairs found within ``budget``."""
    rng = np.random.default_rng(0)
    found: list[np.ndarray] = []
    used = 0
    anorm = np.abs(np.linalg.eigvalsh(A)).max()
    while len(found) < k:
        v = rng.standard_normal(A.shape[0])
        v /= np.linalg.norm(v)
        while True:
            if used >= budget:
                return len(found)
            w = A @ v
            used += 1
            for u in found:  # deflation
                w -= (u @ w) * u
            theta = v @ w
            if np.linalg.norm(w - theta * v) <= tol * anorm:
                found.append(v)
                break
            v = w / np.linalg.norm(w)
    return len(found)


def test_at_least_five_times_fewer_matvecs_than_power_iteration() -> None:
    A = with_spectrum(np.linspace(0.0, 3.0, 300), seed=12)
    res = lanczos(A, 10, "LA", tol=1e-6)
    assert res.all_converged
    assert _power_iteration_converged(A, 10, 1e-6, budget=5 * res.num_matvecs) < 10


def test_seed_reproducible_and_recorded(tmp_path) -> None:
    A = with_spectrum(SPECTRA["semicircle"], seed=8)
    r1 = lanczos(A, 4, "BE", seed=3)
    r2 = lanczos(A, 4, "BE", seed=3)
    np.testing.assert_array_equal(r1.eigenvalues, r2.eigenvalues)
    np.testing.assert_array_equal(r1.eigenvectors, r2.eigenvectors)
    assert r1.meta.seed == 3 and r1.meta.dtype == "float64"
    r1.save(tmp_path / "lz")
    back = LanczosResult.load(tmp_path / "lz")
    np.testing.assert_array_equal(back.eigenvalues, r1.eigenvalues)
    np.testing.assert_array_equal(back.eigenvectors, r1.eigenvectors)
    np.testing.assert_array_equal(back.converged, r1.converged)
    assert back.num_matvecs == r1.num_matvecs and back.which == "BE"
    assert back.meta.conventions["ncv"] == r1.meta.conventions["ncv"]


def test_not_converged_warns_and_reports() -> None:
    A = with_spectrum(np.linspace(0, 1, 200), seed=9)
    with pytest.warns(RuntimeWarning, match="did not reach"):
        res = lanczos(A, 5, "LA", tol=1e-12, max_iter=1)
    assert not res.all_converged
    assert np.all(res.residuals > 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 0},
        {"k": 31},
        {"k": 2, "which": "XX"},
        {"k": 2, "ncv": 2},
        {"k": 2, "tol": -1.0},
        {"k": 2, "block_size": 0},
        {"k": 2, "v0": np.zeros(30)},
        {"k": 2, "v0": np.ones(7)},
    ],
)
def test_bad_input(kwargs: dict) -> None:
    with pytest.raises(InputError):
        lanczos(np.eye(30), **kwargs)


@pytest.mark.slow
def test_real_model_hessians() -> None:
    """Top and bottom 10 Hessian eigenvalues of small models against eigvalsh of the dense H."""
    models = pytest.importorskip("tests.curvature.models")
    from hessrmt.curvature import HessianOperator

    for problem in (models.mlp_tanh(seed=0),):
        op = HessianOperator(problem.model, problem.loss_fn, problem.batches)
        P = op.shape[0]
        H = op.matmat(torch.eye(P, dtype=torch.float64))
        H = (H + H.T) / 2
        ref = torch.linalg.eigvalsh(H).numpy()
        scale = np.abs(ref).max()
        for which in ("LA", "SA"):
            res = lanczos(op, 10, which, tol=1e-10)
            np.testing.assert_allclose(
                res.eigenvalues, expected(ref, 10, which), rtol=0, atol=1e-8 * scale
            )
            assert res.all_converged


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_operator() -> None:
    A = with_spectrum(SPECTRA["indefinite"], seed=13)
    res = lanczos(DenseOperator(torch.tensor(A, device="cuda")), 10, "BE", tol=1e-10)
    np.testing.assert_allclose(
        res.eigenvalues, expected(np.linalg.eigh(A)[0], 10, "BE"), rtol=0, atol=1e-8 * 3.0
    )
    assert isinstance(res.eigenvectors, torch.Tensor) and res.eigenvectors.device.type == "cuda"


@pytest.mark.slow
def test_gauss_newton_null_space_bottom() -> None:
    """Bottom 10 of a real GGN (PSD, 37-fold zero eigenvalue): single-vector Lanczos stalls in
    the near-null cluster; the stall check finds the missed null directions and re-runs with
    blocks."""
    models = pytest.importorskip("tests.curvature.models")
    from hessrmt.curvature import GGNOperator

    problem = models.mlp_tanh(seed=0)
    ggn = GGNOperator(problem.model, problem.loss_fn, problem.batches)
    G = ggn.matmat(torch.eye(ggn.shape[0], dtype=torch.float64))
    G = (G + G.T) / 2
    ref = torch.linalg.eigvalsh(G).numpy()
    assert np.sum(np.abs(ref) < 1e-12 * ref.max()) >= 10  # the premise: a null space
    res = lanczos(DenseOperator(G), 10, "SA", tol=1e-6)
    assert res.all_converged
    assert "re-run" in res.meta.conventions["multiplicity_check"]
    # every returned value is within the tolerance of the true bottom 10 (all ~0)
    assert np.all(np.abs(res.eigenvalues - ref[:10]) <= 1e-6 * ref.max())
