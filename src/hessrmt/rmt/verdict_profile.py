"""Where along the bulk the number variance departs from GOE (issue 11 §1, informational).

The calibrated verdict (:mod:`hessrmt.rmt.verdict`) tests Sigma^2(L) averaged over the whole
selection. When it rejects, the next question is whether the excess is spread over the bulk (a
stationary long-range property: superposed spectra, Gamma-like spacings, missing levels) or sits
in a few places (density features sharper than the 51-level local unfolding: a jump, a
divergence, a cluster of levels; docs/reference/verdict.md). :func:`number_variance_profile`
answers it: each segment's selected, locally unfolded levels xi (the verdict's own selection
and unfolding) are cut into ``stretches`` equal ranges of xi, and in each
Sigma^2(L) = Var_a[N(a, a + L)] over window starts a on the verdict's grid (step
:data:`hessrmt.rmt.verdict.WINDOW_STEP`) inside the stretch. The reference is the same
estimator on GOE: ``n_ref`` Dumitriu-Edelman beta = 1 spectra, each as long as a stretch plus the
edge cut, locally unfolded and cut alike; its mean and 99th percentile per stretch length are
reported (a single stretch above the 99th percentile is expected once in 100 stretches of a GOE).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.rmt.ensembles.gaussian import beta_hermite_eigenvalues
from hessrmt.rmt.verdict import EDGE_DROP, MIN_SEGMENT, WINDOW_STEP, _central, local_unfold
from hessrmt.rng import RngLike, as_generator


def _stretch_sigma2(xi: np.ndarray, stretches: int, length: float) -> list[tuple[float, int]]:
    """(Sigma^2(length), levels) in each of ``stretches`` equal xi-ranges of sorted xi."""
    edges = np.linspace(xi[0], xi[-1], stretches + 1)
    out = []
    for a, b in itertools.pairwise(edges):
        starts = np.arange(a, b - length, WINDOW_STEP)
        if starts.size < 2:
            out.append((float("nan"), 0))
            continue
        counts = np.searchsorted(xi, starts + length) - np.searchsorted(xi, starts)
        levels = int(np.searchsorted(xi, b) - np.searchsorted(xi, a))
        out.append((float(counts.var()), levels))
    return out


def _goe_reference(levels: int, length: float, n_ref: int, gen: np.random.Generator) -> tuple:
    """Mean and 99th percentile of one stretch's Sigma^2(length) for GOE stretches of
    ``levels`` levels (simulated with the edge cut added back, unfolded and cut alike)."""
    n = max(MIN_SEGMENT, int(np.ceil(levels / (1.0 - 2.0 * EDGE_DROP))))
    vals = []
    for _ in range(n_ref):
        x = beta_hermite_eigenvalues(n, 1, rng=gen)
        xi = local_unfold(x)[_central(n)]
        vals.append(_stretch_sigma2(xi, 1, length)[0][0])
    v = np.asarray(vals)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(np.quantile(v, 0.99))


def number_variance_profile(
    segments: Sequence[np.ndarray],
    *,
    length: float = 10.0,
    stretches: int = 6,
    n_ref: int = 40,
    rng: RngLike = 0,
) -> dict[str, Any]:
    """Sigma^2(``length``) in ``stretches`` equal stretches of each segment's selected, locally
    unfolded levels (segments of < :data:`MIN_SEGMENT` levels are skipped), with the GOE
    reference (mean, 99th percentile) for a stretch of the median size. Returns a JSON-ready
    dict: ``length``, ``segments`` (per segment: ``range`` of levels, ``sigma2`` and
    ``levels`` per stretch, from the lowest level up), ``goe_mean``, ``goe_q99``,
    ``n_above_q99`` (stretches above the GOE 99th percentile) and ``n_stretches``."""
    if stretches < 1 or length <= 0 or n_ref < 10:
        raise InputError("need stretches >= 1, length > 0 and n_ref >= 10")
    gen = as_generator(rng)
    rows, sizes, values = [], [], []
    for seg in segments:
        s = np.sort(np.asarray(seg, dtype=np.float64))
        if s.size < MIN_SEGMENT:
            continue
        xi = local_unfold(s)[_central(s.size)]
        st = _stretch_sigma2(xi, stretches, length)
        rows.append(
            {
                "range": [float(s[0]), float(s[-1])],
                "sigma2": [v if np.isfinite(v) else None for v, _ in st],
                "levels": [k for _, k in st],
            }
        )
        sizes += [k for v, k in st if np.isfinite(v)]
        values += [v for v, _ in st if np.isfinite(v)]
    if not sizes:
        raise InputError(
            f"no stretch longer than L = {length:g} spacings: pass longer segments or fewer "
            "stretches"
        )
    mean, q99 = _goe_reference(int(np.median(sizes)), length, n_ref, gen)
    return {
        "length": float(length),
        "segments": rows,
        "goe_mean": mean if np.isfinite(mean) else None,
        "goe_q99": q99 if np.isfinite(q99) else None,
        "n_above_q99": int(np.sum(np.asarray(values) > q99)) if np.isfinite(q99) else 0,
        "n_stretches": len(values),
        "method": (
            f"Sigma^2({length:g}) in {stretches} equal stretches of each segment's selected, "
            "locally unfolded levels (the verdict's); GOE reference from "
            f"{n_ref} simulated stretches of the median size"
        ),
    }
