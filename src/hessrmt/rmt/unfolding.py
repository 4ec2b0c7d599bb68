"""Unfolding: map levels through a smooth mean counting function so the mean spacing is 1.

Unfolded level xi_i = N_bar(lambda_i), where N_bar is a smooth estimate of the counting function
N(x) = #{j : lambda_j <= x} (docs/reference/oracles.md §0.1; Mehta, *Random Matrices*, ch. 1;
Gomez et al.,
PRE 66, 036209 (2002)). Four estimates:

* :func:`unfold_by_cdf`: a known law, N_bar(x) = n F(x) with n the number of levels of the
  spectrum and F a cdf (any callable, or a :class:`~hessrmt.rmt.law.SpectralLaw`'s ``cdf``);
* :func:`unfold_polynomial`: least-squares polynomial fit of the staircase i + 1/2 vs lambda_i;
* :func:`unfold_gaussian_kernel`: N_bar(x) = sum_j Phi((x - lambda_j) / h), the counting
  function smoothed by a Gaussian of bandwidth h (default: Silverman's rule);
* :func:`unfold_pooled`: Baskerville et al. (arXiv 2102.06740, docs/reference/papers.md §2.4): pool
many
  spectra of the same ensemble and use N_bar(x) = #{pooled levels < x} / (number of pooled
  spectra), applied to each spectrum (leave-one-out by default, or the paper's split).

With a correct N_bar, the unfolded spacings have mean 1 up to sampling error; ``rescale=True``
applies the affine map that makes the mean spacing exactly 1 (per spectrum).
Batch-aware: a 2-D input is a batch of spectra (rows), unfolded row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import fftconvolve
from scipy.special import ndtr

from hessrmt.errors import InputError
from hessrmt.rmt.spacings import as_levels


def _rescale(xi: np.ndarray) -> np.ndarray:
    """Affine map of each sorted row so that its mean spacing is exactly 1 (first level kept)."""
    span = xi[..., -1:] - xi[..., :1]
    n = xi.shape[-1]
    if np.any(span <= 0):
        raise InputError("cannot rescale an unfolded spectrum whose levels are all equal")
    return xi[..., :1] + (xi - xi[..., :1]) * ((n - 1) / span)


def _sorted(eigs: ArrayLike, min_levels: int = 2) -> np.ndarray:
    arr = np.sort(as_levels(eigs), axis=-1)
    if arr.shape[-1] < min_levels:
        raise InputError(f"unfolding needs at least {min_levels} levels per spectrum")
    return arr


def unfold_by_cdf(
    eigs: ArrayLike,
    law_or_cdf: Any,
    *,
    n_levels: int | None = None,
    rescale: bool = False,
) -> np.ndarray:
    """Unfold with a known cdf: xi_i = n * F(lambda_i) (levels sorted first).

    ``law_or_cdf``: an object with a ``cdf`` method (a SpectralLaw) or a vectorised callable F.
    ``n_levels``: the n in n F (default the number of levels per spectrum; pass the full matrix
    size when ``eigs`` is only a window of the spectrum).
    """
    arr = _sorted(eigs)
    cdf: Callable[[np.ndarray], np.ndarray]
    if hasattr(law_or_cdf, "cdf") and callable(law_or_cdf.cdf):
        cdf = law_or_cdf.cdf
    elif callable(law_or_cdf):
        cdf = law_or_cdf
    else:
        raise InputError("law_or_cdf must be a SpectralLaw (with .cdf) or a callable cdf")
    n = arr.shape[-1] if n_levels is None else int(n_levels)
    values = np.asarray(cdf(arr), dtype=float)
    if values.shape != arr.shape or not np.all(np.isfinite(values)):
        raise InputError("the cdf must return finite values of the same shape as its input")
    xi = n * values
    return _rescale(xi) if rescale else xi


def unfold_polynomial(eigs: ArrayLike, degree: int = 9, *, rescale: bool = False) -> np.ndarray:
    """Unfold with a least-squares polynomial fit of degree ``degree`` to the staircase.

    Fits N_bar(lambda_i) ~ i + 1/2 (i = 0..n-1) by a Chebyshev-basis least-squares fit on the
    scaled domain (numerically stable for any degree), then xi_i = N_bar(lambda_i). Too high a
    degree follows the fluctuations and over-fits (it depresses Delta_3, oracle NV-4).
    """
    arr = _sorted(eigs)
    if not (isinstance(degree, (int, np.integer)) and 0 < degree < arr.shape[-1]):
        raise InputError(f"degree must be an integer in [1, number of levels - 1], got {degree!r}")
    rows = arr[None] if arr.ndim == 1 else arr
    n = rows.shape[-1]
    stair = np.arange(n) + 0.5
    out = np.empty_like(rows, dtype=float)
    for i, row in enumerate(rows):
        if row[-1] == row[0]:
            raise InputError("cannot unfold a spectrum whose levels are all equal")
        if n > 20_000 and degree <= 15:
            out[i] = _chebyshev_fit_normal(row, stair, int(degree))
        else:
            out[i] = np.polynomial.Chebyshev.fit(row, stair, int(degree))(row)
    out = out[0] if arr.ndim == 1 else out
    return _rescale(out) if rescale else out


def _chebyshev_fit_normal(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares Chebyshev fit evaluated at x, via the normal equations (fast for large n;
    well conditioned for degree <= 15 on the scaled domain [-1, 1])."""
    t = (2 * x - (x[0] + x[-1])) / (x[-1] - x[0])
    basis = np.empty((degree + 1, t.size))
    basis[0] = 1.0
    basis[1] = t
    for k in range(2, degree + 1):
        basis[k] = 2 * t * basis[k - 1] - basis[k - 2]
    coef = np.linalg.solve(basis @ basis.T, basis @ y)
    return coef @ basis


def silverman_bandwidth(levels: np.ndarray) -> float:
    """Silverman's rule h = 0.9 min(sd, IQR / 1.34) n^(-1/5) (robust to outliers)."""
    n = levels.size
    # scaled by the largest deviation first, so that squares of tiny scales (1e-200) do not
    # underflow to an "all equal" spectrum; the result is exactly proportional to the scale
    centre = float(np.median(levels))
    scale = float(np.max(np.abs(levels - centre))) if n else 0.0
    sd = scale * float(np.std((levels - centre) / scale)) if scale > 0 else 0.0
    q75, q25 = np.percentile(levels, [75, 25])
    spread = min(sd, (q75 - q25) / 1.34) if q75 > q25 else sd
    if spread <= 0:
        raise InputError("cannot choose a bandwidth for a spectrum whose levels are all equal")
    return 0.9 * spread * n ** (-0.2)


def _kernel_exact(row: np.ndarray, h: float) -> np.ndarray:
    out = np.empty(row.size)
    chunk = max(1, 2_000_000 // row.size)
    for start in range(0, row.size, chunk):
        x = row[start : start + chunk, None]
        out[start : start + chunk] = ndtr((x - row[None, :]) / h).sum(axis=1)
    return out


def _kernel_binned(row: np.ndarray, h: float, points_per_bandwidth: int = 64) -> np.ndarray:
    """sum_j Phi((x - lambda_j)/h) via linear binning on a grid and an FFT convolution."""
    delta = h / points_per_bandwidth
    lo = row[0] - 9 * h
    size = int(np.ceil((row[-1] + 9 * h - lo) / delta)) + 2
    if size > 50_000_000:
        raise InputError("bandwidth too small for the spectrum's range; choose a larger one")
    pos = (row - lo) / delta
    left = np.floor(pos).astype(np.int64)
    frac = pos - left
    counts = np.bincount(left, weights=1.0 - frac, minlength=size)
    counts += np.bincount(left + 1, weights=frac, minlength=size)[:size]
    # N_bar at grid point g_k = sum_m c_m Phi((k - m) delta / h): increments of Phi per cell.
    half = int(np.ceil(9 * points_per_bandwidth))
    d = np.arange(-half, half + 1)
    kernel = ndtr((d + 0.5) * delta / h) - ndtr((d - 0.5) * delta / h)
    density = fftconvolve(counts, kernel)[half : half + size]
    # N_bar at the cell boundary g_k + delta/2 is the cumulative sum up to cell k.
    nbar = np.cumsum(density)
    grid = lo + (np.arange(size) + 0.5) * delta
    return np.interp(row, grid, nbar)


def unfold_gaussian_kernel(
    eigs: ArrayLike,
    bandwidth: float | None = None,
    *,
    method: str = "auto",
    rescale: bool = False,
) -> np.ndarray:
    """Unfold with the Gaussian-smoothed counting function N_bar(x) = sum_j Phi((x - l_j) / h).

    ``bandwidth`` h in eigenvalue units (default :func:`silverman_bandwidth` per spectrum).
    ``method``: ``"exact"`` sums over all pairs (O(n^2)); ``"binned"`` bins the levels linearly
    on a grid of spacing h/64 and convolves by FFT (O(n + grid); error ~1e-3 of a
    spacing); ``"auto"`` is exact up to 1000 levels. Near the spectrum's ends N_bar is biased
    (the kernel spills outside the spectrum), so unfolded spacings there are too small.
    """
    if method not in ("auto", "exact", "binned"):
        raise InputError(f"method must be 'auto', 'exact' or 'binned', got {method!r}")
    arr = _sorted(eigs)
    rows = arr[None] if arr.ndim == 1 else arr
    out = np.empty_like(rows, dtype=float)
    for i, row in enumerate(rows):
        h = silverman_bandwidth(row) if bandwidth is None else float(bandwidth)
        if not (np.isfinite(h) and h > 0):
            raise InputError(f"bandwidth must be a positive number, got {bandwidth}")
        exact = method == "exact" or (method == "auto" and row.size <= 1000)
        out[i] = _kernel_exact(row, h) if exact else _kernel_binned(row, h)
    out = out[0] if arr.ndim == 1 else out
    return _rescale(out) if rescale else out


def _left_ranks(sorted_row: np.ndarray) -> np.ndarray:
    """#{levels strictly below} for each level of a sorted row (searchsorted(row, row, 'left'))."""
    idx = np.arange(sorted_row.size)
    new_value = np.concatenate(([True], sorted_row[1:] != sorted_row[:-1]))
    return np.maximum.accumulate(np.where(new_value, idx, 0))


def _fraction_between(x: np.ndarray, pool: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(x - a) / (b - a) with a = pool[k - 1] < x <= b = pool[k]; 0 outside the pool."""
    frac = np.zeros(x.size)
    inside = (k > 0) & (k < pool.size)
    a = pool[k[inside] - 1]
    b = pool[k[inside]]
    width = b - a
    with np.errstate(invalid="ignore", divide="ignore"):
        frac[inside] = np.where(width > 0, (x[inside] - a) / width, 0.0)
    return np.clip(frac, 0.0, 1.0)


def _fraction_between_others(flat: np.ndarray, owner: np.ndarray, order: np.ndarray) -> np.ndarray:
    """For every level, (x - a) / (b - a) with a, b the nearest levels of *other* spectra below
    and above it in the pool: in the sorted pool those sit just outside the run of consecutive
    levels that share x's owner."""
    v = flat[order]
    o = owner[order]
    t = v.size
    new_run = np.concatenate(([True], o[1:] != o[:-1]))
    run_id = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.concatenate((starts[1:], [t])) - 1
    lo = starts[run_id] - 1
    hi = ends[run_id] + 1
    frac_sorted = np.zeros(t)
    ok = (lo >= 0) & (hi < t)
    a = v[lo[ok]]
    b = v[hi[ok]]
    width = b - a
    with np.errstate(invalid="ignore", divide="ignore"):
        frac_sorted[ok] = np.where(width > 0, (v[ok] - a) / width, 0.0)
    out = np.empty(t)
    out[order] = np.clip(frac_sorted, 0.0, 1.0)
    return out


def unfold_pooled(
    spectra: ArrayLike | Sequence[ArrayLike],
    *,
    method: str = "leave-one-out",
    unfold_fraction: float = 1 / 3,
    interpolate: bool = False,
) -> np.ndarray | list[np.ndarray]:
    """Pooled-ensemble unfolding (Baskerville et al., arXiv 2102.06740; docs/reference/papers.md
    §2.4).

    The mean counting function of the ensemble is estimated from many independent spectra:
    N_bar(x) = #{pooled levels < x} / (number of pooled spectra), and applied to each spectrum.

    ``method="leave-one-out"`` (default): every spectrum is unfolded with the other M - 1 spectra
    pooled, so its own levels never enter its N_bar (no self-inclusion bias); all spectra are
    returned. ``method="split"``: the paper's scheme: the first ``int(M * unfold_fraction)``
    spectra are unfolded with the remaining ones pooled; only those are returned.

    ``interpolate=True`` replaces the step count by its piecewise-linear interpolation between
    consecutive pooled levels: N_bar(x) = (#{pooled < x} + (x - a) / (b - a)) / M_pooled with a
    and b the pooled levels around x. The step version (the paper's) puts unfolded spacings on a
    grid of 1 / M_pooled, so with few spectra many small spacings become exactly 0, which biases
    small-spacing statistics (e.g. a Brody fit); interpolation removes that.

    ``spectra``: a 2-D array (rows) or a sequence of 1-D arrays of possibly different lengths
    (e.g. bulks after removing zeros). Returns the same container type (2-D array or list),
    each spectrum sorted and unfolded.
    """
    if isinstance(spectra, np.ndarray) and spectra.ndim == 2:
        rows = [np.sort(r) for r in as_levels(spectra, name="spectra")]
        as_array = True
    elif isinstance(spectra, np.ndarray):
        raise InputError(
            f"unfold_pooled needs a 2-D array or a list of spectra, got shape {spectra.shape}"
        )
    else:
        rows = [np.sort(as_levels(r, name="spectra")) for r in spectra]
        if any(r.ndim != 1 for r in rows):
            raise InputError("every spectrum given to unfold_pooled must be 1-D")
        as_array = False
    m = len(rows)
    if m < 2:
        raise InputError("pooled unfolding needs at least 2 spectra (pass rows of a 2-D array)")
    if method == "leave-one-out":
        flat = np.concatenate(rows)
        # #{pooled levels < x} for every level: left ranks in the sorted pool, mapped back
        # (one O(n log n) sort; faster than searchsorted with unsorted queries)
        order = np.argsort(flat, kind="stable")
        below_all = np.empty(flat.size, dtype=np.int64)
        below_all[order] = _left_ranks(flat[order])
        # rank of each level inside its own (sorted) spectrum, ties counted as in "left"
        below_own = np.concatenate([_left_ranks(r) for r in rows])
        counts = (below_all - below_own).astype(float)
        if interpolate:
            owner = np.repeat(np.arange(m), [r.size for r in rows])
            counts += _fraction_between_others(flat, owner, order)
        values = counts / (m - 1)
        out = np.split(values, np.cumsum([r.size for r in rows])[:-1])
    elif method == "split":
        if not 0 < unfold_fraction < 1:
            raise InputError(f"unfold_fraction must be in (0, 1), got {unfold_fraction}")
        n_unfold = int(m * unfold_fraction)
        if n_unfold < 1 or n_unfold >= m:
            raise InputError(
                f"{m} spectra with unfold_fraction={unfold_fraction} leave none to unfold or "
                "none to pool; use more spectra or method='leave-one-out'"
            )
        pooled = np.sort(np.concatenate(rows[n_unfold:]))
        out = []
        for r in rows[:n_unfold]:
            k = np.searchsorted(pooled, r, side="left").astype(float)
            if interpolate:
                k += _fraction_between(r, pooled, k.astype(np.int64))
            out.append(k / (m - n_unfold))
    else:
        raise InputError(f"method must be 'leave-one-out' or 'split', got {method!r}")
    if as_array:
        return np.stack(out).astype(float)
    return [np.asarray(o, dtype=float) for o in out]
