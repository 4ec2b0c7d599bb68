"""Exact principal sub-blocks H[S, S] of a curvature operator, from products with unit vectors.

For an index set S = {s_1 < ... < s_m} of the P parameters (flat order of
``torch.nn.utils.parameters_to_vector``), column j of H[:, S] is H e_{s_j}; its rows S give
column j of the principal sub-block

    B = H[S, S],   B_ij = e_{s_i}^T H e_{s_j}.

:func:`principal_subblock` applies the operator to the unit vectors of S in chunks of c columns
(one data pass per chunk): cost m products, memory m^2 for B plus 2 c P for one chunk of unit
vectors and its products (c chosen so that the chunk fits ``memory_budget``). No P x P matrix is
formed, so the local statistics of B can be computed at any P.

Index sets (:class:`IndexSet`, each recording how it was drawn):

* :func:`layer_index_sets`: one set per layer (module owning parameters; a layer's weight and bias
  together), the whole layer when it has at most ``cap`` parameters, else ``cap`` of them drawn
  uniformly without replacement with the passed seed (sorted);
* :func:`random_index_sets`: ``count`` sets of ``size`` parameters drawn uniformly without
  replacement from all P (independently per set, seeded).

Facts used by the tests (and by the agreement study, ``docs/subblocks.md``):

* Cauchy interlacing (Horn & Johnson, Matrix Analysis, Thm 4.3.28): the eigenvalues
  mu_1 <= ... <= mu_m of B satisfy lambda_i(H) <= mu_i <= lambda_{i+P-m}(H); in particular
  lambda_min(H) <= mu_1 and mu_m <= lambda_max(H).
* A principal m x m sub-block of a GOE matrix is a GOE matrix of size m with the same entry
  variances (its entries are a subset of independent Gaussians), so its local statistics are
  GOE's; the semicircle radius scales as sqrt(m / P).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hessrmt.errors import InputError
from hessrmt.rng import RngLike, as_generator, seed_of

#: Default memory for one chunk of unit vectors and their products (2 c P entries).
SUBBLOCK_MEMORY_BUDGET = 256 << 20


@dataclass(frozen=True)
class IndexSet:
    """A set S of flat parameter indices and how it was chosen.

    Attributes:
        name: the layer's module path (``"1"``, ``"layer1.0.conv1"``) or ``"random_<i>"``.
        indices: sorted int64 flat indices (into the operator's P).
        n_total: parameters the set was drawn from (the layer's size; P for random sets).
        subsampled: whether ``indices`` is a random subset of those.
        parameters: names of the parameter tensors the set covers (layers only).
        how: one line saying how the set was drawn (seed included).
    """

    name: str
    indices: np.ndarray
    n_total: int
    subsampled: bool
    how: str
    parameters: tuple[str, ...] = field(default_factory=tuple)

    @property
    def size(self) -> int:
        return int(self.indices.size)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (without the indices)."""
        return {
            "name": self.name,
            "size": self.size,
            "n_total": int(self.n_total),
            "subsampled": bool(self.subsampled),
            "parameters": list(self.parameters),
            "how": self.how,
        }


def _check_cap(cap: int, what: str) -> int:
    if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1:
        raise InputError(f"{what} must be a positive integer, got {cap!r}")
    return int(cap)


def parameter_layout(op: Any) -> list[tuple[str, int, int]]:
    """(parameter name, start, stop) of each parameter tensor in the operator's flat vector.

    Needs an operator built from a model (``param_names`` and ``param_shapes``, as
    :class:`~hessrmt.curvature.HessianOperator` has)."""
    names = getattr(op, "param_names", None)
    shapes = getattr(op, "param_shapes", None)
    if names is None or shapes is None:
        raise InputError(
            f"{type(op).__name__} does not know its parameters' names: per-layer sub-blocks need "
            "an operator built from a model (HessianOperator, GGNOperator...); use random index "
            "sets instead"
        )
    out, start = [], 0
    for n, s in zip(names, shapes):
        size = math.prod(s)
        out.append((str(n), start, start + size))
        start += size
    return out


def layer_index_sets(op: Any, *, cap: int = 1000, rng: RngLike = 0) -> list[IndexSet]:
    """One :class:`IndexSet` per layer (parameters grouped by their module path), in model order.

    A layer with more than ``cap`` parameters is subsampled: ``cap`` indices drawn uniformly
    without replacement with one generator made from ``rng`` (layers in model order), sorted.
    """
    cap = _check_cap(cap, "the sub-block size cap")
    gen = as_generator(rng)
    seed = seed_of(rng)
    groups: dict[str, list[tuple[str, int, int]]] = {}
    for name, a, b in parameter_layout(op):
        module = name.rsplit(".", 1)[0] if "." in name else name
        groups.setdefault(module, []).append((name, a, b))
    sets = []
    for module, items in groups.items():
        idx = np.concatenate([np.arange(a, b, dtype=np.int64) for _, a, b in items])
        total = int(idx.size)
        if total > cap:
            idx = np.sort(gen.choice(idx, size=cap, replace=False))
            how = (
                f"{cap} of the layer's {total} parameters, uniform without replacement, seed {seed}"
            )
        else:
            how = f"all {total} parameters of the layer"
        sets.append(IndexSet(module, idx, total, total > cap, how, tuple(n for n, _, _ in items)))
    return sets


def random_index_sets(n_params: int, *, size: int, count: int, rng: RngLike = 0) -> list[IndexSet]:
    """``count`` sets of ``size`` indices drawn uniformly without replacement from range(P),
    independently (one generator made from ``rng``), each sorted."""
    size = _check_cap(size, "the sub-block size")
    count = _check_cap(count, "the number of random sub-blocks")
    n_params = _check_cap(n_params, "the number of parameters")
    size = min(size, n_params)
    gen = as_generator(rng)
    seed = seed_of(rng)
    return [
        IndexSet(
            f"random_{i}",
            np.sort(gen.choice(n_params, size=size, replace=False)).astype(np.int64),
            n_params,
            size < n_params,
            f"set {i} of {count}: {size} of all {n_params} parameters, uniform without "
            f"replacement, seed {seed}",
        )
        for i in range(count)
    ]


def _indices(indices: Any, P: int) -> torch.Tensor:
    idx = np.asarray(indices.indices if isinstance(indices, IndexSet) else indices)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise InputError("the index set must be a non-empty 1-D array of integers")
    if idx.min() < 0 or idx.max() >= P:
        raise InputError(f"the index set has indices outside 0..{P - 1} (P = {P})")
    if np.unique(idx).size != idx.size:
        raise InputError(
            "the index set has repeated indices; a principal sub-block needs each index once"
        )
    return torch.as_tensor(idx.astype(np.int64))


def chunk_columns(P: int, m: int, itemsize: int, memory_budget: int | None = None) -> int:
    """Unit vectors per product chunk: the largest c <= m with 2 c P entries in the budget."""
    budget = SUBBLOCK_MEMORY_BUDGET if memory_budget is None else int(memory_budget)
    return max(1, min(m, budget // max(1, 2 * P * itemsize)))


def principal_subblock(
    op: Any,
    indices: IndexSet | Sequence[int] | np.ndarray,
    *,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    symmetrize: bool = True,
    progress: bool = False,
) -> torch.Tensor:
    """The exact principal sub-block H[S, S] (m x m, in the operator's dtype and device).

    Column chunks of c unit vectors e_{s_j} (contiguous (c, P) rows, passed transposed so that
    one data pass serves the chunk) are multiplied by the operator and rows S kept; c is
    ``chunk_size`` or the most that fits ``memory_budget`` (:func:`chunk_columns`). With
    ``symmetrize`` the result is (B + B^T) / 2 (removes round-off asymmetry of the products).
    """
    from hessrmt.curvature.adapters import as_linear_operator

    op = as_linear_operator(op)
    P = int(op.shape[0])
    idx = _indices(indices, P)
    m = int(idx.numel())
    itemsize = torch.empty((), dtype=op.dtype).element_size()
    c = chunk_columns(P, m, itemsize, memory_budget) if chunk_size is None else chunk_size
    c = _check_cap(c, "chunk_size")
    idx_dev = idx.to(op.device)
    B = torch.empty(m, m, dtype=op.dtype, device=op.device)
    starts = range(0, m, c)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"sub-block {m}", unit="chunk", leave=False)
    for j in starts:
        k = min(c, m - j)
        E = torch.zeros(k, P, dtype=op.dtype, device=op.device)
        E[torch.arange(k, device=op.device), idx_dev[j : j + k]] = 1
        cols = op.matmat(E.T)  # (P, k)
        B[:, j : j + k] = cols[idx_dev, :]
        del E, cols
    if symmetrize:
        B = (B + B.T) / 2
    return B


def subblock_eigenvalues(op: Any, indices: Any, **kwargs: Any) -> np.ndarray:
    """Eigenvalues (ascending, float64 NumPy) of :func:`principal_subblock` (dense eigvalsh)."""
    B = principal_subblock(op, indices, **kwargs)
    return np.sort(torch.linalg.eigvalsh(B).detach().cpu().double().numpy())
