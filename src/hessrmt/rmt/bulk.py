"""Split an empirical spectrum into zeros, outliers and bulk.

**Zeros** (docs/reference/oracles.md §11, docs/reference/papers.md §2.6). An eigenvalue is
counted as zero when
``|lambda| <= zero_rtol * max_i |lambda_i|`` (per spectrum). Exact zeros (``lambda == 0``) and
round-off zeros (non-zero but under the tolerance) are counted separately. The default
``zero_rtol`` depends on the precision the eigenvalues were *computed* in (``dtype``; default the
array's dtype): 1e-9 for float64 (a dense eigensolver leaves ~N eps ||H|| ~ 1e-13 ||H|| of
round-off on exact zeros, and genuine small eigenvalues are far above), 1e-4 for float32
(round-off of 1e-8 to 1e-6 ||H|| there, the cut-off suggested in docs/reference/papers.md §2.6),
1e-2 for
float16/bfloat16.

*The float32 trap.* Eigenvalues computed in float32 and saved as float64 look like float64 data;
their round-off zeros then sit at ~1e-7 ||H|| and pass the float64 tolerance. When that happens
(at least 5 % of the eigenvalues are non-zero with ``|lambda| <= 1e-4 max|lambda|`` yet not zeros)
:attr:`SpectrumParts.warnings` says so and ``n_suspect_roundoff`` counts them: pass
``dtype="float32"`` to treat them as zeros.

**Outliers and bulk edges** (gap criterion at a square-root edge). Let x_0 >= x_1 >= ... be the
non-zero eigenvalues from the top. With ``m`` levels (default ``min(20, n // 5)``, at least 3),
the edge unit is ``u_j = (x_{j+1} - x_{j+1+m}) / m^{2/3}``: at a square-root (soft) edge the
k-th level sits at a distance proportional to k^{2/3} from the edge, so u_j is the Tracy-Widom
scale of the edge below x_j (and about m^{1/3} mean spacings inside a bulk). Level x_j is
separated from what lies below it when ``x_j - x_{j+1} > k * u_j`` (default ``k = 6``; for a
GOE edge the top gap exceeds 6 u with negligible probability, see the tests). The outliers are
x_0 ... x_J for the deepest separated j = J among the first ``max_outliers`` levels (so a cluster
of outliers above one big gap is found as a whole). The same rule is applied to the bottom of the
spectrum. The bulk edges are the smallest and largest non-zero, non-outlier eigenvalues.
Sub-threshold BBP spikes (theta < sigma) stick to the edge and are not flagged (oracle SP-3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rmt.spacings import as_levels, dtype_name

#: Default relative zero tolerance by the dtype the eigenvalues were computed in.
ZERO_RTOL = {"float64": 1e-9, "float32": 1e-4, "float16": 1e-2, "bfloat16": 1e-2}

#: Relative size below which non-zero eigenvalues look like float32 round-off
# (docs/reference/papers.md §2.6).
FLOAT32_ROUNDOFF_RTOL = 1e-4


def default_zero_rtol(dtype: object) -> float:
    """The default relative zero tolerance for eigenvalues computed in ``dtype``."""
    return ZERO_RTOL.get(dtype_name(dtype), ZERO_RTOL["float64"])


def fit_zero_rtol(zero_rtol: float | None, dtype: object) -> float | None:
    """The ``zero_rtol`` of :func:`hessrmt.rmt.family_fit.fit_families` for eigenvalues
    computed in ``dtype``: the one given, else :func:`default_zero_rtol` of a lower precision
    than float64, else None (the fits' own float64 rule)."""
    if zero_rtol is not None:
        return float(zero_rtol)
    name = dtype_name(dtype) if dtype is not None else "float64"
    return None if name == "float64" else default_zero_rtol(name)


@dataclass(frozen=True)
class SpectrumParts:
    """Zeros, outliers and bulk of one spectrum or of a batch (rows = spectra).

    Masks have the input's shape (``zero_mask | outlier_mask | bulk_mask`` is all-True and the
    three are disjoint). ``bulk_edges`` is ``(low, high)`` for a 1-D input and an (M, 2) array
    for a batch. ``zero_tolerance`` is the absolute threshold (per spectrum for a batch).
    """

    eigenvalues: np.ndarray
    zero_mask: np.ndarray
    outlier_mask: np.ndarray
    bulk_mask: np.ndarray
    n_zero_exact: int
    n_zero_roundoff: int
    n_suspect_roundoff: int
    n_outliers_high: int
    n_outliers_low: int
    bulk_edges: np.ndarray
    zero_rtol: float
    zero_tolerance: float | np.ndarray
    dtype: str
    edge_k: float
    warnings: tuple[str, ...] = ()
    conventions: dict[str, Any] = field(default_factory=dict)

    @property
    def n_spectra(self) -> int:
        return 1 if self.eigenvalues.ndim == 1 else int(self.eigenvalues.shape[0])

    @property
    def n_eigenvalues(self) -> int:
        return int(self.eigenvalues.size)

    @property
    def n_zero(self) -> int:
        return self.n_zero_exact + self.n_zero_roundoff

    @property
    def zero_fraction(self) -> float:
        return self.n_zero / self.n_eigenvalues

    @property
    def n_outliers(self) -> int:
        return self.n_outliers_high + self.n_outliers_low

    def bulk(self) -> np.ndarray | list[np.ndarray]:
        """Sorted bulk eigenvalues (a list of arrays, one per spectrum, for a batch)."""
        if self.eigenvalues.ndim == 1:
            return np.sort(self.eigenvalues[self.bulk_mask])
        return [np.sort(row[m]) for row, m in zip(self.eigenvalues, self.bulk_mask)]

    def bulk_segments(self) -> list[np.ndarray]:
        """Bulk levels of every spectrum cut at the zero cluster: the negative and the positive
        part of each spectrum separately when zeros were removed (so no spacing spans the hole),
        else the whole bulk. Sorted 1-D arrays, possibly short or empty."""
        rows = [self.eigenvalues] if self.eigenvalues.ndim == 1 else list(self.eigenvalues)
        zmasks = [self.zero_mask] if self.eigenvalues.ndim == 1 else list(self.zero_mask)
        bmasks = [self.bulk_mask] if self.eigenvalues.ndim == 1 else list(self.bulk_mask)
        out = []
        for row, z, b in zip(rows, zmasks, bmasks):
            levels = np.sort(row[b])
            if z.any():
                out.extend([levels[levels < 0], levels[levels > 0]])
            else:
                out.append(levels)
        return out


def _outliers_top(x_desc: np.ndarray, k: float, m: int, max_outliers: int) -> int:
    """Number of outliers at the top of the descending array ``x_desc`` (gap criterion)."""
    n = x_desc.size
    if n < m + 3:
        return 0
    jmax = min(max_outliers, n - m - 2)
    if jmax <= 0:
        return 0
    j = np.arange(jmax)
    gaps = x_desc[j] - x_desc[j + 1]
    unit = (x_desc[j + 1] - x_desc[j + 1 + m]) / m ** (2.0 / 3.0)
    separated = gaps > k * unit
    hits = np.flatnonzero(separated & (gaps > 0))
    return int(hits[-1] + 1) if hits.size else 0


def _split_one(
    row: np.ndarray, zero_rtol: float, edge_k: float, max_outliers: int | None
) -> tuple[np.ndarray, np.ndarray, int, int, int, int, int, tuple[float, float], float]:
    absrow = np.abs(row)
    scale = float(absrow.max()) if row.size else 0.0
    tol = zero_rtol * scale
    zero = absrow <= tol
    n_exact = int(np.count_nonzero(row == 0))
    n_round = int(np.count_nonzero(zero)) - n_exact
    suspect = int(np.count_nonzero(~zero & (absrow <= FLOAT32_ROUNDOFF_RTOL * scale)))
    idx = np.flatnonzero(~zero)
    outlier = np.zeros(row.shape, dtype=bool)
    n_hi = n_lo = 0
    if idx.size:
        order = idx[np.argsort(row[idx])]
        vals = row[order]
        n = vals.size
        m = int(max(3, min(20, n // 5)))
        cap = max_outliers if max_outliers is not None else max(1, n // 10)
        n_hi = _outliers_top(vals[::-1], edge_k, m, cap)
        n_lo = _outliers_top(-vals, edge_k, m, cap)
        if n_hi + n_lo >= n:  # degenerate tiny input: keep everything in the bulk
            n_hi = n_lo = 0
        outlier[order[n - n_hi :]] = True
        outlier[order[:n_lo]] = True
        bulk_vals = vals[n_lo : n - n_hi]
        edges = (float(bulk_vals[0]), float(bulk_vals[-1]))
    else:
        edges = (float("nan"), float("nan"))
    return zero, outlier, n_exact, n_round, suspect, n_hi, n_lo, edges, tol


def split_spectrum(
    eigs: ArrayLike,
    *,
    zero_rtol: float | None = None,
    dtype: object = None,
    edge_k: float = 6.0,
    max_outliers: int | None = None,
) -> SpectrumParts:
    """Split eigenvalues into zeros, outliers and bulk (see the module docstring for the rules).

    Parameters
    ----------
    eigs : 1-D (one spectrum) or 2-D (rows are independent spectra) real array.
    zero_rtol : relative zero tolerance, ``|lambda| <= zero_rtol * max|lambda|`` (per spectrum);
        ``None`` takes :func:`default_zero_rtol` of ``dtype``.
    dtype : the precision the eigenvalues were computed in (e.g. ``"float32"`` for a float32
        Hessian saved as float64); default the array's dtype.
    edge_k : gap threshold in edge units (see module docstring); larger finds fewer outliers.
    max_outliers : how deep to look for outliers on each side (default ``n // 10``).
    """
    arr = as_levels(eigs)
    dname = dtype_name(arr.dtype if dtype is None else dtype)
    if zero_rtol is None:
        zero_rtol = default_zero_rtol(dname)
    if not (np.isfinite(zero_rtol) and 0 <= zero_rtol < 1):
        raise InputError(f"zero_rtol must be in [0, 1), got {zero_rtol}")
    if not (np.isfinite(edge_k) and edge_k > 0):
        raise InputError(f"edge_k must be a positive number, got {edge_k}")
    rows = arr[None, :] if arr.ndim == 1 else arr
    parts = [_split_one(r, float(zero_rtol), float(edge_k), max_outliers) for r in rows]
    zero = np.stack([p[0] for p in parts])
    outl = np.stack([p[1] for p in parts])
    edges = np.array([p[7] for p in parts], dtype=float)
    tols = np.array([p[8] for p in parts])
    n_exact = sum(p[2] for p in parts)
    n_round = sum(p[3] for p in parts)
    suspect = sum(p[4] for p in parts)
    warns: list[str] = []
    if suspect > 0 and dname == "float64" and suspect >= 0.05 * arr.size:
        warns.append(
            f"{suspect} non-zero eigenvalues have |lambda| <= {FLOAT32_ROUNDOFF_RTOL:g} max|lambda|"
            " but pass the float64 zero tolerance; if the spectrum was computed in float32 they "
            "are round-off (docs/reference/papers.md §2.6): pass dtype='float32' to count them as "
            "zeros"
        )
    if arr.ndim == 1:
        zero, outl, edges, tol_out = zero[0], outl[0], edges[0], float(tols[0])
    else:
        tol_out = tols
    return SpectrumParts(
        eigenvalues=arr,
        zero_mask=zero,
        outlier_mask=outl,
        bulk_mask=~zero & ~outl,
        n_zero_exact=int(n_exact),
        n_zero_roundoff=int(n_round),
        n_suspect_roundoff=int(suspect),
        n_outliers_high=int(sum(p[5] for p in parts)),
        n_outliers_low=int(sum(p[6] for p in parts)),
        bulk_edges=edges,
        zero_rtol=float(zero_rtol),
        zero_tolerance=tol_out,
        dtype=dname,
        edge_k=float(edge_k),
        warnings=tuple(warns),
        conventions={
            "zero_rule": f"|lambda| <= {zero_rtol:g} * max|lambda| per spectrum "
            f"(computed in {dname})",
            "outlier_rule": f"gap > {edge_k:g} * (x_(j+1) - x_(j+1+m)) / m^(2/3), m = "
            "min(20, n//5); deepest separated level among the top/bottom n//10",
            "bulk_edges": "smallest and largest non-zero non-outlier eigenvalue",
        },
    )
