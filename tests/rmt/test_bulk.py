"""Zeros, outliers and bulk edges (hessrmt.rmt.bulk): AT-1, the float32 trap, SP-2, SP-3."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import eigvalsh_tridiagonal

from hessrmt.errors import InputError
from hessrmt.rmt.bulk import default_zero_rtol, split_spectrum


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
    # papers.md §2.6: a rank-deficient matrix diagonalised in float32 has no zeros, only
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


@pytest.mark.slow
def test_supercritical_spikes_are_outliers_sp2(rng: np.random.Generator) -> None:
    # SP-2: rank-one spike theta on a variance-1 semicircle: outlier at theta + 1/theta.
    n = 1000
    h = dense_goe(n, rng)
    v = np.linalg.qr(rng.normal(size=(n, 3)))[0]
    thetas = [2.0, 4.0, -3.0]
    h += sum(t * np.outer(v[:, i], v[:, i]) for i, t in enumerate(thetas))
    eigs = np.linalg.eigvalsh(h)
    parts = split_spectrum(eigs)
    assert parts.n_outliers_high == 2 and parts.n_outliers_low == 1
    top = np.sort(eigs[parts.outlier_mask])
    # locations fluctuate by O(N^-1/2) (~0.04 here); detection, not location, is tested
    np.testing.assert_allclose(top, [-3 - 1 / 3, 2.5, 4.25], rtol=0.06)
    lo, hi = parts.bulk_edges
    assert abs(hi - 2) < 0.05 and abs(lo + 2) < 0.05


@pytest.mark.slow
def test_subcritical_spike_is_not_an_outlier_sp3(rng: np.random.Generator) -> None:
    # SP-3: theta = 0.8 sigma < sigma: the top eigenvalue sticks to the edge, nothing flagged.
    n = 600
    for _ in range(3):
        h = dense_goe(n, rng)
        v = rng.normal(size=n)
        v /= np.linalg.norm(v)
        eigs = np.linalg.eigvalsh(h + 0.8 * np.outer(v, v))
        parts = split_spectrum(eigs)
        assert parts.n_outliers == 0
        assert abs(parts.bulk_edges[1] - 2) < 0.1


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
