"""Double backward on gradient graphs kept between products (issue 18, "fast HVPs beyond
Sequential").

Every Krylov method (Lanczos, SLQ, Hutchinson, power iteration) applies its operator many times
at ONE point theta over the SAME batches. :class:`~hessrmt.curvature.engines.DoubleBackwardEngine`
recomputes, for every product and batch, the forward pass, the first backward pass with
``create_graph=True`` and the second backward pass. :class:`KeptGraphEngine` builds each batch's
gradient graph g_b = grad L_b once, in the first product, keeps it, and every later product runs
only the second backward ``autograd.grad(g_b, theta, v, retain_graph=True)``, one column at a
time (:meth:`KeptGraphEngine._products`). The products are the same numbers (same graph, same
operations; equal to the last bit in the benchmark); only the forward and first backward passes
are saved. Measured (``bench/bench_kept_graph.py``: CPU time, one thread, float32, one batch,
BatchNorm eval, medians, a shared and loaded 2-core machine): one product over one plain
gradient, amortised over the products after the first, goes from 3.8 (double backward) to 2.65
on ResNet-20 (batch 64; 2.26 in an earlier, less loaded measurement) and from 2.3 to 1.3 on the
zoo transformer (batch 128); the first product costs as much as a recomputed one (3.8, 2.5).
Why it is faster: a recomputed product is forward (1) + first backward with ``create_graph`` (2)
+ second backward; the kept graph leaves the last alone (``docs/benchmarks.md``, issue 18).

Memory. The kept graphs hold every tensor the forward and first backward passes saved, for every
batch. The first product measures the first batch's graph (unique storages packed by
:func:`torch.autograd.graph.saved_tensors_hooks`, the parameters, frozen tensors and inputs left
out as they exist anyway, plus its gradient), scales it to the whole data by the number of
samples, and keeps the graphs only when that estimate is within ``graph_memory_budget`` bytes
(:data:`GRAPH_MEMORY_BUDGET` by default); otherwise the engine recomputes every product as plain
double backward, for good. The choice, the estimate and the reason are in
:meth:`KeptGraphEngine.details` (the operator's conventions, ``hvp_graphs``).

Staleness. The graphs are valid for the point, the frozen tensors (buffers) and the data they
were built from. Before every product the engine checks the version counters of the operator's
parameter and frozen tensors (every in-place write bumps them), the loss's ``ignore_index`` and
class weights, and that every batch of the data is the very same unmodified tensors
(:class:`~hessrmt.curvature.batches.BatchRecord`); anything changed and the graphs are dropped and
rebuilt in that product, so a stale graph is never used. (Iterating a DataLoader for this check
loads its batches; a shuffling loader yields new tensors every pass, so its graphs would be
rebuilt on every product: after the second such rebuild the engine recomputes for good.) Batches
that are not plain tensors cannot be checked and are never kept.

Randomness. A kept graph fixes whatever random draws (dropout masks) its forward pass made. With
a ``seed`` the objective draws the same masks in every pass anyway (one realisation per batch),
so keeping changes nothing. Without a seed, a forward pass that advances torch's random number
generator (dropout called functionally, which the operator cannot detect beforehand) makes a
different loss on every pass: the graphs are then not kept, and the reason recorded, so that the
engine behaves exactly as plain double backward.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from hessrmt.curvature.batches import BatchRecord, tensor_leaves
from hessrmt.curvature.engines import DoubleBackwardEngine, Target
from hessrmt.curvature.graph_memory import GRAPH_MEMORY_BUDGET, SavedBytes

__all__ = ["GRAPH_MEMORY_BUDGET", "KeptGraphEngine"]


def _rng_state(device: torch.device) -> list[torch.Tensor]:
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states


class KeptGraphEngine(DoubleBackwardEngine):
    """Double backward on each batch's gradient graph, built in the first product and kept
    (see the module docstring: memory budget, staleness checks, randomness)."""

    name = "double-backward, gradient graph kept"

    def __init__(
        self, target: Target, budget: int | None = None, num_data: int = 0, num_batches: int = 0
    ) -> None:
        super().__init__(target, budget)
        self.budget = GRAPH_MEMORY_BUDGET if budget is None else int(budget)
        #: (weight, [(leaf index, gradient)], ...) per batch, or None when nothing is kept
        self._graphs: list[tuple[float, list[tuple[int, torch.Tensor]]]] | None = None
        self._records: list[BatchRecord] = []
        self._key: tuple[Any, ...] | None = None
        self.recompute: str | None = None  # why the engine recomputes for good
        self.estimate: int | None = None  # estimated bytes of all kept graphs
        self.builds = 0  # how many times the graphs were built (1 unless something changed)
        self._data_rebuilds = 0
        # counted by probe in the build pass (given when the engine replaces one after it)
        self._num_data, self._num_batches = num_data, num_batches

    def probe(self, batch: Any, index: int) -> None:
        """Counts the samples and batches (for the memory estimate); serves every batch."""
        self._num_data += self.target.objective.batch_length(batch)
        self._num_batches += 1

    # -- what the graphs depend on ------------------------------------------------------------

    def _state(self) -> tuple[Any, ...]:
        t = self.target
        obj = t.objective
        tensors = [t.theta[n] for n in t.names] + list(obj.frozen.values())
        loss_state = obj.loss_state()
        return (tuple(x._version for x in tensors), loss_state[0], id(loss_state[1]),
                loss_state[2])  # fmt: skip

    def _data_unchanged(self) -> bool:
        records = self._records
        i = -1
        for i, raw in enumerate(self.target.loop.data):
            if i >= len(records) or not records[i].matches(tensor_leaves(raw)):
                return False
        return i + 1 == len(records)

    def details(self) -> dict[str, Any]:
        """The kept-graph state, for the operator's conventions (``hvp_graphs``)."""
        mib = f"{self.estimate / 2**20:.1f} MiB" if self.estimate is not None else "not measured"
        budget = f"{self.budget / 2**20:.0f} MiB"
        if self.recompute is not None:
            state = f"not kept: {self.recompute}; every product recomputes (plain double backward)"
        elif self._graphs is None:
            state = "built by the first product, kept if within the budget"
        else:
            state = "kept"
        out = {"hvp_graphs": f"{state} (estimate {mib}, budget {budget}, builds {self.builds})"}
        return {**out, **super().details()} if self.recompute is not None else out

    # -- products -----------------------------------------------------------------------------

    def _accumulate(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        if self.recompute is not None:
            super()._accumulate(rows, acc)
            return
        if self._graphs is not None:
            if self._key == self._state() and self._data_unchanged():
                self._products(rows, acc)
                return
            self._graphs = None  # stale: rebuilt in this pass
            if not self._data_unchanged():
                self._data_rebuilds += 1
                if self._data_rebuilds >= 2:  # the data keeps changing (e.g. a shuffling loader)
                    self.recompute = "the batches changed between products (new tensors or edits)"
                    super()._accumulate(rows, acc)
                    return
        self._build(rows, acc)

    def _products(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        """The products on the kept graphs, one column at a time: with nothing left to share
        between the columns, the batched (vmapped) second backward costs more per column than
        single ones (ResNet-20: 2.78 against 2.65 gradients per column, block of 5; zoo
        transformer: 1.49 against 1.32, block of 10; ``bench/bench_kept_graph.py``)."""
        assert self._graphs is not None
        for j in range(rows.shape[0]):
            vs, outs = self.target.views(rows[j : j + 1], acc[j : j + 1])
            for w, pairs in self._graphs:
                self._second_backward(pairs, vs, outs, w, keep=True)

    def _build(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        """One recomputing pass that keeps each batch's gradient graph (within the budget).

        Each batch's columns run one at a time on its graph (retained between them), as in
        :meth:`_products`: the memory of one graph whatever the block width (a vmapped second
        backward over k columns needs about k times the graph's memory: on ResNet-20 with 64
        CIFAR-shaped samples, the sub-block step's chunks of ~120 unit vectors peaked at
        14.5 GB). Once the engine recomputes for good, products are plain double backward, whose
        vmapped chunks :class:`~hessrmt.curvature.graph_memory.ColumnBudget` bounds.
        """
        t = self.target
        obj = t.objective
        k = rows.shape[0]
        leaves = t.leaves()
        params = dict(zip(t.names, leaves))
        columns = [self.target.views(rows[j : j + 1], acc[j : j + 1]) for j in range(k)]
        key = self._state()
        graphs: list[tuple[float, list[tuple[int, torch.Tensor]]]] = []
        records: list[BatchRecord] = []
        keep = True
        with obj.bind(params) as bound, torch.enable_grad():
            for i, batch, w in t.loop.passes():
                counter = None
                if keep and i == 0:
                    counter = SavedBytes(t.unkept(batch))
                rng = _rng_state(obj.device) if keep and obj.seed is None else None
                with counter.hooks if counter is not None else contextlib.nullcontext():
                    value = t.scalar(batch, i, params, bound)
                    gs = torch.autograd.grad(value, leaves, create_graph=True, allow_unused=True)
                pairs = [(j, g) for j, g in enumerate(gs) if g is not None and g.requires_grad]
                if keep:
                    raw = t.loop.current_leaves
                    keep = self._may_keep(batch, raw, counter, pairs, rng, records)
                for j, (vs, outs) in enumerate(columns):
                    self._second_backward(pairs, vs, outs, w, keep=keep or j < k - 1)
                if keep:
                    graphs.append((w, pairs))
        self.builds += 1
        if keep:
            self._graphs, self._records, self._key = graphs, records, key

    def _may_keep(
        self, batch: Any, raw: list[torch.Tensor] | None, counter: SavedBytes | None,
        pairs: list[tuple[int, torch.Tensor]], rng: list[torch.Tensor] | None,
        records: list[BatchRecord],
    ) -> bool:  # fmt: skip
        """Whether this batch's graph may be kept (``raw``: the tensors of the raw batch);
        records why not (for good) otherwise."""
        obj = self.target.objective
        if rng is not None and any(
            not torch.equal(a, b) for a, b in zip(rng, _rng_state(obj.device))
        ):
            self.recompute = (
                "the forward pass draws random numbers (e.g. dropout) and no seed fixes them"
            )
            return False
        if raw is None:
            self.recompute = "the batches are not plain tensors (their identity cannot be checked)"
            return False
        records.append(BatchRecord(raw, None))
        if counter is not None:
            counter.add([g for _, g in pairs])
            n0 = max(1, obj.batch_length(batch))
            grads = sum(g.numel() * g.element_size() for _, g in pairs)
            per_sample = max(0, counter.total - grads) / n0
            self.estimate = int(per_sample * self._num_data + grads * self._num_batches)
            if self.estimate > self.budget:
                self.recompute = (
                    f"estimated {self.estimate / 2**20:.1f} MiB of kept graphs exceed "
                    f"graph_memory_budget = {self.budget / 2**20:.0f} MiB"
                )
                return False
        return True
