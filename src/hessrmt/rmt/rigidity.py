"""Empirical number variance Sigma^2(L) and spectral rigidity Delta_3(L) of unfolded spectra.

Input: unfolded levels (mean spacing 1), as a 1-D array (one spectrum), a 2-D array (rows are
independent spectra) or a sequence of 1-D arrays of different lengths. Levels are sorted here.

**Window placement.** A window [a, a + L] slides *continuously* over the span [lo, hi] of each
spectrum: a runs over [lo, hi - L] with uniform weight, where [lo, hi] is ``span`` if given, else
[smallest level, largest level] of that spectrum. Both statistics are exact averages over all
those window positions; there is no grid of window centres and no random sampling:

* n(a) = #{levels in [a, a + L)} is piecewise constant in a (it jumps where a or a + L crosses a
  level), so Sigma^2(L) = <n^2> - <n>^2, the variance of n(a) over a, is a finite sum.
* For one window, Delta(a) = min_{A,B} (1/L) int_a^{a+L} (N(x) - A x - B)^2 dx has the closed
  form (Bohigas & Giannoni 1975; ``docs/reference/oracles.md`` §5) with y_j = x_j - a for the k
  levels
  in the window, sorted:
  I0 = sum_j (L - y_j), I1 = sum_j (L^2 - y_j^2)/2, I2 = sum_j (2j - 1)(L - y_j),
  Delta = [I2 - I0^2/L - 12 (I1 - L I0/2)^2 / L^3] / L
  (the staircase is projected on {1, y - L/2}, orthogonal on [0, L]). Between consecutive
  breakpoints Delta(a) is a polynomial of degree 4 in a, so its average over a is integrated
  exactly by 3-point Gauss-Legendre on every segment. Delta_3(L) = <Delta(a)>_a.

With a batch, the per-spectrum values are averaged with equal weights (``per_spectrum=True``
returns them all). Poisson levels give Sigma^2 = L and Delta_3 = L/15; the exact random-matrix
curves are in :mod:`hessrmt.rmt.reference_rigidity`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError

__all__ = ["delta3", "delta3_window", "number_variance"]

_CHUNK_ELEMENTS = 2_000_000


def _spectra(unfolded: ArrayLike | Sequence[ArrayLike]) -> list[np.ndarray]:
    """Sorted float64 spectra from a 1-D array, 2-D array (rows) or sequence of 1-D arrays."""
    if isinstance(unfolded, np.ndarray) or np.isscalar(unfolded):
        arrays = [unfolded] if np.ndim(unfolded) <= 1 else list(unfolded)
        if np.ndim(unfolded) > 2:
            raise InputError(
                f"unfolded levels must be 1-D (one spectrum) or 2-D (rows = spectra), got "
                f"{np.ndim(unfolded)}-D"
            )
    else:
        seq = list(unfolded)  # type: ignore[arg-type]
        if seq and all(np.ndim(s) == 0 for s in seq):
            arrays = [np.asarray(seq)]
        else:
            arrays = seq
    out = []
    for i, s in enumerate(arrays):
        arr = np.asarray(s)
        if np.iscomplexobj(arr):
            raise InputError(f"spectrum {i} has complex values; levels must be real")
        arr = np.asarray(arr, dtype=np.float64).ravel()
        if arr.ndim != 1 or arr.size < 2:
            raise InputError(f"spectrum {i} has {arr.size} levels; at least 2 are needed")
        if not np.all(np.isfinite(arr)):
            raise InputError(f"spectrum {i} has NaN or infinite levels; remove them first")
        out.append(np.sort(arr))
    if not out:
        raise InputError("no spectra given")
    return out


def _lengths(L: ArrayLike) -> np.ndarray:
    arr = np.asarray(L, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError("window lengths L must be finite and > 0 (units of the mean spacing)")
    return arr


def _span_of(x: np.ndarray, span: tuple[float, float] | None, ell: float, i: int) -> tuple:
    lo, hi = (float(x[0]), float(x[-1])) if span is None else (float(span[0]), float(span[1]))
    if not hi - lo > ell:
        raise InputError(
            f"spectrum {i}: the span [{lo:g}, {hi:g}] is not longer than the window L = {ell:g}; "
            "use a smaller L or a longer (unfolded) spectrum"
        )
    return lo, hi


def _segments(x: np.ndarray, lo: float, hi: float, ell: float) -> tuple[np.ndarray, np.ndarray]:
    """Left ends and widths of the intervals of a in [lo, hi - L] with fixed window content."""
    top = hi - ell
    cuts = np.concatenate(([lo, top], x, x - ell))
    cuts = np.unique(cuts[(cuts >= lo) & (cuts <= top)])
    widths = np.diff(cuts)
    keep = widths > 0
    return cuts[:-1][keep], widths[keep]


def _nv_one(x: np.ndarray, lo: float, hi: float, ell: float) -> float:
    left, width = _segments(x, lo, hi, ell)
    mid = left + width / 2.0
    n = np.searchsorted(x, mid + ell, side="left") - np.searchsorted(x, mid, side="left")
    total = width.sum()
    mean = np.sum(width * n) / total
    return float(np.sum(width * (n - mean) ** 2) / total)


def _window_sums(
    x: np.ndarray, origin: np.ndarray, i0: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums over the levels x[i0:i0+k] of each window, with z = x - origin and rank l = 1..k.

    Returns Z1 = sum z, Z2 = sum z^2 and W = sum (2l - 1) z.
    """
    kmax = int(k.max()) if k.size else 0
    z1 = np.zeros(origin.shape)
    z2 = np.zeros(origin.shape)
    w = np.zeros(origin.shape)
    if kmax == 0:
        return z1, z2, w
    ranks = np.arange(kmax)
    chunk = max(1, _CHUNK_ELEMENTS // kmax)
    for s in range(0, origin.size, chunk):
        sl = slice(s, s + chunk)
        idx = i0[sl, None] + ranks[None, :]
        mask = ranks[None, :] < k[sl, None]
        z = np.where(mask, x[np.minimum(idx, x.size - 1)] - origin[sl, None], 0.0)
        z1[sl] = z.sum(axis=1)
        z2[sl] = (z * z).sum(axis=1)
        w[sl] = (z * (2.0 * ranks[None, :] + 1.0)).sum(axis=1)
    return z1, z2, w


def _delta_from_sums(
    k: np.ndarray, z1: np.ndarray, z2: np.ndarray, w: np.ndarray, tau: np.ndarray, ell: float
) -> np.ndarray:
    """Per-window Delta for windows starting at origin + tau (closed form, module docstring)."""
    i0 = k * (ell + tau) - z1
    i1 = 0.5 * (k * ell * ell - (z2 - 2.0 * tau * z1 + k * tau * tau))
    i2 = k * k * (ell + tau) - w
    val = (i2 - i0 * i0 / ell - 12.0 * (i1 - 0.5 * ell * i0) ** 2 / ell**3) / ell
    return np.maximum(val, 0.0)  # round-off can make an exact 0 slightly negative


def _window_content(x: np.ndarray, start: np.ndarray, ell: float) -> tuple[np.ndarray, np.ndarray]:
    i0 = np.searchsorted(x, start, side="left")
    i1 = np.searchsorted(x, start + ell, side="right")
    return i0, i1 - i0


def _d3_one(x: np.ndarray, lo: float, hi: float, ell: float) -> float:
    left, width = _segments(x, lo, hi, ell)
    i0, k = _window_content(x, left + width / 2.0, ell)
    z1, z2, w = _window_sums(x, left, i0, k)
    nodes, weights = np.polynomial.legendre.leggauss(3)
    acc = 0.0
    for t, wt in zip(nodes, weights):
        tau = width * (t + 1.0) / 2.0
        acc += float(np.sum(wt * width / 2.0 * _delta_from_sums(k, z1, z2, w, tau, ell)))
    return acc / float(width.sum())


def _apply(one, unfolded, L, span, per_spectrum: bool) -> np.ndarray:
    spectra = _spectra(unfolded)
    lengths = _lengths(L)
    if span is not None and (len(span) != 2 or not np.all(np.isfinite(span))):
        raise InputError(f"span must be a pair (lo, hi) of finite numbers, got {span!r}")
    vals = np.empty((len(spectra), lengths.size))
    for i, x in enumerate(spectra):
        for j, ell in enumerate(lengths.ravel()):
            lo, hi = _span_of(x, span, float(ell), i)
            vals[i, j] = one(x, lo, hi, float(ell))
    if per_spectrum:
        return vals.reshape((len(spectra), *lengths.shape))
    mean = vals.mean(axis=0).reshape(lengths.shape)
    return mean[()] if mean.ndim == 0 else mean


def number_variance(
    unfolded: ArrayLike | Sequence[ArrayLike],
    L: ArrayLike,
    *,
    span: tuple[float, float] | None = None,
    per_spectrum: bool = False,
) -> np.ndarray:
    """Sigma^2(L): variance of the number of unfolded levels in a window of length L.

    Exact average over all window starts a in [lo, hi - L] (module docstring). Returns an array
    shaped like ``L`` (mean over spectra), or (n_spectra, *L.shape) with ``per_spectrum=True``.
    """
    return _apply(_nv_one, unfolded, L, span, per_spectrum)


def delta3(
    unfolded: ArrayLike | Sequence[ArrayLike],
    L: ArrayLike,
    *,
    span: tuple[float, float] | None = None,
    per_spectrum: bool = False,
) -> np.ndarray:
    """Delta_3(L): mean least-squares deviation of the staircase from its best line in a window.

    Per-window closed form, averaged exactly over all window starts (module docstring). Returns
    an array shaped like ``L`` (mean over spectra), or (n_spectra, *L.shape) with
    ``per_spectrum=True``.
    """
    return _apply(_d3_one, unfolded, L, span, per_spectrum)


def delta3_window(levels: ArrayLike, starts: ArrayLike, L: float) -> np.ndarray:
    """Delta(a) for the windows [a, a + L] at the given starts a, by the closed form (one spectrum).

    Delta(a) = min_{A,B} (1/L) int_a^{a+L} (N(x) - A x - B)^2 dx with N the counting staircase.
    """
    if np.ndim(levels) != 1 or np.ndim(L) != 0:
        raise InputError("delta3_window takes one 1-D spectrum and one window length L")
    (x,) = _spectra(np.asarray(levels))
    ell = float(_lengths(L))
    a = np.asarray(starts, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise InputError("window starts must be finite")
    flat = a.ravel()
    i0, k = _window_content(x, flat, ell)
    z1, z2, w = _window_sums(x, flat, i0, k)
    val = _delta_from_sums(k, z1, z2, w, np.zeros_like(flat), ell)
    out = val.reshape(a.shape)
    return out[()] if out.ndim == 0 else out
