"""A calibrated symmetry-class verdict from several local statistics (issue 11 §1).

The verdict of :func:`hessrmt.rmt.summary.summarize_spectrum` is decided here, by a family of
goodness-of-fit tests of the bulk against each class c in {Poisson, GOE, GUE, GSE}.

**One level selection.** Input: the bulk segments of every spectrum (zeros and outliers removed,
near-degenerate levels merged, cut at a removed zero cluster; see
:mod:`hessrmt.rmt.summary`). Segments with fewer than :data:`MIN_SEGMENT` levels are dropped;
of each kept segment the central ``1 - 2 EDGE_DROP`` of its levels (:data:`EDGE_DROP` = 10 % cut
at either end, where the density vanishes and unfolding fails) is *the* selection: every number
reported next to the verdict (mean r~, distributions, Sigma^2, Delta_3, Brody q) uses exactly
these levels.

**Unfolding: local, per spectrum.** Spacings s_i are divided by the local mean spacing, the
slope of a cubic least-squares fit of the levels against their index over the 2 W + 1 = 51
levels around them (Savitzky-Golay; W = :data:`UNFOLD_HALF_WINDOW`), and cumulated:
xi_{i+1} - xi_i = s_i / <s>_local (:func:`local_unfold`). This needs no pooling
across spectra. Pooled-batch unfolding (Baskerville et al.) is *not* used: with a handful of
spectra the pooled counting function fluctuates as much as the levels being unfolded, and the
resulting histograms cannot tell GOE from Poisson (issue 11: TV distance 0.26-0.35 to GOE and
0.29-0.44 to Poisson with 8 batches). Pooling needs the counting-function error, about
1/sqrt(M) of a level spacing with M spectra, to be small against one spacing: M >= 100 for 10 %.
Local unfolding compresses long-range fluctuations (Sigma^2 of Poisson at L = 10 is measured
below 10); the null below is unfolded the same way, so the tests stay calibrated.

**Statistics** (vectors T_k, all on the selection):

1. ``mean_ratio``: <r~>, r~ = min(s_i, s_{i+1}) / max(s_i, s_{i+1}) (Atas et al. 2013);
2. ``ratio_distribution``: fractions of r~ in the 8 bins of :data:`RATIO_BINS` (7 free values):
   the whole distribution, not only its mean;
3. ``spacing_distribution``: fractions of unfolded spacings in :data:`SPACING_BINS` (7 free values),
   the null being the exact Gaudin law of the class (sampled);
4. ``number_variance``: Sigma^2(L) at :data:`SIGMA2_L`: variance of the level count in windows
   [a, a + L) with starts a on a grid of step :data:`WINDOW_STEP` inside each segment;
5. ``delta3``: Delta_3(L) at :data:`DELTA3_L`: mean over the same grid of the closed-form
   least-squares deviation of each window (:func:`hessrmt.rmt.rigidity.delta3_window`).
   (Grid averages, not the exact continuous averages of :mod:`hessrmt.rmt.rigidity`: they cost
   one vectorised call per segment, and the null uses the same estimator.)

**Null distributions.** For class c, ``n_null`` replicate data sets are simulated with the
data's segment sizes (GOE/GUE/GSE: Dumitriu-Edelman beta-Hermite spectra with beta = 1, 2, 4;
Poisson: iid uniform levels) and put through the *same* selection, unfolding and statistics.
Segments longer than :data:`MAX_NULL_SIZE` are simulated as pieces of that size (local statistics
of the central part of a 200-level spectrum are those of the bulk), and when the pieces exceed
:data:`NULL_BUDGET` levels each replicate uses a random subset of them; deviations from the null
mean are then rescaled by sqrt(K_rep / K_data) (K: levels in the selection; every statistic is an
average over the selection, so its covariance scales as 1 / K). From the replicates' mean m and
covariance S, T^2 = (T - m)^T [S (1 + c / n)]^{-1} (T - m) (c = K_data / K_rep, 1 without
subsetting), and p = P(F(d, n - d) >= T^2 n (n - d) / ((n + 1)(n - 1) d)): Hotelling's prediction
test, exact for Gaussian statistics and c = 1 (Hotelling 1931). The tail comes from the F law,
so every p-value level is reachable (a rank p-value of n replicates cannot go below 1 / (n + 1),
the defect of the earlier rule, issue 11). Its Gaussian assumption is the CLT for averages over
hundreds of weakly dependent levels; the known-answer tests check the size (true GOE, GUE, GSE,
Poisson are accepted) and the power.

**Rule** (:data:`VERDICT_RULE`): within each class the five p-values are Holm-corrected
(family-wise level :data:`ALPHA` = 0.01; a statistic with no finite coordinate on the data,
such as Sigma^2(10) when every segment is shorter than 10 spacings, is left out of the family
and reported as not computable); class c is *consistent* when no corrected p-value is
below ALPHA. Verdict: the single consistent class; ``"intermediate"`` when none is (the bulk is
none of the four classes: between them, or not a Wigner-Dyson/Poisson spectrum at all);
``"inconclusive"`` when several are (too few levels to tell them apart).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.signal import savgol_filter

from hessrmt.errors import InputError
from hessrmt.rmt.ensembles.gaussian import beta_hermite_eigenvalues
from hessrmt.rmt.rigidity import delta3_window
from hessrmt.rng import RngLike, as_generator

#: Family-wise level of each class's tests (Holm).
ALPHA = 0.01
CLASSES = ("Poisson", "GOE", "GUE", "GSE")
BETA = {"Poisson": 0, "GOE": 1, "GUE": 2, "GSE": 4}
#: Fewest levels a bulk segment needs to be used; fraction cut at either end of each segment.
MIN_SEGMENT = 20
EDGE_DROP = 0.1
#: Half-width (in spacings) of the running mean used for local unfolding.
UNFOLD_HALF_WINDOW = 25
RATIO_BINS = np.linspace(0.0, 1.0, 9)
SPACING_BINS = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, np.inf])
SIGMA2_L = (1.0, 2.0, 5.0, 10.0)
DELTA3_L = (3.0, 10.0)
STATISTICS = (
    "mean_ratio",
    "ratio_distribution",
    "spacing_distribution",
    "number_variance",
    "delta3",
)
#: Step between window starts of Sigma^2 and Delta_3 (unfolded units).
WINDOW_STEP = 0.5
#: Largest simulated spectrum; most simulated levels per null replicate; default replicates.
MAX_NULL_SIZE = 200
NULL_BUDGET = 1600
N_NULL = 60
#: Fewest levels in the selection for the verdict.
MIN_SELECTED = 40

VERDICT_RULE = (
    f"for each class (Poisson, GOE, GUE, GSE): 5 tests of the bulk's central "
    f"{1 - 2 * EDGE_DROP:.0%} per segment (mean r~, r~ histogram, locally unfolded spacing "
    f"histogram, Sigma^2 at L = {', '.join(f'{x:g}' for x in SIGMA2_L)}, Delta_3 at L = "
    f"{', '.join(f'{x:g}' for x in DELTA3_L)}) against simulated nulls of the class with the "
    f"data's segment sizes (Hotelling T^2 / F tail), Holm-corrected at family-wise level "
    f"{ALPHA:g}; class consistent iff no test rejects; verdict = the single consistent class, "
    "'intermediate' if none, 'inconclusive' if several"
)


def _json_floats(values: Sequence[float]) -> list[float | None]:
    """Floats for JSON: NaN (a statistic with no window that fits) becomes None."""
    return [float(v) if np.isfinite(v) else None for v in values]


@dataclass(frozen=True)
class ClassTest:
    """Tests of the bulk against one class: raw and Holm-adjusted p-values per statistic."""

    name: str
    pvalues: dict[str, float]
    adjusted: dict[str, float]
    consistent: bool
    null_means: dict[str, list[float]]

    @property
    def not_computable(self) -> list[str]:
        """Statistics with no finite coordinate on these levels (e.g. Sigma^2 windows longer
        than every segment): left out of the Holm family, p-value NaN (None in JSON)."""
        return [k for k, v in self.pvalues.items() if not np.isfinite(v)]

    def to_dict(self) -> dict[str, Any]:
        def clean(d: dict[str, float]) -> dict[str, float | None]:
            return {k: (float(v) if np.isfinite(v) else None) for k, v in d.items()}

        return {
            "pvalues": clean(self.pvalues),
            "holm_adjusted": clean(self.adjusted),
            "not_computable": self.not_computable,
            "consistent": self.consistent,
            "null_mean": {k: _json_floats(v) for k, v in self.null_means.items()},
        }


@dataclass(frozen=True)
class Verdict:
    """Output of :func:`class_verdict`: the verdict, the tests and the statistics they used."""

    verdict: str
    consistent: tuple[str, ...]
    tests: dict[str, ClassTest]
    statistics: dict[str, list[float]]
    n_selected: int
    n_segments: int
    n_null: int
    alpha: float
    rule: str
    selection: str
    unfolding: str
    spacings: list[np.ndarray]

    @property
    def mean_ratio(self) -> float:
        return float(self.statistics["mean_ratio"][0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "consistent_classes": list(self.consistent),
            "alpha": self.alpha,
            "n_selected_levels": self.n_selected,
            "n_segments": self.n_segments,
            "n_null": self.n_null,
            "statistics": {k: _json_floats(v) for k, v in self.statistics.items()},
            "statistics_scales": {"number_variance_L": list(SIGMA2_L), "delta3_L": list(DELTA3_L)},
            "tests": {c: t.to_dict() for c, t in self.tests.items()},
            "rule": self.rule,
            "selection": self.selection,
            "unfolding": self.unfolding,
        }


# ---------------------------------------------------------------------------- selection


def local_unfold(levels: np.ndarray, half_window: int = UNFOLD_HALF_WINDOW) -> np.ndarray:
    """Unfolded levels xi (xi_0 = 0) of one sorted segment: each spacing divided by the local
    mean spacing, then cumulated. The local mean spacing is the slope d lambda / d i of a cubic
    least-squares fit of the levels against their index over 2W + 1 levels (Savitzky-Golay,
    exact for a cubic staircase, so a curved density leaves no O(W^2) bias), averaged at the two
    ends of the spacing; where that slope is below 0.3 x the running mean of the spacings
    (noise in a very irregular segment) the running mean is used."""
    lam = np.asarray(levels, dtype=np.float64)
    s = np.diff(lam)
    n = s.size
    width = min(2 * half_window + 1, n)
    c = np.concatenate(([0.0], np.cumsum(s)))
    lo = np.clip(np.arange(n) - half_window, 0, n - width)
    mean = (c[lo + width] - c[lo]) / width
    if lam.size >= 2 * half_window + 1:
        slope = savgol_filter(lam, 2 * half_window + 1, 3, deriv=1, mode="interp")
        local = 0.5 * (slope[:-1] + slope[1:])
        mean = np.where(local > 0.3 * mean, local, mean)
    if np.any(mean <= 0):
        raise InputError("cannot unfold a segment with zero local spacing; merge degeneracies")
    return np.concatenate(([0.0], np.cumsum(s / mean)))


def _central(n: int) -> slice:
    cut = int(EDGE_DROP * n)
    return slice(cut, n - cut)


def select_segments(segments: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The selection: the central ``1 - 2 EDGE_DROP`` of every sorted segment of at least
    :data:`MIN_SEGMENT` levels (the levels every statistic next to the verdict uses)."""
    return [np.asarray(s)[_central(np.size(s))] for s in segments if np.size(s) >= MIN_SEGMENT]


def _stats_of(segments: Sequence[np.ndarray]) -> tuple[dict[str, np.ndarray], int, list]:
    """The five statistics of sorted level segments (each >= MIN_SEGMENT levels)."""
    ratios, spac, unf, weights = [], [], [], []
    for seg in segments:
        sel = _central(seg.size)
        lev = seg[sel]
        s = np.diff(lev)
        ratios.append(np.minimum(s[:-1], s[1:]) / np.maximum(s[:-1], s[1:]))
        xi = local_unfold(seg)[sel]
        spac.append(np.diff(xi))
        unf.append(xi)
        weights.append(float(lev.size))
    r = np.concatenate(ratios)
    sp = np.concatenate(spac)
    out = {
        "mean_ratio": np.array([r.mean()]),
        "ratio_distribution": np.histogram(r, RATIO_BINS)[0][:-1] / r.size,
        "spacing_distribution": np.histogram(sp, SPACING_BINS)[0][:-1] / sp.size,
        "number_variance": _windowed(unf, SIGMA2_L, _nv_grid),
        "delta3": _windowed(unf, DELTA3_L, _d3_grid),
    }
    return out, int(sum(weights)), spac


def _nv_grid(x: np.ndarray, starts: np.ndarray, ell: float) -> float:
    counts = np.searchsorted(x, starts + ell) - np.searchsorted(x, starts)
    return float(counts.var())


def _d3_grid(x: np.ndarray, starts: np.ndarray, ell: float) -> float:
    return float(np.mean(delta3_window(x, starts, ell)))


def _windowed(unf: Sequence[np.ndarray], lengths: Sequence[float], one: Any) -> np.ndarray:
    """Sigma^2 or Delta_3 per window length on a grid of window starts (step
    :data:`WINDOW_STEP` mean spacings) inside each segment, segments weighted by their number
    of windows (segments shorter than L + 1 contribute nothing)."""
    out = np.empty(len(lengths))
    for j, ell in enumerate(lengths):
        vals, wts = [], []
        for x in unf:
            starts = np.arange(x[0], x[-1] - ell, WINDOW_STEP)
            if starts.size >= 2:
                vals.append(one(x, starts, ell))
                wts.append(starts.size)
        out[j] = np.average(vals, weights=wts) if vals else np.nan
    return out


# ---------------------------------------------------------------------------- nulls


def _semicircle_cdf(x: np.ndarray) -> np.ndarray:
    """Cdf of the semicircle of radius 2 (docs/reference/oracles.md §1)."""
    x = np.clip(x, -2.0, 2.0)
    return 0.5 + x * np.sqrt(4.0 - x * x) / (4.0 * np.pi) + np.arcsin(x / 2.0) / np.pi


def _simulate(beta: int, n: int, count: int, flat: bool, rng: np.random.Generator) -> np.ndarray:
    """``count`` sorted null spectra of n levels; ``flat``: unfolded exactly (semicircle cdf)."""
    if beta == 0:
        return np.sort(rng.random((count, n)), axis=1)
    levels = np.atleast_2d(beta_hermite_eigenvalues(n, beta, size=count, rng=rng))
    return n * _semicircle_cdf(levels) if flat else levels


def _pieces(sizes: Sequence[int]) -> list[tuple[int, bool]]:
    """Null pieces (size, flat) of data segments: a segment of n <= MAX_NULL_SIZE levels is
    simulated as it is (same size, same density curvature for the local unfolding to meet); a
    longer one as about n / MAX_NULL_SIZE exactly unfolded pieces (its density is locally flat)."""
    out: list[tuple[int, bool]] = []
    for n in sizes:
        if n <= MAX_NULL_SIZE:
            out.append((int(n), False))
        else:
            out += [(MAX_NULL_SIZE, True)] * max(1, round(n / MAX_NULL_SIZE))
    return sorted(out)


@functools.lru_cache(maxsize=64)
def _null_table(
    beta: int, pieces: tuple[tuple[int, bool], ...], n_null: int, seed: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per replicate: the statistics (rows) and the selected level counts K_rep."""
    rng = np.random.default_rng([seed, beta, 7])
    rows: dict[str, list[np.ndarray]] = {k: [] for k in STATISTICS}
    ks = np.empty(n_null)
    for t in range(n_null):
        chosen = list(pieces)
        if sum(n for n, _ in chosen) > NULL_BUDGET:
            chosen, used = [], 0
            for j in rng.permutation(len(pieces)):
                if used and used + pieces[j][0] > NULL_BUDGET:
                    break
                chosen.append(pieces[j])
                used += pieces[j][0]
        segs: list[np.ndarray] = []
        for key in sorted(set(chosen)):
            segs += list(_simulate(beta, key[0], chosen.count(key), key[1], rng))
        st, k, _ = _stats_of(segs)
        for name in STATISTICS:
            rows[name].append(st[name])
        ks[t] = k
    return {k: np.array(v) for k, v in rows.items()}, ks


def _hotelling_p(x: np.ndarray, null: np.ndarray, k_null: np.ndarray, k_data: int) -> tuple:
    """Prediction p-value of x against the null replicates (rows), rescaled to K_data levels.

    Only coordinates finite in the data and in every replicate are tested (a window length
    longer than every segment gives NaN); with none left the p-value is NaN ("not computable").
    """
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    null = np.asarray(null, dtype=np.float64).reshape(len(null), -1)
    keep = np.isfinite(x) & np.all(np.isfinite(null), axis=0)
    if not np.any(keep):
        return float("nan"), np.full(x.shape, np.nan)
    full_mean = np.full(x.shape, np.nan)
    full_mean[keep] = null[:, keep].mean(axis=0)
    p, _ = _hotelling_finite(x[keep], null[:, keep], k_null, k_data)
    return p, full_mean


def _hotelling_finite(x: np.ndarray, null: np.ndarray, k_null: np.ndarray, k_data: int) -> tuple:
    n, d = null.shape
    mean = null.mean(axis=0)
    dev = (null - mean) * np.sqrt(k_null / k_data)[:, None]
    cov = np.atleast_2d(np.cov(dev, rowvar=False))
    c = float(k_data / np.mean(k_null))
    cov = cov * (1.0 + c / n)
    diff = x - mean
    scale = np.sqrt(np.clip(np.diag(cov), 0, None))
    ok = scale > 1e-12 * max(1.0, float(np.max(np.abs(mean))))
    if not np.all(ok):  # a coordinate constant in the null: any deviation rejects
        if np.any(np.abs(diff[~ok]) > 1e-9):
            return 0.0, mean
        diff, cov, scale, d = diff[ok], cov[np.ix_(ok, ok)], scale[ok], int(ok.sum())
        if d == 0:
            return 1.0, mean
    corr = cov / np.outer(scale, scale)
    z = diff / scale
    t2 = float(z @ np.linalg.pinv(corr, rcond=1e-10, hermitian=True) @ z)
    if n <= d + 1:
        raise InputError(f"n_null must exceed {d + 1} for the verdict's tests")
    f = t2 * n * (n - d) / ((n + 1) * (n - 1) * d)
    return float(stats.f.sf(f, d, n - d)), mean


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: p_(i) -> max_{j <= i} min(1, (m - j + 1) p_(j))."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p)
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj = np.maximum.accumulate(adj)
    out = np.empty(m)
    out[order] = adj
    return out


# ---------------------------------------------------------------------------- the verdict


def class_verdict(
    segments: Sequence[np.ndarray], *, rng: RngLike = 0, n_null: int = N_NULL
) -> Verdict:
    """The calibrated verdict of sorted bulk level segments (see the module docstring).

    ``segments``: 1-D sorted arrays of levels (each spectrum's bulk, cut at removed zeros);
    shorter than :data:`MIN_SEGMENT` levels are ignored. ``rng``: seed of the simulated nulls
    (an int or a Generator; same seed, same verdict). ``n_null``: replicates per class.
    Raises :class:`InputError` when fewer than :data:`MIN_SELECTED` levels are selected.
    """
    if n_null < 30:
        raise InputError(f"the verdict needs at least 30 null replicates per class, got {n_null}")
    gen = as_generator(rng)
    seed = int(gen.integers(2**63 - 1))
    segs = [np.sort(np.asarray(s, dtype=np.float64)) for s in segments]
    segs = [s for s in segs if s.size >= MIN_SEGMENT]
    if any(np.any(np.diff(s) <= 0) for s in segs):
        raise InputError("bulk segments must have distinct levels; merge degeneracies first")
    n_sel = sum(s[_central(s.size)].size for s in segs)
    if n_sel < MIN_SELECTED:
        raise InputError(
            f"only {n_sel} bulk levels in segments of >= {MIN_SEGMENT} levels (central "
            f"{1 - 2 * EDGE_DROP:.0%}); the verdict needs at least {MIN_SELECTED}: pass a larger "
            "spectrum or more spectra"
        )
    observed, k_data, spac = _stats_of(segs)
    pieces = tuple(_pieces([s.size for s in segs]))
    tests: dict[str, ClassTest] = {}
    for name in CLASSES:
        table, k_null = _null_table(BETA[name], pieces, int(n_null), seed)
        pv, means = {}, {}
        for st in STATISTICS:
            p, mean = _hotelling_p(observed[st], table[st], k_null, k_data)
            pv[st], means[st] = p, [float(v) for v in mean]
        usable = [s for s in STATISTICS if np.isfinite(pv[s])]
        adj = dict(zip(usable, holm([pv[s] for s in usable]).tolist()))
        adj.update({s: float("nan") for s in STATISTICS if s not in usable})
        consistent_c = all(adj[s] >= ALPHA for s in usable)
        tests[name] = ClassTest(name, pv, adj, consistent_c, means)
    consistent = tuple(c for c in CLASSES if tests[c].consistent)
    verdict = (
        consistent[0]
        if len(consistent) == 1
        else ("intermediate" if not consistent else "inconclusive")
    )
    return Verdict(
        verdict=verdict,
        consistent=consistent,
        tests=tests,
        statistics={k: [float(x) for x in v] for k, v in observed.items()},
        n_selected=int(k_data),
        n_segments=len(segs),
        n_null=int(n_null),
        alpha=ALPHA,
        rule=VERDICT_RULE,
        selection=(
            f"bulk segments with >= {MIN_SEGMENT} levels, central {1 - 2 * EDGE_DROP:.0%} of each "
            f"({k_data} levels in {len(segs)} segment(s)); every statistic next to the verdict "
            "uses these levels"
        ),
        unfolding=(
            f"local, per spectrum: spacings over the slope of a cubic fit of level vs index over "
            f"{2 * UNFOLD_HALF_WINDOW + 1} levels (no pooling across spectra: a handful of pooled "
            "spectra cannot tell GOE from Poisson)"
        ),
        spacings=spac,
    )
