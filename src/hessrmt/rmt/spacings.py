"""Level spacings and spacing ratios (no unfolding needed), batch-aware.

Conventions (docs/reference/oracles.md §0.1, §4.1; Atas et al., PRL 110, 084101 (2013)):

* levels are sorted in increasing order first: lambda_1 <= ... <= lambda_N;
* spacings s_i = lambda_{i+1} - lambda_i (N - 1 of them);
* ratios r_i = s_{i+1} / s_i in (0, inf) (N - 2 of them);
* reduced ratios r~_i = min(r_i, 1 / r_i) = min(s_i, s_{i+1}) / max(s_i, s_{i+1}) in [0, 1].

A 1-D input is one spectrum; a 2-D input holds independent spectra in its rows and the output has
one row per spectrum. Ratios never straddle two spectra.

Degeneracies: a zero spacing makes r = 0 or inf and r~ = 0 (or 0/0 = NaN for a triple of equal
levels). Use :func:`remove_degeneracies` first: it merges levels closer than a *relative*
tolerance ``rtol * max|lambda|`` (per spectrum) and reports how many levels it removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError

#: Default relative tolerance of :func:`remove_degeneracies` for each floating dtype: levels whose
#: gap is <= rtol * max|lambda| are merged. About 1e7 machine epsilons of float64 (a symmetric
#: eigensolver's round-off is ~N eps ||H||) and ~100 epsilons of float32.
DEGENERACY_RTOL = {"float64": 1e-9, "float32": 1e-5, "float16": 1e-2, "bfloat16": 1e-1}


def as_levels(eigs: ArrayLike, *, name: str = "eigenvalues") -> np.ndarray:
    """Validated real float array, 1-D (one spectrum) or 2-D (rows = spectra), *not* sorted.

    Raises :class:`InputError` for complex, non-numeric, non-finite or 0-D / >2-D input.
    """
    arr = np.asarray(eigs)
    if np.iscomplexobj(arr):
        raise InputError(
            f"{name} are complex; spacing statistics need real eigenvalues of a symmetric or "
            "Hermitian matrix (pass the real eigenvalues, e.g. from eigvalsh)"
        )
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise InputError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise InputError(
            f"{name} must be 1-D (one spectrum) or 2-D (rows are spectra), got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InputError(f"{name} contain {bad} NaN or infinite value(s); remove or fix them")
    return arr


def spacings(eigs: ArrayLike) -> np.ndarray:
    """Nearest-neighbour spacings s_i = lambda_{i+1} - lambda_i of the sorted levels.

    1-D input of length N gives N - 1 spacings; 2-D input of shape (M, N) gives (M, N - 1).
    """
    arr = np.sort(as_levels(eigs), axis=-1)
    return np.diff(arr, axis=-1)


def _ratio_parts(eigs: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = spacings(eigs)
    if s.shape[-1] < 2:
        raise InputError("spacing ratios need at least 3 levels per spectrum")
    return s[..., :-1], s[..., 1:]


def spacing_ratios(eigs: ArrayLike) -> np.ndarray:
    """Consecutive spacing ratios r_i = s_{i+1} / s_i in (0, inf).

    Shape: N - 2 per spectrum (batch-aware). A zero denominator gives ``inf`` and 0/0 gives
    ``nan`` (no warning); remove degeneracies first with :func:`remove_degeneracies`.
    """
    s0, s1 = _ratio_parts(eigs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return s1 / s0


def reduced_ratios(eigs: ArrayLike) -> np.ndarray:
    """Reduced ratios r~_i = min(r_i, 1/r_i) = min(s_i, s_{i+1}) / max(s_i, s_{i+1}) in [0, 1].

    Shape: N - 2 per spectrum (batch-aware). Two consecutive zero spacings (three equal levels)
    give ``nan``; a single zero spacing gives 0.
    """
    s0, s1 = _ratio_parts(eigs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(s0, s1) / np.maximum(s0, s1)


@dataclass(frozen=True)
class Degeneracies:
    """Output of :func:`remove_degeneracies`.

    ``eigenvalues``: the sorted, merged levels (a 1-D array, or a list of 1-D arrays for batch
    input since rows may lose different numbers of levels); ``n_removed``: levels removed (an int,
    or an int array per spectrum); ``tolerance``: the absolute gap threshold used (per spectrum);
    ``rtol``: the relative tolerance.
    """

    eigenvalues: np.ndarray | list[np.ndarray]
    n_removed: int | np.ndarray
    tolerance: float | np.ndarray
    rtol: float

    @property
    def total_removed(self) -> int:
        return int(np.sum(self.n_removed))


def default_degeneracy_rtol(dtype: object) -> float:
    """Default relative tolerance for levels computed in ``dtype`` (see :data:`DEGENERACY_RTOL`)."""
    return DEGENERACY_RTOL.get(dtype_name(dtype), 1e-9)


def dtype_name(dtype: object) -> str:
    """Name of a NumPy/torch dtype or a string such as ``"float32"`` / ``"torch.bfloat16"``."""
    name = str(dtype).removeprefix("torch.")
    if name in ("bfloat16", "half"):
        return "bfloat16" if name == "bfloat16" else "float16"
    try:
        return str(np.dtype(name))
    except TypeError as exc:
        raise InputError(f"unknown dtype {dtype!r}; use e.g. 'float64' or 'float32'") from exc


def _merge_one(levels: np.ndarray, rtol: float) -> tuple[np.ndarray, int, float]:
    x = np.sort(levels)
    scale = float(np.max(np.abs(x))) if x.size else 0.0
    tol = rtol * scale
    if x.size < 2:
        return x, 0, tol
    # A new cluster starts wherever the gap to the previous level exceeds the tolerance
    # (single linkage: chains of close levels merge into one).
    starts = np.concatenate(([True], np.diff(x) > tol))
    if starts.all():
        return x, 0, tol
    labels = np.cumsum(starts) - 1
    counts = np.bincount(labels)
    merged = np.bincount(labels, weights=x) / counts
    return merged, int(x.size - merged.size), tol


def remove_degeneracies(eigs: ArrayLike, rtol: float | None = None) -> Degeneracies:
    """Merge (near-)degenerate levels: levels whose gap is <= ``rtol * max|lambda|`` are joined.

    Rule: sort the levels; consecutive levels closer than ``tol = rtol * max_i |lambda_i|`` (per
    spectrum) form a cluster (single linkage); each cluster is replaced by its mean. Exact
    degeneracies (zero gaps) are always merged, also with ``rtol=0``. ``rtol=None`` takes the
    default for the input's dtype (:data:`DEGENERACY_RTOL`: 1e-9 for float64).

    Returns a :class:`Degeneracies` with the merged levels and the number of levels removed.
    """
    arr = as_levels(eigs)
    if rtol is None:
        rtol = default_degeneracy_rtol(arr.dtype)
    if not (np.isfinite(rtol) and rtol >= 0):
        raise InputError(f"rtol must be a finite number >= 0, got {rtol}")
    if arr.ndim == 1:
        merged, removed, tol = _merge_one(arr, float(rtol))
        return Degeneracies(merged, removed, tol, float(rtol))
    out = [_merge_one(row, float(rtol)) for row in arr]
    return Degeneracies(
        [o[0] for o in out],
        np.array([o[1] for o in out], dtype=np.int64),
        np.array([o[2] for o in out]),
        float(rtol),
    )


def ratios_of_segments(segments: list[np.ndarray], *, reduced: bool = True) -> list[np.ndarray]:
    """Reduced (or plain) ratios of each 1-D level sequence in ``segments``; short ones give [].

    Used for spectra from which a cluster (e.g. the zeros) was cut out, so that no ratio
    straddles the hole.
    """
    fn = reduced_ratios if reduced else spacing_ratios
    return [fn(seg) if np.size(seg) >= 3 else np.empty(0) for seg in segments]
