"""The kept-graph engine (:mod:`hessrmt.curvature.kept`, issue 18): double backward on each
batch's gradient graph, built in the first product and kept for the later ones.

Oracles, float64: the dense full-data Hessian (``torch.func.hessian``, or
``torch.autograd.functional.hessian`` under the math attention kernel where ``torch.func`` is
wrong, see ``test_attention.py``) and, where the full-data Hessian is not a Hessian of the
concatenated data (BatchNorm in train mode, dropout masks per batch), the recomputing
double-backward engine, which those oracles check elsewhere. Forward passes are counted with a
forward hook: the kept engine must not run the model after its first product, and must run it in
every product when it falls back."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hessrmt.curvature import HessianOperator, ResidualOperator, dense_matrix, engines
from hessrmt.curvature.kept import GRAPH_MEMORY_BUDGET, KeptGraphEngine
from hessrmt.errors import InputError
from hessrmt.nn.architectures import build_architecture
from tests.curvature.models import (
    Problem,
    batchnorm_mlp,
    mlp_tanh,
    multihead_attention,
    reference_hessian,
    small_cnn,
    transformer_encoder,
)

TOL = 1e-10
KEPT = KeptGraphEngine.name


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def tiny_resnet() -> Problem:
    """The zoo ResNet (BatchNorm with non-trivial running statistics, projection shortcut) on
    8 x 8 x 3 random images, two uneven batches (P = 1,243 at width 1, depth 1)."""
    g = torch.Generator().manual_seed(1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_architecture("resnet20", (3, 8, 8), 3, width=1, depth=1).double()
    with torch.no_grad():
        model.train()
        model(torch.randn(16, 3, 8, 8, generator=g, dtype=torch.float64))
    model.eval()
    x = torch.randn(7, 3, 8, 8, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    return Problem("resnet", model, nn.CrossEntropyLoss(), [(x[:3], y[:3]), (x[3:], y[3:])], "")


def oracle(p: Problem) -> torch.Tensor:
    with engines.curvature_kernels():
        return reference_hessian(p, method="autograd")


def count_forwards(model: nn.Module) -> list[int]:
    calls = [0]
    model.register_forward_hook(lambda m, i, o: calls.__setitem__(0, calls[0] + 1))
    return calls


def products(op, gen_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three products (one column, a transposed block of 3, a row-major block of 3) after a
    first product that builds the graphs; each with the kept graphs."""
    gen = torch.Generator().manual_seed(gen_seed)
    V = torch.randn(op.shape[0], 3, generator=gen, dtype=op.dtype)
    return op @ V[:, 0], op @ V.T.contiguous().T, op @ V


BUILDERS = [mlp_tanh, batchnorm_mlp, small_cnn, tiny_resnet, multihead_attention]


@pytest.mark.parametrize(
    "builder", [*BUILDERS, pytest.param(transformer_encoder, marks=pytest.mark.slow)]
)
def test_kept_products_equal_the_dense_hessian(builder) -> None:
    p = builder()
    H = oracle(p)
    op = HessianOperator(p.model, p.loss_fn, p.batches, hvp="kept-graph")
    assert op.hvp_strategy == KEPT
    calls = count_forwards(p.model)
    gen = torch.Generator().manual_seed(0)
    V = torch.randn(op.shape[0], 3, generator=gen, dtype=torch.float64)
    first = op @ V[:, 0]  # builds the graphs: one forward per batch
    assert calls[0] == len(p.batches)
    assert rel(first, H @ V[:, 0]) < TOL
    v1, block, rowmajor = products(op)
    assert calls[0] == len(p.batches)  # no forward pass after the first product
    assert op.engine.builds == 1 and "kept (" in op.conventions()["hvp_graphs"]
    assert rel(v1, H @ V[:, 0]) < TOL
    assert rel(block, H @ V) < TOL and rel(rowmajor, H @ V) < TOL
    assert rel(dense_matrix(op), H) < TOL
    assert calls[0] == len(p.batches)


@pytest.mark.parametrize("builder", [batchnorm_mlp, tiny_resnet])
def test_kept_equals_double_backward_in_train_mode_and_for_the_residual(builder) -> None:
    p = builder()
    V = torch.randn(sum(q.numel() for q in p.model.parameters()), 4, dtype=torch.float64)
    for cls in (HessianOperator, ResidualOperator):
        for mode in ("train", "eval"):
            ref = cls(p.model, p.loss_fn, p.batches, mode=mode, hvp="double-backward")
            kept = cls(p.model, p.loss_fn, p.batches, mode=mode, hvp="kept-graph")
            assert kept.hvp_strategy == KEPT
            want = ref @ V
            for _ in range(2):  # the first product builds the graphs, the second uses them
                assert rel(kept @ V, want) < TOL, (cls, mode)
                assert rel(kept @ V[:, 1], want[:, 1]) < TOL, (cls, mode)
            assert kept.engine.builds == 1


def test_over_the_budget_every_product_recomputes() -> None:
    p = tiny_resnet()
    H = oracle(p)
    op = HessianOperator(p.model, p.loss_fn, p.batches, hvp="kept-graph", graph_memory_budget=0)
    calls = count_forwards(p.model)
    V = torch.randn(op.shape[0], 2, dtype=torch.float64)
    for j in range(3):
        assert rel(op @ V, H @ V) < TOL
        assert calls[0] == (j + 1) * len(p.batches)  # a forward per batch and product
    notes = op.conventions()["hvp_graphs"]
    assert "not kept" in notes and "exceed graph_memory_budget" in notes
    assert op.engine.estimate > 0 and op.engine._graphs is None
    # the estimate is what decides: a budget just above it keeps the graphs
    roomy = HessianOperator(
        p.model, p.loss_fn, p.batches, hvp="kept-graph", graph_memory_budget=op.engine.estimate
    )
    roomy @ V
    assert roomy.engine._graphs is not None and roomy.engine.estimate == op.engine.estimate
    # the estimate is of the right size: at least the activations the graph must hold (the
    # first convolution's output, 4 channels of 8 x 8 per sample, float64), at most 100x that
    first_out = 4 * 8 * 8 * 8 * sum(len(b[1]) for b in p.batches)
    assert first_out < op.engine.estimate < 100 * first_out
    assert HessianOperator(p.model, p.loss_fn, p.batches).engine.budget == GRAPH_MEMORY_BUDGET
    for bad in (-1, 1.5, True):
        with pytest.raises(InputError, match="graph_memory_budget"):
            HessianOperator(p.model, p.loss_fn, p.batches, graph_memory_budget=bad)


def _at(model: nn.Module, shift: float) -> nn.Module:
    m = copy.deepcopy(model)
    with torch.no_grad():
        for q in m.parameters():
            q.add_(shift)
    return m


def test_a_changed_point_buffer_or_batch_rebuilds_the_graphs() -> None:
    p = batchnorm_mlp()
    op = HessianOperator(p.model, p.loss_fn, p.batches, hvp="kept-graph")
    V = torch.randn(op.shape[0], 2, dtype=torch.float64)
    op @ V
    assert op.engine.builds == 1
    # the operator's point edited in place: the graphs are stale and rebuilt, not used
    with torch.no_grad():
        for t in op.theta.values():
            t.add_(0.1)
    moved = Problem("moved", _at(p.model, 0.1), p.loss_fn, p.batches, "")
    assert rel(op @ V, reference_hessian(moved) @ V) < TOL
    assert op.engine.builds == 2
    op @ V
    assert op.engine.builds == 2
    # a frozen tensor (BatchNorm running mean) edited in place
    mean = next(n for n in op.objective.frozen if n.endswith("running_mean"))
    with torch.no_grad():
        op.objective.frozen[mean].add_(0.5)
        module = copy.deepcopy(moved.model)
        dict(module.named_buffers())[mean].add_(0.5)
    assert rel(op @ V, reference_hessian(Problem("b", module, p.loss_fn, p.batches, "")) @ V) < TOL
    assert op.engine.builds == 3
    # a batch edited in place (once: rebuilt, kept again)
    with torch.no_grad():
        p.batches[1][0].mul_(2.0)
    assert rel(op @ V, reference_hessian(Problem("d", module, p.loss_fn, p.batches, "")) @ V) < TOL
    assert op.engine.builds == 4 and op.engine.recompute is None


class Reshuffled:
    """New tensors on every pass (as a shuffling DataLoader): the same data, other batches."""

    def __init__(self, batches) -> None:
        self.X = torch.cat([b[0] for b in batches])
        self.y = torch.cat([b[1] for b in batches])
        self.sizes = [len(b[1]) for b in batches]
        self.gen = torch.Generator().manual_seed(5)

    def __iter__(self):
        perm = torch.randperm(len(self.y), generator=self.gen)
        start = 0
        for s in self.sizes:
            idx = perm[start : start + s]
            yield self.X[idx], self.y[idx]
            start += s


def test_data_that_changes_every_pass_is_recomputed() -> None:
    p = mlp_tanh()  # eval mode: the Hessian does not depend on how the data is batched
    H = reference_hessian(p)
    op = HessianOperator(p.model, p.loss_fn, Reshuffled(p.batches), hvp="kept-graph")
    V = torch.randn(op.shape[0], 2, dtype=torch.float64)
    for _ in range(4):
        assert rel(op @ V, H @ V) < TOL
    assert "batches changed" in op.conventions()["hvp_graphs"]
    assert op.engine._graphs is None
    # batches of nested tensors are checked tensor by tensor; a batch holding anything else
    # (here a Python float) cannot be checked: never kept
    p = mlp_tanh()
    for extra, kept in ((torch.tensor(1.0), True), (1.0, False)):
        data = [({"x": x}, y, extra) for x, y in p.batches]
        op = HessianOperator.from_function(
            lambda th, b: b[2] * p.loss_fn(
                torch.func.functional_call(p.model, th, (b[0]["x"],)), b[1]),
            p.model, data, hvp="kept-graph", batch_size_fn=lambda b: len(b[1]),
        )  # fmt: skip
        assert rel(op @ V, H @ V) < TOL and rel(op @ V, H @ V) < TOL
        assert (op.engine._graphs is not None) == kept
        assert kept or "not plain tensors" in op.conventions()["hvp_graphs"]


class FunctionalDropout(nn.Module):
    """Dropout called inside ``forward`` (invisible to the operator's dropout check)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(nn.functional.dropout(torch.tanh(x), 0.5, training=True))


def test_random_forward_passes_are_not_kept_unless_seeded() -> None:
    p = mlp_tanh()
    model = FunctionalDropout().double()
    op = HessianOperator(model, p.loss_fn, p.batches, hvp="kept-graph")
    calls = count_forwards(model)
    V = torch.randn(op.shape[0], 1, dtype=torch.float64)
    op @ V
    op @ V
    assert calls[0] == 2 * len(p.batches)  # recomputed: each product draws its own masks
    assert "random numbers" in op.conventions()["hvp_graphs"]
    # with a seed the masks are one realisation per batch, in every pass: kept, and equal
    seeded = HessianOperator(model, p.loss_fn, p.batches, hvp="kept-graph", seed=3)
    ref = HessianOperator(model, p.loss_fn, p.batches, hvp="double-backward", seed=3)
    want = ref @ V
    assert rel(seeded @ V, want) < TOL and rel(seeded @ V, want) < TOL
    assert seeded.engine._graphs is not None
    # nn.Dropout in train mode (a seed is required there) likewise
    drop = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.3), nn.Tanh(), nn.Linear(6, 3)).double()
    a = HessianOperator(drop, p.loss_fn, p.batches, mode="train", seed=1, hvp="kept-graph")
    b = HessianOperator(drop, p.loss_fn, p.batches, mode="train", seed=1, hvp="double-backward")
    W = torch.randn(a.shape[0], 2, dtype=torch.float64)
    assert rel(a @ W, b @ W) < TOL and rel(a @ W, b @ W) < TOL and a.engine._graphs is not None


def test_auto_picks_the_kept_engine_beyond_the_structured_case() -> None:
    p = batchnorm_mlp()
    op = HessianOperator(p.model, p.loss_fn, p.batches)
    assert op.hvp_strategy == KEPT and "hvp_graphs" in op.conventions()
    assert HessianOperator(p.model, p.loss_fn, p.batches, hvp="double-backward-kept").hvp_strategy
    plain = mlp_tanh()
    assert HessianOperator(plain.model, plain.loss_fn, plain.batches).hvp_strategy == "structured"
    recompute = HessianOperator(p.model, p.loss_fn, p.batches, hvp="double-backward")
    assert recompute.hvp_strategy == "double-backward"
    assert "hvp_graphs" not in recompute.conventions()


@pytest.mark.parametrize("budget", [None, 0])
def test_blocks_run_one_column_at_a_time(budget: int | None, monkeypatch) -> None:
    """A block of columns is served one column at a time on each batch's graph, in the build
    pass and in the recomputing mode (budget 0, which also bounds plain double backward's vmapped
    chunks to one column) alike: the memory of one graph whatever the block width (a vmapped
    second backward over k columns holds about k graphs' worth: 14.5 GB on ResNet-20 with 64
    CIFAR-shaped samples and ~120 columns). The products stay exact."""
    p = small_cnn()
    H = reference_hessian(p)
    op = HessianOperator(
        p.model, p.loss_fn, p.batches, hvp="kept-graph", graph_memory_budget=budget
    )
    widths: list[int] = []
    inner = KeptGraphEngine._second_backward

    def spy(self, pairs, vs, outs, w, keep, batched=False):  # type: ignore[no-untyped-def]
        # one column: the vectors have the parameters' shapes; k columns: (k, *shape)
        widths.append(1 if vs[0].shape == op.param_shapes[0] else vs[0].shape[0])
        return inner(self, pairs, vs, outs, w, keep, batched)

    monkeypatch.setattr(KeptGraphEngine, "_second_backward", spy)
    V = torch.randn(op.shape[0], 6, generator=torch.Generator().manual_seed(0), dtype=H.dtype)
    for _ in range(2):  # the build pass (or a recomputing pass), then the kept graphs
        assert rel(op.matmat(V), H @ V) < 1e-10
    assert widths and set(widths) == {1}
    assert len(widths) == 2 * 6 * len(p.batches)
    assert ("exceed" in op.conventions()["hvp_graphs"]) == (budget == 0)
