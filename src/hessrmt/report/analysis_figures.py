"""Figures of the ``hessrmt analyze`` report and the local statistics they show.

:func:`make_figures` draws them (:mod:`hessrmt.report.figures`) from a run's summary and spectra,
keyed by file stem (captions: :data:`hessrmt.report.analysis_report.CAPTIONS`). The local
statistics in the ratio and spacing figures are recomputed from the eigenvalues by
:func:`local_statistics` with the summary's rules: the bulk of each spectrum
(:func:`hessrmt.rmt.bulk.split_spectrum`, zeros and outliers removed, near-degenerate levels
merged, cut at the zero cluster), reduced ratios on the raw bulk, unfolded spacings by pooled
unfolding across spectra (Baskerville et al.) when there are at least
:data:`POOLED_MIN_SPECTRA` batch spectra, else by Gaussian-kernel unfolding of each segment.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np


def _law_density(record: Mapping[str, Any]) -> Any:
    """Density function of a fitted law from its ``fits`` record (None if unusable)."""
    from hessrmt.rmt.laws import MarchenkoPastur, Semicircle

    params = record.get("params")
    if not isinstance(params, dict) or "error" in record:
        return None
    name = str(record.get("name", "")).lower().replace("-", "_").replace(" ", "_")
    cls = Semicircle if "semicircle" in name else MarchenkoPastur if "marchenko" in name else None
    if cls is None:
        return None
    accepted = set(inspect.signature(cls).parameters)
    try:
        law = cls(**{k: v for k, v in params.items() if k in accepted})
    except (TypeError, ValueError):
        return None
    return law.density


def _fit_curves(record: Mapping[str, Any]) -> dict[str, Any]:
    curves = {}
    for key, label in (("semicircle", "semicircle fit"), ("marchenko_pastur", "MP fit")):
        rec = (record.get("fits") or {}).get(key)
        if isinstance(rec, dict):
            fn = _law_density(rec)
            if fn is not None:
                ks = rec.get("ks_statistic")
                curves[label + (f" (KS {ks:.2f})" if isinstance(ks, float) else "")] = fn
    return curves


#: Fewest spectra for pooled unfolding (as :mod:`hessrmt.rmt.stattests` does for its Brody fit).
POOLED_MIN_SPECTRA = 30


def bulk_segments(
    eigs: np.ndarray, *, zero_rtol: float | None, dtype: str | None
) -> list[list[np.ndarray]]:
    """Per spectrum, the bulk segments the summary's statistics use.

    As in :func:`hessrmt.rmt.summary.summarize_spectrum`: zeros and outliers removed
    (:func:`~hessrmt.rmt.bulk.split_spectrum`), near-degenerate levels merged
    (:func:`~hessrmt.rmt.spacings.remove_degeneracies`), and the bulk cut at the removed zero
    cluster into its negative and positive parts.
    """
    from hessrmt.rmt.bulk import split_spectrum
    from hessrmt.rmt.spacings import default_degeneracy_rtol, remove_degeneracies

    eigs = np.asarray(eigs, dtype=np.float64)
    parts = split_spectrum(eigs, zero_rtol=zero_rtol, dtype=dtype)
    rows = [eigs] if eigs.ndim == 1 else list(eigs)
    bmasks = [parts.bulk_mask] if eigs.ndim == 1 else list(parts.bulk_mask)
    zmasks = [parts.zero_mask] if eigs.ndim == 1 else list(parts.zero_mask)
    rtol = default_degeneracy_rtol(parts.dtype)
    out = []
    for row, b, z in zip(rows, bmasks, zmasks):
        bulk = np.sort(row[np.asarray(b)])
        if bulk.size >= 2:
            bulk = np.asarray(remove_degeneracies(bulk, rtol).eigenvalues)
        segs = [bulk[bulk < 0], bulk[bulk > 0]] if np.asarray(z).any() else [bulk]
        out.append([seg for seg in segs if seg.size >= 3])
    return out


def local_statistics(
    eigs: np.ndarray, *, zero_rtol: float | None, dtype: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """(reduced ratios, unfolded spacings) of the bulk of ``eigs`` (1-D, or 2-D rows).

    Ratios within the segments of :func:`bulk_segments`. Spacings: with at least
    :data:`POOLED_MIN_SPECTRA` spectra, pooled leave-one-out unfolding across spectra
    (Baskerville et al.; :func:`~hessrmt.rmt.unfolding.unfold_pooled`); otherwise Gaussian-kernel
    unfolding of each segment with 10 % of its levels dropped at either end (edge effects).
    """
    from hessrmt.rmt.spacings import reduced_ratios
    from hessrmt.rmt.unfolding import unfold_gaussian_kernel, unfold_pooled

    segments = bulk_segments(eigs, zero_rtol=zero_rtol, dtype=dtype)
    ratios = [np.asarray(reduced_ratios(seg)).ravel() for spec in segments for seg in spec]
    spacings: list[np.ndarray] = []
    spectra = [np.concatenate(spec) for spec in segments if spec]
    if len(spectra) >= POOLED_MIN_SPECTRA:
        unfolded = unfold_pooled(spectra)
        for spec, u in zip([s for s in segments if s], unfolded):
            start = 0
            for seg in spec:
                spacings.append(np.diff(np.asarray(u)[start : start + seg.size]))
                start += seg.size
    else:
        for spec in segments:
            for seg in spec:
                if seg.size < 20 or seg[-1] <= seg[0]:
                    continue
                u = np.asarray(unfold_gaussian_kernel(seg))
                cut = seg.size // 10
                spacings.append(np.diff(u[cut : seg.size - cut]))
    cat = lambda xs: np.concatenate(xs) if xs else np.empty(0)  # noqa: E731
    return cat(ratios), cat(spacings)


def make_figures(
    summary: Mapping[str, Any],
    spectra: Mapping[str, np.ndarray],
    slq: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The report's figures, keyed by file stem (see :data:`CAPTIONS`)."""
    from hessrmt.report import figures as F

    dense = summary.get("method") == "dense"
    dtype = summary.get("dtype")
    zero_rtol = (summary.get("settings") or {}).get("zero_rtol")
    figs: dict[str, Any] = {}
    if "trained" in spectra:
        rec = summary.get("trained") or {}
        trained = np.asarray(spectra["trained"], dtype=np.float64)
        figs["density"] = F.density_figure(
            trained,
            title="Trained full-data Hessian" + ("" if dense else " (Lanczos extremes + SLQ)"),
            fits=_fit_curves(rec) if dense else None,
            slq=slq or None,
        )
    comp = {k: spectra[k] for k in ("trained", "ggn", "residual", "init") if k in spectra}
    if dense and comp:
        figs["spectra"] = F.comparison_figure(comp, title="H, H0 (GGN), H1 (residual), init")
    if dense and "batch" in spectra:
        rec = summary.get("batch") or {}
        b = np.asarray(spectra["batch"], dtype=np.float64)
        figs["batch_density"] = F.density_figure(
            b,
            title="Batch Hessians (pooled)",
            name="batch",
            fits=_fit_curves(rec),
        )
    if dense:
        ratios, spacings, notes = {}, {}, {}
        for name in summary.get("spectra", []):
            if name not in spectra:
                continue
            r, s = local_statistics(spectra[name], zero_rtol=zero_rtol, dtype=dtype)
            ratios[name], spacings[name] = r, s
            rec = summary.get(name) or {}
            mr, verdict = rec.get("mean_ratio"), rec.get("verdict")
            if isinstance(mr, float):
                notes[name] = f"<r~> = {mr:.3f}, verdict {verdict}"
        if ratios:
            figs["ratios"] = F.ratio_figure(ratios, notes=notes)
            figs["spacings"] = F.spacing_figure(spacings)
        figs["zeros"] = F.degeneracy_figure(
            {k: spectra[k] for k in summary.get("spectra", []) if k in spectra},
            zero_rtol=_zero_rtol_used(summary),
        )
    return figs


def _zero_rtol_used(summary: Mapping[str, Any]) -> float | None:
    rtol = (summary.get("settings") or {}).get("zero_rtol")
    if rtol is None:
        from hessrmt.rmt.bulk import default_zero_rtol

        rtol = default_zero_rtol(summary.get("dtype") or "float64")
    return float(rtol)
