"""The product engines of the curvature operators: one small object per way of computing C V.

Every engine implements one method, ``accumulate(rows, acc)``: acc += (sum_b w_b C_b V)^T for
the rows (k, P) of V^T, in ONE pass over the data (C_b the operator's curvature of batch b, w_b
its exact weight, :mod:`hessrmt.curvature.batches`). The operator picks its engine once, when it
is built (:func:`choose_engine`, :data:`AUTO_RULE`), probes it on the
data in the build pass, and records the engine's ``name`` (and a ``note`` when the wanted engine
does not apply and another was chosen) in its conventions. Nothing is switched later.

* :class:`StructuredEngine`: the per-layer forward-over-reverse of plain ``nn.Sequential``
  models (:mod:`hessrmt.curvature.structured`), Hessian only, no autograd graph.
* :class:`DoubleBackwardEngine`: autograd's reverse-over-reverse on each batch's own graph, the
  parameters bound into the model once per pass.
* :class:`hessrmt.curvature.kept.KeptGraphEngine`: the same double backward, but each batch's
  gradient graph is built once (first product) and kept, so later products run the second
  backward pass only (within a memory budget; :mod:`hessrmt.curvature.kept`).
* :class:`ForwardOverReverseEngine`: ``torch.func.jvp(grad(f))`` vmapped over the columns.
* :class:`GGNEngine`: J^T (d^2 l / df^2) J V by jvp, output-space Hessian and vjp.

All products run inside :func:`curvature_kernels`: PyTorch's fused scaled-dot-product attention
kernels (flash, memory-efficient; used by ``nn.MultiheadAttention`` and
``nn.TransformerEncoderLayer``) have no double backward, so during products attention goes
through the math kernel, which has every derivative (:data:`ATTENTION_KERNEL`).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from hessrmt.curvature import functional as F
from hessrmt.curvature import structured as S
from hessrmt.curvature.batches import DataLoop, is_tensor_pair, tensor_leaves
from hessrmt.curvature.graph_memory import ColumnBudget, column_budget, measure_graph
from hessrmt.curvature.objective import Objective, Params
from hessrmt.errors import DataError, InputError

try:
    from torch.nn.attention import SDPBackend, sdpa_kernel
except ImportError:  # pragma: no cover - torch < 2.3
    SDPBackend = sdpa_kernel = None

#: Recorded in every operator's conventions: which attention kernel products use.
ATTENTION_KERNEL = (
    "math scaled-dot-product attention and no nn.MultiheadAttention fast path during products "
    "(the fused kernels have no double backward / forward-mode derivative)"
)


@contextlib.contextmanager
def curvature_kernels() -> Iterator[None]:
    """Route ``scaled_dot_product_attention`` through the math kernel, and switch off the
    fused inference fast path of ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer``
    (``torch.backends.mha``: its kernels have no forward-mode derivative), for the duration;
    both settings are restored on exit."""
    mha = getattr(torch.backends, "mha", None)
    fast = mha.get_fastpath_enabled() if mha is not None else None
    try:
        if mha is not None:
            mha.set_fastpath_enabled(False)
        if sdpa_kernel is None:  # pragma: no cover
            yield
        else:
            with sdpa_kernel([SDPBackend.MATH]):
                yield
    finally:
        if mha is not None:
            mha.set_fastpath_enabled(fast)


@dataclasses.dataclass
class Target:
    """What an engine differentiates: the selected parameters at the operator's point, their
    flat layout, the data loop, and the batch scalar whose Hessian is the curvature C_b.

    ``kind`` is "hessian" (the scalar is L_b), "residual" (<stop_grad(dl/df), f_b>, whose
    Hessian is H1_b) or "ggn".
    """

    kind: str
    objective: Objective
    loop: DataLoop
    theta: Params
    names: list[str]
    slices: list[tuple[int, int, torch.Size]]
    _leaves: list[torch.Tensor] | None = None

    def leaves(self) -> list[torch.Tensor]:
        """Leaf tensors sharing ``theta``'s storage that require grad (made once)."""
        if self._leaves is None:
            self._leaves = [self.theta[n].detach().requires_grad_(True) for n in self.names]
        return self._leaves

    def scalar(self, batch: Any, index: int, params: Params, bound: bool) -> torch.Tensor:
        """The batch scalar at ``params`` (a graph is recorded in grad mode)."""
        obj = self.objective
        if self.kind == "residual":
            # <r, f(theta)> with r = dl/df at the current point held fixed: one forward pass
            # serves both r (from the detached output) and the graph of f.
            out = obj.output_of(params, batch, index, bound)
            o = out.detach().requires_grad_(True)
            (r,) = torch.autograd.grad(obj.loss_of_output(o, batch), o)
            return (r.detach() * out).sum()
        return obj.loss_of(params, batch, index, bound)

    def scalar_fn(self, batch: Any, index: int) -> Callable[[Params], torch.Tensor]:
        """The batch scalar as a function of the parameters (for torch.func transforms)."""
        obj = self.objective
        if self.kind == "residual":
            return F.residual_objective(
                lambda th: obj.output_of(th, batch, index),
                lambda o: obj.loss_of_output(o, batch),
                self.theta,
            )
        return lambda th: obj.loss_of(th, batch, index)

    def views(
        self, rows: torch.Tensor, acc: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-parameter views of the rows (k, P) and of ``acc`` for double backward: plain
        parameter shapes for one row (no copies), else (k, *shape) with the rows made contiguous
        per parameter (the vmapped second backward is slower on strided blocks)."""
        k = rows.shape[0]
        if k == 1:
            vs = [rows[0, a:b].view(shape) for a, b, shape in self.slices]
            return vs, [acc[0, a:b].view(shape) for a, b, shape in self.slices]
        vs = [rows[:, a:b].contiguous().view(k, *shape) for a, b, shape in self.slices]
        return vs, [acc[:, a:b].view(k, *shape) for a, b, shape in self.slices]

    def unkept(self, batch: Any) -> list[torch.Tensor]:
        """Tensors that exist whether or not a graph is kept (left out of its measured size)."""
        return [*self.leaves(), *self.objective.frozen.values(), *(tensor_leaves(batch) or [])]

    def block(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """The rows (k, P) as ``{name: (k, *shape)}`` views."""
        k = rows.shape[0]
        return {n: rows[:, a:b].view(k, *sh) for n, (a, b, sh) in zip(self.names, self.slices)}


class Engine(abc.ABC):
    """One way of computing sum_b w_b C_b V (see the module docstring)."""

    name: str = ""

    def __init__(self, target: Target) -> None:
        self.target = target
        #: why this engine cannot serve the data (set by :meth:`probe` in the build pass)
        self.failure: str | None = None

    def probe(self, batch: Any, index: int) -> None:
        """Called on every prepared batch of the build pass; sets :attr:`failure` when the
        engine cannot compute this batch's product. The base engine serves every batch."""
        return None

    @abc.abstractmethod
    def _accumulate(self, rows: torch.Tensor, acc: torch.Tensor) -> None: ...

    def details(self) -> dict[str, Any]:
        """Engine state recorded in the operator's conventions (none by default)."""
        return {}

    def accumulate(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        """acc += (sum_b w_b C_b V)^T for the rows (k, P) of V^T, in one data pass."""
        with curvature_kernels():
            self._accumulate(rows, acc)


class StructuredEngine(Engine):
    """:func:`hessrmt.curvature.structured.sequential_hvp` per batch (no autograd)."""

    name = "structured"

    def __init__(self, target: Target, plan: list[tuple[str, torch.nn.Module]]) -> None:
        super().__init__(target)
        self.plan = plan
        obj = target.objective
        self.point = {**obj.frozen, **target.theta}  # theta and the frozen tensors never change

    def _batch(self, x: Any, y: Any, V: dict[str, torch.Tensor], **kw: Any) -> None:
        if not isinstance(x, torch.Tensor):
            raise S.StructuredUnsupported("the inputs are not one tensor")
        S.sequential_hvp(self.plan, self.target.objective.loss_fn, self.point, V, x, y, **kw)

    def probe(self, batch: Any, index: int) -> None:
        if self.failure is not None:
            return
        if not is_tensor_pair(batch):
            self.failure = "structured HVP not applicable (the inputs are not one tensor)"
            return
        x, y = batch
        V = {n: torch.zeros_like(t)[None] for n, t in self.target.theta.items()}
        try:  # two samples suffice: the rules depend on shapes and types, not on the size
            self._batch(x[:2] if x.ndim else x, y[:2] if y.ndim else y, V)
        except S.StructuredUnsupported as exc:
            self.failure = f"structured HVP not applicable ({exc})"

    def _accumulate(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        vs, outs = self.target.block(rows), self.target.block(acc)
        passes = self.target.loop.passes()
        try:
            for i, (x, y), w in passes:
                try:
                    self._batch(x, y, vs, out=outs, alpha=w)
                except S.StructuredUnsupported as exc:
                    raise DataError(
                        f"batch {i} is not covered by the structured HVP ({exc}), unlike the "
                        "data the operator was built on: the data changed; rebuild the operator "
                        "or pass hvp='double-backward'"
                    ) from exc
        finally:
            passes.close()


class _ChunkedEngine(Engine):
    """An engine that pushes a block's columns through vmapped passes per batch, in chunks whose
    estimated memory fits its budget (:class:`~hessrmt.curvature.graph_memory.ColumnBudget`).
    The graph is measured once, on the first multi-column batch: double backward measures the
    graph it builds anyway; the ``torch.func`` engines measure a plain double-backward graph of
    that batch, as a proxy (:meth:`_chunks`)."""

    def __init__(self, target: Target, budget: int | None = None) -> None:
        super().__init__(target)
        self.columns = ColumnBudget(column_budget(budget))

    def details(self) -> dict[str, Any]:
        return {"hvp_columns": self.columns.describe()}

    def _ranges(self, samples: int, k: int) -> list[tuple[int, int]]:
        """The (start, stop) column ranges of one batch of ``samples`` samples."""
        c = self.columns.columns(samples, k) if k > 1 else 1
        return [(j, min(k, j + c)) for j in range(0, k, c)]

    def _chunks(self, batch: Any, index: int, k: int) -> list[tuple[int, int]]:
        """:meth:`_ranges` of one batch, measuring the proxy graph first if still unmeasured."""
        t = self.target
        obj = t.objective
        n = obj.batch_length(batch)
        if k > 1 and not self.columns.measured:
            params = dict(zip(t.names, t.leaves()))
            with obj.bind(params) as bound:
                value_fn = lambda: t.scalar(batch, index, params, bound)  # noqa: E731
                measure_graph(self.columns, value_fn, t.leaves(), t.unkept(batch), n)
        return self._ranges(n, k)


class DoubleBackwardEngine(_ChunkedEngine):
    """Double backward on each batch's own graph (see
    :func:`hessrmt.curvature.functional.double_backward_products`).

    The rows are viewed per parameter (no copies for one column), the batch products are added
    into ``acc`` in place, and the parameters are bound into the model once per pass. Each
    batch's forward and first backward passes run once; its columns go through the second
    backward vmapped (``is_grads_batched``) in chunks that fit the budget, the first graph
    retained between chunks.
    """

    name = "double-backward"

    def _second_backward(
        self, pairs: list[tuple[int, torch.Tensor]], vs: list[Any], outs: list[Any], w: float,
        keep: bool, batched: bool = False,
    ) -> None:  # fmt: skip
        """outs += w * (second backward of the columns ``vs`` through the gradients ``pairs``:
        one column in the parameters' shapes, or ``batched`` ones with a leading column axis)."""
        if not pairs:
            return
        hv = torch.autograd.grad(
            [g for _, g in pairs],
            self.target.leaves(),
            grad_outputs=[vs[j] for j, _ in pairs],
            retain_graph=keep,
            is_grads_batched=batched,
            allow_unused=True,
        )
        for o, h in zip(outs, hv):
            if h is not None:
                o.add_(h, alpha=w)

    def _accumulate(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        t = self.target
        obj = t.objective
        k = rows.shape[0]
        leaves = t.leaves()
        params = dict(zip(t.names, leaves))
        with obj.bind(params) as bound, torch.enable_grad():
            for i, batch, w in t.loop.passes():
                n = obj.batch_length(batch) if k > 1 else 1
                if k > 1 and not self.columns.measured:
                    value_fn = lambda b=batch, j=i: t.scalar(b, j, params, bound)  # noqa: E731
                    gs = measure_graph(self.columns, value_fn, leaves, t.unkept(batch), n)
                else:
                    value = t.scalar(batch, i, params, bound)
                    gs = torch.autograd.grad(value, leaves, create_graph=True, allow_unused=True)
                pairs = [(j, g) for j, g in enumerate(gs) if g is not None and g.requires_grad]
                for j0, j1 in self._ranges(n, k):
                    vs, outs = t.views(rows[j0:j1], acc[j0:j1])
                    self._second_backward(pairs, vs, outs, w, keep=j1 < k, batched=j1 - j0 > 1)


class ForwardOverReverseEngine(_ChunkedEngine):
    """``torch.func.jvp(grad(f))`` per batch, vmapped over the columns (in chunks)."""

    name = "forward-over-reverse"

    def probe(self, batch: Any, index: int) -> None:
        """Some kernels (e.g. ``mse_loss``'s backward) fail under forward-mode AD with
        "ZeroTensors are immutable": try one product on the first batch."""
        if index != 0:
            return
        t = self.target
        V = {n: torch.ones(1, *t.theta[n].shape, dtype=t.theta[n].dtype,
                           device=t.theta[n].device) for n in t.names}  # fmt: skip
        try:
            with curvature_kernels():
                F.hvp_forward_over_reverse(
                    t.scalar_fn(batch, index), t.theta, V, randomness=t.objective.randomness
                )
        except RuntimeError as exc:
            if "ZeroTensor" not in str(exc):
                raise
            self.failure = (
                "forward-over-reverse HVP is not supported by an operation of this model/loss "
                f"({exc})"
            )

    def _accumulate(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        t = self.target
        for i, batch, w in t.loop.passes():
            for j0, j1 in self._chunks(batch, i, rows.shape[0]):
                Vd = F.unflatten_block(rows[j0:j1].T, t.names, [s for _, _, s in t.slices])
                out = F.hvp_forward_over_reverse(
                    t.scalar_fn(batch, i), t.theta, Vd, randomness=t.objective.randomness
                )
                acc[j0:j1].add_(F.flatten_block(out, t.names), alpha=w)


class GGNEngine(_ChunkedEngine):
    """G V = J^T (d^2 l / df^2) J V per batch (:func:`hessrmt.curvature.functional.ggn_product`)."""

    name = "jvp / output-space Hessian / vjp"

    def _accumulate(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        t = self.target
        obj = t.objective
        for i, batch, w in t.loop.passes():
            for j0, j1 in self._chunks(batch, i, rows.shape[0]):
                Vd = F.unflatten_block(rows[j0:j1].T, t.names, [s for _, _, s in t.slices])
                out = F.ggn_product(
                    lambda th, b=batch, j=i: obj.output_of(th, b, j),
                    lambda o, b=batch: obj.loss_of_output(o, b),
                    t.theta,
                    Vd,
                    randomness=obj.randomness,
                )
                acc[j0:j1].add_(F.flatten_block(out, t.names), alpha=w)


#: Documented rule for ``hvp="auto"``. The Hessian of a plain ``nn.Sequential`` of the layers
#: :func:`hessrmt.curvature.structured.sequential_plan` lists, with cross-entropy or MSE, uses
#: the "structured" per-layer forward-over-reverse (no autograd graph). Measured on this project's
#: shared 2-core CPU, one thread, CPU time (thread_time, interleaved, medians) of one HVP over
#: one plain reverse-mode gradient over the same batches: MLP 64-10-100-10 (2 x 128, float64)
#: 1.9 (autograd double backward 2.4-2.6); LeNet (2 x 32, float64) 2.1 (2.6); MLP 20-1000-1000-4
#: (2 x 16, float32) 1.8 (2.8-2.9); MLP 20-256-256-4 (2 x 128, float32) 2.2 (2.8). For LeNet
#: 2.1-2.2 is the forward-over-reverse count of convolution passes (11 against the gradient's 5).
#: Otherwise: on CPU, double backward (MLP 784-64-32-10, P = 52,650, k = 1: 1.45 gradients per
#: column against 2.96 for the vmapped forward-over-reverse; k = 2: 1.05 vs 1.67; k = 4: 0.75 vs
#: 1.00; LeNet-5 k = 1: 2.9 vs 3.4; within noise for k >= 8); on GPUs the vmapped
#: forward-over-reverse, the usual choice there (curvlinops), not measured here (no GPU).
#: Beyond nn.Sequential (issue 18, ``bench/bench_arch_hvp.py``; one thread, float32, batch 128,
#: CPU time medians, machine load ~30 on 2 cores): zoo ResNet-20 (P = 272,474, BatchNorm eval)
#: double backward 3.8 gradients, vmapped forward-over-reverse 4.3, unvmapped
#: ``torch.func.jvp(grad)`` 4.2; zoo transformer (P = 18,026, digits-rows) 3.0, 5.4 and 4.7.
#: Double backward measured best of the recomputing engines. Eval-mode BatchNorm rewritten as its
#: affine map (cheaper double backward) changed nothing measurable (3.3 vs 3.4 at batch 64): the
#: convolutions dominate, and any exact product costs ~8 convolution passes per layer against
#: the gradient's 3 (forward 1 + tangent 2; backward 1 + tangent 2 + weight tangent 2), a
#: floor of ~2.6 on ResNet-20 before overheads (``docs/benchmarks.md``, issue 18 section) for a
#: product computed from scratch. Keeping each batch's gradient graph between products
#: (:mod:`hessrmt.curvature.kept`) removes the forward and first backward passes from every product
#: after the first: measured (``bench/bench_kept_graph.py``, one thread, float32, CPU time medians,
#: loaded machine; the products after the first, amortised) ResNet-20 2.65 gradients (batch 64;
#: recomputed 3.8), zoo transformer 1.3 (batch 128; recomputed 2.3), the first product as dear as a
#: recomputed one. Every Krylov method applies its operator many times, so on CPU ``auto`` picks it
#: for every Hessian / residual operator that is not structured; it falls back to recomputing
#: (plain double backward, recorded in ``hvp_graphs``) when the estimated graphs exceed
#: ``graph_memory_budget``. The structured engine stays first for plain ``nn.Sequential`` (no
#: graph, no memory).
AUTO_RULE = (
    "structured (per-layer forward-over-reverse) for supported nn.Sequential models and "
    "losses; else double-backward with the gradient graphs kept on CPU (recomputed when over "
    "graph_memory_budget), forward-over-reverse on other devices"
)


_HVP_ALIASES = {
    "double-backward": "double-backward",
    "kept-graph": "kept-graph",
    "double-backward-kept": "kept-graph",
    "double_backward": "double-backward",
    "reverse-over-reverse": "double-backward",
    "forward-over-reverse": "forward-over-reverse",
    "forward_over_reverse": "forward-over-reverse",
    "jvp": "forward-over-reverse",
    "structured": "structured",
}


def resolve_hvp(hvp: str, device: torch.device, plan: Any) -> str:
    """The engine name for ``hvp`` (:data:`AUTO_RULE`)."""
    if hvp == "auto":
        if plan is not None:
            return "structured"
        return "kept-graph" if device.type == "cpu" else "forward-over-reverse"
    if hvp not in _HVP_ALIASES:
        raise InputError(
            f"hvp={hvp!r} is not a known strategy; use 'auto', 'double-backward', "
            "'kept-graph', 'forward-over-reverse' or 'structured'"
        )
    if _HVP_ALIASES[hvp] == "structured" and plan is None:
        raise InputError(
            "hvp='structured' needs a HessianOperator of a plain nn.Sequential of Linear, "
            "Conv2d, ReLU, Tanh, Sigmoid, MaxPool2d, Flatten, Identity or inactive Dropout "
            "layers with CrossEntropyLoss or MSELoss; use hvp='auto' or 'double-backward'"
        )
    return _HVP_ALIASES[hvp]


def choose_engine(
    target: Target,
    hvp: str,
    plan: list[tuple[str, torch.nn.Module]] | None,
    graph_memory_budget: int | None = None,
) -> Engine:
    """The engine for a resolved strategy ``hvp`` ("auto" already resolved by the device):
    structured when asked for or when ``auto`` found a plan; GGN for the Gauss-Newton part;
    ``graph_memory_budget`` is the kept-graph engine's (None: its default)."""
    if target.kind == "ggn":
        return GGNEngine(target, graph_memory_budget)
    if hvp == "structured":
        assert plan is not None
        return StructuredEngine(target, plan)
    if hvp == "forward-over-reverse":
        return ForwardOverReverseEngine(target, graph_memory_budget)
    if hvp == "kept-graph":
        from hessrmt.curvature.kept import KeptGraphEngine

        return KeptGraphEngine(target, graph_memory_budget)
    return DoubleBackwardEngine(target, graph_memory_budget)


def settle(
    engine: Engine, kept_budget: int | None = None, summary: Any = None, auto: bool = False
) -> tuple[Engine, str | None]:
    """After the build pass: the engine itself, or a fallback with a note (and, for an
    explicitly chosen forward-over-reverse, a warning) when the probe found it cannot serve.

    The fallback is plain double backward, except where ``auto`` picked the structured engine and
    resolves to the kept-graph engine without it (:func:`resolve_hvp`: on CPU): there it is that
    engine, given the data counts of the build pass (``summary``: ``num_data``, ``num_batches``)
    for its memory estimate and ``kept_budget``.
    """
    if engine.failure is None:
        return engine, None
    device = engine.target.objective.device
    if (
        auto
        and isinstance(engine, StructuredEngine)
        and resolve_hvp("auto", device, None) == "kept-graph"
    ):
        from hessrmt.curvature.kept import KeptGraphEngine

        counts = (0, 0) if summary is None else (summary.num_data, summary.num_batches)
        kept = KeptGraphEngine(engine.target, kept_budget, *counts)
        return kept, f"{engine.failure}; double backward with the gradient graphs kept"
    note = f"{engine.failure}; double backward"
    if isinstance(engine, ForwardOverReverseEngine):
        warnings.warn(
            f"{engine.failure}; falling back to double backward", UserWarning, stacklevel=3
        )
    return DoubleBackwardEngine(engine.target, kept_budget), note
