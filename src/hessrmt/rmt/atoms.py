"""The atom at zero of product and percolated ensembles against the rank theory (issue 13,
item 4; ``docs/reference/oracles.md`` §11).

* :func:`product_atom_grid`: for Y = X_1 ... X_k (``product_wishart``, dims (N, N_1, ..., N_k)),
  rank(Y Y^T) = min(N, N_1, ..., N_k) almost surely, so the zero fraction is exactly
  max(0, 1 - min_i N_i / N): compared as counts of float64 ``eigvalsh`` eigenvalues below
  1e-9 max(1, max|l|) (:func:`hessrmt.rmt.goodness.zero_fraction`).
* :func:`percolated_atom_grid`: zero fraction of sparse percolated Wigner matrices at mean degree
  c against the Bordenave-Lelarge-Salez mass (:func:`hessrmt.rmt.percolation.
  percolated_wigner_atom`), with the sample mean's standard error over ``samples`` matrices.
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
from hessrmt.rng import RngLike, as_generator

__all__ = ["percolated_atom_grid", "product_atom", "product_atom_grid"]


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
