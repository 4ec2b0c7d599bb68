"""The HTML report of a ``hessrmt analyze`` run folder, rebuilt from its files alone.

:func:`build_report` reads ``summary.json``, ``spectrum.npz`` and ``slq.npz`` of a run folder (or
takes them from the pipeline), draws the figures (:mod:`hessrmt.report.analysis_figures`) into
``figures/*.png`` and writes ``report.html`` (self-contained: figures embedded as data URIs),
every file atomically. ``hessrmt report RUN_DIR`` calls it on an existing folder.

This module assembles the sections and holds their computed text (introduction, verdict
sentences); the tables are :mod:`hessrmt.report.analysis_tables`, the figures and the local
statistics they show (same rules as the summary) :mod:`hessrmt.report.analysis_figures`, whose
public names stay importable from here.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.io import atomic_write_bytes
from hessrmt.report.analysis_figures import (  # noqa: F401 - public names, moved there
    POOLED_MIN_SPECTRA,
    bulk_segments,
    local_statistics,
    make_figures,
)
from hessrmt.report.analysis_tables import (  # noqa: F401 - public names, moved there
    _fmt,
    _get,
    _reference_table,
    _training_table,
    family_table,
    fits_table,
    verdict_table,
)
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
    if isinstance(slq_info.get("node_mass"), float):
        zero = _get(summary, "trained", "zero_fraction")
        slq_note += (
            f"<p>SLQ with the Gauss-Radau rule (a node at 0): its mass at 0 is "
            f"{slq_info['node_mass']:.3g} +- {slq_info.get('node_mass_se', float('nan')):.2g} "
            "(mean over probes +- SE). It counts the mass at and near 0 that "
            f"{slq_info.get('num_steps')} steps cannot resolve, so per probe it is never below "
            "that probe's exact null mass"
            + (
                f"; the exact spectrum's zero fraction is {zero:.3g}."
                if isinstance(zero, float)
                else "."
            )
            + "</p>"
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
