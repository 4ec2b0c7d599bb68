"""Zeros, outliers and bulk edges (hessrmt.rmt.bulk): AT-1, the float32 trap, SP-2, SP-3."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import eigvalsh_tridiagonal

from hessrmt.errors import InputError
from hessrmt.rmt.bulk import default_zero_rtol, split_spectrum
from hessrmt.rmt.ensembles import beta_hermite_tridiagonal


def dense_goe(n: int, rng: np.random.Generator) -> np.ndarray:
    """GOE with off-diagonal variance 1/n (semicircle radius 2)."""
    m = rng.normal(size=(n, n))
    return (m + m.T) / np.sqrt(2 * n)


def test_zero_counts_exact_roundoff_and_genuine() -> None:
    genuine = np.linspace(1.0, 10.0, 50)
    eigs = np.concatenate([genuine, np.zeros(7), [3e-13, -4e-12, 1e-11], [2e-6, -5e-6]])
    parts = split_spectrum(eigs)  # tolerance 1e-9 * 10 = 1e-8
    assert parts.n_zero_exact == 7
    assert parts.n_zero_roundoff == 3
    assert parts.zero_fraction == pytest.approx(10 / eigs.size)
    assert parts.zero_tolerance == pytest.approx(1e-8)
    assert not parts.zero_mask[-2:].any()  # 2e-6 and -5e-6 are genuine, above 1e-8
    masks = parts.zero_mask.astype(int) + parts.outlier_mask + parts.bulk_mask
    np.testing.assert_array_equal(masks, 1)  # disjoint and covering


def test_zero_tolerance_is_relative() -> None:
    eigs = np.concatenate([np.linspace(1.0, 10.0, 50), [1e-12, 0.0]])
    a = split_spectrum(eigs)
    b = split_spectrum(eigs * 1e8)
    assert a.n_zero == b.n_zero == 2


def test_product_wishart_atom_equals_rank_formula(rng: np.random.Generator) -> None:
    # AT-1: X = X1 X2 with X1 of size N x N1, X2 of size N1 x N2: rank min(N, N1, N2).
    n, n1, n2 = 200, 100, 300
    x = rng.normal(size=(n, n1)) @ rng.normal(size=(n1, n2))
    eigs = np.linalg.eigvalsh(x @ x.T / n2)
    parts = split_spectrum(eigs)
    assert parts.n_zero == n - min(n, n1, n2)
    assert parts.zero_fraction == pytest.approx(0.5, abs=0)


def test_float32_roundoff_trap_is_visible(rng: np.random.Generator) -> None:
    # docs/reference/papers.md §2.6: a rank-deficient matrix diagonalised in float32 has no zeros,
    # only
    # round-off of ~1e-7 ||H||, which passes a float64-style cut once saved as float64.
    n, rank = 120, 40
    a = rng.normal(size=(n, rank))
    h = a @ a.T
    eig64 = np.linalg.eigvalsh(h)
    eig32 = np.linalg.eigvalsh(h.astype(np.float32)).astype(np.float64)

    p64 = split_spectrum(eig64)
    assert p64.n_zero == n - rank and p64.n_zero_exact == 0
    assert p64.warnings == ()

    naive = split_spectrum(eig32)  # looks like float64 data
    assert naive.n_zero < n - rank  # the trap: round-off eigenvalues counted as genuine
    assert naive.n_suspect_roundoff >= n - rank - naive.n_zero
    assert naive.warnings and "float32" in naive.warnings[0]

    honest = split_spectrum(eig32, dtype="float32")
    assert honest.n_zero == n - rank
    assert honest.n_zero_roundoff == n - rank and honest.n_zero_exact == 0
    assert honest.zero_rtol == default_zero_rtol("float32") == 1e-4


def test_goe_spectra_have_no_outliers(rng: np.random.Generator) -> None:
    n_out = 0
    for _ in range(300):
        d = rng.normal(size=200)
        e = np.sqrt(rng.chisquare(np.arange(199, 0, -1.0)) / 2)
        n_out += split_spectrum(eigvalsh_tridiagonal(d, e)).n_outliers
    assert n_out == 0


def spiked_goe_eigenvalues(n: int, theta: float, rng: np.random.Generator) -> np.ndarray:
    """Eigenvalues of W + theta v v^T, W GOE (semicircle radius 2), |v| = 1, in O(n^2).

    By orthogonal invariance v can be e_1, and Householder tridiagonalisation fixes e_1, so the
    Dumitriu-Edelman tridiagonal model T of W gives W + theta e_1 e_1^T ~ T + theta e_1 e_1^T.
    """
    d, e = beta_hermite_tridiagonal(n, 1, rng=rng)
    d = d.copy()
    d[0] += theta
    return eigvalsh_tridiagonal(d, e)


@pytest.mark.parametrize(("theta", "side"), [(2.0, "high"), (-3.0, "low")])
def test_supercritical_spike_is_an_outlier_sp2(
    theta: float, side: str, rng: np.random.Generator
) -> None:
    # SP-2 (N = 2000): rank-one spike theta on a variance-1 semicircle: outlier at theta + 1/theta.
    eigs = spiked_goe_eigenvalues(2000, theta, rng)
    parts = split_spectrum(eigs)
    assert parts.n_outliers == 1
    assert (parts.n_outliers_high if side == "high" else parts.n_outliers_low) == 1
    outlier = eigs[parts.outlier_mask][0]
    assert outlier == pytest.approx(theta + 1 / theta, rel=0.02)
    lo, hi = parts.bulk_edges
    assert abs(hi - 2) < 0.05 and abs(lo + 2) < 0.05


def test_subcritical_spike_is_not_an_outlier_sp3(rng: np.random.Generator) -> None:
    # SP-3: theta = 0.8 sigma < sigma: the top eigenvalue sticks to the edge, nothing flagged.
    for _ in range(5):
        eigs = spiked_goe_eigenvalues(2000, 0.8, rng)
        parts = split_spectrum(eigs)
        assert parts.n_outliers == 0
        assert abs(parts.bulk_edges[1] - 2) < 0.05


@pytest.mark.slow
def test_several_spikes_on_both_sides_dense(rng: np.random.Generator) -> None:
    n = 400
    h = dense_goe(n, rng)
    v = np.linalg.qr(rng.normal(size=(n, 3)))[0]
    for i, t in enumerate([3.0, 5.0, -4.0]):
        h += t * np.outer(v[:, i], v[:, i])
    eigs = np.linalg.eigvalsh(h)
    parts = split_spectrum(eigs)
    assert parts.n_outliers_high == 2 and parts.n_outliers_low == 1
    np.testing.assert_allclose(
        np.sort(eigs[parts.outlier_mask]), [-4.25, 3 + 1 / 3, 5.2], rtol=0.05
    )


def test_cluster_of_outliers_found_as_a_whole() -> None:
    bulk = np.sort(np.random.default_rng(3).uniform(-1, 1, 500))
    cluster = np.array([5.0, 5.001, 5.002, 5.003, 5.01])  # tiny gaps inside the cluster
    parts = split_spectrum(np.concatenate([bulk, cluster]))
    assert parts.n_outliers_high == 5 and parts.n_outliers_low == 0


def test_batch_split(rng: np.random.Generator) -> None:
    batch = rng.uniform(-1, 1, size=(4, 100))
    batch[1, :10] = 0.0
    batch[2, 0] = 50.0
    parts = split_spectrum(batch)
    assert parts.zero_mask.shape == batch.shape
    assert parts.n_spectra == 4 and parts.n_eigenvalues == 400
    assert parts.n_zero_exact == 10 and parts.n_outliers_high == 1
    assert parts.bulk_edges.shape == (4, 2)
    assert len(parts.bulk()) == 4
    assert len(parts.bulk_segments()) == 5  # spectrum 1 is cut at its zero cluster


def test_bad_arguments() -> None:
    with pytest.raises(InputError):
        split_spectrum(np.arange(20.0), zero_rtol=2.0)
    with pytest.raises(InputError):
        split_spectrum(np.arange(20.0), edge_k=0.0)
    with pytest.raises(InputError):
        split_spectrum(np.arange(20.0), dtype="not-a-dtype")
