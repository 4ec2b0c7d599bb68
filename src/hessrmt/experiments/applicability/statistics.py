"""Statistics of paper 1 (Baskerville, Granziol & Keating, arXiv:2102.06740), done both the
paper's way and honestly. Pure NumPy/SciPy (no torch).

* **Degeneracy curve** (docs/reference/papers.md §2.4): fraction of |lambda| < eps for eps in
  :data:`EPS_GRID`, with exact zeros (lambda == 0) and a relative cut |lambda| <= rtol max|lambda|
  counted separately.
* **Paper-style ratios**: per batch spectrum keep |lambda| > 1e-10 (absolute cut, as the paper),
  r = s_{i+1}/s_i pooled over batches, r < 10; 40-bin histogram on [0, 10]. The figure numbers of
  docs/reference/papers.md §2.5(b) are <r | r < 10> (bin midpoints), binned <r~> (each bin's mass
  times the mean of
  min(r, 1/r) over the bin) and the total-variation distance to the binned GOE surmise
  (27/8)(r + r^2)/(1 + r + r^2)^{5/2} and Poisson 1/(1 + r)^2, normalised on [0, 10]. Applied to
  the surmises themselves this gives 1.460 / 0.540 (GOE) and 1.644 / 0.424 (Poisson).
* **Honest ratios**: exact mean of r~ per spectrum with a relative zero cut; SE from the spread of
  per-spectrum means (spectra are independent, ratios within one are not;
  docs/reference/oracles.md §4.6);
  the full tests from :func:`hessrmt.rmt.summary.summarize_spectrum` when available.
* **Pooled-batch unfolding** (the paper's method, :func:`hessrmt.rmt.unfolding.unfold_pooled`) and
  the unfolded-spacing histogram against the Wigner surmise and the exact Gaudin law.
* **Rank check** (docs/reference/oracles.md §11.1, AT-3): the Hessian of the summed softmax
cross-entropy of
  a linear model over a batch of b inputs is H = sum_i (diag p_i - p_i p_i^T) kron x~_i x~_i^T with
  x~_i = [x_i; 1]; each term has rank <= C - 1 (the all-ones vector is in the null space of
  diag p - p p^T), so rank H <= (C - 1) rank(X~) <= min(P, (C - 1) b), with equality for generic
  inputs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import integrate

from hessrmt.errors import InputError

#: the paper's degeneracy thresholds (1e-500 underflows to 0 in the paper's code and is omitted)
EPS_GRID = (1e-100, 1e-40, 1e-30, 1e-20, 1e-10, 1e-8, 1e-6, 1e-4)
#: the paper's absolute cut for ratios of batch spectra
PAPER_RATIO_CUT = 1e-10
#: the paper's absolute cut for unfolding
PAPER_UNFOLD_CUT = 1e-20
#: default relative zero cut for float64 spectra (|lambda| <= rtol max|lambda| counts as zero)
RELATIVE_ZERO_RTOL = {"float64": 1e-9, "float32": 1e-4}
GOE_MEAN_RATIO = 0.5307
POISSON_MEAN_RATIO = 2 * np.log(2) - 1
RATIO_BINS = np.linspace(0.0, 10.0, 41)


def _rows(spectra: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(spectra, np.ndarray):
        arr = np.atleast_2d(spectra)
        if arr.ndim != 2:
            raise InputError(f"spectra must be 1-D or 2-D (rows = spectra), got {arr.shape}")
        rows = list(arr)
    else:
        rows = [np.asarray(r) for r in spectra]
    if not rows or any(r.ndim != 1 or r.size == 0 for r in rows):
        raise InputError("spectra must be non-empty 1-D arrays (one row per spectrum)")
    for r in rows:
        if not np.all(np.isfinite(r)):
            raise InputError("spectra contain NaN or inf; check the Hessian computation")
    return [np.sort(np.asarray(r, dtype=np.float64)) for r in rows]


def degeneracy_curve(
    spectra: np.ndarray | Sequence[np.ndarray],
    eps: Sequence[float] = EPS_GRID,
    *,
    rtol: float = 1e-9,
) -> dict[str, Any]:
    """Fraction of all eigenvalues with |lambda| < eps (pooled over spectra), for each eps.

    Also ``exact_zero_fraction`` (lambda == 0 exactly) and ``relative_zero_fraction``
    (|lambda| <= rtol * max|lambda| of its own spectrum).
    """
    rows = _rows(spectra)
    allv = np.abs(np.concatenate(rows))
    rel = sum(int(np.sum(np.abs(r) <= rtol * np.max(np.abs(r)))) for r in rows)
    return {
        "eps": [float(e) for e in eps],
        "fraction": [float(np.mean(allv < e)) for e in eps],
        "exact_zero_fraction": float(np.mean(allv == 0.0)),
        "relative_zero_fraction": rel / allv.size,
        "relative_rtol": rtol,
        "n_eigenvalues": int(allv.size),
    }


def _surmise_goe(r: float) -> float:
    return 27.0 / 8.0 * (r + r * r) / (1.0 + r + r * r) ** 2.5


def _surmise_poisson(r: float) -> float:
    return 1.0 / (1.0 + r) ** 2


def binned_surmise(kind: str, bins: np.ndarray = RATIO_BINS) -> np.ndarray:
    """Probability mass of the unreduced-ratio law in each bin, normalised over the bins' range.

    ``kind``: "goe" (Atas surmise, beta = 1) or "poisson".
    """
    f = {"goe": _surmise_goe, "poisson": _surmise_poisson}.get(kind)
    if f is None:
        raise InputError(f"kind must be 'goe' or 'poisson', got {kind!r}")
    p = np.array([integrate.quad(f, a, b)[0] for a, b in itertools.pairwise(bins)])
    return p / p.sum()


def _bin_mean_reduced(bins: np.ndarray) -> np.ndarray:
    """Mean of min(r, 1/r) over each bin (uniform within the bin)."""
    out = []
    for a, b in itertools.pairwise(bins):
        val = integrate.quad(
            lambda r: min(r, 1.0 / r) if r > 0 else 0.0, a, b, points=[1.0] if a < 1 < b else None
        )[0]
        out.append(val / (b - a))
    return np.asarray(out)


def binned_ratio_stats(
    ratios: np.ndarray, bins: np.ndarray = RATIO_BINS, *, masses: np.ndarray | None = None
) -> dict[str, float]:
    """The paper's figure numbers from unreduced ratios (or from bin ``masses`` directly).

    <r | r < 10> from bin midpoints, binned <r~>, TV distances to the binned GOE and Poisson laws.
    """
    if masses is None:
        ratios = np.asarray(ratios, dtype=np.float64)
        ratios = ratios[np.isfinite(ratios)]
        h, _ = np.histogram(ratios, bins=bins)
        if h.sum() == 0:
            raise InputError("no ratios inside the histogram range; nothing to bin")
        masses = h / h.sum()
    mid = 0.5 * (bins[:-1] + bins[1:])
    goe = binned_surmise("goe", bins)
    poi = binned_surmise("poisson", bins)
    return {
        "mean_r_lt10": float(np.sum(masses * mid)),
        "mean_rt_binned": float(np.sum(masses * _bin_mean_reduced(bins))),
        "tv_goe": float(0.5 * np.abs(masses - goe).sum()),
        "tv_poisson": float(0.5 * np.abs(masses - poi).sum()),
    }


def _ratios_of(levels: np.ndarray) -> np.ndarray:
    s = np.diff(levels)
    s = s[s > 0]
    return s[1:] / s[:-1] if s.size >= 2 else np.empty(0)


def paper_ratios(
    spectra: np.ndarray | Sequence[np.ndarray], *, cut: float = PAPER_RATIO_CUT
) -> np.ndarray:
    """The paper's pooled unreduced ratios: per spectrum keep |lambda| > cut (absolute)."""
    return np.concatenate([_ratios_of(r[np.abs(r) > cut]) for r in _rows(spectra)])


def mean_reduced_ratio(
    spectra: np.ndarray | Sequence[np.ndarray],
    *,
    cut: float | None = None,
    rtol: float | None = 1e-9,
) -> dict[str, float]:
    """<r~> +- SE over spectra; levels kept where |lambda| > cut (absolute) and, if ``rtol`` is
    given, |lambda| > rtol * max|lambda|. SE = sd of per-spectrum means / sqrt(#spectra)
    (a single spectrum: SE from every other ratio, which are nearly independent)."""
    means, counts, kept = [], [], 0
    for r in _rows(spectra):
        keep = np.ones(r.size, bool)
        if cut is not None:
            keep &= np.abs(r) > cut
        if rtol is not None:
            keep &= np.abs(r) > rtol * np.max(np.abs(r))
        kept += int(keep.sum())
        rr = _ratios_of(r[keep])
        if rr.size:
            rt = np.minimum(rr, 1.0 / rr)
            means.append(rt.mean())
            counts.append(rt)
    if not means:
        return {
            "mean_ratio": float("nan"),
            "mean_ratio_se": float("nan"),
            "n_ratios": 0,
            "n_levels_kept": kept,
            "n_spectra": 0,
        }
    if len(means) > 1:
        m = np.asarray(means)
        mean, se = float(m.mean()), float(m.std(ddof=1) / np.sqrt(m.size))
    else:
        rt = counts[0]
        alt = rt[::2]
        mean = float(rt.mean())
        se = float(alt.std(ddof=1) / np.sqrt(alt.size)) if alt.size > 1 else float("nan")
    return {
        "mean_ratio": mean,
        "mean_ratio_se": se,
        "n_ratios": int(sum(c.size for c in counts)),
        "n_levels_kept": kept,
        "n_spectra": len(means),
    }


def honest_summary(spectra: np.ndarray, *, zero_rtol: float | None = None, rng: int = 0) -> dict:
    """``hessrmt.rmt.summary.summarize_spectrum(...).to_summary_dict()`` (RMT-STATS), or a
    ``{"unavailable": reason}`` dict when that module is not installed."""
    try:
        from hessrmt.rmt.summary import summarize_spectrum
    except ImportError as exc:
        return {"unavailable": f"hessrmt.rmt.summary not available ({exc})"}
    arr = np.asarray(spectra, dtype=np.float64)
    try:
        return summarize_spectrum(arr, zero_rtol=zero_rtol, rng=rng).to_summary_dict()
    except InputError as exc:
        return {"unavailable": f"summary failed: {' '.join(str(exc).split())}"}


def unfolded_spacings(
    spectra: np.ndarray | Sequence[np.ndarray],
    *,
    cut: float | None = PAPER_UNFOLD_CUT,
    rtol: float | None = None,
    method: str = "split",
) -> np.ndarray:
    """Unfolded nearest-neighbour spacings by pooled-batch unfolding (the paper's method).

    Levels with |lambda| <= cut (absolute) and/or <= rtol max|lambda| are dropped first; the
    spectra are then unfolded with :func:`hessrmt.rmt.unfolding.unfold_pooled` (``method="split"``
    is the paper's: first third unfolded against the pooled remaining two thirds).
    """
    from hessrmt.rmt.unfolding import unfold_pooled

    rows = []
    for r in _rows(spectra):
        keep = np.ones(r.size, bool)
        if cut is not None:
            keep &= np.abs(r) > cut
        if rtol is not None:
            keep &= np.abs(r) > rtol * np.max(np.abs(r))
        if keep.sum() >= 2:
            rows.append(r[keep])
    if len(rows) < 3:
        raise InputError(f"pooled unfolding needs >= 3 spectra with >= 2 levels, got {len(rows)}")
    unfolded = unfold_pooled(rows, method=method)
    return np.concatenate([np.diff(u) for u in unfolded])


def spacing_stats(s: np.ndarray) -> dict[str, float]:
    """Mean and variance of unfolded spacings and TV (35 bins on [0, max(4, q99)]) to the GOE
    Wigner surmise, the exact GOE Gaudin law (:mod:`hessrmt.rmt.reference`) and Poisson."""
    from hessrmt.rmt import reference as ref

    s = np.asarray(s, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size < 2:
        return {"n": int(s.size)}
    out: dict[str, float] = {"n": int(s.size), "mean": float(s.mean()), "var": float(s.var())}
    edges = np.linspace(0.0, max(4.0, float(np.quantile(s, 0.99))), 36)
    h, _ = np.histogram(s, bins=edges)
    p = h / max(h.sum(), 1)
    cdf_p = 1.0 - np.exp(-edges)
    for key, cdf in (
        ("tv_wigner", ref.wigner_surmise_cdf(edges, 1)),
        ("tv_gaudin", ref.gaudin_cdf(edges, 1)),
        ("tv_poisson", cdf_p),
    ):
        out[key] = float(0.5 * np.abs(p - np.diff(cdf) / (cdf[-1] - cdf[0])).sum())
    return out


# --------------------------------------------------------------------------------------------
# rank check (softmax regression)


def softmax_batch_hessian(
    X: np.ndarray, W: np.ndarray, b: np.ndarray, *, dtype: type = np.float64
) -> np.ndarray:
    """Hessian of the *summed* softmax cross-entropy of the linear model ``logits = X W^T + b``.

    Closed form H = sum_i (diag p_i - p_i p_i^T) kron x~_i x~_i^T, x~_i = [x_i; 1]; parameters
    ordered class-major: (W_c, b_c) for c = 0..C-1, i.e. a permutation of PyTorch's (W row-major,
    then b) ordering; eigenvalues are unaffected. Built in float64 and cast to ``dtype``.
    """
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if X.ndim != 2 or W.ndim != 2 or W.shape[1] != X.shape[1] or b.shape != (W.shape[0],):
        raise InputError(f"need X (n, d), W (C, d), b (C,); got {X.shape}, {W.shape}, {b.shape}")
    logits = X @ W.T + b
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    xt = np.hstack([X, np.ones((X.shape[0], 1))])
    C, d1 = W.shape[0], xt.shape[1]
    A = np.einsum("ic,cd->icd", p, np.eye(C)) - np.einsum("ic,id->icd", p, p)
    H = np.einsum("icd,ij,ik->cjdk", A, xt, xt, optimize=True).reshape(C * d1, C * d1)
    return H.astype(dtype)


def softmax_rank_bound(X: np.ndarray, n_classes: int) -> int:
    """(C - 1) rank([X, 1]): the rank of a generic softmax batch Hessian (<= min(P, (C-1) b))."""
    X = np.asarray(X, dtype=np.float64)
    xt = np.hstack([X.reshape(X.shape[0], -1), np.ones((X.shape[0], 1))])
    return (n_classes - 1) * int(np.linalg.matrix_rank(xt))


def count_nonzero(eigs: np.ndarray, *, rtol: float | None = None, atol: float | None = None) -> int:
    """Number of eigenvalues with |lambda| > rtol max|lambda| (and > atol where given)."""
    a = np.abs(np.asarray(eigs))
    keep = np.ones(a.size, bool)
    if rtol is not None:
        keep &= a > rtol * a.max()
    if atol is not None:
        keep &= a > atol
    return int(keep.sum())


def count_nonzero_by_gap(eigs: np.ndarray, *, floor_factor: float = 10.0) -> int:
    """Number of float64 eigenvalues above the round-off floor of the exact zeros, found as the
    largest ratio gap in the sorted |lambda| that opens onto a value below
    ``floor_factor`` sqrt(n) eps max|lambda| (round-off of an exact zero is typically ~sqrt(n) eps
    max|lambda|, at most ~n eps). No fixed cut separates genuine levels from that floor at every
    size: on MNIST logistic batch Hessians (P = 7,850) a genuine eigenvalue at 8.5e-13 max|lambda|
    lies 400x above zeros at <= 2e-15 but below the 1e-12 cut and numpy's P eps rank tolerance.
    Only gaps from values at or above bound / 100 count (see the code's comment).

    Exact zeros count as zero; with no value below the floor bound every eigenvalue counts."""
    a = np.sort(np.abs(np.asarray(eigs, dtype=np.float64)))[::-1]
    if a.size == 0 or a[0] == 0:
        return 0
    pos = a[a > 0]
    bound = floor_factor * math.sqrt(a.size) * np.finfo(np.float64).eps * a[0]
    below = np.nonzero(pos < bound)[0]
    if below.size == 0:
        return int(pos.size)
    first = int(below[0])
    if first == 0:
        return 0
    # candidate gaps open onto a value below the bound from a value no deeper than bound / 100:
    # deeper down, the floor's own tail (and LAPACK's ~1e-50 for exact zero blocks) has gaps of
    # its own, which say nothing about the genuine levels
    last = int(np.sum(pos >= bound / 100.0))
    if last <= first - 1:
        return first
    logs = np.log(pos[first - 1 : last + 1])
    j = int(np.argmax(logs[:-1] - logs[1:]))
    return first + j


def rank_check_synthetic(
    d: int = 200, n_classes: int = 10, batch: int = 64, *, seed: int = 0
) -> dict[str, Any]:
    """AT-3: softmax Hessian of a Gaussian batch at an untrained point, float64 vs float32.

    Weights and biases are drawn like PyTorch's default ``nn.Linear`` initialisation
    (uniform on +-1/sqrt(d)).

    Returns the parameter count P, the expected rank min(P, (C - 1) b), and the number of
    eigenvalues above 1e-10 in absolute value and above 1e-9 max|lambda| for both precisions.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, d))
    W = rng.uniform(-1.0, 1.0, (n_classes, d)) / np.sqrt(d)
    b = rng.uniform(-1.0, 1.0, n_classes) / np.sqrt(d)
    H = softmax_batch_hessian(X, W, b)
    e64 = np.linalg.eigvalsh(H)
    e32 = np.linalg.eigvalsh(H.astype(np.float32))
    P = H.shape[0]
    return {
        "d": d,
        "n_classes": n_classes,
        "batch": batch,
        "n_params": P,
        "expected_rank": min(P, (n_classes - 1) * batch),
        "float64_above_1e-10": count_nonzero(e64, atol=1e-10),
        "float64_above_rel_1e-9": count_nonzero(e64, rtol=1e-9),
        "float32_above_1e-10": count_nonzero(e32, atol=1e-10),
        "float32_above_rel_1e-9": count_nonzero(e32, rtol=1e-9),
        "seed": seed,
    }


def untrained_softmax_kronecker(X: np.ndarray, n_classes: int) -> np.ndarray:
    """Eigenvalues of the summed-loss softmax-regression Hessian at equal logits, sorted.

    H = sum_i (diag(p_i) - p_i p_i^T) (x) x~_i x~_i^T with x~_i = [x_i, 1] (parameters ordered
    class-major, as :func:`softmax_batch_hessian`). With equal logits p_i = 1/C for every i,
    so H = (I/C - 1 1^T / C^2) (x) X~^T X~: a Kronecker product, whose eigenvalues are the
    products of the factors' eigenvalues (Horn & Johnson, Topics in Matrix Analysis, Thm 4.2.12):
    1/C (C - 1 times) and 0 for the first factor, so the spectrum is C - 1 copies of the
    eigenvalues of X~^T X~ / C plus zeros. Not GOE by construction: every level is (C - 1)-fold
    degenerate; a random initialisation (logits ~ 1/sqrt(d)) only splits the copies slightly.
    """
    X = np.asarray(X, dtype=np.float64)
    xt = np.hstack([X.reshape(X.shape[0], -1), np.ones((X.shape[0], 1))])
    gram = np.linalg.eigvalsh(xt.T @ xt)
    first = np.concatenate([np.full(n_classes - 1, 1.0 / n_classes), [0.0]])
    return np.sort(np.outer(first, gram).ravel())


def kronecker_deviation(eigs: np.ndarray, X: np.ndarray, n_classes: int) -> float:
    """max |lambda_k - kron_k| / max |lambda| between sorted measured eigenvalues and
    :func:`untrained_softmax_kronecker` (0 to round-off at exactly equal logits)."""
    e = np.sort(np.asarray(eigs, dtype=np.float64).ravel())
    k = untrained_softmax_kronecker(X, n_classes)
    if e.size != k.size:
        raise InputError(f"{e.size} eigenvalues given for a Hessian of size {k.size}")
    return float(np.max(np.abs(e - k)) / np.max(np.abs(e)))
