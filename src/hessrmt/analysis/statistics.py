"""RMT analysis of one spectrum (or a batch of spectra) for ``summary.json``.

Pure NumPy/SciPy on top of :mod:`hessrmt.rmt`. For each spectrum the record holds

* the keys printed by ``hessrmt stats --json`` (:meth:`SpectrumSummary.to_summary_dict`: zero mass
  split into exact zeros and round-off, bulk edges, outliers, mean reduced ratio with its standard
  error, KS tests against GOE and Poisson, fitted beta, Brody q, verdict), computed on the bulk;
* ``lambda_max``, ``lambda_min``; ``trace`` = sum of the eigenvalues (for a batch of spectra: the
  mean over spectra of each spectrum's sum); ``n_negative`` = number of eigenvalues below
  ``-tol`` with ``tol`` the zero tolerance of :func:`hessrmt.rmt.bulk.split_spectrum` (negative
  round-off is not counted; for a batch: per-spectrum tolerances, total over spectra);
  ``n_negative_raw`` counts every eigenvalue < 0;
* ``fits``: moment fits of the semicircle and Marchenko-Pastur laws (:mod:`hessrmt.rmt.fit`) to
  all eigenvalues (zeros included, so that an MP atom can absorb them), with the KS and
  1-Wasserstein distances saying how badly each law fits (and, with ``fit_null > 0``, a
  simulated-null plausibility verdict).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.io import to_jsonable


def _fit_record(fit: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "name": fit.name,
        "params": dict(fit.params),
        "n_eigenvalues": int(fit.n_eigenvalues),
        "ks_statistic": float(fit.ks_statistic),
        "wasserstein": float(fit.wasserstein),
    }
    if fit.n_null > 0:
        rec.update(ks_threshold=float(fit.ks_threshold), plausible=bool(fit.plausible),
                   n_null=int(fit.n_null), alpha=float(fit.alpha))  # fmt: skip
    return to_jsonable(rec)


def fit_laws(values: np.ndarray, *, n_null: int = 0, seed: int = 0) -> dict[str, Any]:
    """Semicircle and Marchenko-Pastur moment fits to ``values`` (:mod:`hessrmt.rmt.fit`).

    ``n_null > 0`` adds the simulated-null plausibility test of each fit (costly for large
    spectra: one matrix-model spectrum of the same size per replicate).
    """
    from hessrmt.rmt.fit import fit_marchenko_pastur, fit_semicircle

    out: dict[str, Any] = {}
    values = np.asarray(values, dtype=np.float64)
    for key, fn in (("semicircle", fit_semicircle), ("marchenko_pastur", fit_marchenko_pastur)):
        try:
            out[key] = _fit_record(fn(values, n_null=n_null, rng=seed))
        except InputError as exc:  # e.g. MP on a spectrum with a negative or round-off mean
            out[key] = {"name": key, "error": str(exc)}
    return out


def family_fit_record(
    values: np.ndarray,
    *,
    n_boot: int,
    seed: int = 0,
    zero_rtol: float | None = None,
    dtype: str | None = None,
) -> dict[str, Any]:
    """Every family of :mod:`hessrmt.rmt.family_fit` fitted to ``values`` by W1 with the atom
    matched to the measured zero fraction, outliers kept apart, ranked by W1 (best first), with
    ``n_boot`` refitting parametric-bootstrap replicates; ``{"error": why}`` when no family can
    be fitted (e.g. fewer than 10 nonzero eigenvalues). Zeros as for the spectrum's record:
    ``zero_rtol``, else the default of the precision ``dtype`` the eigenvalues were computed in
    (:func:`hessrmt.rmt.bulk.fit_zero_rtol`)."""
    from hessrmt.rmt.bulk import fit_zero_rtol
    from hessrmt.rmt.family_fit import fit_families

    try:
        res = fit_families(
            np.asarray(values, dtype=np.float64).ravel(), n_boot=n_boot, rng=seed,
            outliers="remove", zero_rtol=fit_zero_rtol(zero_rtol, dtype),
        )  # fmt: skip
    except InputError as exc:
        return {"error": str(exc)}
    return to_jsonable(res)


def _record_without_statistics(
    eigs: np.ndarray, zero_rtol: float | None, dtype: str | None, why: str
) -> dict[str, Any]:
    """The ``hessrmt stats --json`` keys of a spectrum too degenerate for local statistics
    (e.g. the identically zero residual of softmax regression): zero mass and outliers where
    they can be computed, None for the statistics, and ``skipped`` saying why."""
    from hessrmt.rmt.bulk import split_spectrum
    from hessrmt.rmt.summary import SUMMARY_KEYS

    record: dict[str, Any] = dict.fromkeys(SUMMARY_KEYS)
    record.update(
        n_spectra=1 if eigs.ndim == 1 else int(eigs.shape[0]),
        n_eigenvalues=int(eigs.size),
        skipped=f"no local statistics: {why}",
    )
    parts = split_spectrum(eigs, zero_rtol=zero_rtol, dtype=dtype)
    zero = np.asarray(parts.zero_mask)
    record.update(
        zero_fraction=float(zero.mean()),
        n_zero_exact=int(parts.n_zero_exact),
        n_zero_roundoff=int(parts.n_zero_roundoff),
        n_outliers=int(np.asarray(parts.outlier_mask).sum()),
        excluded={"zeros": int(zero.sum()), "outliers": int(np.asarray(parts.outlier_mask).sum())},
        conventions=dict(parts.conventions),
    )
    return record


def too_few_levels_advice(name: str, n_params: int, batch_hessians: int) -> str:
    """What an ``analyze`` user can do when spectrum ``name`` has too few levels."""
    if name == "batch":
        return (
            f"pass more --batch-hessians (each adds up to {n_params} levels; now "
            f"{batch_hessians}) or use a model with more parameters (--model)"
        )
    return (
        f"use a model with more parameters (--model; this spectrum has one level per parameter, "
        f"P = {n_params}); batch Hessians (--batch-hessians) are pooled for more levels"
    )


def spectrum_record(
    eigs: np.ndarray,
    *,
    zero_rtol: float | None = None,
    seed: int = 0,
    dtype: str | None = "float64",
    fit_null: int = 0,
    advice: str | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` record of ``eigs`` (1-D: one spectrum; 2-D: rows are spectra).

    ``advice``: what to do when the spectrum has too few levels for a statistic, in the terms of
    the caller's options (see :func:`hessrmt.rmt.summary.summarize_spectrum`).
    """
    from hessrmt.rmt.bulk import default_zero_rtol, split_spectrum
    from hessrmt.rmt.summary import summarize_spectrum

    eigs = np.asarray(eigs, dtype=np.float64)
    if zero_rtol is None:  # the tolerance of the precision the eigenvalues were computed in
        zero_rtol = default_zero_rtol(dtype or "float64")
    try:
        summary = summarize_spectrum(
            eigs, zero_rtol=zero_rtol, rng=seed, dtype=dtype, advice=advice
        )
        record: dict[str, Any] = dict(summary.to_summary_dict())
    except InputError as exc:  # e.g. fewer than 10 usable eigenvalues: say so, keep the rest
        record = _record_without_statistics(eigs, zero_rtol, dtype, str(exc))
    parts = split_spectrum(eigs, zero_rtol=zero_rtol, dtype=dtype)
    rows = eigs if eigs.ndim == 2 else eigs[None, :]
    tol = np.broadcast_to(np.asarray(parts.zero_tolerance, dtype=np.float64), (rows.shape[0],))
    record["lambda_max"] = float(eigs.max())
    record["lambda_min"] = float(eigs.min())
    record["trace"] = float(rows.sum(axis=1).mean())
    record["n_negative"] = int((rows < -tol[:, None]).sum())
    record["n_negative_raw"] = int((eigs < 0).sum())
    record["zero_tolerance"] = float(tol.max())
    record["fits"] = fit_laws(eigs.ravel(), n_null=fit_null, seed=seed)
    return to_jsonable(record)


def partial_record(eigs: np.ndarray, *, trace: float | None, trace_stderr: float | None) -> dict:
    """Record of a spectrum known only at its extremes (Lanczos): no local statistics."""
    eigs = np.asarray(eigs, dtype=np.float64)
    return to_jsonable(
        {
            "n_spectra": 1 if eigs.ndim == 1 else int(eigs.shape[0]),
            "n_eigenvalues": int(eigs.size),
            "lambda_max": float(eigs.max()),
            "lambda_min": float(eigs.min()),
            "trace": trace,
            "trace_stderr": trace_stderr,
            "n_negative": None,
            "verdict": None,
            "skipped": "only extremal eigenvalues (Lanczos) are known: density from SLQ, "
            "no full-spectrum local statistics, zero mass or fits (local statistics: see the "
            "principal sub-blocks)",
        }
    )
