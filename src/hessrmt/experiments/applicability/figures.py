"""Figures of the applicability reproduction's report (matplotlib; PNG bytes via :func:`png`).

Degeneracy curves against the paper's, batch-Hessian ratios and unfolded spacings against the
GOE surmise, float64 against float32 eigenvalue magnitudes, the GP Hessian toy and its sweeps,
gradient decorrelation against distance, and the hardness fits; each takes the run's arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hessrmt.errors import InputError

from . import statistics as st
from .paper_values import PAPER_DEGENERACY, PAPER_EPS


def png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    from hessrmt.report.html import figure_to_png

    try:
        return figure_to_png(fig, dpi=90)
    finally:
        plt.close(fig)


def _goe_ratio_pdf(r: np.ndarray) -> np.ndarray:
    return 27.0 / 8.0 * (r + r**2) / (1.0 + r + r**2) ** 2.5


def fig_degeneracy(models: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    x = np.log10(st.EPS_GRID)
    for ax, precision in zip(axes, ("float64", "float32")):
        for key, m in models.items():
            for vkey, arr in m.spectra.items():
                if not vkey.endswith(f"/batch/{precision}"):
                    continue
                fr = st.degeneracy_curve(arr[np.all(np.isfinite(arr), axis=1)])["fraction"]
                ax.plot(x, fr, marker="o", label=f"{key} {vkey.rsplit('/', 2)[0]}")
        if precision == "float32":
            for name in ("MNIST logistic, test", "MNIST MLP, test", "Bike MLP GGN"):
                ax.plot(np.log10(PAPER_EPS), PAPER_DEGENERACY[name], ls="--", color="gray", lw=1)
            ax.plot([], [], ls="--", color="gray", label="paper (float32), 3 models")
        ax.set_title(f"batch Hessians diagonalised in {precision}")
        ax.set_xlabel("log10 eps")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("fraction of |lambda| < eps")
    return fig


def fig_ratios(models: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    panels = []
    for key, m in models.items():
        for state in ("untrained", "trained"):
            if f"{state}/hessian/batch/float64" in m.spectra:
                panels.append((key, state))
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.0 * len(panels)), squeeze=False)
    r = np.linspace(0.01, 10, 400)
    for row, (key, state) in enumerate(panels):
        m = models[key]
        for col, (precision, how) in enumerate(
            (("float64", "relative cut 1e-9 max|λ|"), ("float32", "paper: |λ| > 1e-10"))
        ):
            ax = axes[row, col]
            arr = m.spectra.get(f"{state}/hessian/batch/{precision}")
            if arr is None:
                ax.set_visible(False)
                continue
            arr = arr[np.all(np.isfinite(arr), axis=1)]
            if precision == "float64":
                rows = [x[np.abs(x) > 1e-9 * np.max(np.abs(x))] for x in arr]
                rr = st.paper_ratios(rows, cut=0.0) if rows else np.empty(0)
            else:
                rr = st.paper_ratios(arr)
            ax.hist(rr[rr < 10], bins=st.RATIO_BINS, density=True, alpha=0.6, label="ratios")
            ax.plot(r, _goe_ratio_pdf(r), "k-", label="GOE surmise")
            ax.plot(r, 1 / (1 + r) ** 2, "r--", label="Poisson")
            ax.set_title(f"{key}, {state} Hessian, {precision} ({how})", fontsize=9)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_unfolded(models: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    from hessrmt.rmt import reference as ref

    keys = list(models)
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.3), squeeze=False)
    s = np.linspace(0, 4, 300)
    for ax, key in zip(axes[0], keys):
        m = models[key]
        state = "trained" if any(k.startswith("trained/") for k in m.spectra) else "untrained"
        arr = m.spectra.get(f"{state}/hessian/batch/float64")
        if arr is None or arr.shape[0] < 3:
            ax.set_visible(False)
            continue
        try:
            sp = st.unfolded_spacings(arr, cut=None, rtol=1e-9)
        except InputError:  # too few non-degenerate levels to unfold
            ax.set_visible(False)
            continue
        ax.hist(sp[sp < 4], bins=35, density=True, alpha=0.6, label="unfolded spacings")
        ax.plot(s, np.pi / 2 * s * np.exp(-np.pi * s**2 / 4), "k-", label="Wigner surmise")
        ax.plot(s, ref.gaudin_pdf(s, 1), "g:", label="Gaudin (exact GOE)")
        ax.plot(s, np.exp(-s), "r--", label="Poisson")
        ax.set_title(f"{key}: pooled unfolding, float64", fontsize=9)
        ax.legend(fontsize=7)
    return fig


def fig_roundoff(models: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    m = models.get("logreg") or next(iter(models.values()))
    state = "untrained" if any(k.startswith("untrained/") for k in m.spectra) else "trained"
    for precision, color in (("float64", "C0"), ("float32", "C3")):
        arr = m.spectra.get(f"{state}/hessian/batch/{precision}")
        if arr is None:
            continue
        a = np.abs(arr[np.all(np.isfinite(arr), axis=1)]).ravel()
        a = a[a > 0]
        ax.hist(np.log10(a), bins=80, alpha=0.5, color=color, label=f"{precision} (non-zero)")
    ax.set_xlabel("log10 |lambda|")
    ax.set_title(f"{m.key}: |eigenvalues| of batch Hessians; the left cluster is round-off")
    ax.legend()
    return fig


def fig_gp(gp: Any) -> Any:
    import matplotlib.pyplot as plt

    names = [
        n for n in ("plain", "degenerate+outliers", "derived", "conditioned_k2") if n in gp.spectra
    ]
    fig, axes = plt.subplots(2, len(names), figsize=(3.6 * len(names), 6.2), squeeze=False)
    r = np.linspace(0.01, 10, 400)
    for j, name in enumerate(names):
        ev = gp.spectra[name]
        rr = np.concatenate([x for x in [st.paper_ratios(ev, cut=0.0)]])
        ax = axes[0, j]
        ax.hist(rr[rr < 10], bins=50, density=True, alpha=0.6)
        ax.plot(r, _goe_ratio_pdf(r), "k-")
        s = gp.stats[name]
        ax.set_title(f"{name}\n<r~> = {s['mean_ratio']:.4f} ± {s['mean_ratio_se']:.4f}", fontsize=9)
        ax = axes[1, j]
        vals = ev.ravel()
        vals = vals[np.abs(vals) > 1e-10 * np.max(np.abs(vals))]
        ax.hist(vals, bins=80, density=True, alpha=0.6)
        ax.set_title("pooled density", fontsize=9)
    return fig


def fig_gp_sweep(gp: Any) -> Any:
    import matplotlib.pyplot as plt

    sweep = [n for n in gp.spectra if n.startswith("sweep_")]
    if not sweep:
        return None
    fig, axes = plt.subplots(2, (len(sweep) + 1) // 2, figsize=(16, 5.5), squeeze=False)
    for ax, name in zip(axes.ravel(), sweep):
        ev = gp.spectra[name]
        vals = ev.ravel()
        vals = vals[np.abs(vals) > 1e-10 * np.max(np.abs(vals))]
        ax.hist(vals, bins=60, density=True, alpha=0.6)
        s = gp.stats[name]
        ax.set_title(f"{name[6:]}\n<r~> {s['mean_ratio']:.3f}±{s['mean_ratio_se']:.3f}", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def fig_decorrelation(dec: Any) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    d = dec.distances
    pos = d > 0
    ax.errorbar(
        d[pos], dec.corr_full[pos], yerr=dec.corr_full_se[pos], fmt="o-", label="full-data gradient"
    )
    ax.errorbar(
        d[pos], dec.corr_batch[pos], yerr=dec.corr_batch_se[pos], fmt="s-", label="same minibatch"
    )
    if np.all(np.isfinite(dec.gp_prediction)):
        dd = np.geomspace(d[pos].min(), d.max(), 200)
        from .gp_toy import gradient_correlation_se

        ax.plot(
            dd,
            gradient_correlation_se(dd, dec.length_scale, dec.n_params),
            "k--",
            label=f"GP (squared exp.), fitted l = {dec.length_scale:.3g}",
        )
    ax.axhline(dec.noise_floor, color="gray", ls=":", label="distinct minibatches at w")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("distance d = |w' - w|")
    ax.set_ylabel("cosine similarity of gradients")
    ax.legend(fontsize=8)
    return fig


def fig_hardness(fits: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    from .hardness import exp_model

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, name in zip(axes, ("loss", "error")):
        f = fits[name]
        t = np.linspace(f.t.min(), f.t.max(), 200)
        ax.plot(f.t, f.y, "o", label="ResNet-50 / ImageNet (paper's data)")
        a, b, c = f.params
        ax.plot(t, exp_model(t, a, b, c), "-", label=f"{a:.4f} + {b:.4f} exp({c:.4f} t)")
        ax.set_xlabel("epoch of best value")
        ax.set_ylabel(f"min validation {name}")
        ax.legend(fontsize=8)
    return fig
