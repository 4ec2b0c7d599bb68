"""Chunked vmapped columns in the recomputing engines (:mod:`hessrmt.curvature.graph_memory`).

A block's columns go through one vmapped pass per batch only as far as ``graph_memory_budget``
allows; the rest run in further chunks. Oracles, float64: the dense Hessian (``torch.func`` /
autograd, as in ``test_kept.py``) for the Hessian engines, the unchunked product for the
Gauss-Newton engine (whose oracle is in ``test_operators.py``). The widths of the vmapped passes
are read from ``torch.autograd.grad`` calls themselves, and forward passes are counted with a
forward hook (double backward: once per batch and product, however many chunks)."""

from __future__ import annotations

import pytest
import torch

from hessrmt.curvature import GGNOperator, HessianOperator
from hessrmt.curvature.graph_memory import (
    GRAPH_MEMORY_BUDGET,
    VMAP_PASS_BYTES,
    ColumnBudget,
    SavedBytes,
    column_budget,
)
from tests.curvature.models import small_cnn, transformer_encoder
from tests.curvature.test_kept import oracle, rel, tiny_resnet

TOL = 1e-10


def block(P: int, k: int, seed: int = 3) -> torch.Tensor:
    return torch.randn(P, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_column_budget_rule() -> None:
    assert ColumnBudget(1000).columns(10, 7) == 7  # unmeasured: the whole block
    b = ColumnBudget(1000)
    counter = SavedBytes([])
    counter.seen = {"a": 450}
    b.measure(counter, [torch.zeros(25, dtype=torch.float64)], samples=2)  # 200 bytes of grads
    assert b.fixed == 200 and b.per_sample == pytest.approx((650 - 200) / 2)
    assert b.graph_bytes(2) == 650 and b.graph_bytes(4) == 1100
    assert b.columns(2, 7) == 1  # 1000 // 650
    assert b.columns(1, 7) == 2  # 1000 // 425
    assert b.columns(4, 7) == 1  # over the budget: still one column
    assert b.columns(1, 1) == 1 and b.widest == 2 and b.narrowed
    assert "blocks were split" in b.describe()
    # the operator's graph_memory_budget can only lower the bound of one pass
    assert VMAP_PASS_BYTES < GRAPH_MEMORY_BUDGET
    assert column_budget(None) == column_budget(2**40) == VMAP_PASS_BYTES
    assert column_budget(1000) == 1000


def test_saved_bytes_counts_saved_storages_once_and_skips_excluded() -> None:
    x = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    counter = SavedBytes([x])
    with counter.hooks:
        y = x.exp()  # saves its result (8,000 bytes); mul by x saves x (excluded) and y again
        (y * x).sum()
    assert counter.total == 8000


@pytest.mark.parametrize("hvp", ["double-backward", "forward-over-reverse"])
@pytest.mark.parametrize("make", [tiny_resnet, transformer_encoder, small_cnn])
def test_chunked_hessian_products_match_the_dense_hessian(make, hvp: str) -> None:
    p = make()
    H = oracle(p)
    V = block(H.shape[0], 5)
    whole = HessianOperator(p.model, p.loss_fn, p.batches, hvp=hvp, dtype=torch.float64)
    tight = HessianOperator(
        p.model, p.loss_fn, p.batches, hvp=hvp, dtype=torch.float64, graph_memory_budget=1
    )
    assert tight.engine.name == whole.engine.name == hvp
    for op, widest in ((whole, 5), (tight, 1)):
        assert rel(op.matmat(V), H @ V) < TOL
        assert op.engine.columns.widest == widest
    assert "blocks were split" in tight.conventions()["hvp_columns"]
    assert "blocks were split" not in whole.conventions()["hvp_columns"]


def _spy_widths(monkeypatch) -> list[int]:
    """The column widths of the batched second backward passes (1 for unbatched ones)."""
    widths: list[int] = []
    real = torch.autograd.grad

    def grad(outputs, inputs, grad_outputs=None, **kw):
        if grad_outputs is not None and not kw.get("create_graph", False):
            g = next(t for t in grad_outputs if t is not None)
            widths.append(g.shape[0] if kw.get("is_grads_batched") else 1)
        return real(outputs, inputs, grad_outputs=grad_outputs, **kw)

    monkeypatch.setattr(torch.autograd, "grad", grad)
    return widths


def test_double_backward_chunks_fit_the_budget_and_run_the_forward_once(monkeypatch) -> None:
    p = tiny_resnet()
    op = HessianOperator(p.model, p.loss_fn, p.batches, hvp="double-backward", dtype=torch.float64)
    op.matmat(block(op.shape[0], 2))  # measures the graph
    per_column = op.engine.columns.graph_bytes(4)  # the larger batch (3 and 4 samples)
    assert per_column > 0
    # a budget of 3 graphs of the larger batch: chunks of 3, 3, 1 columns on it
    op.engine.columns.budget = 3 * per_column
    forwards = []
    p.model.register_forward_hook(lambda *a: forwards.append(1))
    widths = _spy_widths(monkeypatch)
    V = block(op.shape[0], 7)
    out = op.matmat(V)
    assert len(forwards) == 2  # one forward per batch, not per chunk
    assert max(widths) <= 3 and sum(widths) == 2 * 7
    assert widths[-3:] == [3, 3, 1]
    monkeypatch.undo()
    assert rel(out, oracle(p) @ V) < TOL


def test_ggn_chunks_equal_the_whole_block() -> None:
    p = small_cnn()
    kw = {"dtype": torch.float64}
    whole = GGNOperator(p.model, p.loss_fn, p.batches, **kw)
    tight = GGNOperator(p.model, p.loss_fn, p.batches, graph_memory_budget=1, **kw)
    V = block(whole.shape[0], 4)
    assert rel(tight.matmat(V), whole.matmat(V)) < 1e-12
    assert tight.engine.columns.widest == 1 and whole.engine.columns.widest == 4


def test_forward_over_reverse_measures_its_proxy_inside_the_curvature_kernels() -> None:
    """The first multi-column product measures a plain double-backward graph of the first batch
    (the proxy of the vmapped passes' memory), inside :func:`curvature_kernels` like every
    product: the attention fast path is off in every forward pass the operator runs."""
    p = transformer_encoder()
    op = HessianOperator(p.model, p.loss_fn, p.batches, hvp="forward-over-reverse",
                         dtype=torch.float64)  # fmt: skip
    fastpath: list[bool] = []
    p.model.register_forward_hook(
        lambda *a: fastpath.append(torch.backends.mha.get_fastpath_enabled())
    )
    assert not op.engine.columns.measured
    op.matmat(block(op.shape[0], 2))
    assert op.engine.columns.measured and op.engine.columns.per_sample > 0
    assert fastpath and not any(fastpath)
    assert len(fastpath) == len(p.batches) + 1  # one pass per batch, plus the measured one
