"""The data loop of the curvature operators: passes over the batches with exact weights.

The objective is the loss over ALL the data (see :mod:`hessrmt.curvature.operators`)::

    mean reduction:  L(theta) = sum_b (c_b / C) L_b(theta),   C = sum_b c_b
    sum reduction:   L(theta) = sum_b L_b(theta)

:class:`DataLoop` makes the build pass (validates every batch, computes c_b, C and the loss) and
then serves one pass per product as (index, prepared batch, weight w_b) with w_b = c_b / C (1 for
sum reduction), checking that the data still sum to C.

Each pass re-validates a batch and recomputes its c_b unless the batch is the very same,
unmodified tensors as in an earlier pass (:class:`BatchRecord`: weak references and version
counters), so a shuffling DataLoader or data edited in place are handled exactly.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch.utils._pytree import tree_leaves

from hessrmt.errors import DataError, InputError

if TYPE_CHECKING:
    from hessrmt.curvature.objective import Objective, Params


def check_reiterable(data: Any) -> None:
    """Refuse a generator or iterator (an operator reads its data once per product)."""
    if isinstance(data, Iterator) or not isinstance(data, Iterable):
        raise InputError(
            "data must be a re-iterable of (inputs, targets) batches, e.g. a list of tuples or a "
            "DataLoader; a generator or iterator can only be read once"
        )


def first_len(x: Any) -> int:
    """The length along dimension 0 of a batch element (a tensor, a tuple/list or a mapping of
    tensors: its first entry)."""
    if isinstance(x, torch.Tensor):
        return int(x.shape[0]) if x.ndim else 1
    if isinstance(x, (tuple, list)) and x:
        return first_len(x[0])
    if isinstance(x, Mapping) and x:
        return first_len(next(iter(x.values())))
    try:
        return len(x)
    except TypeError as exc:
        raise InputError(f"cannot tell the size of a batch element of type {type(x)}") from exc


def is_tensor_pair(batch: Any) -> bool:
    """Whether ``batch`` is an (inputs, targets) pair of two tensors."""
    return (
        isinstance(batch, (tuple, list))
        and len(batch) == 2
        and isinstance(batch[0], torch.Tensor)
        and isinstance(batch[1], torch.Tensor)
    )


def tensor_leaves(batch: Any) -> list[torch.Tensor] | None:
    """The tensors of a raw batch, or None when it holds anything else (then nothing is cached)."""
    leaves = list(batch) if is_tensor_pair(batch) else tree_leaves(batch)
    if not leaves or not all(isinstance(t, torch.Tensor) for t in leaves):
        return None
    try:
        for t in leaves:
            t._version  # noqa: B018 - inference tensors have no version counter: no caching
    except RuntimeError:
        return None
    return leaves


class BatchRecord:
    """What a data pass learnt about batch i: it was validated, and its loss normaliser c_b.

    The record is valid for a later pass only while position i yields the SAME data: the very
    same tensor objects (held by weak references, so a record keeps no data alive; a dead
    reference never matches) with unchanged version counters (every in-place write bumps them).
    A shuffling DataLoader builds new tensors on every pass and so never matches; a list of
    fixed batches always does. Anything else is recomputed, so the cache cannot change a result.
    """

    __slots__ = ("refs", "terms", "versions")

    def __init__(self, leaves: list[torch.Tensor], terms: float | None) -> None:
        self.refs = [weakref.ref(t) for t in leaves]
        self.versions = [t._version for t in leaves]
        self.terms = terms

    def matches(self, leaves: list[torch.Tensor] | None) -> bool:
        if leaves is None or len(leaves) != len(self.refs):
            return False
        return all(
            r() is t and t._version == v for r, t, v in zip(self.refs, leaves, self.versions)
        )


@dataclasses.dataclass(frozen=True)
class DataSummary:
    """What the build pass measured: N, the number of batches, C and the full-data loss."""

    num_data: int
    num_batches: int
    total_terms: float
    loss: float


class DataLoop:
    """Passes over ``data`` for an :class:`hessrmt.curvature.objective.Objective` (see the
    module docstring). :meth:`build` must run once before :meth:`passes`."""

    def __init__(self, data: Iterable[Any], objective: Objective) -> None:
        check_reiterable(data)
        self.data = data
        self.objective = objective
        self.records: dict[int, BatchRecord] = {}
        self.total_terms = 0.0
        self._loss_state = objective.loss_state()
        self._params: Params = {}
        #: the tensors of the raw batch a pass is serving now (None: not plain tensors), so that
        #: an engine can tell later passes whether they serve the same data (BatchRecord)
        self.current_leaves: list[torch.Tensor] | None = None

    def _remember(self, index: int, leaves: list[torch.Tensor] | None, terms: float) -> None:
        """Record that batch ``index`` (its tensors ``leaves``) was validated, with its c_b
        (not kept under a user ``batch_size_fn``, which is called on every pass)."""
        if leaves is not None:
            keep = terms if self.objective.batch_size_fn is None else None
            self.records[index] = BatchRecord(leaves, keep)

    def weight(self, terms: float) -> float:
        """w_b = c_b / C (mean reduction) or 1 (sum reduction)."""
        return 1.0 if self.objective.reduction == "sum" else terms / self.total_terms

    def build(self, params: Params, probe: Callable[[Any, int], None] | None = None) -> DataSummary:
        """The build pass at ``params``: validates every batch, c_b, C and the loss;
        ``probe(batch, index)`` is called on every prepared batch (the engine's check)."""
        obj = self.objective
        self._params = params
        total, num_data, per_batch = 0.0, 0, []
        with obj.mode_context():
            for i, raw in enumerate(self.data):
                batch = obj.prepare(raw)
                value, terms, n = obj.evaluate(params, batch, i)
                self._remember(i, tensor_leaves(raw), terms)
                if not torch.isfinite(value):
                    raise InputError(
                        f"the loss on batch {i} is not finite ({float(value)}); check the data and "
                        "the model (exploded weights, log of zero, ...)"
                    )
                per_batch.append((float(value), terms))
                if probe is not None:
                    probe(batch, i)
                total += terms
                num_data += n
        if not per_batch:
            raise InputError("data is empty: pass at least one (inputs, targets) batch")
        if obj.reduction != "sum" and total <= 0:
            raise InputError(
                "the mean-reduced loss averages over zero terms (all targets ignored?)"
            )
        self.total_terms = total if obj.reduction != "sum" else float(len(per_batch))
        loss = sum(v * self.weight(t) for v, t in per_batch)
        return DataSummary(num_data, len(per_batch), self.total_terms, loss)

    def passes(self) -> Iterator[tuple[int, Any, float]]:
        """One pass over the data: (index, prepared batch, weight), with a consistency check.

        A batch that is the same data as in an earlier pass (see :class:`BatchRecord`) is not
        validated again and its c_b is reused; any other batch is validated and its c_b computed
        afresh (and recorded). A change of the loss's ``ignore_index`` or class weights drops
        every record. The model's mode is set for the pass.
        """
        obj = self.objective
        state = obj.loss_state()
        old = self._loss_state
        if not (state[0] == old[0] and state[1] is old[1] and state[2] == old[2]):
            self.records.clear()
            self._loss_state = state
        seen = 0.0
        with obj.mode_context():
            for i, raw in enumerate(self.data):
                leaves = tensor_leaves(raw)
                record = self.records.get(i)
                known = record is not None and record.matches(leaves)
                batch = obj.prepare(raw, validate=not known)
                if known and record is not None and record.terms is not None:
                    terms = record.terms if obj.reduction != "sum" else 1.0
                else:
                    terms = obj.terms(batch, i, self._params)
                if not known:
                    self._remember(i, leaves, terms)
                seen += terms
                self.current_leaves = leaves
                yield i, batch, self.weight(terms)
        if abs(seen - self.total_terms) > 1e-9 * max(1.0, self.total_terms):
            raise DataError(
                f"the data changed between passes (the loss averages over {seen:g} terms now, "
                f"{self.total_terms:g} when the operator was built); use a fixed data set"
            )
