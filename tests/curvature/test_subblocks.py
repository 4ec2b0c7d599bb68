"""Principal sub-blocks H[S, S] from unit-vector products, against dense float64 references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hessrmt.curvature import GGNOperator, HessianOperator, dense_matrix
from hessrmt.curvature.linop import DenseOperator
from hessrmt.curvature.subblocks import (
    IndexSet,
    chunk_columns,
    layer_index_sets,
    principal_subblock,
    random_index_sets,
    subblock_eigenvalues,
)
from hessrmt.errors import InputError
from tests.curvature.models import Problem, _class_data, _finish, mlp_tanh, reference_hessian


def bn_cnn(seed: int = 0) -> Problem:
    """Conv(1->3) - BatchNorm2d(3) (eval, non-trivial running statistics) - tanh - Linear on
    1 x 6 x 6 images (P = 30 + 6 + 3 * 16 * 3 + 3 = 183)."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Tanh(), nn.Flatten(), nn.Linear(48, 3)
    )
    gen = torch.Generator().manual_seed(seed + 1)
    bn = model[1]
    with torch.no_grad():
        bn.running_mean.copy_(0.3 * torch.randn(3, generator=gen))
        bn.running_var.copy_(0.5 + torch.rand(3, generator=gen))
        bn.weight.copy_(1.0 + 0.2 * torch.randn(3, generator=gen))
    return _finish("bn_cnn", model, _class_data(gen, (1, 6, 6), 3, (7, 5, 11)))


PROBLEMS = {"mlp_tanh": mlp_tanh, "bn_cnn": bn_cnn}


@pytest.fixture(scope="module")
def references() -> dict[str, tuple[Problem, torch.Tensor]]:
    """Each problem with its dense reference Hessian by torch.func.hessian (eval mode)."""
    out = {}
    for name, build in PROBLEMS.items():
        prob = build()
        out[name] = (prob, reference_hessian(prob))
    return out


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_subblock_equals_dense_hessian_block_float64(name: str, references) -> None:
    prob, H = references[name]
    op = HessianOperator(prob.model, prob.loss_fn, prob.batches)
    P = op.shape[0]
    cases = [(np.array([0, 3, P - 1]), 1), (np.array([0, 3, P - 1]), None)]
    cases += [(np.sort(np.random.default_rng(1).choice(P, size=P // 3, replace=False)), 7)]
    cases += [(np.arange(P), None)]
    for S, chunk in cases:
        B = principal_subblock(op, S, chunk_size=chunk)
        ref = H[np.ix_(S, S)]
        torch.testing.assert_close(B, (ref + ref.T) / 2, rtol=0, atol=1e-12)


def test_layer_blocks_of_bn_cnn_equal_dense_blocks(references) -> None:
    prob, H = references["bn_cnn"]
    op = HessianOperator(prob.model, prob.loss_fn, prob.batches)
    sets = layer_index_sets(op, cap=10_000)
    assert [s.name for s in sets] == ["0", "1", "4"]
    assert [s.size for s in sets] == [30, 6, 147]
    assert np.array_equal(np.concatenate([s.indices for s in sets]), np.arange(op.shape[0]))
    for s in sets:
        ref = H[np.ix_(s.indices, s.indices)].numpy()
        mu = subblock_eigenvalues(op, s)
        np.testing.assert_allclose(mu, np.linalg.eigvalsh((ref + ref.T) / 2), rtol=0, atol=1e-12)


def test_ggn_subblock_equals_dense_ggn_block() -> None:
    prob = mlp_tanh()
    op = GGNOperator(prob.model, prob.loss_fn, prob.batches)
    G = dense_matrix(op)
    S = np.array([1, 5, 6, 40, 80])
    torch.testing.assert_close(principal_subblock(op, S), G[np.ix_(S, S)], rtol=0, atol=1e-13)


def test_cauchy_interlacing_with_full_spectrum() -> None:
    prob = mlp_tanh()
    op = HessianOperator(prob.model, prob.loss_fn, prob.batches)
    lam = np.linalg.eigvalsh(dense_matrix(op).numpy())
    P = lam.size
    for s in random_index_sets(P, size=30, count=3, rng=4):
        mu = subblock_eigenvalues(op, s)
        m = mu.size
        tol = 1e-12 * np.abs(lam).max()
        assert np.all(lam[:m] <= mu + tol) and np.all(mu <= lam[P - m :] + tol)


def test_layer_sets_subsample_with_seed() -> None:
    prob = mlp_tanh()
    op = HessianOperator(prob.model, prob.loss_fn, prob.batches)
    a = layer_index_sets(op, cap=20, rng=3)
    b = layer_index_sets(op, cap=20, rng=3)
    c = layer_index_sets(op, cap=20, rng=4)
    assert [s.n_total for s in a] == [30, 35, 18]  # Linear(4,6), Linear(6,5), Linear(5,3)
    assert [s.size for s in a] == [20, 20, 18]
    assert [s.subsampled for s in a] == [True, True, False]
    assert a[0].parameters == ("0.weight", "0.bias")
    assert all(np.array_equal(x.indices, y.indices) for x, y in zip(a, b))
    assert not np.array_equal(a[0].indices, c[0].indices)
    for s, (lo, hi) in zip(a, [(0, 30), (30, 65), (65, 83)]):
        assert np.all(np.diff(s.indices) > 0) and s.indices.min() >= lo and s.indices.max() < hi
    assert "seed 3" in a[0].how


def test_random_sets_reproducible_and_distinct() -> None:
    a = random_index_sets(100, size=40, count=3, rng=7)
    b = random_index_sets(100, size=40, count=3, rng=np.random.default_rng(7))
    assert all(np.array_equal(x.indices, y.indices) for x, y in zip(a, b))
    assert not np.array_equal(a[0].indices, a[1].indices)
    assert all(s.size == 40 and np.unique(s.indices).size == 40 for s in a)
    full = random_index_sets(10, size=40, count=1)
    assert full[0].size == 10 and not full[0].subsampled


def test_chunks_fit_memory_budget() -> None:
    assert chunk_columns(1000, 500, 8, memory_budget=2 * 1000 * 8 * 10) == 10
    assert chunk_columns(1000, 5, 8, memory_budget=1 << 30) == 5
    assert chunk_columns(10**9, 5, 8, memory_budget=1) == 1


def test_bad_index_sets_raise() -> None:
    op = DenseOperator(torch.eye(5, dtype=torch.float64))
    for bad in ([], [0, 5], [-1], [1, 1], [[0, 1]], [0.5]):
        with pytest.raises(InputError):
            principal_subblock(op, np.array(bad))
    with pytest.raises(InputError, match="per-layer"):
        layer_index_sets(op)
    with pytest.raises(InputError):
        random_index_sets(5, size=0, count=1)


def test_index_set_describe() -> None:
    s = IndexSet("x", np.array([1, 2]), 10, True, "how")
    assert s.describe() == {
        "name": "x", "size": 2, "n_total": 10, "subsampled": True, "parameters": [], "how": "how"
    }  # fmt: skip


def test_goe_subblock_is_goe_and_diagonal_poisson_stays_poisson() -> None:
    """Known answers: a principal sub-block of a GOE matrix is GOE; a principal sub-block of a
    diagonal matrix with i.i.d. entries is diagonal with i.i.d. entries (Poisson levels). The
    calibrated verdict must tell the two apart on the sub-blocks alone."""
    from hessrmt.rmt.summary import summarize_spectrum

    rng = np.random.default_rng(0)
    n, m = 600, 300
    A = rng.standard_normal((n, n))
    goe = DenseOperator(torch.from_numpy((A + A.T) / np.sqrt(2 * n)))
    diag = DenseOperator(torch.diag(torch.from_numpy(rng.uniform(-1, 1, n))))
    S = random_index_sets(n, size=m, count=1, rng=1)[0]
    s_goe = summarize_spectrum(subblock_eigenvalues(goe, S), rng=0)
    s_poi = summarize_spectrum(subblock_eigenvalues(diag, S), rng=0)
    assert s_goe.verdict == "GOE", s_goe.verdict
    assert abs(s_goe.mean_ratio - 0.5307) < 3 * s_goe.mean_ratio_se
    assert s_poi.verdict == "Poisson", s_poi.verdict
    assert abs(s_poi.mean_ratio - 0.3863) < 3 * s_poi.mean_ratio_se
    # the GOE sub-block's semicircle radius is 2 sqrt(m / n) (entry variance 1/n kept)
    mu = subblock_eigenvalues(goe, S)
    assert abs(mu.max() - 2 * np.sqrt(m / n)) < 0.1 and abs(mu.min() + 2 * np.sqrt(m / n)) < 0.1
