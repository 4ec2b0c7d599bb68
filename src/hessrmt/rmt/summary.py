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
5. **one level selection** (:func:`hessrmt.rmt.verdict.select_segments`): segments of at least
   20 levels, the central 80 % of each; every statistic printed next to the verdict uses it;
6. :func:`hessrmt.rmt.stattests.ratio_test_segments` on the selection: <r~> +- SE, KS of r~
   against GOE and Poisson (simulated-null p-values; informational, not used by the verdict),
   fitted beta;
7. :func:`hessrmt.rmt.verdict.class_verdict` on the same selection: the calibrated verdict
   (Holm-corrected tests of the r~ mean and distribution, locally unfolded spacings against the
   class's Gaudin law, Sigma^2 and Delta_3 at several scales, each against a simulated null of
   every class); Brody q with its bootstrap 95 % interval on the same unfolded spacings;
8. outlier locations, with the spike strength a semicircle (BBP) model of the bulk implies.

Precision: eigenvalues computed in float16 / bfloat16 are refused (their resolution, 1e-3 /
8e-3 of the scale, is coarser than the level spacing of any spectrum of more than a few dozen
levels: merging or rounding decides the statistics). A scale no eigensolver can produce (non-zero
levels below 1e-6 eps max|lambda|, i.e. far under the round-off of the largest value) is refused
instead of calling the bulk "zeros".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result
from hessrmt.rmt.bulk import split_spectrum
from hessrmt.rmt.spacings import (
    as_levels,
    default_degeneracy_rtol,
    dtype_name,
    remove_degeneracies,
)
from hessrmt.rmt.stattests import Interval, KSResult, fit_brody, ratio_test_segments
from hessrmt.rmt.verdict import (
    EDGE_DROP,
    MIN_SEGMENT,
    MIN_SELECTED,
    N_NULL,
    class_verdict,
    select_segments,
)
from hessrmt.rmt.verdict_profile import number_variance_profile
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
    "brody_q_interval",
    "verdict_tests",
    "outliers",
)

#: Precisions whose eigenvalues are refused (resolution coarser than level spacings).
REFUSED_DTYPES = {"float16": 9.8e-4, "bfloat16": 7.8e-3}
#: Non-zero levels below this many machine epsilons of max|lambda| cannot be round-off.
SUB_ROUNDOFF_EPS = 1e-6


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
    verdict_tests: dict[str, Any] = field(default_factory=dict)
    outliers: dict[str, Any] = field(default_factory=dict)
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
            "brody_q_interval": [num(self.brody_q.low), num(self.brody_q.high)],
            "verdict_tests": dict(self.verdict_tests),
            "outliers": dict(self.outliers),
        }


def _segments_of(levels: np.ndarray, cut_at_zero: bool) -> list[np.ndarray]:
    if cut_at_zero:
        return [levels[levels < 0], levels[levels > 0]]
    return [levels]


#: What to do about too few levels, for callers that do not say better (``hessrmt stats``).
DEFAULT_ADVICE = (
    "pass a larger spectrum (a model with more parameters) or more spectra (a 2-D array, one "
    "spectrum per row)"
)


class _LevelAccount:
    """Where the levels of a spectrum went (zeros, outliers, merged degeneracies, segments too
    short, segment edges), to state a shortfall with its causes and advice that helps."""

    def __init__(
        self,
        parts: Any,
        n_merged: int,
        segments: list[list[np.ndarray]],
        n_selected: int,
        advice: str | None = None,
    ) -> None:
        self.advice = advice or DEFAULT_ADVICE
        self.parts = parts
        self.n_merged = int(n_merged)
        self.sizes = [[int(s.size) for s in spec if s.size] for spec in segments]
        self.n_bulk = sum(sum(row) for row in self.sizes)
        self.n_selected = int(n_selected)

    def shortfall(self, what: str, need: int) -> str:
        """``what`` (e.g. "the verdict needs") at least ``need`` levels: the count, its causes
        and what to do, in one line."""
        p = self.parts
        removed = [f"{p.n_zero} zeros", f"{p.n_outliers} outliers"]
        if self.n_merged:
            removed.append(f"{self.n_merged} merged near-degenerate levels")
        flat = [n for row in self.sizes for n in row]
        short = [n for n in flat if n < MIN_SEGMENT]
        if not flat:
            where = "no bulk level is left"
        else:
            where = f"its {self.n_bulk} bulk levels form segments of {_count_list(flat)} levels"
            if p.n_zero:
                where += " (each spectrum's bulk is cut at the zero cluster)"
            if short:
                where += f"; segments under {MIN_SEGMENT} levels are not used"
            where += f", and the outer {EDGE_DROP:.0%} at each end of the rest is dropped"
        advice = self.advice
        if p.n_zero:
            advice += f"; if the {p.n_zero} zeros are not zeros, pass a smaller --zero-rtol"
        n = p.n_eigenvalues
        return (
            f"{what} at least {need} bulk levels, this input has {self.n_selected}: of its "
            f"{n} eigenvalues, {_and(removed)} are removed; {where}; {advice}"
        )


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def _count_list(sizes: list[int]) -> str:
    if len(sizes) > 6:
        return f"{min(sizes)} to {max(sizes)} ({len(sizes)} segments)"
    return _and([str(n) for n in sizes])


def _check_precision(dname: str) -> None:
    if dname in REFUSED_DTYPES:
        raise InputError(
            f"eigenvalues computed in {dname} resolve only ~{REFUSED_DTYPES[dname]:.0e} of their "
            "scale, coarser than the level spacings, so spacing statistics would measure rounding "
            "(a float16 GOE loses ~60% of its levels to merging); recompute them in float32 or "
            "float64"
        )


def _check_scale(arr: np.ndarray, dname: str) -> None:
    """Refuse a spectrum whose few largest |lambda| sit more than 1 / (1e-6 eps) above all the
    others (e.g. one 1e308 among values ~1): relative to them every other level would count as
    a round-off zero, yet no eigensolver producing that maximum could resolve them. Only gaps
    with at most max(1, n/100) levels above are considered: a Hessian's exact zeros that LAPACK
    returns as ~1e-50 lie below a long continuous spectrum and are not refused."""
    eps = float(np.finfo(np.float32 if dname == "float32" else np.float64).eps)
    rows = arr[None, :] if arr.ndim == 1 else arr
    for row in rows:
        a = np.sort(np.abs(row[row != 0]))[::-1]
        if a.size < MIN_USABLE + 1:
            continue
        top = max(1, row.size // 100)
        with np.errstate(divide="ignore", over="ignore"):
            gaps = a[:top] / a[1 : top + 1]
        big = np.flatnonzero(gaps > 1.0 / (SUB_ROUNDOFF_EPS * eps))
        if big.size and a.size - big[0] - 1 >= MIN_USABLE:
            k = int(big[0]) + 1
            raise InputError(
                f"the {k} largest |eigenvalue(s)| ({a[0]:.3g}) exceed all {a.size - k} other "
                f"non-zero ones (largest {a[k]:.3g}) by more than 1/({SUB_ROUNDOFF_EPS:g} eps): "
                "relative to that scale they would all be round-off zeros, which no eigensolver "
                "of one matrix produces; remove the dominating value(s) (a corrupt entry?) and "
                "rerun"
            )


def _outlier_record(arr: np.ndarray, parts: Any, bulk: list[np.ndarray]) -> dict[str, Any]:
    """Outlier locations and, with a semicircle fitted to the bulk by its moments (centre c,
    variance s^2), the spike theta of H = X + theta v v^T that puts an outlier at lambda (BBP:
    lambda - c = theta + s^2 / theta, so theta = (d + sqrt(d^2 - 4 s^2)) / 2 with d = lambda - c,
    |d| > 2 s; docs/reference/oracles.md §8) and its predicted squared overlap
    1 - s^2 / theta^2."""
    from hessrmt.rmt.outliers import semicircle_outlier, semicircle_overlap

    rows = [arr] if arr.ndim == 1 else list(arr)
    masks = [parts.outlier_mask] if arr.ndim == 1 else list(parts.outlier_mask)
    high: list[float] = []
    low: list[float] = []
    for row, m, b in zip(rows, masks, bulk):
        top = float(b.max()) if b.size else -np.inf
        for v in np.sort(row[m]):
            (high if v > top else low).append(float(v))
    values = np.array(low + high)
    allbulk = np.concatenate(bulk) if bulk else np.empty(0)
    rec: dict[str, Any] = {"high": high, "low": low}
    if allbulk.size < 3 or not values.size:
        rec["bbp"] = None
        return rec
    c, var = float(allbulk.mean()), float(allbulk.var())
    spikes = []
    for lam in values:
        d = float(lam - c)
        if d * d <= 4 * var:
            continue
        theta = float(np.sign(d) * (abs(d) + np.sqrt(d * d - 4 * var)) / 2)
        loc = semicircle_outlier(theta, var)
        spikes.append(
            {
                "value": float(lam),
                "spike_theta": theta,
                "bbp_location": None if loc is None else c + float(loc),
                "predicted_overlap_sq": float(semicircle_overlap(theta, var)),
            }
        )
    rec["bbp"] = {
        "bulk_law": "semicircle fitted by the bulk's moments",
        "center": c,
        "variance": var,
        "threshold_theta": float(np.sqrt(var)),
        "spikes": spikes,
        "note": "spike strength theta implied by each outlier under the additive rank-one BBP "
        "model of a semicircle bulk; meaningful only when the bulk is semicircular",
    }
    return rec


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
    n_null_verdict: int = N_NULL,
    advice: str | None = None,
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
        docs/reference/papers.md §2.6). float16 / bfloat16 are refused (module docstring).
    degeneracy_rtol : relative tolerance for merging near-degenerate bulk levels (default from
        ``dtype``, :data:`hessrmt.rmt.spacings.DEGENERACY_RTOL`).
    edge_k : outlier gap threshold (:func:`hessrmt.rmt.bulk.split_spectrum`).
    n_null, n_boot : simulated-null replicates of the (informational) KS tests of r~ and
        bootstrap draws of the Brody interval.
    n_null_verdict : simulated-null replicates per class of the verdict's tests (>= 30;
        :mod:`hessrmt.rmt.verdict`).
    advice : what to do when too few levels remain, in the caller's terms (default
        :data:`DEFAULT_ADVICE`); the message always states the count and where the levels went.

    Raises :class:`InputError` for bad input, refused precisions or scales, or fewer than 10
    usable eigenvalues.
    """
    arr = as_levels(eigs)
    if arr.size == 0:
        raise InputError("no eigenvalues given; the spectrum is empty")
    dname = dtype_name(arr.dtype if dtype is None else dtype)
    _check_precision(dname)
    _check_scale(arr, dname)
    arr = arr.astype(np.float64)
    parts = split_spectrum(arr, zero_rtol=zero_rtol, dtype=dname, edge_k=edge_k)
    if degeneracy_rtol is None:
        degeneracy_rtol = default_degeneracy_rtol(parts.dtype)
    rows = [arr] if arr.ndim == 1 else list(arr)
    bmasks = [parts.bulk_mask] if arr.ndim == 1 else list(parts.bulk_mask)
    zmasks = [parts.zero_mask] if arr.ndim == 1 else list(parts.zero_mask)
    segments: list[list[np.ndarray]] = []
    bulks: list[np.ndarray] = []
    n_merged = 0
    for row, b, z in zip(rows, bmasks, zmasks):
        bulk = np.sort(row[b])
        if bulk.size >= 2:
            deg = remove_degeneracies(bulk, degeneracy_rtol)
            n_merged += int(deg.n_removed)
            bulk = np.asarray(deg.eigenvalues)
        bulks.append(bulk)
        segments.append(_segments_of(bulk, bool(z.any())))
    n_usable = sum(s.size for spec in segments for s in spec)
    selected = [select_segments(spec) for spec in segments]
    n_selected = sum(s.size for spec in selected for s in spec)
    account = _LevelAccount(parts, n_merged, segments, n_selected, advice)
    if n_selected < MIN_USABLE:
        raise InputError(account.shortfall("the spacing statistics need", MIN_USABLE))
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
        selected, rng=rng, n_null=n_null, n_boot=0, null_window=0.8, conventions=conventions
    )
    try:
        if n_selected < MIN_SELECTED:  # the same count class_verdict checks, said with its causes
            raise InputError(account.shortfall("the verdict needs", MIN_SELECTED))
        ver = class_verdict([s for spec in segments for s in spec], rng=rng, n_null=n_null_verdict)
        verdict, vdict = ver.verdict, ver.to_dict()
        brody = fit_brody(ver.spacings, rng=rng, n_boot=n_boot)
    except InputError as exc:
        verdict = "inconclusive"
        vdict = {"verdict": verdict, "skipped": str(exc)}
        brody = Interval(float("nan"), float("nan"), float("nan"))
    if "tests" in vdict:  # where along the bulk Sigma^2(10) departs from GOE (informational)
        try:
            vdict["number_variance_profile"] = number_variance_profile(
                [s for spec in segments for s in spec], rng=rng
            )
        except InputError:
            vdict["number_variance_profile"] = None
    conventions = dict(test.meta.conventions)
    conventions["ks_goe_pvalue"] = test.ks_goe.method + " (informational, not in the verdict)"
    conventions["ks_poisson_pvalue"] = test.ks_poisson.method + " (informational)"
    conventions["brody"] = "ML on the verdict's locally unfolded spacings; bootstrap 95% interval"
    conventions["brody_q_interval_95"] = [brody.low, brody.high]
    conventions["verdict_rule"] = vdict.get("rule", vdict.get("skipped", ""))
    conventions["selection"] = vdict.get("selection", "")
    conventions["unfolding"] = vdict.get("unfolding", "")
    conventions["seed"] = seed_of(rng)
    conventions["warnings"] = list(parts.warnings)
    excluded = {
        "zeros": parts.n_zero,
        "outliers": parts.n_outliers,
        "degenerate_merged": n_merged,
        "outside_selection": int(n_usable - n_selected),
        "bulk_levels": int(n_usable),
        "used_levels": int(n_selected),
        "segments": account.sizes,
        "note": "statistics are computed on the bulk: zeros and outliers excluded, "
        "near-degenerate levels merged, central 80% of segments of >= 20 levels",
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
        brody_q=brody,
        verdict=verdict,
        excluded=excluded,
        warnings=parts.warnings,
        conventions=conventions,
        verdict_tests=vdict,
        outliers=_outlier_record(arr, parts, bulks),
        meta=Metadata.create(seed=seed_of(rng), dtype=parts.dtype, conventions=conventions),
    )
