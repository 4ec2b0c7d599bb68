"""The HTML report of a ``hessrmt analyze`` run folder, rebuilt from its files alone.

:func:`build_report` reads ``summary.json``, ``spectrum.npz`` and ``slq.npz`` of a run folder (or
takes them from the pipeline), draws the figures (:mod:`hessrmt.report.figures`) into
``figures/*.png`` and writes ``report.html`` (self-contained: figures embedded as data URIs),
every file atomically. ``hessrmt report RUN_DIR`` calls it on an existing folder.

Local statistics shown in the figures are recomputed from the eigenvalues with the same rules as
the summary: the bulk of each spectrum (:func:`hessrmt.rmt.bulk.split_spectrum`, zeros and
outliers removed, near-degenerate levels merged, cut at the zero cluster), reduced ratios on the
raw bulk, unfolded spacings by pooled unfolding across spectra (Baskerville et al.) when there are
at least 30 batch spectra, else by Gaussian-kernel unfolding of each segment.
"""

from __future__ import annotations

import html
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.io import atomic_write_bytes
from hessrmt.report.run_loading import load_run
from hessrmt.runfolder import creation_modes

TITLE = "hessrmt analyze: Hessian spectrum against random matrix theory"

#: Captions of the figures, keyed by file stem.
CAPTIONS = {
    "density": "Exact eigenvalue density of the trained full-data Hessian (histogram, log scale) "
    "with the semicircle and Marchenko-Pastur laws fitted by moments and the SLQ density (band: "
    "spread across probes) as a cross-check.",
    "spectra": "Trained Hessian H against its Gauss-Newton part H0 and residual H1 = H - H0, "
    "and the Hessian at initialisation (symlog axis).",
    "batch_density": "Pooled eigenvalues of the batch Hessians (histogram, log scale) with the "
    "fitted laws.",
    "ratios": "Reduced spacing ratios r~ = min(r, 1/r) on the bulk of each spectrum against the "
    "GOE and GUE ratio laws (Atas et al. surmise) and Poisson.",
    "spacings": "Unfolded nearest-neighbour spacings on the bulk against the exact GOE law "
    "(Gaudin-Mehta), the Wigner surmise and Poisson. Pooled leave-one-out unfolding across "
    "batches when there are at least 30, else Gaussian-kernel unfolding of each bulk segment "
    "(10 % of levels dropped at either end). Unfolding a Hessian bulk is delicate; the verdict "
    "rests on the ratios, which need none.",
    "zeros": "Mass at zero: fraction of eigenvalues with |lambda| <= eps max|lambda| per "
    "spectrum; the dashed line is the zero tolerance used to separate zeros from the bulk.",
}


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


def _intro(summary: Mapping[str, Any]) -> str:
    data = summary.get("data") or {}
    data_name = data.get("name", data) if isinstance(data, dict) else data
    trained = summary.get("trained") or {}
    batch = summary.get("batch") or {}
    parts = [
        f"<p>Model <b>{html.escape(str(summary.get('model')))}</b> on "
        f"<b>{html.escape(str(data_name))}</b>: P = {summary.get('n_params')} parameters, "
        f"loss {html.escape(str(summary.get('loss')))}, {html.escape(str(summary.get('dtype')))}, "
        f"seed {summary.get('seed')}. Method: {html.escape(str(summary.get('method_reason')))}."
        "</p>"
    ]
    if trained.get("verdict"):
        parts.append(
            f"<p>Trained full-data Hessian: verdict <b>{html.escape(str(trained['verdict']))}"
            f"</b> (&lt;r~&gt; = {trained.get('mean_ratio', float('nan')):.4f} &plusmn; "
            f"{trained.get('mean_ratio_se', float('nan')):.4f}; GOE 0.5307, Poisson 0.3863).</p>"
        )
    if batch.get("verdict"):
        parts.append(
            f"<p>Batch Hessians ({batch.get('n_spectra')} batches pooled): verdict "
            f"<b>{html.escape(str(batch['verdict']))}</b> (&lt;r~&gt; = "
            f"{batch.get('mean_ratio', float('nan')):.4f} &plusmn; "
            f"{batch.get('mean_ratio_se', float('nan')):.4f}).</p>"
        )
    for name, why in (summary.get("skipped") or {}).items():
        parts.append(f"<p>Skipped <b>{html.escape(name)}</b>: {html.escape(str(why))}.</p>")
    return "".join(parts)


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


def _profile_sentence(prof: Any) -> str:
    """Where Sigma^2(L) exceeds GOE's 99th percentile along the bulk (from the summary's
    ``number_variance_profile``; docs/reference/verdict.md)."""
    if not isinstance(prof, dict) or not prof.get("n_stretches") or prof.get("goe_q99") is None:
        return ""
    segs = [
        ", ".join("n/c" if v is None else f"{v:.2f}" for v in seg["sigma2"])
        for seg in prof["segments"]
    ]
    return html.escape(
        f" Σ²({prof['length']:g}) along the bulk (equal stretches of unfolded levels, "
        f"lowest first; segments separated by '|'): {' | '.join(segs)}; GOE mean "
        f"{prof['goe_mean']:.2f}, 99th percentile {prof['goe_q99']:.2f}; "
        f"{prof['n_above_q99']} of {prof['n_stretches']} stretches above it."
    )


def verdict_sentences(summary: dict[str, Any]) -> str:
    """One computed sentence per spectrum: its verdict and, for GOE and Poisson, the statistics
    that reject them after Holm's correction (from ``verdict_tests``; HTML paragraphs)."""
    out = []
    for name in ("trained", "init", "batch", "ggn", "residual"):
        rec = summary.get(name)
        vt = rec.get("verdict_tests") if isinstance(rec, dict) else None
        if not isinstance(vt, dict) or "tests" not in vt:
            continue
        alpha = vt.get("alpha", 0.01)
        parts = []
        for cls in ("GOE", "Poisson"):
            t = vt["tests"].get(cls)
            if not t:
                continue
            adj = {k: v for k, v in t.get("holm_adjusted", {}).items() if v is not None}
            skipped = [k for k, v in t.get("holm_adjusted", {}).items() if v is None]
            rej = [f"{k.replace('_', ' ')} (p = {v:.2g})" for k, v in adj.items() if v < alpha]
            text = (
                f"{cls} rejected by {', '.join(rej)}"
                if rej
                else f"{cls} consistent in all {len(adj)} computable statistics"
            )
            if skipped:
                text += f" ({', '.join(k.replace('_', ' ') for k in skipped)} not computable)"
            parts.append(text)
        out.append(
            f"<b>{html.escape(name)}</b>: verdict {html.escape(str(vt.get('verdict')))} on "
            f"{vt.get('n_selected_levels')} levels; {html.escape('; '.join(parts))} "
            f"(Holm-corrected, family-wise level {alpha:g})."
            + _profile_sentence(vt.get("number_variance_profile"))
        )
    if not out:
        return "<p>No spectrum had enough levels for the local-statistics tests.</p>"
    return "".join(f"<p>{o}</p>" for o in out)


def build_report(
    run_dir: str | Path,
    *,
    summary: Mapping[str, Any] | None = None,
    spectra: Mapping[str, np.ndarray] | None = None,
    slq: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Draw the figures into ``run_dir/figures/`` and write ``run_dir/report.html``.

    Anything not given is read from the run folder (:func:`load_run`). Returns the report path.
    """
    from hessrmt.report.figures import to_png

    run = Path(run_dir)
    if summary is None or spectra is None:
        s2, sp2, slq2 = load_run(run)
        summary = summary if summary is not None else s2
        spectra = spectra if spectra is not None else sp2
        slq = slq if slq is not None else slq2
    figs = make_figures(summary, spectra, slq)
    # Figures go to a fresh folder that replaces figures/ only once the report is written: no
    # stale figure of an earlier build survives, and a failure leaves the old report intact.
    stage = Path(tempfile.mkdtemp(prefix=".figures.tmp-", dir=run))
    try:
        pngs = {
            stem: atomic_write_bytes(stage / f"{stem}.png", to_png(fig))
            for stem, fig in figs.items()
        }
        path = _write_html(run, summary, pngs)
        old = run / "figures"
        if old.is_dir() and not old.is_symlink():
            trash = Path(tempfile.mkdtemp(prefix=".figures.old-", dir=run))
            os.replace(old, trash)
            os.replace(stage, old)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(stage, old)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    file_mode, dir_mode = creation_modes(run)  # mkstemp files are 0600: follow the umask
    for p in (path, old, *old.iterdir()):
        p.chmod(dir_mode if p.is_dir() else file_mode)
    return path


def _batch_noise_section(summary: Mapping[str, Any]) -> Any:
    from hessrmt.report.batch_noise_section import batch_noise_html, batch_noise_table
    from hessrmt.report.html import Section

    table = batch_noise_table(summary)
    return Section(
        "Batch noise (Baskerville et al. 2022)",
        html=batch_noise_html(summary),
        tables=[table] if table is not None else [],
    )


def _write_html(run: Path, summary: Mapping[str, Any], pngs: Mapping[str, Path]) -> Path:
    from hessrmt.report.html import Section, write_report
    from hessrmt.report.subblock_table import subblock_section

    def fig_list(*stems: str) -> list[tuple[str, Path]]:
        return [(CAPTIONS[s], pngs[s]) for s in stems if s in pngs]

    slq_info = _get(summary, "steps", "slq") or {}
    slq_note = (
        f"<p>SLQ cross-check: {slq_info.get('num_probes')} probes x {slq_info.get('num_steps')} "
        f"Lanczos steps; 1-Wasserstein distance between the SLQ quadrature measure and the exact "
        f"spectrum: {slq_info['wasserstein_to_exact']:.3g} (lambda_max = "
        f"{_get(summary, 'trained', 'lambda_max'):.4g}).</p>"
        if isinstance(slq_info.get("wasserstein_to_exact"), float)
        else ""
    )
    sections = [
        Section("Verdict", html=_intro(summary), tables=[verdict_table(summary)]),
        Section(
            "Global density",
            html=slq_note,
            figures=fig_list("density", "spectra", "batch_density"),
            tables=[t for t in (fits_table(summary), family_table(summary)) if t is not None],
        ),
        Section(
            "Local statistics",
            html=verdict_sentences(summary),
            figures=fig_list("ratios", "spacings"),
            tables=[_reference_table(summary)],
        ),
        *[sec for sec in [subblock_section(summary)] if sec is not None],
        _batch_noise_section(summary),
        Section("Zeros and degeneracy", figures=fig_list("zeros")),
        Section("Training", tables=[_training_table(summary)]),
    ]
    meta = {
        "settings": summary.get("settings"),
        "conventions": summary.get("conventions"),
        "steps": summary.get("steps"),
        "versions": summary.get("versions"),
    }
    return write_report(
        run / "report.html",
        TITLE,
        sections,
        meta,
        subtitle=f"{summary.get('model')} on {_get(summary, 'data', 'name')}",
    )
