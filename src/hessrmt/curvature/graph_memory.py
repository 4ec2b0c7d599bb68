"""Memory of autograd graphs, and how many columns of a block one vmapped pass may carry.

Two engines hold autograd graphs whose size grows with the data:

* the kept-graph engine (:mod:`hessrmt.curvature.kept`) keeps every batch's gradient graph
  between products, when the estimate of all of them is within ``graph_memory_budget``;
* the recomputing engines (plain double backward, forward-over-reverse, the Gauss-Newton
  product) batch the k columns of a block through one vmapped pass per batch
  (``is_grads_batched`` / ``torch.func.vmap``). A vmapped pass over c columns holds about c
  copies of the batch's intermediate tensors, so an unbounded block (the sub-block step's ~120
  unit vectors, a 32-probe Hutchinson block) on a large model needs c times one product's memory.
  :class:`ColumnBudget` bounds c so that c times the measured graph of one batch stays within
  ``graph_memory_budget`` and :data:`VMAP_PASS_BYTES`; the columns beyond run in further chunks
  on the same batch graph (double backward: the first backward's graph is retained between
  chunks, so the forward and first backward passes still run once per batch and pass).

Measured (one thread, float32, CPU time; ``bench/bench_column_chunks.py``, figures at
:data:`VMAP_PASS_BYTES`): the vmapped second backward is worth keeping where it is faster per
column (zoo transformer; LeNet on digits, 1.8 ms against 2.8 ms per column at 32 columns,
measured separately), and it costs about c graphs of memory, and on ResNet-20 also time.

The graph of one batch is measured once, on the first multi-column product: the unique storages
autograd saves during its forward and first backward passes (:class:`SavedBytes`, by
``torch.autograd.graph.saved_tensors_hooks``), less those of the parameters, frozen tensors and
inputs (which exist anyway), plus the gradients; per sample, scaled to each batch's size. For
forward-over-reverse and the Gauss-Newton product that measurement (a plain double-backward
graph) is a proxy for their vmapped passes, of the same order (both hold the activations and
their tangents or cotangents).
"""

from __future__ import annotations

from typing import Any

import torch

#: Default ``graph_memory_budget``: the most bytes of gradient graphs, kept (kept-graph engine) or
#: held by one vmapped pass over a block's columns (recomputing engines); estimated.
GRAPH_MEMORY_BUDGET = 2 << 30

#: The most bytes one vmapped pass over a block's columns may hold (estimated), whatever
#: ``graph_memory_budget`` (which can only lower it). Wider passes stop paying: on ResNet-20 with
#: 32 CIFAR-shaped samples (a 96 MiB graph) a 24-column vmapped second backward cost 0.37-0.41 s
#: per column and 2,116-2,172 MiB peak, chunks of 2 columns (this bound) 0.31-0.34 s and
#: 769-777 MiB, one column at a time 0.29-0.31 s and 671-686 MiB; the zoo transformer (1.9 MiB
#: graph) keeps its whole 24-column pass, 0.0039-0.0056 s per column against 0.0063-0.0098 one
#: at a time (two runs of ``bench/bench_column_chunks.py``, ``docs/benchmarks-column-chunks.json``).
VMAP_PASS_BYTES = 256 << 20


def column_budget(graph_memory_budget: int | None) -> int:
    """The byte bound of one vmapped pass: ``min(graph_memory_budget, VMAP_PASS_BYTES)``."""
    given = GRAPH_MEMORY_BUDGET if graph_memory_budget is None else int(graph_memory_budget)
    return min(given, VMAP_PASS_BYTES)


def storage_key(t: torch.Tensor) -> tuple[Any, int]:
    """((device, data pointer), bytes) of the storage under ``t``."""
    s = t.untyped_storage()
    return (t.device, s.data_ptr()), s.nbytes()


class SavedBytes:
    """Counts the unique storages autograd saves while active (``saved_tensors_hooks``),
    leaving out those of ``exclude`` (tensors that exist whether or not a graph is kept)."""

    def __init__(self, exclude: list[torch.Tensor]) -> None:
        self.seen: dict[Any, int] = {}
        self.skip = {storage_key(t)[0] for t in exclude}
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        try:
            key, n = storage_key(t)
        except (RuntimeError, NotImplementedError):  # no storage (e.g. a wrapper): not counted
            return t
        if key not in self.skip:
            self.seen[key] = n
        return t

    def add(self, tensors: list[torch.Tensor]) -> None:
        for t in tensors:
            key, n = storage_key(t)
            if key not in self.skip:
                self.seen[key] = n

    @property
    def total(self) -> int:
        return sum(self.seen.values())


class ColumnBudget:
    """How many columns one vmapped pass over a batch may carry (see the module docstring).

    ``columns(n, k)``: at most ``k``, at least 1, else ``budget // (bytes of one batch of n
    samples)``; all k before the first measurement (:meth:`measure`).
    """

    def __init__(self, budget: int) -> None:
        self.budget = int(budget)
        self.per_sample: float | None = None
        self.fixed = 0  # bytes that do not scale with the batch (the gradients)
        self.widest = 0  # the widest chunk used so far
        self.narrowed = False  # whether the budget ever split a block

    @property
    def measured(self) -> bool:
        return self.per_sample is not None

    def measure(self, counter: SavedBytes, grads: list[torch.Tensor], samples: int) -> None:
        """Record one batch's graph: ``counter`` (its saved storages), its gradients, its size."""
        counter.add(grads)
        self.fixed = sum(g.numel() * g.element_size() for g in grads)
        self.per_sample = max(0, counter.total - self.fixed) / max(1, samples)

    def graph_bytes(self, samples: int) -> int:
        """Estimated bytes of the graph of one batch of ``samples`` samples (0 if unmeasured)."""
        if self.per_sample is None:
            return 0
        return int(self.per_sample * max(1, samples) + self.fixed)

    def columns(self, samples: int, k: int) -> int:
        """Columns per vmapped pass for a batch of ``samples`` samples and a block of ``k``."""
        per = self.graph_bytes(samples)
        c = k if per <= 0 else max(1, min(k, self.budget // per))
        self.widest = max(self.widest, c)
        self.narrowed = self.narrowed or c < k
        return c

    def describe(self) -> str:
        """For the operator's conventions (``hvp_columns``)."""
        budget = f"{self.budget / 2**20:.0f} MiB per pass"
        if self.per_sample is None:
            return f"columns vmapped per batch, chunked to fit {budget} (not measured yet)"
        return (
            f"columns vmapped per batch in chunks of at most budget / graph "
            f"({self.per_sample / 2**20:.3f} MiB per sample + {self.fixed / 2**20:.1f} MiB; "
            f"{budget}; widest chunk so far {self.widest}"
            + (", blocks were split" if self.narrowed else "")
            + ")"
        )


def measure_graph(
    budget: ColumnBudget,
    value_fn: Any,
    leaves: list[torch.Tensor],
    exclude: list[torch.Tensor],
    samples: int,
) -> list[torch.Tensor | None]:
    """Run ``value_fn()`` and its first backward (``create_graph=True``) under a
    :class:`SavedBytes` counter, record the graph in ``budget`` and return the gradients."""
    counter = SavedBytes(exclude)
    with counter.hooks, torch.enable_grad():
        value = value_fn()
        gs = torch.autograd.grad(value, leaves, create_graph=True, allow_unused=True)
    budget.measure(counter, [g for g in gs if g is not None], samples)
    return list(gs)
