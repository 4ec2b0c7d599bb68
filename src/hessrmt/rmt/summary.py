"""One-call summary of an empirical spectrum: zeros, outliers, bulk and honest ratio statistics.

:func:`summarize_spectrum` is what ``hessrmt stats`` prints and what the experiments record.
Pipeline (every step documented in its module):

1. validate (real, finite, 1-D = one spectrum or 2-D = rows are independent spectra);
2. :func:`hessrmt.rmt.bulk.split_spectrum`: zeros (``|lambda| <= zero_rtol * max|lambda|`` per
   spectrum; exact and round-off zeros counted separately) and outliers (gap criterion at the
   bulk edges) are **excluded**; what remains is the bulk;
3. near-degenerate bulk levels (gap <= ``degeneracy_rtol * max|bulk|``) are merged
   (:func:`hessrmt.rmt.spacings.remove_degeneracies`) and counted;
4. if zeros were removed, each spectrum's bulk is cut into its negative and positive part so that
   no spacing spans the removed zero cluster;
5. :func:`hessrmt.rmt.stattests.ratio_test_segments` on those segments: <r~> +- SE, KS against
   GOE and Poisson with simulated-null p-values, fitted beta, Brody q, verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result
from hessrmt.rmt.bulk import split_spectrum
from hessrmt.rmt.spacings import as_levels, default_degeneracy_rtol, remove_degeneracies
from hessrmt.rmt.stattests import Interval, KSResult, ratio_test_segments
from hessrmt.rng import RngLike, seed_of

#: Fewest usable (bulk, merged) eigenvalues for which statistics are computed.
MIN_USABLE = 10

#: Keys of :meth:`SpectrumSummary.to_summary_dict`, in order (the ``hessrmt stats --json`` object).
SUMMARY_KEYS = (
    "n_spectra",
    "n_eigenvalues",
    "zero_fraction",
    "n_zero_exact",
    "n_zero_roundoff",
    "n_outliers",
    "bulk_edges",
    "mean_ratio",
    "mean_ratio_se",
    "reference",
    "ks_goe",
    "ks_poisson",
    "beta_fit",
    "brody_q",
    "verdict",
    "excluded",
    "conventions",
)


@dataclass(frozen=True)
class SpectrumSummary(Result):
    """Summary of one spectrum or a batch; see :func:`summarize_spectrum`."""

    kind = "spectrum_summary"

    n_spectra: int
    n_eigenvalues: int
    zero_fraction: float
    n_zero_exact: int
    n_zero_roundoff: int
    n_suspect_roundoff: int
    n_outliers: int
    n_outliers_high: int
    n_outliers_low: int
    n_degenerate_merged: int
    n_bulk: int
    bulk_edges: tuple[float, float]
    n_ratios: int
    mean_ratio: float
    mean_ratio_se: float
    reference: dict[str, float]
    ks_goe: KSResult
    ks_poisson: KSResult
    beta_fit: Interval
    brody_q: Interval
    verdict: str
    excluded: dict[str, Any]
    warnings: tuple[str, ...]
    conventions: dict[str, Any]
    meta: Metadata = field(default_factory=Metadata)

    def to_summary_dict(self) -> dict[str, Any]:
        """The JSON object printed by ``hessrmt stats --json`` (keys :data:`SUMMARY_KEYS`)."""

        def num(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None

        return {
            "n_spectra": self.n_spectra,
            "n_eigenvalues": self.n_eigenvalues,
            "zero_fraction": self.zero_fraction,
            "n_zero_exact": self.n_zero_exact,
            "n_zero_roundoff": self.n_zero_roundoff,
            "n_outliers": self.n_outliers,
            "bulk_edges": [num(self.bulk_edges[0]), num(self.bulk_edges[1])],
            "mean_ratio": num(self.mean_ratio),
            "mean_ratio_se": num(self.mean_ratio_se),
            "reference": dict(self.reference),
            "ks_goe": {"statistic": num(self.ks_goe.statistic), "pvalue": num(self.ks_goe.pvalue)},
            "ks_poisson": {
                "statistic": num(self.ks_poisson.statistic),
                "pvalue": num(self.ks_poisson.pvalue),
            },
            "beta_fit": {
                "beta": num(self.beta_fit.value),
                "low": num(self.beta_fit.low),
                "high": num(self.beta_fit.high),
            },
            "brody_q": num(self.brody_q.value),
            "verdict": self.verdict,
            "excluded": dict(self.excluded),
            "conventions": dict(self.conventions),
        }


def _segments_of(levels: np.ndarray, cut_at_zero: bool) -> list[np.ndarray]:
    if cut_at_zero:
        return [levels[levels < 0], levels[levels > 0]]
    return [levels]


def summarize_spectrum(
    eigs: ArrayLike,
    *,
    zero_rtol: float | None = None,
    rng: RngLike = 0,
    dtype: object = None,
    degeneracy_rtol: float | None = None,
    edge_k: float = 6.0,
    n_null: int = 100,
    n_boot: int = 200,
) -> SpectrumSummary:
    """Summarise a spectrum (1-D) or a batch of independent spectra (2-D, rows).

    Parameters
    ----------
    eigs : real eigenvalues; any order.
    zero_rtol : relative zero tolerance (default from ``dtype``: 1e-9 float64, 1e-4 float32;
        see :mod:`hessrmt.rmt.bulk`).
    rng : seed or Generator for the simulated nulls and bootstraps (default 0: reproducible).
    dtype : precision the eigenvalues were *computed* in (default: the array's dtype). Pass
        ``"float32"`` for a float32 Hessian saved as float64 (the trap of
        docs/reference/papers.md §2.6).
    degeneracy_rtol : relative tolerance for merging near-degenerate bulk levels (default from
        ``dtype``, :data:`hessrmt.rmt.spacings.DEGENERACY_RTOL`).
    edge_k : outlier gap threshold (:func:`hessrmt.rmt.bulk.split_spectrum`).
    n_null, n_boot : simulated-null replicates and bootstrap draws of the ratio test.

    Raises :class:`InputError` for bad input or fewer than 10 usable eigenvalues.
    """
    arr = as_levels(eigs)
    if arr.size == 0:
        raise InputError("no eigenvalues given; the spectrum is empty")
    parts = split_spectrum(arr, zero_rtol=zero_rtol, dtype=dtype, edge_k=edge_k)
    if degeneracy_rtol is None:
        degeneracy_rtol = default_degeneracy_rtol(parts.dtype)
    rows = [arr] if arr.ndim == 1 else list(arr)
    bmasks = [parts.bulk_mask] if arr.ndim == 1 else list(parts.bulk_mask)
    zmasks = [parts.zero_mask] if arr.ndim == 1 else list(parts.zero_mask)
    segments: list[list[np.ndarray]] = []
    n_merged = 0
    for row, b, z in zip(rows, bmasks, zmasks):
        bulk = np.sort(row[b])
        if bulk.size >= 2:
            deg = remove_degeneracies(bulk, degeneracy_rtol)
            n_merged += int(deg.n_removed)
            bulk = np.asarray(deg.eigenvalues)
        segments.append(_segments_of(bulk, bool(z.any())))
    n_usable = sum(s.size for spec in segments for s in spec)
    n_in_ratios = sum(s.size for spec in segments for s in spec if s.size >= 3)
    if n_in_ratios < MIN_USABLE:
        raise InputError(
            f"only {n_in_ratios} usable eigenvalues after excluding {parts.n_zero} zero(s) and "
            f"{parts.n_outliers} outlier(s) (need at least {MIN_USABLE}); pass a larger spectrum "
            "or a smaller zero_rtol"
        )
    edges = np.asarray(parts.bulk_edges, dtype=float)
    if edges.ndim == 2:
        finite = edges[np.isfinite(edges).all(axis=1)]
        edges = np.median(finite, axis=0) if finite.size else np.full(2, np.nan)
    conventions: dict[str, Any] = {
        "input": "1-D = one spectrum; 2-D = rows are independent spectra",
        **parts.conventions,
        "bulk_edges_batch": "median over spectra of each spectrum's bulk edges",
        "degeneracies": f"bulk levels closer than {degeneracy_rtol:g} * max|bulk| merged",
        "segments": "each spectrum's bulk cut at the removed zero cluster; ratios within segments",
    }
    test = ratio_test_segments(
        segments, rng=rng, n_null=n_null, n_boot=n_boot, conventions=conventions
    )
    conventions = dict(test.meta.conventions)
    conventions["ks_goe_pvalue"] = test.ks_goe.method
    conventions["ks_poisson_pvalue"] = test.ks_poisson.method
    conventions["brody_q_interval_95"] = [test.brody_q.low, test.brody_q.high]
    conventions["seed"] = seed_of(rng)
    conventions["warnings"] = list(parts.warnings)
    excluded = {
        "zeros": parts.n_zero,
        "outliers": parts.n_outliers,
        "degenerate_merged": n_merged,
        "in_short_segments": int(n_usable - n_in_ratios),
        "note": "statistics are computed on the bulk: zeros and outliers excluded, "
        "near-degenerate levels merged",
    }
    return SpectrumSummary(
        n_spectra=parts.n_spectra,
        n_eigenvalues=parts.n_eigenvalues,
        zero_fraction=parts.zero_fraction,
        n_zero_exact=parts.n_zero_exact,
        n_zero_roundoff=parts.n_zero_roundoff,
        n_suspect_roundoff=parts.n_suspect_roundoff,
        n_outliers=parts.n_outliers,
        n_outliers_high=parts.n_outliers_high,
        n_outliers_low=parts.n_outliers_low,
        n_degenerate_merged=n_merged,
        n_bulk=int(n_usable),
        bulk_edges=(float(edges[0]), float(edges[1])),
        n_ratios=test.n_ratios,
        mean_ratio=test.mean_ratio,
        mean_ratio_se=test.mean_ratio_se,
        reference=dict(test.reference),
        ks_goe=test.ks_goe,
        ks_poisson=test.ks_poisson,
        beta_fit=test.beta_fit,
        brody_q=test.brody_q,
        verdict=test.verdict,
        excluded=excluded,
        warnings=parts.warnings,
        conventions=conventions,
        meta=Metadata.create(seed=seed_of(rng), dtype=parts.dtype, conventions=conventions),
    )
