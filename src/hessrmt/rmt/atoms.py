"""The atom at zero of product and percolated ensembles against the rank theory (issue 13,
item 4; ``docs/reference/oracles.md`` §11).

* :func:`product_atom_grid`: for Y = X_1 ... X_k (``product_wishart``, dims (N, N_1, ..., N_k)),
  rank(Y Y^T) = min(N, N_1, ..., N_k) almost surely, so the zero fraction is exactly
  max(0, 1 - min_i N_i / N): compared as counts of float64 ``eigvalsh`` eigenvalues below
  1e-9 max(1, max|l|) (:func:`hessrmt.rmt.goodness.zero_fraction`).
* :func:`percolated_atom_grid`: zero fraction of sparse percolated Wigner matrices at mean degree
  c against the Bordenave-Lelarge-Salez mass (:func:`hessrmt.rmt.percolation.
  percolated_wigner_atom`), with the sample mean's standard error over ``samples`` matrices.
* :func:`percolated_wishart_atom_grid`: zero fraction of W = X X^T / n, X p x n with
  Bernoulli(c / n) dilution, against :func:`hessrmt.rmt.percolation_wishart.
  percolated_wishart_atom`: counted exactly (rank X = maximum matching of the pattern, generic
  weights), by the float64 eigenvalue threshold (which also counts W's genuinely tiny nonzero
  eigenvalues, so it can only be larger), and by maximum matchings of graphs with p = 10^5 rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.rmt.ensembles import percolated_wigner, product_wishart
from hessrmt.rmt.goodness import zero_fraction
from hessrmt.rmt.percolation import percolated_wigner_atom
from hessrmt.rmt.percolation_wishart import percolated_wishart_atom
from hessrmt.rng import RngLike, as_generator

__all__ = [
    "matching_deficiency",
    "percolated_atom_grid",
    "percolated_wishart_atom_grid",
    "product_atom",
    "product_atom_grid",
]


def product_atom(dims: Sequence[int]) -> float:
    """max(0, 1 - min(N_1, ..., N_k) / N) for dims = (N, N_1, ..., N_k)."""
    dims = [int(d) for d in dims]
    if len(dims) < 2 or min(dims) < 1:
        raise InputError(f"dims must be (N, N_1, ..., N_k) with positive sizes, got {dims}")
    return max(0.0, 1.0 - min(dims[1:]) / dims[0])


def product_atom_grid(
    n: int, inner: Sequence[Sequence[int]], *, rng: RngLike = None
) -> list[dict[str, Any]]:
    """For each tuple of inner dimensions (N_1, ..., N_k): measured zero count / fraction of one
    sampled product at outer size ``n`` and the rank prediction (exact integers)."""
    gen = as_generator(rng)
    rows = []
    for dims_inner in inner:
        dims = [int(n), *[int(d) for d in dims_inner]]
        eigs = np.linalg.eigvalsh(product_wishart(dims, rng=gen))
        zf = zero_fraction(eigs)
        predicted_rank = min(dims)
        rows.append(
            {
                "dims": dims,
                "zero_count": round(zf * n),
                "predicted_zero_count": n - predicted_rank,
                "zero_fraction": zf,
                "predicted": product_atom(dims),
                "exact_match": round(zf * n) == n - predicted_rank,
            }
        )
    return rows


def percolated_atom_grid(
    n: int, degrees: Sequence[float], *, samples: int = 2, rng: RngLike = None
) -> list[dict[str, Any]]:
    """For each mean degree c: mean zero fraction over ``samples`` percolated Wigner matrices
    (keep probability c / n), its standard error, the BLS prediction and the e^{-c} bound."""
    if samples < 1:
        raise InputError(f"samples must be at least 1, got {samples}")
    gen = as_generator(rng)
    rows = []
    for c in degrees:
        fr = np.array(
            [
                zero_fraction(np.linalg.eigvalsh(percolated_wigner(n, c / n, rng=gen)))
                for _ in range(samples)
            ]
        )
        pred = percolated_wigner_atom(c)
        se = float(fr.std(ddof=1) / math.sqrt(samples)) if samples > 1 else math.nan
        se_floor = math.sqrt(max(pred, 1.0 / n) * (1 - pred) / (n * samples))
        se_used = max(se, se_floor) if math.isfinite(se) else se_floor
        rows.append(
            {
                "c": float(c),
                "n": int(n),
                "samples": int(samples),
                "zero_fraction": float(fr.mean()),
                "se": se_used,
                "predicted": pred,
                "lower_bound_exp_minus_c": math.exp(-c),
                "z_score": float((fr.mean() - pred) / se_used),
            }
        )
    return rows


def matching_deficiency(pattern: np.ndarray | Any) -> float:
    """1 - (maximum matching) / rows of a bipartite graph given by its (sparse or dense)
    biadjacency pattern: 1 - rank X / p for generic weights on that pattern."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import maximum_bipartite_matching

    a = sp.csr_matrix(pattern, dtype=float)
    a.data[:] = 1.0
    return 1.0 - float(np.sum(maximum_bipartite_matching(a, perm_type="column") >= 0)) / a.shape[0]


def percolated_wishart_atom_grid(
    p: int,
    cases: Sequence[tuple[float, float]],
    *,
    samples: int = 2,
    large_p: int = 100_000,
    rng: RngLike = None,
) -> list[dict[str, Any]]:
    """For each (phi, c): ``samples`` matrices X (p x round(p / phi), Bernoulli(c / n) dilution,
    Gaussian weights): mean exact zero fraction 1 - M / p (M: maximum matching = rank X) with its
    standard error, the float64 eigenvalue-threshold zero fraction of W = X X^T / n, the
    maximum-matching deficiency of one graph with ``large_p`` rows (no weights needed), and the
    predicted atom (module docstring)."""
    import scipy.sparse as sp

    if samples < 1:
        raise InputError(f"samples must be at least 1, got {samples}")
    gen = as_generator(rng)
    rows = []
    for phi, c in cases:
        n = max(1, round(p / phi))
        exact, thresh = [], []
        for _ in range(samples):
            x = gen.standard_normal((p, n)) * (gen.random((p, n)) < c / n) * math.sqrt(n / c)
            exact.append(matching_deficiency(x != 0))
            thresh.append(zero_fraction(np.linalg.eigvalsh(x @ x.T / n)))
        nl = max(1, round(large_p / phi))
        k = gen.binomial(large_p * nl, c / nl)
        flat = np.unique(gen.integers(0, large_p * nl, size=k))
        big = sp.csr_matrix((np.ones(flat.size), (flat // nl, flat % nl)), shape=(large_p, nl))
        pred = percolated_wishart_atom(c, phi)
        fr = np.array(exact)
        se = float(fr.std(ddof=1) / math.sqrt(samples)) if samples > 1 else math.nan
        se_floor = math.sqrt(max(pred, 1.0 / p) * (1 - pred) / (p * samples))
        se_used = max(se, se_floor) if math.isfinite(se) else se_floor
        rows.append(
            {
                "phi": float(phi),
                "c": float(c),
                "p": int(p),
                "n": int(n),
                "samples": int(samples),
                "zero_fraction": float(fr.mean()),
                "se": se_used,
                "threshold_zero_fraction": float(np.mean(thresh)),
                "large_p": int(large_p),
                "large_matching_zero_fraction": matching_deficiency(big),
                "predicted": pred,
                "z_score": float((fr.mean() - pred) / se_used),
            }
        )
    return rows
