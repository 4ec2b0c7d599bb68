"""Tables of the ``hessrmt analyze`` report, built from ``summary.json`` alone.

:func:`verdict_table` (one row per spectrum: extremes, trace, zeros, outliers, mean reduced
ratio with its standard error, KS p-values against GOE and Poisson, the fitted level-repulsion
beta with its 95 % interval, the verdict), :func:`fits_table` (moment fits of the semicircle and
Marchenko-Pastur laws), :func:`family_table` (random-matrix families fitted by W1), and the
reference-value and training tables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _fmt(value: Any, digits: int = 4) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    return value


def _get(d: Mapping[str, Any] | None, *keys: str) -> Any:
    cur: Any = d
    for k in keys:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(k)
    return cur


def verdict_table(summary: Mapping[str, Any]) -> Any:
    """The verdict table: one row per spectrum."""
    from hessrmt.report.html import Table

    header = [
        "spectrum", "spectra x size", "[lambda_min, lambda_max]", "trace", "n_negative",
        "zeros: fraction (exact / round-off)", "outliers", "<r~> +- SE",
        "KS p: GOE / Poisson", "beta [95%]", "verdict",
    ]  # fmt: skip
    rows = []
    for name in summary.get("spectra", []):
        rec = summary.get(name) or {}
        mr, se = rec.get("mean_ratio"), rec.get("mean_ratio_se")
        beta = _get(rec, "beta_fit", "beta")
        lo, hi = _get(rec, "beta_fit", "low"), _get(rec, "beta_fit", "high")
        pg, pp = _get(rec, "ks_goe", "pvalue"), _get(rec, "ks_poisson", "pvalue")
        zf = rec.get("zero_fraction")
        rows.append(
            [
                name,
                f"{rec.get('n_spectra')} x {_per_spectrum(rec)}",
                f"[{_g(rec.get('lambda_min'))}, {_g(rec.get('lambda_max'))}]",
                _fmt(rec.get("trace")),
                rec.get("n_negative"),
                f"{zf:.3f} ({rec.get('n_zero_exact')} / {rec.get('n_zero_roundoff')})"
                if isinstance(zf, float)
                else None,
                rec.get("n_outliers"),
                f"{mr:.4f} +- {se:.4f}" if isinstance(mr, float) and isinstance(se, float) else mr,
                f"{_g(pg, 2)} / {_g(pp, 2)}" if pg is not None or pp is not None else None,
                f"{beta:.2f} [{lo:.2f}, {hi:.2f}]"
                if all(isinstance(v, float) for v in (beta, lo, hi))
                else _fmt(beta),
                rec.get("verdict") or "not computed",
            ]
        )
    return Table(
        "Verdicts (local statistics on the bulk; zeros and outliers excluded; KS p-values from "
        "simulated nulls)",
        header,
        rows,
    )


def _g(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if isinstance(value, (int, float)) else "-"


def _per_spectrum(rec: Mapping[str, Any]) -> Any:
    n, m = rec.get("n_eigenvalues"), rec.get("n_spectra") or 1
    return n // m if isinstance(n, int) and isinstance(m, int) and m else n


def fits_table(summary: Mapping[str, Any]) -> Any:
    """How badly the semicircle and Marchenko-Pastur laws fit each spectrum."""
    from hessrmt.report.html import Table

    rows = []
    for name in summary.get("spectra", []):
        fits = (summary.get(name) or {}).get("fits") or {}
        for key in ("semicircle", "marchenko_pastur"):
            rec = fits.get(key)
            if not isinstance(rec, dict):
                continue
            params = rec.get("params") or {}
            rows.append(
                [
                    name,
                    key.replace("_", "-"),
                    ", ".join(f"{k} = {_fmt(v)}" for k, v in params.items()) or rec.get("error"),
                    _fmt(rec.get("ks_statistic")),
                    _fmt(rec.get("wasserstein")),
                    {True: "yes", False: "no"}.get(rec.get("plausible"), "not tested"),
                ]
            )
    return Table(
        "Moment fits to all eigenvalues, zeros included (KS: sup |F_emp - F_law|; W1: "
        "1-Wasserstein distance; large values mean the law does not describe the spectrum)",
        ["spectrum", "law", "parameters", "KS distance", "W1", "plausible (simulated null)"],
        rows,
    )


def family_table(summary: Mapping[str, Any]) -> Any:
    """Random-matrix families fitted to the trained spectrum (summary ``trained.family_fits``),
    best first; None when they were not computed."""
    from hessrmt.report.html import Table
    from hessrmt.rmt.family_fit import format_pvalue

    rec = (summary.get("trained") or {}).get("family_fits")
    if not isinstance(rec, dict):
        return None
    if "error" in rec:
        return Table("Random-matrix families: not fitted", ["reason"], [[rec["error"]]])
    rows = [
        [
            f["family"],
            ", ".join(f"{k} = {_fmt(v)}" for k, v in (f.get("params") or {}).items()),
            _fmt(f.get("w1")),
            _fmt(f.get("ks")),
            format_pvalue(f) if f.get("pvalue_at_floor") else _fmt(f.get("pvalue")),
            str(f.get("n_params")),
        ]
        for f in rec.get("families", [])
    ]
    rows += [
        [name, f"skipped: {why}", "", "", "", ""] for name, why in rec.get("skipped", {}).items()
    ]
    n_boot = (rec.get("conventions") or {}).get("n_boot")
    return Table(
        f"Random-matrix families fitted to the trained spectrum by W1 (best first: "
        f"{rec.get('best')}; atom matched to the measured zero fraction; "
        f"{len(rec.get('outliers') or [])} outliers kept apart; p: KS p-value of a "
        f"{n_boot}-replicate refitting parametric bootstrap)",
        ["family", "parameters", "W1", "KS distance", "bootstrap p", "parameters (k)"],
        rows,
    )


def _reference_table(summary: Mapping[str, Any]) -> Any:
    from hessrmt.report.html import Table

    ref = None
    for name in summary.get("spectra", []):
        ref = (summary.get(name) or {}).get("reference")
        if isinstance(ref, dict):
            break
    rows = [[k, _fmt(v)] for k, v in (ref or {}).items()]
    return Table("Reference values of <r~> (large N, Atas et al. 2013)", ["ensemble", "<r~>"], rows)


def _training_table(summary: Mapping[str, Any]) -> Any:
    from hessrmt.report.html import Table

    tr = summary.get("training") or {}
    rows = [[k, _fmt(v) if not isinstance(v, dict) else json.dumps(v)] for k, v in tr.items()]
    return Table("Training", ["setting", "value"], rows)
