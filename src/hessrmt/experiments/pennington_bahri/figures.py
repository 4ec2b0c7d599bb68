"""Figures of the Pennington-Bahri report (matplotlib, Agg backend).

* ``densities``: the theory's density of H0 + H1 for phi in {1/4, 1/2, 3/4} and several eps;
* ``index_vs_energy``: alpha against eps, theory curves and the kept points of both series
  (filled: the paper's loss; open: the weight-decay variant) with the per-phi fitted curves;
* ``minimiser_energy``: minimiser energies against phi with (1 - phi)^2 / 2;
* ``spectra``: H0 against MP, H1 against a semicircle and H against the theory at one point;
* ``autoencoder``: the ReLU autoencoder's H0 and H1 spectra against MP and the semicircle.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hessrmt.rmt import pennington_bahri as theory

from .config import Config
from .search import PointRecord


def figures(
    records: list[PointRecord], config: Config, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """All figures of the report, by name (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, Any] = {}
    # (i) theoretical densities
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for ax, phi in zip(axes, (0.25, 0.5, 0.75)):
        for eps in (0.0, 0.001, 0.01, 0.05, 0.1):
            law = theory.PenningtonBahriLaw(phi, eps)
            lo = min(law.support_intervals()[0][0], 0.0) - 0.2
            x = np.linspace(lo, law.support_intervals()[-1][1] + 0.2, 600)
            ax.plot(x, law.density(x), lw=1.2, label=f"eps = {eps:g}")
        ax.axvline(0, color="k", lw=0.5)
        ax.set_ylim(0, 1.6)
        ax.set_title(f"phi = {phi:g} (eps_c = {theory.critical_energy(phi):.4g})")
        ax.set_xlabel("eigenvalue")
    axes[0].set_ylabel("density of H0 + H1")
    axes[-1].legend(fontsize=8)
    figs["densities"] = fig

    kept = [r for r in records if r.search == "critical" and r.accepted]
    kept_wd = [r for r in records if r.search == "critical_wd" and r.accepted]
    # (ii) alpha vs eps, theory and experiment (both series), fitted curves of the paper's series
    fig, ax = plt.subplots(figsize=(7, 4.8))
    thresholds = {t["phi_target"]: t for t in (summary or {}).get("thresholds", [])}
    for i, phi_t in enumerate(config.phis):
        pts = [r for r in kept if r.phi_target == phi_t]
        pts_wd = [r for r in kept_wd if r.phi_target == phi_t]
        phi = (pts or pts_wd)[0].phi if (pts or pts_wd) else phi_t
        eps_c = theory.critical_energy(phi)
        eps = np.unique(
            np.concatenate([np.linspace(0.0, 0.7, 29), eps_c * (1 + np.geomspace(1e-2, 2, 8))])
        )
        ax.plot(eps, [theory.index(e, phi) for e in eps], color=f"C{i}", lw=1.2,
                label=f"theory phi = {phi:.3g}")  # fmt: skip
        if pts:
            ax.scatter([r.energy for r in pts], [r.index for r in pts], color=f"C{i}", s=18,
                       marker="o", label=f"critical points, L, phi = {phi:.3g}")  # fmt: skip
        if pts_wd:
            ax.scatter([r.energy for r in pts_wd], [r.index for r in pts_wd], facecolors="none",
                       edgecolors=f"C{i}", s=22, marker="s",
                       label=f"weight-decay variant, phi = {phi:.3g}")  # fmt: skip
        t = thresholds.get(phi_t)
        if t and t.get("gamma") is not None and pts:
            e_hi = max(r.energy for r in pts)
            ee = np.linspace(t["eps0"], e_hi, 100)
            ax.plot(ee, t["c"] * (ee - t["eps0"]) ** t["gamma"], "--", color=f"C{i}", lw=1,
                    label=f"fit c (eps - eps0)^{t['gamma']:.2f}")  # fmt: skip
            ax.axvline((1 - phi) ** 2 / 2, color=f"C{i}", lw=0.6, ls=":")
    ax.set_xlabel("energy eps = L (dotted: (1 - phi)^2 / 2)")
    ax.set_ylabel("index alpha (fraction of negative eigenvalues)")
    ax.legend(fontsize=7)
    figs["index_vs_energy"] = fig

    # (iv) minimiser energies vs phi
    fig, ax = plt.subplots(figsize=(6, 4))
    p = np.linspace(0, 1, 101)
    ax.plot(p, (1 - p) ** 2 / 2, "k-", lw=1, label="(1 - phi)^2 / 2")
    ax.plot(p, (1 - p) / 2, "k:", lw=1, label="(1 - phi)/2 (linear model, phi = n_in/m)")
    styles = {
        ("minimum", True): dict(color="C3", label="minimisers of L"),
        ("minimum", False): dict(facecolors="none", edgecolors="C7", label="L: unconverged"),
        ("minimum_wd", True): dict(color="C2", marker="s", label="minimisers, weight decay"),
        ("minimum_wd", False): dict(
            facecolors="none", edgecolors="C2", marker="s", label="weight decay: unconverged"
        ),
    }
    for (kind, ok), style in styles.items():
        rs = [r for r in records if r.search == kind and r.accepted == ok]
        if rs:
            ax.scatter([r.phi for r in rs], [r.energy for r in rs], s=20, **style)
    ax.set_xlabel("phi")
    ax.set_ylabel("energy L of minimisers")
    ax.legend(fontsize=8)
    figs["minimiser_energy"] = fig

    # (iii) H0, H1 and H spectra at one critical point
    chosen = _chosen_point(kept or kept_wd)
    if chosen is not None:
        figs["spectra"] = _spectra_figure(chosen, plt)
    ae = (summary or {}).get("autoencoder")
    if ae:
        figs["autoencoder"] = _autoencoder_figure(ae, plt)
    return figs


def _chosen_point(kept: list[PointRecord]) -> PointRecord | None:
    """The kept saddle with the median energy among those with positive index, else any."""
    pos = [r for r in kept if r.index > 0] or kept
    if not pos:
        return None
    pos = sorted(pos, key=lambda r: r.energy)
    return pos[len(pos) // 2]


def _spectra_figure(r: PointRecord, plt: Any) -> Any:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    c0, v1 = r.h0_mean, r.h1_variance
    bins = max(10, int(np.sqrt(r.n_params)) * 2)
    # H0 against MP(phi) with mean c0
    ax = axes[0]
    ax.hist(r.eig_h0 / c0, bins=bins, density=True, alpha=0.5, label="H0 (GGN) / mean")
    mp = theory.PenningtonBahriLaw(r.phi, 0.0)
    lo, hi = mp.support_intervals()[0]
    x = np.linspace(lo, hi, 300)
    ax.plot(x, mp.density(x), "k-", label=f"MP(phi = {r.phi:.3g})")
    ax.set_title("H0 against Marchenko-Pastur")
    ax.legend(fontsize=8)
    # H1 against a semicircle of the measured variance
    ax = axes[1]
    m1 = float(np.mean(r.eig_h1))
    ax.hist(r.eig_h1, bins=bins, density=True, alpha=0.5, label="H1 (residual)")
    rad = 2 * math.sqrt(v1)
    x = np.linspace(m1 - rad, m1 + rad, 300)
    ax.plot(x, np.sqrt(np.maximum(rad**2 - (x - m1) ** 2, 0)) / (2 * math.pi * v1), "k-",
            label="semicircle, same variance")  # fmt: skip
    ax.set_title("H1 against the semicircle")
    ax.legend(fontsize=8)
    # H against the H0 + H1 theory at eps_eff
    ax = axes[2]
    ax.hist(r.eig_h / c0, bins=bins, density=True, alpha=0.5, label="H / mean(H0)")
    law = theory.PenningtonBahriLaw(r.phi, r.eps_eff)
    lo, hi = law.support_intervals()[0][0], law.support_intervals()[-1][1]
    x = np.linspace(lo, hi, 300)
    ax.plot(x, law.density(x), "k-", label=f"theory, eps_eff = {r.eps_eff:.3g}")
    ax.axvline(0, color="k", lw=0.5)
    ax.set_title(f"H at eps = {r.energy:.3g}, alpha = {r.index:.3g}")
    ax.legend(fontsize=8)
    return fig


def _autoencoder_figure(ae: dict[str, Any], plt: Any) -> Any:
    from hessrmt.rmt.laws import MarchenkoPastur, Semicircle

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    h0, h1 = np.asarray(ae["eig_h0"]), np.asarray(ae["eig_h1"])
    ax = axes[0]
    ax.hist(h0, bins=60, density=True, alpha=0.5, label="H0 (GGN)")
    for law, style, label in (
        (MarchenkoPastur(ae["mp_fit"]["phi"], ae["mp_fit"]["scale"]), "k-", "MP, moment fit"),
        (MarchenkoPastur(ae["phi"], ae["h0_mean"]), "r--", f"MP, design phi = {ae['phi']:.3g}"),
    ):
        lo, hi = law.support()
        x = np.linspace(max(lo, 1e-12 * hi), hi, 400)
        ax.plot(x, law.density(x), style, lw=1, label=label)
    ax.set_ylim(0, 3 * np.histogram(h0, bins=60, density=True)[0][1:].max() + 1e-12)
    ax.set_title("autoencoder H0 against Marchenko-Pastur")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.hist(h1, bins=60, density=True, alpha=0.5, label="H1 (residual)")
    sc = ae["semicircle_fit"]
    law = Semicircle(sc["variance"], sc["center"])
    lo, hi = law.support()
    x = np.linspace(lo, hi, 400)
    ax.plot(x, law.density(x), "k-", lw=1, label="semicircle, moment fit")
    ax.set_title("autoencoder H1 against the semicircle")
    ax.legend(fontsize=8)
    return fig
