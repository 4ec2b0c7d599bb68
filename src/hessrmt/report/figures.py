"""Figures of Hessian spectra against random matrix theory (matplotlib, no pyplot state).

Every function returns a :class:`matplotlib.figure.Figure` built with the object-oriented API (no
global pyplot state, safe in threads and tests) and takes plain arrays, so a report can be rebuilt
from ``spectrum.npz`` alone. Reference curves come from :mod:`hessrmt.rmt.reference`:

* reduced spacing ratios r~ = min(r, 1/r) on [0, 1]: density 2 P_W(r~) of the Atas et al. surmise
  (GOE, beta = 1; GUE, beta = 2) and 2 / (1 + r~)^2 for Poisson;
* unfolded spacings (mean 1): the exact GOE spacing law (Gaudin-Mehta), the GOE Wigner surmise
  (pi s / 2) exp(-pi s^2 / 4) and Poisson exp(-s);
* densities: fitted semicircle / Marchenko-Pastur laws, scaled by the fraction of non-zero
  eigenvalues they were fitted to, and the SLQ density with its band.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

#: Colours of the spectra, fixed so that every figure uses the same one for the same spectrum.
COLORS = {
    "trained": "#0969da",
    "init": "#8250df",
    "batch": "#1a7f37",
    "ggn": "#bc4c00",
    "residual": "#cf222e",
}


def _color(name: str) -> str:
    return COLORS.get(name, "#57606a")


def _single(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.14, top=0.9)
    return fig


def to_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """PNG bytes of ``fig`` in one drawing pass (fixed margins, no tight bounding box)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _grid(n: int, *, width: float = 3.6, height: float = 3.0) -> tuple[Figure, list[Any]]:
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(width * cols, height * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    fig.subplots_adjust(
        left=0.06,
        right=0.98,
        bottom=0.1 / rows + 0.03,
        top=1 - 0.15 / rows,
        wspace=0.25,
        hspace=0.55,
    )
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def density_figure(
    eigs: np.ndarray,
    *,
    title: str = "Eigenvalue density",
    name: str = "trained",
    fits: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
    fit_mass: float = 1.0,
    slq: Mapping[str, np.ndarray] | None = None,
    bins: int = 80,
) -> Figure:
    """Histogram of all eigenvalues (log density axis) with fitted laws and the SLQ density.

    ``fits`` maps a label to a density function; each is drawn multiplied by ``fit_mass`` (the
    fraction of eigenvalues it was fitted to), so that areas are comparable with the histogram.
    ``slq`` holds ``grid``, ``density`` and optionally ``band`` (a (2, G) lower/upper envelope or a
    (G,) standard deviation), all normalised to total mass 1.
    """
    x = np.asarray(eigs, dtype=np.float64).ravel()
    fig = _single(7.5, 4.2)
    ax = fig.subplots()
    lo, hi = float(x.min()), float(x.max())
    if slq is not None and len(slq.get("grid", ())):
        lo, hi = min(lo, float(np.min(slq["grid"]))), max(hi, float(np.max(slq["grid"])))
    pad = 0.02 * (hi - lo) if hi > lo else 1.0
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    heights, _, _ = ax.hist(
        x, bins=edges, density=True, color=_color(name), alpha=0.45, label=f"exact ({x.size})"
    )
    positive = heights[heights > 0]
    floor = float(positive.min()) / 5 if positive.size else 1e-6
    xs = np.linspace(edges[0], edges[-1], 1200)
    styles = iter(["-", "--", ":", "-."])
    for label, fn in (fits or {}).items():
        ys = np.asarray(fn(xs), dtype=np.float64) * fit_mass
        ax.plot(
            xs, np.where(ys > floor, ys, np.nan), next(styles, "-"), color="k", lw=1.2, label=label
        )
    if slq is not None and len(slq.get("grid", ())):
        g, d = np.asarray(slq["grid"]), np.asarray(slq["density"])
        ax.plot(g, np.where(d > floor, d, np.nan), color="#bf3989", lw=1.3, label="SLQ density")
        band = np.asarray(slq.get("band", np.empty(0)))
        if band.shape == (2, g.size):
            lower, upper = band
        elif band.shape == (g.size,):
            lower, upper = d - band, d + band
        else:
            lower = upper = None
        if lower is not None:
            ax.fill_between(
                g,
                np.clip(lower, floor, None),
                np.clip(upper, floor, None),
                color="#bf3989",
                alpha=0.15,
                lw=0,
            )
    ax.set_yscale("log")
    ax.set_ylim(floor, 3 * float(heights.max()) if heights.size else 1.0)
    ax.set_xlabel("eigenvalue $\\lambda$")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def ratio_figure(
    ratios: Mapping[str, np.ndarray],
    *,
    notes: Mapping[str, str] | None = None,
    bins: int = 25,
) -> Figure:
    """Histograms of reduced spacing ratios r~ per spectrum against GOE, GUE and Poisson."""
    from hessrmt.rmt.reference import ratio_pdf

    names = list(ratios)
    fig, axes = _grid(max(len(names), 1))
    r = np.linspace(0.0, 1.0, 400)
    curves = [
        ("GOE", ratio_pdf(r, 1, reduced=True), "black", "-"),
        ("GUE", ratio_pdf(r, 2, reduced=True), "#57606a", ":"),
        ("Poisson", ratio_pdf(r, 0, reduced=True), "#cf222e", "--"),
    ]
    _histogram_panels(
        axes,
        ratios,
        r,
        curves,
        bins=bins,
        x_max=1.0,
        xlabel="$\\tilde r$",
        unit="ratios",
        notes=notes,
    )
    return fig


def _histogram_panels(
    axes: Sequence[Any],
    samples: Mapping[str, np.ndarray],
    x: np.ndarray,
    curves: Sequence[tuple[str, np.ndarray, str, str]],
    *,
    bins: int,
    x_max: float,
    xlabel: str,
    unit: str,
    notes: Mapping[str, str] | None,
) -> None:
    """One density histogram per named sample on [0, x_max], each with the reference ``curves``
    ((label, values on ``x``, colour, line style))."""
    for ax, name in zip(axes, samples):
        values = np.asarray(samples[name], dtype=np.float64).ravel()
        if values.size:
            ax.hist(
                values, bins=bins, range=(0, x_max), density=True, color=_color(name), alpha=0.5
            )
        for label, ys, col, ls in curves:
            ax.plot(x, ys, ls, color=col, lw=1.2, label=label)
        ax.set_xlim(0, x_max)
        ax.set_xlabel(xlabel)
        ax.set_title(
            f"{name}: {values.size} {unit}"
            + (f"\n{notes[name]}" if notes and name in notes else ""),
            fontsize=9,
        )
    if samples:
        axes[0].set_ylabel("density")
        axes[0].legend(fontsize=8)


def spacing_figure(
    spacings: Mapping[str, np.ndarray],
    *,
    notes: Mapping[str, str] | None = None,
    bins: int = 30,
    s_max: float = 4.0,
) -> Figure:
    """Histograms of unfolded spacings per spectrum against Gaudin (exact GOE), Wigner, Poisson."""
    from hessrmt.rmt.reference import gaudin_pdf, wigner_surmise_pdf

    names = list(spacings)
    fig, axes = _grid(max(len(names), 1))
    s = np.linspace(0.0, s_max, 400)
    curves = [
        ("GOE exact (Gaudin)", gaudin_pdf(s, 1), "black", "-"),
        ("GOE Wigner surmise", wigner_surmise_pdf(s, 1), "#57606a", ":"),
        ("Poisson", np.exp(-s), "#cf222e", "--"),
    ]
    _histogram_panels(
        axes,
        spacings,
        s,
        curves,
        bins=bins,
        x_max=s_max,
        xlabel="unfolded spacing $s$",
        unit="spacings",
        notes=notes,
    )
    return fig


def degeneracy_figure(
    spectra: Mapping[str, np.ndarray],
    *,
    eps: Sequence[float] | None = None,
    zero_rtol: float | None = None,
) -> Figure:
    """Fraction of eigenvalues with |lambda| <= eps * max|lambda| (per spectrum) against eps.

    The relative threshold makes spectra of different scales comparable (docs/reference/papers.md
    §2.4 uses
    absolute thresholds; §2.6 explains why a relative one is needed). Exact zeros are counted at
    every eps. ``zero_rtol`` draws the zero tolerance in force as a vertical line.
    """
    eps_arr = np.logspace(-18, 0, 73) if eps is None else np.asarray(eps, dtype=np.float64)
    fig = _single(7.5, 4.0)
    ax = fig.subplots()
    for name, eigs in spectra.items():
        rows = np.atleast_2d(np.asarray(eigs, dtype=np.float64))
        scale = np.abs(rows).max(axis=1, keepdims=True)
        scale = np.where(scale > 0, scale, 1.0)
        rel = (np.abs(rows) / scale).ravel()
        frac = (rel[None, :] <= eps_arr[:, None]).mean(axis=1)
        ax.plot(eps_arr, frac, marker=".", ms=3, color=_color(name), label=name)
    if zero_rtol is not None:
        ax.axvline(zero_rtol, color="black", ls="--", lw=1, label=f"zero tolerance {zero_rtol:g}")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("$\\varepsilon$ (relative to $\\max|\\lambda|$ of each spectrum)")
    ax.set_ylabel("fraction with $|\\lambda| \\leq \\varepsilon \\max|\\lambda|$")
    ax.set_title("Mass at zero")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def comparison_figure(
    spectra: Mapping[str, np.ndarray], *, title: str = "Spectra compared", bins: int = 80
) -> Figure:
    """Step histograms of several spectra on common axes (e.g. H, H0 = GGN, H1 = residual).

    The x axis is ``symlog`` (linear within 1e-3 of the largest |lambda|), so a bulk near zero and
    outliers far from it are visible together.
    """
    fig = _single(7.5, 4.0)
    ax = fig.subplots()
    allv = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in spectra.values()])
    top = float(np.abs(allv).max()) or 1.0
    lin = top * 1e-3
    tr = np.arcsinh(allv / lin)
    edges = np.sinh(np.linspace(tr.min(), tr.max(), bins + 1)) * lin
    for name, eigs in spectra.items():
        v = np.asarray(eigs, dtype=np.float64).ravel()
        w = np.full(v.size, 1.0 / v.size)
        ax.hist(v, bins=edges, weights=w, histtype="step", lw=1.4, color=_color(name), label=name)
    ax.set_xscale("symlog", linthresh=lin)
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue $\\lambda$ (symlog)")
    ax.set_ylabel("fraction of eigenvalues per bin")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
